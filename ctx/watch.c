/*
 * The watcher of variable changes (watch.h): stored here, installed by a
 * layer above.
 */
#include "watch.h"

_Atomic(ctx_watch_fn) eddy_ctx_watcher;

void ctx_watch_report(enum ctx_change change, const eddy_var *var,
		      void *value, bool present, const eddy_ctx *ctx)
{
	ctx_watch_fn fn = atomic_load_explicit(&eddy_ctx_watcher,
					       memory_order_relaxed);
	if (fn)
		fn(change, var, value, present, ctx);
}
