/*
 * Contexts, internal: the layout that variables and tokens share.
 *
 * A context is a version of the HAMT plus what makes it a PEP 567 Context:
 * a reference count, which thread has it entered, and the context that was
 * current before (so leave can restore it).
 *
 * Entering.  `owner` names the thread that has the context entered (0:
 * none); taking it is a compare-and-swap, so two threads never both hold
 * one context.  The owner may hold it several times over (`holds`): once
 * for eddy_ctx_enter, and once per task of that thread that runs in it,
 * through eddy_ctx_claim.  A task runtime claims a task's context once,
 * then switches between tasks by only setting the thread's current
 * context, without an atomic operation per switch.  Holding is per
 * thread, but an enter belongs to the code that made it (`enterer`, the
 * thread's runner then: runner.h), so that a task sharing the context
 * with the task that entered it cannot leave it.
 *
 * The get cache.  CPython caches the last value of each variable in the
 * variable itself, which is safe under the GIL but a data race here, where
 * worker threads get and set the same variables in other contexts.  eddy
 * keeps the cache in the context instead: a small direct-mapped table
 * indexed by the variable's cache_slot, holding (variable, value) as found
 * in this context's mapping.  Only the thread that has a context entered
 * reads or writes it, and entering is exclusive, so the cache needs no
 * atomics.  It never goes stale: set and reset write through the one entry
 * they change, and a copy starts with its parent's entries, which hold for
 * the shared mapping too.
 *
 *     cache[var->cache_slot] = { var, value | CTX_UNSET }
 *
 * Variables that stay behind (task-local, loop-only: var.h).  A context
 * counts how many of each kind it maps, so that a copy for a child
 * (crossing.c) stays O(1) when it maps none.  Code that runs in its
 * parent's context object across a crossing (SHARE) hides them: the
 * thread's crossing, eddy_ctx_hiding, is tested only for variables that
 * have `stays`, in set, reset and the cache's miss path; a hidden variable
 * is never cached, and taking up a crossing, or entering or returning to
 * a context behind one, drops the cache entries it hides, so a cache hit
 * never needs the test.  The drop goes by the stays bits the cache keeps
 * beside each entry, not by the variable: a variable may be freed once no
 * context maps it, while a cache still names it.
 *
 * Borrowed roots.  A copy made by the thread that has its source current
 * (copy_current, every spawn) does not count its reference to the root:
 * it borrows the source's, so copy and unref cost no atomic operation.
 * The source (the lender) keeps at most one borrower, and both sides keep
 * the link: lender->borrower, borrower->lender, and the borrower's state,
 * an atomic word both sides may change:
 *
 *   BORROWING  the borrower's root rides on the lender's reference
 *   DETACHED   the borrower changed its mapping and uses that root no more
 *   DROPPED    the borrower died while BORROWING or DETACHED: its memory
 *              (a husk) waits for the lender to free it
 *   FREE       the lender let go: if the state was BORROWING, its
 *              reference became the borrower's
 *
 * While linked, both maps have root_release set (hamt.h), so neither
 * changes the shared root in place: each copies it, and once done with
 * it (the change committed, or the map is cleared) settles the reference
 * with one atomic operation on the state: the lender exchanges it for
 * FREE, passing its reference on if the borrower still borrows; the
 * borrower compares-and-swaps BORROWING for DETACHED, and drops the root
 * itself if it finds FREE.  A borrower that dies in a thread other than
 * the lender's writer (the thread that has the lender current) exchanges
 * the state for DROPPED.  The case that costs nothing: the borrower dies
 * on the lender's writer thread, which alone may touch the link then,
 * and unhooks it with plain stores.
 *
 * So a context's map changes only through eddy_hamt_set, _delete and
 * _clear: code that puts another version in its place clears it first,
 * as eddy_ctx_merge does, which settles the link.
 */
#ifndef EDDY_CONTEXT_H
#define EDDY_CONTEXT_H

#include <stdatomic.h>
#include <stdbool.h>

#include "hamt.h"
#include "crossing.h"
#include "runner.h"

#define CTX_CACHE_SLOTS 8

/* Marks a cache entry for a variable that has no value in the context. */
extern char eddy_ctx_unset_mark __attribute__((visibility("hidden")));
#define CTX_UNSET ((void *)&eddy_ctx_unset_mark)

struct ctx_cache_entry {
	const eddy_var *var;
	void *val;
};

struct eddy_ctx {
	eddy_hamt map;
	atomic_uint refs;
	_Atomic(uintptr_t) owner; /* the entering thread's eddy_ctx_thread_id */
	unsigned holds;           /* how often the owner holds it; its own */
	bool entered;             /* by eddy_ctx_enter, not only claimed; the owner's */
	eddy_ctx *prev;           /* current before eddy_ctx_enter; a spare's next */
	void *enterer;            /* eddy_ctx_runner at the enter (runner.h) */
	unsigned stayers[2];      /* mapped task-local, loop-only variables */
	eddy_ctx *borrower;       /* lends its root to it; the writer's */
	eddy_ctx *lender;         /* borrowed its root from it, or NULL */
	atomic_int borrow;        /* a borrower's state, see above */
	uint64_t id;              /* eddy_ctx_id: for traces and dumps */
	struct ctx_cache_entry cache[CTX_CACHE_SLOTS];
	/* cache[i].var->stays, where cache[i].var is set: dropping what a
	 * crossing hides must not read the variables, since a variable may be
	 * freed while a cache still names it (read there while unset). */
	uint8_t cache_stays[CTX_CACHE_SLOTS];
};

/* This thread's current context, or NULL before it first needs one. */
extern _Thread_local eddy_ctx *eddy_ctx_now
	__attribute__((tls_model("initial-exec")));


static inline bool ctx_hides(const eddy_var *var)
{
	return var->stays && (var->stays & eddy_ctx_hiding);
}

/* The registry of variables that stay behind (crossing.c), which copies
 * search when it is shorter than the mapping: 0 or -ENOMEM. */
int ctx_register_stayer(const eddy_var *var);
void ctx_unregister_stayer(const eddy_var *var);

/* The name of the variable that failed this thread's last failed merge
 * (merge.c), kept up to CTX_CONFLICT_NAME_MAX bytes, or NULL. */
#define CTX_CONFLICT_NAME_MAX 127
const char *ctx_conflict_name(void);

/* Drop ctx's cache entries of the variables this thread hides. */
void ctx_forget_hidden(eddy_ctx *ctx);

static inline void ctx_count_stayer(eddy_ctx *ctx, const eddy_var *var,
				    int delta)
{
	ctx->stayers[var->stays >> 1] += (unsigned)delta;
}

/* The cache miss: look var up in the mapping and remember the answer.
 * Out of line, so that the hit path needs no stack frame. */
bool ctx_lookup_miss(eddy_ctx *ctx, const eddy_var *var, void **val);

/* The value var has in ctx (ctx is current): true and *val, or false. */
static inline bool ctx_lookup(eddy_ctx *ctx, const eddy_var *var, void **val)
{
	const struct ctx_cache_entry *c = &ctx->cache[var->cache_slot];
	if (c->var != var)
		return ctx_lookup_miss(ctx, var, val);
	*val = c->val;
	return c->val != CTX_UNSET;
}

static inline void ctx_cache_store(eddy_ctx *ctx, const eddy_var *var,
				   void *val)
{
	ctx->cache[var->cache_slot] = (struct ctx_cache_entry){ var, val };
	ctx->cache_stays[var->cache_slot] = var->stays;
}

/* Drop ctx's cache entries of variables that stay behind at `stays` bits
 * (a crossing): without reading the variables, which may be gone. */
static inline void ctx_cache_drop_stayers(eddy_ctx *ctx, unsigned stays)
{
	for (int i = 0; i < CTX_CACHE_SLOTS; i++)
		if (ctx->cache_stays[i] & stays)
			ctx->cache[i].var = NULL;
}

#endif
