/*
 * Calls into a loop from other threads: eddy_loop_call (asgiref's
 * AsyncToSync) and eddy_loop_call_soon (call_soon_threadsafe), with the
 * calling thread's context handed to the task by a policy.  make test runs
 * this file under ThreadSanitizer too.
 *
 * The loop runs on the test's thread; the callers are threads the test
 * starts (foreign threads) or the loop's own workers.  The loop's main
 * task waits for the callers through a pipe they write when they are
 * done, so that a call never arrives at a loop that has already returned.
 * Threads record what they saw; the test asserts once they are joined.
 */
#define _GNU_SOURCE
#include "check.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "ctx/alloc.h"
#include "eddy.h"
#include "loop/wake.h" /* the inbox, to see a call arrive */
#include "threads_common.h"

EDDY_SUITE(threads_call);

static eddy_loop *new_loop(enum eddy_backend backend)
{
	if (!user)
		cr_assert_not_null(user = eddy_var_new("user"));
	eddy_loop_config cfg = { .backend = backend };
	eddy_loop *loop = eddy_loop_new(&cfg);
	cr_assert_not_null(loop);
	if (backend && !getenv("EDDY_BACKEND"))
		cr_assert_eq(eddy_loop_backend(loop), backend);
	return loop;
}

/*
 * Foreign threads around a loop: the loop's main task starts them, waits
 * for each to write a byte to done, and joins them.
 */
struct callers {
	int n;
	void *(*body)(void *);
	void **args;
	int done[2];
	pthread_t tid[8];
	int started, finished;
};

static void caller_done(struct callers *c)
{
	while (write(c->done[1], "x", 1) < 0 && errno == EINTR)
		;
}

static void *start_and_wait_for_callers(void *arg)
{
	struct callers *c = arg;
	for (int i = 0; i < c->n; i++)
		if (!pthread_create(&c->tid[i], NULL, c->body, c->args[i]))
			c->started++;
	for (int i = 0; i < c->started; i++) {
		char x;
		if (eddy_read(c->done[0], &x, 1) == 1)
			c->finished++;
	}
	/* each wrote its byte as its last act: the joins are short */
	for (int i = 0; i < c->started; i++)
		pthread_join(c->tid[i], NULL);
	return NULL;
}

static void run_with_callers(eddy_loop *loop, void *(*body)(void *),
			     void **args, int n, eddy_fn main)
{
	struct callers c = { .n = n, .body = body, .args = args };
	cr_assert_eq(pipe2(c.done, O_CLOEXEC), 0);
	cr_assert_eq(eddy_loop_run(loop, main ? main : start_and_wait_for_callers,
				   &c, NULL),
		     0);
	close(c.done[0]);
	close(c.done[1]);
	cr_assert_eq(c.started, n);
	cr_assert_eq(c.finished, n);
}

/* ---- each policy: what the calling thread sees afterwards -------------- */

struct probe {
	eddy_loop *loop;
	struct callers *callers;
	enum eddy_policy policy;
	void (*action)(void);
	/* the calling thread's record */
	eddy_ctx *thread_ctx;
	int err;
	void *result;
	long after;
	/* the task's */
	eddy_ctx *task_ctx;
	long at_entry;
	bool in_a_task_of_the_loop;
};

static void *probe_task(void *arg)
{
	struct probe *p = arg;
	p->at_entry = seen();
	p->task_ctx = eddy_ctx_current();
	p->in_a_task_of_the_loop =
		eddy_loop_current() == p->loop && eddy_self() != NULL;
	p->action();
	return V(42);
}

static void *probe_thread(void *arg)
{
	struct probe *p = arg;
	set_user(1);
	p->thread_ctx = eddy_ctx_current();
	p->err = eddy_loop_call(p->loop, probe_task, p, p->policy, &p->result);
	p->after = seen();
	caller_done(p->callers);
	return NULL;
}

static void *probe_main(void *arg)
{
	struct callers *c = arg;
	((struct probe *)c->args[0])->callers = c;
	return start_and_wait_for_callers(c);
}

/* What a foreign thread sees after a task under policy did action. */
static struct probe call_in(enum eddy_backend backend, enum eddy_policy policy,
			    void (*action)(void))
{
	struct probe p = { .policy = policy, .action = action };
	p.loop = new_loop(backend);
	void *args[] = { &p };
	run_with_callers(p.loop, probe_thread, args, 1, probe_main);
	eddy_loop_free(p.loop);
	cr_assert_eq(p.err, 0);
	cr_assert_eq(N(p.result), 42);
	cr_assert(p.in_a_task_of_the_loop);
	cr_assert_eq(p.at_entry, 1, "the task starts with the thread's values");
	if (policy == EDDY_SHARE)
		cr_assert_eq(p.task_ctx, p.thread_ctx);
	else
		cr_assert_neq(p.task_ctx, p.thread_ctx);
	return p;
}

Test(threads_call, copy_task_set_is_not_seen_by_the_calling_thread)
{
	cr_assert_eq(call_in(0, EDDY_COPY, sets).after, 1);
}

Test(threads_call, copy_task_set_and_reset_leaves_the_thread_as_it_was)
{
	cr_assert_eq(call_in(0, EDDY_COPY, sets_and_resets).after, 1);
}

Test(threads_call, copy_task_that_changes_nothing_leaves_the_thread_as_it_was)
{
	cr_assert_eq(call_in(0, EDDY_COPY, changes_nothing).after, 1);
}

Test(threads_call, share_task_set_is_seen_by_the_calling_thread)
{
	cr_assert_eq(call_in(0, EDDY_SHARE, sets).after, 2);
}

Test(threads_call, share_task_set_and_reset_leaves_the_thread_as_it_was)
{
	cr_assert_eq(call_in(0, EDDY_SHARE, sets_and_resets).after, 1);
}

Test(threads_call, share_task_that_changes_nothing_leaves_the_thread_as_it_was)
{
	cr_assert_eq(call_in(0, EDDY_SHARE, changes_nothing).after, 1);
}

Test(threads_call, merge_task_set_is_seen_by_the_calling_thread)
{
	cr_assert_eq(call_in(0, EDDY_MERGE, sets).after, 2);
}

Test(threads_call, merge_task_set_and_reset_leaves_the_thread_as_it_was)
{
	cr_assert_eq(call_in(0, EDDY_MERGE, sets_and_resets).after, 1);
}

Test(threads_call, merge_task_that_changes_nothing_leaves_the_thread_as_it_was)
{
	cr_assert_eq(call_in(0, EDDY_MERGE, changes_nothing).after, 1);
}

Test(threads_call, every_policy_works_the_same_under_epoll)
{
	cr_assert_eq(call_in(EDDY_BACKEND_EPOLL, EDDY_COPY, sets).after, 1);
	cr_assert_eq(call_in(EDDY_BACKEND_EPOLL, EDDY_SHARE, sets).after, 2);
	cr_assert_eq(call_in(EDDY_BACKEND_EPOLL, EDDY_SHARE,
			     sets_and_resets).after, 1);
	cr_assert_eq(call_in(EDDY_BACKEND_EPOLL, EDDY_MERGE, sets).after, 2);
	cr_assert_eq(call_in(EDDY_BACKEND_EPOLL, EDDY_MERGE,
			     changes_nothing).after, 1);
}

/* ---- from a worker thread back into its own loop ----------------------- */

/*
 * The forum thread's sync endpoint: a task offloads to a worker, the worker
 * calls back into the loop (an async helper), which sets the user.  The
 * same policy both ways: with COPY the task never sees it; with SHARE and
 * MERGE it does.
 */
struct round_trip {
	enum eddy_policy policy;
	eddy_loop *loop;
	int call_err, offload_err;
	long in_worker_after, after;
};

static void *async_helper(void *arg)
{
	(void)arg;
	set_user(2);
	return NULL;
}

static void *sync_endpoint(void *arg)
{
	struct round_trip *r = arg;
	r->call_err = eddy_loop_call(r->loop, async_helper, NULL, r->policy,
				     NULL);
	r->in_worker_after = seen();
	return NULL;
}

static void *request(void *arg)
{
	struct round_trip *r = arg;
	set_user(1);
	r->offload_err = eddy_to_thread(sync_endpoint, r, r->policy, NULL);
	r->after = seen();
	return NULL;
}

static struct round_trip worker_calls_back(enum eddy_backend backend,
					   enum eddy_policy policy)
{
	struct round_trip r = { .policy = policy };
	r.loop = new_loop(backend);
	cr_assert_eq(eddy_loop_run(r.loop, request, &r, NULL), 0);
	eddy_loop_free(r.loop);
	cr_assert_eq(r.offload_err, 0);
	cr_assert_eq(r.call_err, 0);
	return r;
}

Test(threads_call, copy_worker_calling_back_sees_nothing_and_brings_nothing)
{
	struct round_trip r = worker_calls_back(0, EDDY_COPY);
	cr_assert_eq(r.in_worker_after, 1);
	cr_assert_eq(r.after, 1);
}

Test(threads_call, share_worker_calling_back_in_share_reaches_the_offloading_task)
{
	struct round_trip r = worker_calls_back(0, EDDY_SHARE);
	cr_assert_eq(r.in_worker_after, 2);
	cr_assert_eq(r.after, 2);
}

Test(threads_call, merge_worker_calling_back_in_merge_reaches_the_offloading_task)
{
	struct round_trip r = worker_calls_back(0, EDDY_MERGE);
	cr_assert_eq(r.in_worker_after, 2);
	cr_assert_eq(r.after, 2);
}

Test(threads_call, a_worker_calls_back_the_same_way_under_epoll)
{
	cr_assert_eq(worker_calls_back(EDDY_BACKEND_EPOLL, EDDY_SHARE).after, 2);
	cr_assert_eq(worker_calls_back(EDDY_BACKEND_EPOLL, EDDY_MERGE).after, 2);
}

/*
 * Two levels down under SHARE: task -> worker -> task -> worker -> task.
 * Each level runs in the same context object, lent on from one thread to
 * the next; the innermost set reaches the outermost task, and every level
 * saw the context as one.
 */
struct nest {
	eddy_loop *loop;
	eddy_ctx *ctx[5];
	int errs[4];
};

static void *level(void *arg);

static void *level_in_thread(void *arg)
{
	struct nest *n = ((void **)arg)[0];
	long depth = N(((void **)arg)[1]);
	n->ctx[depth] = eddy_ctx_current();
	void *next[] = { n, V(depth + 1) };
	n->errs[depth] = eddy_loop_call(n->loop, level, next, EDDY_SHARE, NULL);
	return NULL;
}

static void *level(void *arg)
{
	struct nest *n = ((void **)arg)[0];
	long depth = N(((void **)arg)[1]);
	n->ctx[depth] = eddy_ctx_current();
	if (depth == 4) {
		set_user(2);
		return NULL;
	}
	void *next[] = { n, V(depth + 1) };
	n->errs[depth] = eddy_to_thread(level_in_thread, next, EDDY_SHARE, NULL);
	return NULL;
}

static void *outermost(void *arg)
{
	struct nest *n = arg;
	set_user(1);
	void *first[] = { n, V(0) };
	level(first);
	return V(seen());
}

Test(threads_call, share_round_trips_nest_two_deep)
{
	struct nest n = { .loop = new_loop(0) };
	void *after = NULL;
	cr_assert_eq(eddy_loop_run(n.loop, outermost, &n, &after), 0);
	eddy_loop_free(n.loop);
	for (int i = 0; i < 4; i++)
		cr_assert_eq(n.errs[i], 0, "level %d", i);
	for (int i = 1; i < 5; i++)
		cr_assert_eq(n.ctx[i], n.ctx[0], "level %d", i);
	cr_assert_eq(N(after), 2);
}

/* ---- call_soon ---------------------------------------------------------- */

struct soon {
	eddy_loop *loop;
	struct callers *callers;
	int ran[2];       /* the task writes here when it has run */
	int err;
	long task_saw, thread_after;
};

static void *soon_task(void *arg)
{
	struct soon *s = arg;
	s->task_saw = seen();
	set_user(8);
	eddy_write(s->ran[1], "x", 1);
	return NULL;
}

static void *soon_thread(void *arg)
{
	struct soon *s = arg;
	set_user(7);
	s->err = eddy_loop_call_soon(s->loop, soon_task, s);
	char x;
	while (read(s->ran[0], &x, 1) < 0 && errno == EINTR)
		;
	s->thread_after = seen();
	caller_done(s->callers);
	return NULL;
}

static void *soon_main(void *arg)
{
	struct callers *c = arg;
	((struct soon *)c->args[0])->callers = c;
	return start_and_wait_for_callers(c);
}

Test(threads_call, call_soon_runs_a_task_in_a_snapshot_of_the_threads_context)
{
	struct soon s = { 0 };
	s.loop = new_loop(0);
	cr_assert_eq(pipe2(s.ran, O_CLOEXEC), 0);
	void *args[] = { &s };
	run_with_callers(s.loop, soon_thread, args, 1, soon_main);
	eddy_loop_free(s.loop);
	close(s.ran[0]);
	close(s.ran[1]);
	cr_assert_eq(s.err, 0);
	cr_assert_eq(s.task_saw, 7);
	cr_assert_eq(s.thread_after, 7, "the task's set stays in its copy");
}

static atomic_int soon_runs;

static void *count_soon(void *arg)
{
	(void)arg;
	atomic_fetch_add(&soon_runs, 1);
	return NULL;
}

static void *main_checks_soon_runs(void *arg)
{
	int *ran = arg;
	*ran = atomic_load(&soon_runs);
	return NULL;
}

Test(threads_call, call_soon_between_runs_is_served_as_the_next_run_starts)
{
	eddy_loop *loop = new_loop(0);
	for (int run = 1; run <= 2; run++) {
		cr_assert_eq(eddy_loop_call_soon(loop, count_soon, NULL), 0);
		int ran_before_main = -1;
		cr_assert_eq(eddy_loop_run(loop, main_checks_soon_runs,
					   &ran_before_main, NULL),
			     0);
		cr_assert_eq(ran_before_main, run,
			     "run %d: it ran first, as it came first", run);
	}
	eddy_loop_free(loop);
}

/*
 * A run that cannot start its main task (no memory) returns -ENOMEM and
 * takes no call: one posted before it is neither lost nor leaked, and the
 * next run serves it first.  The failure is moved along the run's
 * allocations until it hits main's spawn (a call's own spawn failing is
 * that call's end, and the run goes on); with the stacks set up, main's
 * context is the run's first allocation.
 */
enum { RUN_ALLOCS_MAX = 64 };

Test(threads_call, a_run_that_cannot_spawn_main_leaves_pending_calls_to_the_next_run,
     .timeout = 60)
{
	eddy_loop *loop = new_loop(0);
	int ran = -1;
	/* warm up: the task layer's first spawn sets up its stacks */
	cr_assert_eq(eddy_loop_run(loop, main_checks_soon_runs, &ran, NULL), 0);
	int main_failed_at = 0;
	for (int n = 1; n <= RUN_ALLOCS_MAX && !main_failed_at; n++) {
		atomic_store(&soon_runs, 0);
		cr_assert_eq(eddy_loop_call_soon(loop, count_soon, NULL), 0);
		int ran_before_main = -1;
		eddy_alloc_fail_nth(n);
		int err = eddy_loop_run(loop, main_checks_soon_runs,
					&ran_before_main, NULL);
		eddy_alloc_fail_nth(0);
		if (err != -ENOMEM)
			continue;
		main_failed_at = n;
		cr_assert_eq(atomic_load(&soon_runs), 0,
			     "a run that never started served a call");
		cr_assert_eq(eddy_loop_run(loop, main_checks_soon_runs,
					   &ran_before_main, NULL),
			     0);
		cr_assert_eq(ran_before_main, 1,
			     "the call waited for the next run, and ran first");
	}
	cr_assert_neq(main_failed_at, 0);
	eddy_loop_free(loop);
}

/*
 * Calls the loop never took: call_soon's is freed (the leak check at the
 * end of the test says so), and a waiting eddy_loop_call returns
 * -ECANCELED with its context back.
 */
struct unserved {
	eddy_loop *loop;
	atomic_bool calling;
	int err, set_after;
};

static void *calls_a_loop_that_never_runs(void *arg)
{
	struct unserved *u = arg;
	set_user(1);
	atomic_store(&u->calling, true);
	u->err = eddy_loop_call(u->loop, count_soon, NULL, EDDY_SHARE, NULL);
	u->set_after = eddy_var_set(user, V(3), NULL);
	return NULL;
}

enum { INBOX_WAIT_MAX = 100000000 };

Test(threads_call, calls_a_loop_never_served_are_dropped_when_it_is_freed)
{
	struct unserved u = { .loop = new_loop(0) };
	cr_assert_eq(eddy_loop_call_soon(u.loop, count_soon, NULL), 0);
	pthread_t tid;
	cr_assert_eq(pthread_create(&tid, NULL, calls_a_loop_that_never_runs,
				    &u), 0);
	/* wait until the thread's call is in the inbox, on top of call_soon's */
	struct wake *w = u.loop->wake;
	long spins = 0;
	while (spins++ < INBOX_WAIT_MAX &&
	       !atomic_load(&w->inbox)->next)
		sched_yield();
	cr_assert(atomic_load(&u.calling));
	eddy_loop_free(u.loop);
	pthread_join(tid, NULL);
	cr_assert_eq(u.err, -ECANCELED);
	cr_assert_eq(u.set_after, 0, "the thread has its context back");
	cr_assert_eq(atomic_load(&soon_runs), 0);
}

/* ---- many callers while the loop is busy ------------------------------- */

enum { FOREIGN = 4, CALLS = 100, BUSY_TASKS = 20, BUSY_ROUNDS_MAX = 1000000 };

struct busy {
	eddy_loop *loop;
	atomic_bool stop;
	long rounds;        /* the busy tasks', on the loop's thread */
	int busy_errors;
};

struct foreign {
	struct busy *b;
	struct callers *callers;
	long id;
	int wrong;
};

static void *add_one_and_set(void *arg)
{
	set_user(N(arg));
	return V(N(arg) + 1);
}

static void *calls_while_busy(void *arg)
{
	struct foreign *f = arg;
	set_user(-1);
	for (long i = 0; i < CALLS; i++) {
		long tag = f->id * 1000 + i;
		enum eddy_policy policy = (enum eddy_policy)(EDDY_COPY + i % 3);
		void *r = NULL;
		if (eddy_loop_call_soon(f->b->loop, count_soon, NULL))
			f->wrong++;
		int err = eddy_loop_call(f->b->loop, add_one_and_set, V(tag),
					 policy, &r);
		long want = policy == EDDY_COPY ? -1 : tag;
		if (err || N(r) != tag + 1 || seen() != want)
			f->wrong++;
		set_user(-1);
	}
	caller_done(f->callers);
	return NULL;
}

/* Alternately yields and sleeps a microsecond until told to stop. */
static void *busy_task(void *arg)
{
	struct busy *b = arg;
	for (long i = 0; !atomic_load(&b->stop) && i < BUSY_ROUNDS_MAX; i++) {
		int err = i % 2 ? eddy_sleep(1000) : eddy_yield();
		if (err)
			b->busy_errors++;
		b->rounds++;
	}
	return NULL;
}

static void *busy_main(void *arg)
{
	struct callers *c = arg;
	struct foreign *f0 = c->args[0];
	struct busy *b = f0->b;
	for (int i = 0; i < c->n; i++)
		((struct foreign *)c->args[i])->callers = c;
	eddy_task *t[BUSY_TASKS];
	for (int i = 0; i < BUSY_TASKS; i++)
		t[i] = eddy_spawn(busy_task, b);
	start_and_wait_for_callers(c);
	atomic_store(&b->stop, true);
	for (int i = 0; i < BUSY_TASKS; i++)
		if (!t[i] || eddy_join(t[i], NULL))
			b->busy_errors++;
	return NULL;
}

static void foreign_threads_call_a_busy_loop(enum eddy_backend backend)
{
	struct busy b = { 0 };
	struct foreign f[FOREIGN];
	void *args[FOREIGN];
	b.loop = new_loop(backend);
	for (int i = 0; i < FOREIGN; i++) {
		f[i] = (struct foreign){ .b = &b, .id = i + 1 };
		args[i] = &f[i];
	}
	run_with_callers(b.loop, calls_while_busy, args, FOREIGN, busy_main);
	eddy_loop_free(b.loop);
	for (int i = 0; i < FOREIGN; i++)
		cr_assert_eq(f[i].wrong, 0, "thread %d", i);
	cr_assert_eq(b.busy_errors, 0);
	cr_assert_gt(b.rounds, 0);
	cr_assert_eq(atomic_load(&soon_runs), FOREIGN * CALLS,
		     "every call_soon ran before the loop returned");
}

Test(threads_call, foreign_threads_call_in_while_tasks_yield_and_sleep)
{
	foreign_threads_call_a_busy_loop(0);
}

Test(threads_call, foreign_threads_call_in_while_busy_under_epoll)
{
	foreign_threads_call_a_busy_loop(EDDY_BACKEND_EPOLL);
}

/* ---- a loop that was called into waits for calls ----------------------- */

/*
 * The deadlock breaker stands down once a foreign thread has called in:
 * main waits on an event that only a later call sets.  A loop that broke
 * the deadlock would cancel main's wait (-ECANCELED) before that call
 * arrived.
 */
struct later {
	eddy_loop *loop;
	struct callers *callers;
	eddy_event *ev;
	int first[2];
	int first_err, second_err, wait_err;
};

static void *first_call(void *arg)
{
	struct later *l = arg;
	eddy_write(l->first[1], "x", 1);
	return NULL;
}

static void *second_call(void *arg)
{
	struct later *l = arg;
	eddy_event_set(l->ev);
	return NULL;
}

static void *calls_twice(void *arg)
{
	struct later *l = arg;
	l->first_err = eddy_loop_call(l->loop, first_call, l, EDDY_COPY, NULL);
	l->second_err = eddy_loop_call(l->loop, second_call, l, EDDY_COPY, NULL);
	caller_done(l->callers);
	return NULL;
}

static void *waits_for_the_second_call(void *arg)
{
	struct callers *c = arg;
	struct later *l = c->args[0];
	l->callers = c;
	pthread_t tid;
	if (pthread_create(&tid, NULL, calls_twice, l))
		return NULL;
	c->started = 1;
	char x;
	eddy_read(l->first[0], &x, 1); /* a call has come in: I/O pending till then */
	l->wait_err = eddy_event_wait(l->ev); /* nothing pending on the loop now */
	if (eddy_read(c->done[0], &x, 1) == 1)
		c->finished = 1;
	pthread_join(tid, NULL);
	return NULL;
}

Test(threads_call, a_loop_called_into_waits_for_more_calls_rather_than_cancel_its_tasks)
{
	struct later l = { 0 };
	l.loop = new_loop(0);
	cr_assert_not_null(l.ev = eddy_event_new());
	cr_assert_eq(pipe2(l.first, O_CLOEXEC), 0);
	void *args[] = { &l };
	run_with_callers(l.loop, NULL, args, 1, waits_for_the_second_call);
	eddy_loop_free(l.loop);
	eddy_event_free(l.ev);
	close(l.first[0]);
	close(l.first[1]);
	cr_assert_eq(l.first_err, 0);
	cr_assert_eq(l.second_err, 0);
	cr_assert_eq(l.wait_err, 0);
}

/*
 * A call_soon from the loop's own thread is no foreign thread's call: the
 * loop delivers it rather than cancel the task waiting for what it does,
 * and afterwards still breaks a real deadlock (a wait nothing can end is
 * -ECANCELED, where a loop that stood down would wait forever).
 */
static void *sets_event(void *arg);

struct own_soon {
	eddy_event *set_by_soon, *never_set;
	int soon_err, first_wait, second_wait;
};

static void *waits_for_its_own_call_soon(void *arg)
{
	struct own_soon *o = arg;
	o->soon_err = eddy_loop_call_soon(eddy_loop_current(), sets_event,
					  o->set_by_soon);
	o->first_wait = eddy_event_wait(o->set_by_soon);
	o->second_wait = eddy_event_wait(o->never_set);
	return NULL;
}

Test(threads_call, a_call_soon_from_the_loops_thread_leaves_the_deadlock_breaker_on,
     .timeout = 60)
{
	struct own_soon o = { 0 };
	cr_assert_not_null(o.set_by_soon = eddy_event_new());
	cr_assert_not_null(o.never_set = eddy_event_new());
	eddy_loop *loop = new_loop(0);
	cr_assert_eq(eddy_loop_run(loop, waits_for_its_own_call_soon, &o, NULL),
		     0);
	eddy_loop_free(loop);
	eddy_event_free(o.set_by_soon);
	eddy_event_free(o.never_set);
	cr_assert_eq(o.soon_err, 0);
	cr_assert_eq(o.first_wait, 0, "the call was delivered, not cancelled");
	cr_assert_eq(o.second_wait, -ECANCELED);
}

/* ---- misuse ------------------------------------------------------------ */

struct own {
	eddy_event *ran;
	int from_a_task, soon_from_a_task, wait_err;
};

static void *sets_event(void *arg)
{
	eddy_event_set(arg);
	return NULL;
}

static void *calls_its_own_loop(void *arg)
{
	struct own *o = arg;
	o->from_a_task = eddy_loop_call(eddy_loop_current(), noop, NULL,
					EDDY_COPY, NULL);
	/* fire and forget is fine from anywhere, the loop's thread too */
	o->soon_from_a_task =
		eddy_loop_call_soon(eddy_loop_current(), sets_event, o->ran);
	o->wait_err = eddy_event_wait(o->ran);
	return NULL;
}

Test(threads_call, call_from_the_loops_own_thread_is_edeadlk)
{
	struct own o = { 0 };
	cr_assert_not_null(o.ran = eddy_event_new());
	eddy_loop *loop = new_loop(0);
	cr_assert_eq(eddy_loop_run(loop, calls_its_own_loop, &o, NULL), 0);
	eddy_loop_free(loop);
	eddy_event_free(o.ran);
	cr_assert_eq(o.from_a_task, -EDEADLK);
	cr_assert_eq(o.soon_from_a_task, 0);
	cr_assert_eq(o.wait_err, 0, "call_soon's task ran");
}

Test(threads_call, a_call_from_the_loops_thread_between_runs_is_edeadlk)
{
	eddy_loop *loop = new_loop(0);
	cr_assert_eq(eddy_loop_call(loop, noop, NULL, EDDY_COPY, NULL),
		     -EDEADLK);
	eddy_loop_free(loop);
}

Test(threads_call, calls_with_no_loop_no_function_or_an_unknown_policy_are_einval)
{
	eddy_loop *loop = new_loop(0);
	cr_assert_eq(eddy_loop_call(NULL, noop, NULL, EDDY_COPY, NULL), -EINVAL);
	cr_assert_eq(eddy_loop_call(loop, NULL, NULL, EDDY_COPY, NULL), -EINVAL);
	cr_assert_eq(eddy_loop_call(loop, noop, NULL, (enum eddy_policy)7,
				    NULL),
		     -EINVAL);
	cr_assert_eq(eddy_loop_call(loop, noop, NULL, (enum eddy_policy)-1,
				    NULL),
		     -EINVAL);
	cr_assert_eq(eddy_loop_call_soon(NULL, noop, NULL), -EINVAL);
	cr_assert_eq(eddy_loop_call_soon(loop, NULL, NULL), -EINVAL);
	eddy_loop_free(loop);
}
