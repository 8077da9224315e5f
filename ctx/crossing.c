/*
 * Crossings: what a child's context leaves behind (task-local and
 * loop-only variables), for the copy a child starts from and for code
 * that runs in its parent's context object itself.
 *
 * A child made by copy (COPY, MERGE) starts from eddy_ctx_copy_crossing:
 * an O(1) copy, from which the variables that stay behind are then
 * deleted.  Finding them needs a walk of the parent's mapping, so the
 * walk happens only when the context's counts say it maps one (context.h),
 * and stops as soon as it has found them all:
 *
 *   parent  {user: u, deadline: d, db: h}     deadline task-local,
 *      | copy, O(1)                           db loop-only
 *      v
 *   child   {user: u, deadline: d, db: h}
 *      | delete what stays behind at the crossing
 *      v
 *   task    {user: u, db: h}        thread  {user: u}
 *
 * A child that runs in the parent's object (SHARE) cannot have the values
 * deleted: they are the parent's.  Its thread hides them instead
 * (eddy_ctx_set_crossing): gets miss and answer "unset", sets fail.
 */
#include <errno.h>

#include "context.h"

_Thread_local unsigned eddy_ctx_hiding
	__attribute__((tls_model("initial-exec")));

void ctx_forget_hidden(eddy_ctx *ctx)
{
	if (!ctx->stayers[0] && !ctx->stayers[1])
		return;
	for (int i = 0; i < CTX_CACHE_SLOTS; i++)
		if (ctx->cache[i].var && ctx_hides(ctx->cache[i].var))
			ctx->cache[i].var = NULL;
}

unsigned eddy_ctx_set_crossing(unsigned crossing)
{
	unsigned prev = eddy_ctx_hiding;
	eddy_ctx_hiding = crossing;
	if (crossing && eddy_ctx_now)
		ctx_forget_hidden(eddy_ctx_now);
	return prev;
}

unsigned eddy_ctx_crossing(void)
{
	return eddy_ctx_hiding;
}

/* How many variables of ctx stay behind at crossing. */
static unsigned stayers_at(const eddy_ctx *ctx, unsigned crossing)
{
	return (crossing & STAY_TASK ? ctx->stayers[0] : 0) +
	       (crossing & STAY_THREAD ? ctx->stayers[1] : 0);
}

/* Delete from copy, a fresh copy of src, what stays behind at crossing.
 * The walk reads src, which the deletions do not touch. */
static int leave_behind(eddy_ctx *copy, const eddy_ctx *src,
			unsigned crossing)
{
	unsigned left = stayers_at(src, crossing);
	eddy_ctx_iter it;
	const eddy_var *var;
	void *val;
	int err = 0;
	eddy_hamt_iter_begin(&it, &src->map);
	while (left && eddy_hamt_iter_next(&it, &var, &val)) {
		if (!(var->stays & crossing))
			continue;
		if ((err = eddy_hamt_delete(&copy->map, var)))
			break;
		ctx_count_stayer(copy, var, -1);
		left--;
	}
	eddy_hamt_iter_end(&it);
	for (int i = 0; i < CTX_CACHE_SLOTS; i++) {
		const eddy_var *v = copy->cache[i].var;
		if (v && (v->stays & crossing))
			copy->cache[i].var = NULL;
	}
	return err;
}

eddy_ctx *eddy_ctx_copy_crossing(const eddy_ctx *src, unsigned crossing)
{
	eddy_ctx *copy = eddy_ctx_copy(src);
	if (!copy || !stayers_at(src, crossing))
		return copy;
	int err = leave_behind(copy, src, crossing);
	if (err) {
		eddy_ctx_unref(copy);
		errno = -err;
		return NULL;
	}
	return copy;
}
