/*
 * Watching variable changes, internal: the one door through which a layer
 * above (the loop's tracer, loop/trace.c) hears of every set, reset and
 * merged variable, without ctx/ knowing who listens.
 *
 * The watcher is a single function pointer, NULL while nobody listens.
 * Each change site tests it with one predictable branch, so watching costs
 * nothing measurable while it is off; building with -DEDDY_NO_TRACE
 * removes the test altogether.  It is atomic only so that a watcher
 * installed on one thread is seen by the others without a data race: a
 * relaxed load is a plain load on the machines eddy runs on.
 */
#ifndef EDDY_CTX_WATCH_H
#define EDDY_CTX_WATCH_H

#include <stdatomic.h>
#include <stdbool.h>

#include "ctx.h"

enum ctx_change {
	CTX_SET,    /* eddy_var_set */
	CTX_RESET,  /* eddy_var_reset */
	CTX_MERGED, /* eddy_ctx_merge applied the child's value */
};

/* Called on the thread that made the change, after it was made.  present
 * is false when var became unset (a reset to unset, a merged removal);
 * value is then meaningless. */
typedef void (*ctx_watch_fn)(enum ctx_change change, const eddy_var *var,
			     void *value, bool present, const eddy_ctx *ctx);

extern _Atomic(ctx_watch_fn) eddy_ctx_watcher
	__attribute__((visibility("hidden")));

#ifdef EDDY_NO_TRACE
#define CTX_WATCHING() false
#else
#define CTX_WATCHING()                                                   \
	__builtin_expect(atomic_load_explicit(&eddy_ctx_watcher,          \
					      memory_order_relaxed) != NULL, 0)
#endif

/* Tell the watcher, if there is one, of a change. */
#define CTX_WATCH(change, var, value, present, ctx)                      \
	do {                                                             \
		if (CTX_WATCHING())                                      \
			ctx_watch_report(change, var, value, present, ctx); \
	} while (0)

/* Out of line, so that the change sites stay short. */
void ctx_watch_report(enum ctx_change change, const eddy_var *var,
		      void *value, bool present, const eddy_ctx *ctx)
	__attribute__((visibility("hidden"), cold));

#endif
