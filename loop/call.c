/*
 * Calls into a loop from other threads: eddy_loop_call waits for the
 * result (asgiref's AsyncToSync), eddy_loop_call_soon does not
 * (call_soon_threadsafe).
 *
 * The calling thread prepares the context the task will run in, following
 * the policy: a copy of its own current context (COPY, MERGE) or that
 * context object itself (SHARE), which it lends (eddy_ctx_lend) while it
 * waits.  It posts the call through the loop's wake-up (wake.c); on the
 * loop's thread the call becomes a detached task running in that context.
 * When the task returns, after it let go of the context, the loop posts a
 * semaphore the caller sleeps on; the caller takes its context back, and
 * under MERGE applies what the task changed.  The task is across a thread
 * boundary from its caller: task-local and loop-only variables are left
 * out of its copy and not merged back, or hidden in the caller's own
 * context under SHARE.
 *
 * A worker of the loop that calls back under SHARE from inside a SHARE
 * offload lends on a context its task lent it, which the loop holds back;
 * the call's task is let through as that lend's borrower (loop_lent_to),
 * or the worker and the task would wait for each other forever.  A call
 * the loop never takes (it was freed first) ends with -ECANCELED.
 */
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>

#include "ctx/alloc.h"
#include "wake.h"

struct call {
	struct wake_msg msg;
	eddy_fn fn;
	void *arg;
	void *result;
	eddy_ctx *ctx; /* the task's: a copy, or the caller's own (SHARE) */
	struct lent *lent; /* SHARE from a worker: the lend the task borrows */
	int err;
	bool shared;   /* SHARE: ctx is the caller's, lent for the call */
	bool detached; /* call_soon: nobody waits; the loop frees it */
	sem_t done;
};

static void *call_main(void *arg)
{
	struct call *c = arg;
	return c->fn(c->arg);
}

static void call_free(struct call *c)
{
	eddy_ctx_unref(c->ctx);
	eddy_free(c);
}

/* The call is over, served (err 0) or not: free it or wake its caller. */
static void call_end(struct call *c, int err)
{
	c->err = err;
	if (c->detached)
		call_free(c);
	else
		sem_post(&c->done);
}

static void call_finished(eddy_loop *loop, eddy_task *t, void *arg)
{
	struct call *c = arg;
	(void)loop;
	eddy_task_collect(t, &c->result); /* SHARE: nothing to merge here */
	if (c->lent)
		c->lent->borrower = NULL;
	call_end(c, 0);
}

/* The loop was freed before it took the call. */
static void call_dropped(struct wake_msg *msg)
{
	call_end((struct call *)msg, -ECANCELED);
}

/* From the calling thread: hand c to the loop.  A loop that another
 * thread ever called into no longer breaks deadlocks: a call may be on
 * its way.  Its own thread's call_soon is in the inbox by the time the
 * loop looks for a deadlock, which it then does not break. */
static void post(eddy_loop *loop, struct call *c)
{
	if (eddy_loop_now != loop && !pthread_equal(loop->thread, pthread_self()))
		atomic_store_explicit(&loop->wake->called_in, true,
				      memory_order_relaxed);
	wake_post(loop->wake, &c->msg);
}

/* On the loop's thread: the call becomes a task in the prepared context. */
static void call_deliver(eddy_loop *loop, struct wake_msg *msg)
{
	struct call *c = (struct call *)msg;
	static const eddy_spawn_opts share = { .policy = EDDY_SHARE };
	eddy_ctx *outside = eddy_ctx_swap_current(c->ctx);
	eddy_task *t = loop_spawn(loop, call_main, c, &share);
	eddy_ctx_swap_current(outside);
	if (!t) {
		call_end(c, -ENOMEM);
		return;
	}
	/* From another thread: a copy left out what stays there; the
	 * caller's own object (SHARE) has it hidden. */
	eddy_task_set_crossing(t, c->shared ? EDDY_CROSS_THREAD :
					      EDDY_CROSS_NONE);
	/* A worker's call in a context its task lent it: the task runs there
	 * while the worker waits, though the context is still out. */
	if (c->shared)
		c->lent = loop_lent_to(loop, c->ctx, t);
	struct sched *s = sched_of(t);
	s->detached = true;
	s->on_finish = call_finished;
	s->finish_arg = c;
}

int eddy_loop_call(eddy_loop *loop, eddy_fn fn, void *arg,
		   enum eddy_policy policy, void **result)
{
	if (!loop || !fn)
		return -EINVAL;
	if (!policy)
		policy = loop->cfg.default_policy;
	if (policy < EDDY_COPY || policy > EDDY_MERGE)
		return -EINVAL;
	/* the loop's own thread would wait for itself, even between runs */
	if (eddy_loop_now == loop || pthread_equal(loop->thread, pthread_self()))
		return -EDEADLK;
	eddy_ctx *caller = eddy_ctx_current();
	if (!caller)
		return -ENOMEM;

	struct call c = { .msg = { .deliver = call_deliver,
				   .drop = call_dropped },
			  .fn = fn, .arg = arg, .shared = policy == EDDY_SHARE };
	eddy_ctx *base = NULL;
	int holds = 0;
	if (policy == EDDY_SHARE) {
		c.ctx = eddy_ctx_ref(caller);
		holds = eddy_ctx_lend(caller);
		if (holds < 0) {
			eddy_ctx_unref(c.ctx);
			return holds;
		}
	} else {
		c.ctx = eddy_ctx_copy_crossing(caller, EDDY_CROSS_THREAD);
		if (policy == EDDY_MERGE && c.ctx)
			base = eddy_ctx_copy(c.ctx);
		if (!c.ctx || (policy == EDDY_MERGE && !base)) {
			eddy_ctx_unref(c.ctx);
			eddy_ctx_unref(base);
			return -ENOMEM;
		}
	}
	sem_init(&c.done, 0, 0);
	post(loop, &c);
	while (sem_wait(&c.done) && errno == EINTR)
		;
	sem_destroy(&c.done);

	int err = c.err;
	if (!err && result) /* fn ran: its result even if the merge fails */
		*result = c.result;
	if (policy == EDDY_SHARE)
		eddy_ctx_reclaim(caller, holds); /* the task let go of it */
	else if (policy == EDDY_MERGE && !err) {
		int merged = eddy_ctx_merge_crossing(caller, c.ctx, base,
						     EDDY_CROSS_THREAD);
		if (merged < 0)
			err = merged;
	}
	eddy_ctx_unref(c.ctx);
	eddy_ctx_unref(base);
	return err;
}

int eddy_loop_call_soon(eddy_loop *loop, eddy_fn fn, void *arg)
{
	if (!loop || !fn)
		return -EINVAL;
	struct call *c = eddy_alloc(sizeof *c);
	if (!c)
		return -ENOMEM;
	*c = (struct call){ .msg = { .deliver = call_deliver,
				     .drop = call_dropped },
			    .fn = fn, .arg = arg, .detached = true };
	eddy_ctx *caller = eddy_ctx_current();
	c->ctx = caller ? eddy_ctx_copy_crossing(caller, EDDY_CROSS_THREAD)
			: NULL;
	if (!c->ctx) {
		eddy_free(c);
		return -ENOMEM;
	}
	post(loop, c);
	return 0;
}
