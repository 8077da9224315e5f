/*
 * Crossings: what a child's context leaves behind (task-local and
 * loop-only variables), for the copy a child starts from and for code
 * that runs in its parent's context object itself.
 *
 * A child made by copy (COPY, MERGE) starts from eddy_ctx_copy_crossing:
 * an O(1) copy, from which the variables that stay behind are then
 * deleted.  Only when the context's counts say it maps one (context.h)
 * does the copy look for them, in whichever is shorter: the registry of
 * every variable created with a propagation rule (a handful, in most
 * programs: a lookup each), or the mapping itself (a walk).  Either stops
 * as soon as it has found them all:
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
#define _POSIX_C_SOURCE 200809L /* pthread_rwlock_t */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "alloc.h"
#include "context.h"

/* Every live variable that stays behind somewhere, in no order.  Copies
 * read it under the read lock, so that eddy_var_free (which takes it out
 * first) never frees a variable that a copy in another thread is about
 * to look up. */
static struct {
	pthread_rwlock_t lock;
	const eddy_var **vars;
	size_t len, cap;
} registry = { .lock = PTHREAD_RWLOCK_INITIALIZER };

/* A child of fork must not inherit the lock held by a thread it lacks:
 * its first variable with a propagation rule would wait for it forever.
 * So fork takes it first.  The child, alone with a lock it holds, makes
 * it anew rather than unlocking it: glibc tells a writer's unlock by the
 * thread id, which fork changed.  Registered at load, as task/stack.c
 * registers its own. */
static void lock_registry_for_fork(void)
{
	pthread_rwlock_wrlock(&registry.lock);
}

static void unlock_registry_in_parent(void)
{
	pthread_rwlock_unlock(&registry.lock);
}

static void renew_registry_lock_in_child(void)
{
	pthread_rwlock_init(&registry.lock, NULL);
}

__attribute__((constructor)) static void make_registry_fork_safe(void)
{
	pthread_atfork(lock_registry_for_fork, unlock_registry_in_parent,
		       renew_registry_lock_in_child);
}

int ctx_register_stayer(const eddy_var *var)
{
	pthread_rwlock_wrlock(&registry.lock);
	if (registry.len == registry.cap) {
		size_t cap = registry.cap ? 2 * registry.cap : 16;
		const eddy_var **vars = eddy_alloc(cap * sizeof *vars);
		if (!vars) {
			pthread_rwlock_unlock(&registry.lock);
			return -ENOMEM;
		}
		if (registry.len)
			memcpy(vars, registry.vars,
			       registry.len * sizeof *vars);
		eddy_free(registry.vars);
		registry.vars = vars;
		registry.cap = cap;
	}
	registry.vars[registry.len++] = var;
	pthread_rwlock_unlock(&registry.lock);
	return 0;
}

void ctx_unregister_stayer(const eddy_var *var)
{
	pthread_rwlock_wrlock(&registry.lock);
	for (size_t i = 0; i < registry.len; i++)
		if (registry.vars[i] == var) {
			registry.vars[i] = registry.vars[--registry.len];
			break;
		}
	if (!registry.len) { /* the last one: give the array back */
		eddy_free(registry.vars);
		registry.vars = NULL;
		registry.cap = 0;
	}
	pthread_rwlock_unlock(&registry.lock);
}

_Thread_local unsigned eddy_ctx_hiding
	__attribute__((tls_model("initial-exec")));

void ctx_forget_hidden(eddy_ctx *ctx)
{
	if (ctx->stayers[0] || ctx->stayers[1])
		ctx_cache_drop_stayers(ctx, eddy_ctx_hiding);
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

/* Delete var from copy if it stays behind at crossing and src maps it:
 * 1 when it did, 0 when not, or -ENOMEM. */
static int leave_out(eddy_ctx *copy, const eddy_ctx *src, const eddy_var *var,
		     unsigned crossing)
{
	void *unused;
	if (!(var->stays & crossing) ||
	    eddy_hamt_find(&src->map, var, &unused))
		return 0;
	int err = eddy_hamt_delete(&copy->map, var);
	if (err)
		return err;
	ctx_count_stayer(copy, var, -1);
	return 1;
}

/* Look the registered stayers up in src: the shorter search when src maps
 * many more variables than were ever created with a propagation rule.
 * Returns how many were left out, or -ENOMEM; -EAGAIN when the walk is
 * the shorter one after all. */
static int leave_out_registered(eddy_ctx *copy, const eddy_ctx *src,
				unsigned crossing, unsigned left)
{
	int r = 0, found = 0;
	pthread_rwlock_rdlock(&registry.lock);
	if (registry.len >= src->map.count / 8)
		r = -EAGAIN;
	for (size_t i = 0; r >= 0 && found < (int)left && i < registry.len;
	     i++)
		if ((r = leave_out(copy, src, registry.vars[i], crossing)) > 0)
			found++;
	pthread_rwlock_unlock(&registry.lock);
	return r < 0 ? r : found;
}

/* Walk src's mapping for its stayers: 0 or -ENOMEM. */
static int leave_out_walking(eddy_ctx *copy, const eddy_ctx *src,
			     unsigned crossing, unsigned left)
{
	eddy_ctx_iter it;
	const eddy_var *var;
	void *val;
	int r = 0;
	eddy_hamt_iter_begin(&it, &src->map);
	while (left && r >= 0 && eddy_hamt_iter_next(&it, &var, &val))
		if ((r = leave_out(copy, src, var, crossing)) > 0)
			left--;
	eddy_hamt_iter_end(&it);
	return r < 0 ? r : 0;
}

/* Delete from copy, a fresh copy of src, what stays behind at crossing.
 * Both searches read src, which the deletions do not touch.  A small
 * mapping is walked without a look at the registry and its lock. */
static int leave_behind(eddy_ctx *copy, const eddy_ctx *src,
			unsigned crossing)
{
	unsigned left = stayers_at(src, crossing);
	int r = -EAGAIN;
	if (src->map.count >= 64)
		r = leave_out_registered(copy, src, crossing, left);
	if (r == -EAGAIN)
		r = leave_out_walking(copy, src, crossing, left);
	ctx_cache_drop_stayers(copy, crossing);
	return r < 0 ? r : 0;
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
