/*
 * Cancelling a task while it waits on eddy_to_thread: when the task gets
 * -ECANCELED under each policy, what runs anyway, and what the task may
 * no longer touch.  make test runs this file under ThreadSanitizer too.
 *
 * As in threads_offload_threads.c, workers block on gates the test opens,
 * so every ordering between a worker and the loop is forced, not slept for.
 */
#define _GNU_SOURCE
#include "check.h"

#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>

#include "eddy.h"
#include "loop/pool.h" /* the loop's inbox */
#include "threads_common.h"

EDDY_SUITE(threads_cancel);

/* ---- cancellation while a worker runs ---------------------------------- */

struct cancel {
	enum eddy_policy policy;
	bool nested;                /* the caller offloads from a context it
				       entered itself (eddy_ctx_run) */
	struct gate entered, release;
	atomic_bool inside, finished;
	eddy_ctx *nested_ctx;
	/* the waiting task's record */
	bool returned;
	int err;
	bool inside_when_returned, finished_when_returned;
	long after;
	int set_after;
	/* the main task's */
	bool returned_before_release;
	bool job_was_posted;
};

static void *worker_blocks(void *arg)
{
	struct cancel *c = arg;
	atomic_store(&c->inside, true);
	thread_opens(&c->entered);
	thread_passes(&c->release);
	set_user(2);
	atomic_store(&c->inside, false);
	atomic_store(&c->finished, true);
	return V(99);
}

static void *offload_blocking(void *arg)
{
	struct cancel *c = arg;
	void *result = V(-1);
	c->err = eddy_to_thread(worker_blocks, c, c->policy, &result);
	c->inside_when_returned = atomic_load(&c->inside);
	c->finished_when_returned = atomic_load(&c->finished);
	c->after = seen();
	c->set_after = eddy_var_set(user, V(3), NULL);
	c->returned = true;
	if (c->err && N(result) != -1)
		c->err = -EPROTO; /* a dropped result must not be handed back */
	return NULL;
}

static void *waiter(void *arg)
{
	struct cancel *c = arg;
	set_user(1);
	if (!c->nested)
		return offload_blocking(c);
	return eddy_ctx_run(c->nested_ctx, offload_blocking, c, NULL) ? V(-1)
								      : NULL;
}

/* How many rounds the loop gets to resume a cancelled waiter on its own. */
enum { HELD_ROUNDS = 50 };

static void *cancel_while_the_worker_runs(void *arg)
{
	struct cancel *c = arg;
	eddy_task *w = eddy_spawn(waiter, c);
	task_passes(&c->entered);
	eddy_cancel(w);
	for (int i = 0; i < HELD_ROUNDS && !c->returned; i++)
		eddy_yield();
	c->returned_before_release = c->returned;
	task_opens(&c->release);
	eddy_join(w, NULL);
	return NULL;
}

static struct cancel cancel_offload(enum eddy_backend backend,
				    enum eddy_policy policy, bool nested)
{
	struct cancel c = { .policy = policy, .nested = nested };
	gate_init(&c.entered);
	gate_init(&c.release);
	if (nested)
		cr_assert_not_null(c.nested_ctx = eddy_ctx_new());
	run_loop(backend, 0, cancel_while_the_worker_runs, &c);
	gate_fini(&c.entered);
	gate_fini(&c.release);
	cr_assert(atomic_load(&c.finished),
		  "the worker's function ran to its end before the loop returned");
	cr_assert(c.returned);
	cr_assert_eq(c.err, -ECANCELED);
	cr_assert_eq(c.set_after, 0);
	if (nested) {
		/* the context is free again: entering it works */
		cr_assert_eq(eddy_ctx_run(c.nested_ctx, noop, NULL, NULL), 0);
		eddy_ctx_unref(c.nested_ctx);
	}
	return c;
}

static void cancel_returns_at_once(enum eddy_backend backend,
				   enum eddy_policy policy)
{
	struct cancel c = cancel_offload(backend, policy, false);
	cr_assert(c.returned_before_release, "-ECANCELED came at once");
	cr_assert_not(c.finished_when_returned);
	cr_assert_eq(c.after, 1, "a cancelled call brings nothing back");
}

Test(threads_cancel, cancel_of_a_copy_wait_returns_ecanceled_before_the_worker_ends)
{
	cancel_returns_at_once(0, EDDY_COPY);
}

Test(threads_cancel, cancel_of_a_merge_wait_returns_ecanceled_and_merges_nothing)
{
	cancel_returns_at_once(0, EDDY_MERGE);
}

Test(threads_cancel, cancel_of_a_wait_on_a_worker_is_the_same_under_epoll)
{
	cancel_returns_at_once(EDDY_BACKEND_EPOLL, EDDY_COPY);
	cancel_returns_at_once(EDDY_BACKEND_EPOLL, EDDY_MERGE);
}

static void cancel_waits_for_the_worker_to_leave(enum eddy_backend backend,
						 bool nested)
{
	struct cancel c = cancel_offload(backend, EDDY_SHARE, nested);
	cr_assert_not(c.returned_before_release,
		      "the task does not run while the worker is in its context");
	cr_assert_not(c.inside_when_returned);
	cr_assert(c.finished_when_returned);
	cr_assert_eq(c.after, 2, "the worker's set is in the shared context");
}

Test(threads_cancel, cancel_of_a_share_wait_resumes_the_task_only_after_the_worker_left)
{
	cancel_waits_for_the_worker_to_leave(0, false);
}

Test(threads_cancel, cancel_of_a_share_wait_from_an_entered_context_waits_for_the_worker_too)
{
	cancel_waits_for_the_worker_to_leave(0, true);
}

Test(threads_cancel, cancel_of_a_share_wait_is_the_same_under_epoll)
{
	cancel_waits_for_the_worker_to_leave(EDDY_BACKEND_EPOLL, false);
}

/*
 * The worker has finished and posted its job, but the loop has not taken
 * it yet when the task is cancelled: the task still gets -ECANCELED, and
 * the job, freed when the loop takes it, is not touched by the task after
 * (the task resumes after the loop took it).  The main task spins, without
 * letting the loop run, until the job is in the loop's inbox: giving its
 * CPU away each time, for the worker on a busy machine, and for at most
 * INBOX_WAIT_S seconds.
 */
enum { INBOX_WAIT_S = 30 };

static double seconds_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *cancel_once_the_job_is_posted(void *arg)
{
	struct cancel *c = arg;
	eddy_task *w = eddy_spawn(waiter, c);
	task_passes(&c->entered);
	/* a plain write, not eddy_write: the loop must not run (and take the
	 * job from its inbox) between the release and the check below */
	thread_opens(&c->release);
	struct wake *wake = eddy_loop_current()->wake;
	double give_up = seconds_now() + INBOX_WAIT_S;
	while (!atomic_load(&wake->inbox) && seconds_now() < give_up)
		sched_yield();
	c->job_was_posted = atomic_load(&wake->inbox) != NULL;
	eddy_cancel(w);
	eddy_join(w, NULL);
	return NULL;
}

Test(threads_cancel, cancel_after_the_worker_posted_its_job_is_ecanceled)
{
	struct cancel c = { .policy = EDDY_COPY };
	gate_init(&c.entered);
	gate_init(&c.release);
	run_loop(0, 0, cancel_once_the_job_is_posted, &c);
	gate_fini(&c.entered);
	gate_fini(&c.release);
	cr_assert(c.job_was_posted);
	cr_assert_eq(c.err, -ECANCELED);
	cr_assert(c.finished_when_returned);
	cr_assert_eq(c.after, 1);
}

/* A call still queued behind a busy pool is cancelled at once as well, and
 * its function still runs once a worker is free. */
struct queued {
	struct cancel busy;
	atomic_int later_ran;
	bool submitting;
	int later_err;
	bool later_ran_when_cancelled;
};

static void *later_job(void *arg)
{
	struct queued *q = arg;
	atomic_fetch_add(&q->later_ran, 1);
	return NULL;
}

static void *submits_later_job(void *arg)
{
	struct queued *q = arg;
	q->submitting = true;
	q->later_err = eddy_to_thread(later_job, q, EDDY_COPY, NULL);
	return NULL;
}

static void *cancel_a_queued_call(void *arg)
{
	struct queued *q = arg;
	eddy_task *busy = eddy_spawn(offload_blocking, &q->busy);
	task_passes(&q->busy.entered); /* the only worker is taken */
	eddy_task *later = eddy_spawn(submits_later_job, q);
	while (!q->submitting)
		eddy_yield();
	eddy_cancel(later);
	eddy_join(later, NULL);
	q->later_ran_when_cancelled = atomic_load(&q->later_ran) != 0;
	task_opens(&q->busy.release);
	eddy_join(busy, NULL);
	return NULL;
}

Test(threads_cancel, cancel_of_a_call_queued_behind_a_busy_pool_returns_at_once)
{
	struct queued q = { .busy.policy = EDDY_COPY };
	gate_init(&q.busy.entered);
	gate_init(&q.busy.release);
	run_loop(0, 1, cancel_a_queued_call, &q);
	gate_fini(&q.busy.entered);
	gate_fini(&q.busy.release);
	cr_assert_eq(q.later_err, -ECANCELED);
	cr_assert_not(q.later_ran_when_cancelled);
	cr_assert_eq(atomic_load(&q.later_ran), 1,
		     "its function ran anyway before the loop returned");
	cr_assert_eq(q.busy.err, 0);
}

static void *cancelled_task_offloads(void *arg)
{
	struct queued *q = arg;
	eddy_cancel(eddy_self());
	q->later_err = eddy_to_thread(later_job, q, EDDY_COPY, NULL);
	return NULL;
}

Test(threads_cancel, to_thread_in_a_cancelled_task_is_ecanceled_and_runs_nothing)
{
	struct queued q = { 0 };
	run_loop(0, 0, cancelled_task_offloads, &q);
	cr_assert_eq(q.later_err, -ECANCELED);
	cr_assert_eq(atomic_load(&q.later_ran), 0);
}
