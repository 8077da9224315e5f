/*
 * eddy_to_thread: a blocking call on a worker thread, with the caller's
 * context passed on by a policy.
 *
 *   COPY   the worker runs in a copy of the caller's context: what it sets
 *          stays there (asyncio.to_thread);
 *   SHARE  the worker runs in the caller's context object itself.  The
 *          caller's thread lends it (eddy_ctx_lend) for the call, and the
 *          loop holds back every task that runs in a lent context until
 *          the worker has left it and the loop took it back, so no task
 *          and no worker ever meet "already entered";
 *   MERGE  the worker runs in a copy; what it changed is merged into the
 *          caller's context when the call returns.
 *
 * A worker is across a thread boundary: task-local and loop-only
 * variables are left out of its copy and never merged back, and under
 * SHARE, where they cannot be left out, the worker hides them.
 *
 * Cancelling the waiting task ends its wait at once with -ECANCELED; the
 * worker's function runs to its end regardless (a thread cannot be
 * stopped safely), and its result is dropped when the job comes back.
 * Under SHARE the cancelled task still runs only after the worker left its
 * context.  The job lives on the heap for that reason: it may outlive the
 * waiting frame.  The other way round, what the task reads when it resumes
 * stays on its stack: a task held back under SHARE resumes after the
 * abandoned job was freed.
 */
#include <errno.h>
#include <stddef.h>

#include "ctx/alloc.h"
#include "pool.h"
#include "trace.h"

struct offload;

/* The task's side of the wait, on its own stack: the task reads it when it
 * resumes, by which time the offload may be gone (abandoned, then freed by
 * offload_done before a held-back task ran). */
struct offload_wait {
	struct eddy_wait wait;
	struct offload *o;
	bool abandoned;           /* the task stopped waiting: o is not its */
};

struct offload {
	struct job job;
	struct offload_wait *waiter; /* NULL once the task stopped waiting */
	struct lent lent;         /* SHARE: the lent context, for hold-back */
	eddy_ctx *base;           /* MERGE: the snapshot the worker started as */
	enum eddy_policy policy;
};

static void offload_free(struct offload *o)
{
	eddy_ctx_unref(o->job.ctx);
	eddy_ctx_unref(o->base);
	eddy_free(o);
}

/* The worker is done: on the loop's thread. */
static void offload_done(eddy_loop *loop, struct wake_msg *msg)
{
	struct offload *o = (struct offload *)msg;
	loop->jobs_pending--;
	if (o->policy == EDDY_SHARE)
		loop_unlend(loop, &o->lent);
	if (o->waiter)
		loop_wake(loop, &o->waiter->wait, o->job.err);
	else
		offload_free(o);
}

static void offload_end(eddy_loop *loop, struct eddy_wait *w, long why)
{
	struct offload_wait *ow = (struct offload_wait *)w;
	ow->abandoned = true;
	ow->o->waiter = NULL;
	loop_wake(loop, w, why);
}

static struct offload *offload_new(eddy_fn fn, void *arg,
				   enum eddy_policy policy, eddy_ctx *from)
{
	struct offload *o = eddy_alloc(sizeof *o);
	if (!o)
		return NULL;
	*o = (struct offload){ .policy = policy };
	o->job.fn = fn;
	o->job.arg = arg;
	o->job.msg.deliver = offload_done;
	if (policy == EDDY_SHARE) {
		o->job.ctx = eddy_ctx_ref(from);
		o->job.crossing = EDDY_CROSS_THREAD; /* it hides what stays */
		return o;
	}
	/* task-local and loop-only variables stay on this side */
	o->job.ctx = eddy_ctx_copy_crossing(from, EDDY_CROSS_THREAD);
	if (policy == EDDY_MERGE && o->job.ctx)
		o->base = eddy_ctx_copy(o->job.ctx);
	if (!o->job.ctx || (policy == EDDY_MERGE && !o->base)) {
		offload_free(o);
		return NULL;
	}
	return o;
}

int eddy_to_thread(eddy_fn fn, void *arg, enum eddy_policy policy,
		   void **result)
{
	eddy_loop *loop;
	int err = loop_enter_wait(&loop);
	if (err)
		return err;
	if (!policy)
		policy = loop->cfg.default_policy;
	if (!fn || policy < EDDY_COPY || policy > EDDY_MERGE)
		return -EINVAL;
	if ((err = loop_pool_start(loop)))
		return err;
	eddy_ctx *caller = eddy_ctx_current();
	struct offload *o = caller ? offload_new(fn, arg, policy, caller) : NULL;
	if (!o)
		return -ENOMEM;
	if (policy == EDDY_SHARE && (err = loop_lend(loop, &o->lent, caller))) {
		offload_free(o);
		return err;
	}
	TRACE(offload, &o->job, policy); /* before a worker can start it */
	if ((err = pool_submit(loop->pool, &o->job))) {
		if (policy == EDDY_SHARE)
			loop_unlend(loop, &o->lent);
		offload_free(o);
		return err;
	}
	loop->jobs_pending++;

	struct offload_wait ow = { .wait.end = offload_end,
				   .wait.kind = WAIT_WORKER, .o = o };
	o->waiter = &ow;
	long r = loop_suspend(&ow.wait);
	if (ow.abandoned)
		return (int)r; /* offload_done frees o, or has */
	TRACE(offload_back, &o->job, r);
	/* fn ran: its result is the caller's even when the merge fails, or
	 * whatever it returned (memory, a handle) would be lost */
	if (!r && result)
		*result = o->job.result;
	if (!r && policy == EDDY_MERGE) {
		int merged = eddy_ctx_merge_crossing(caller, o->job.ctx, o->base,
						     EDDY_CROSS_THREAD);
		if (merged < 0)
			r = merged;
	}
	offload_free(o);
	return (int)r;
}
