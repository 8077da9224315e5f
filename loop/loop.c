/*
 * The loop: creating it, one round after another until no task is left,
 * and the task calls that need no kernel (spawn, join, detach, cancel,
 * yield).
 *
 * A round, in order:
 *   1. run every task that was runnable when the round began, in FIFO
 *      order (tasks they wake or spawn run next round, so a task that
 *      yields forever cannot starve the others or the kernel);
 *   2. hand every operation those tasks queued to the kernel in one go,
 *      and take the completions: without blocking if some task is
 *      runnable, else blocking until a completion or the first timer;
 *   3. fire the timers that expired.
 *
 * Step 1 runs mostly on the tasks' own stacks: a task that suspends hands
 * the thread straight to the next task of the round (switch_away), and
 * the last one, when steps 2 and 3 would find nothing to do, to the first
 * task of the next round.  The thread comes back to run_rounds' stack when
 * a task finishes, when the round's end has work, or when contexts are out
 * on worker threads.
 */
#define _GNU_SOURCE
#include "sched.h"

#include <assert.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctx/alloc.h"
#include "io.h"
#include "observe_hooks.h"
#include "pool.h"
#include "trace.h"
#include "wake.h"

_Thread_local eddy_loop *eddy_loop_now __attribute__((tls_model("initial-exec")));

#define TIMER_DISARMED ((size_t)-1)

uint64_t loop_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t loop_coarse_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t loop_deadline(uint64_t timeout_ns)
{
	uint64_t now = loop_now_ns();
	return timeout_ns > UINT64_MAX - now ? UINT64_MAX : now + timeout_ns;
}

/* ---- the run queue and the task list ----------------------------------- */

static void runq_push(eddy_loop *loop, eddy_task *t)
{
	sched_of(t)->next = NULL;
	if (loop->run_tail)
		sched_of(loop->run_tail)->next = t;
	else
		loop->run_head = t;
	loop->run_tail = t;
}

static eddy_task *runq_pop(eddy_loop *loop)
{
	eddy_task *t = loop->run_head;
	if (t && !(loop->run_head = sched_of(t)->next))
		loop->run_tail = NULL;
	return t;
}

/* The next task of the running round, or NULL when the round is over. */
static eddy_task *round_next(eddy_loop *loop)
{
	eddy_task *t = loop->round_end ? runq_pop(loop) : NULL;
	if (t == loop->round_end)
		loop->round_end = NULL;
	return t;
}

static void list_add(eddy_loop *loop, eddy_task *t)
{
	struct sched *s = sched_of(t);
	s->all_next = loop->all;
	if (loop->all)
		sched_of(loop->all)->all_prev = t;
	loop->all = t;
}

static void free_task(eddy_loop *loop, eddy_task *t)
{
	struct sched *s = sched_of(t);
	if (s->all_prev)
		sched_of(s->all_prev)->all_next = s->all_next;
	else
		loop->all = s->all_next;
	if (s->all_next)
		sched_of(s->all_next)->all_prev = s->all_prev;
	eddy_task_free(t);
}

/* ---- waiting ------------------------------------------------------------ */

/* loop_enter_wait's checks, for a caller that needs the task too: the
 * calling task, or NULL with *err set. */
static eddy_task *enter_wait(eddy_loop **loop, bool cancelled_too,
			     int *err)
{
	eddy_task *t = eddy_task_current();
	*err = -EPERM;
	if (!eddy_loop_now || !t)
		return NULL;
	*err = -ECANCELED;
	if (sched_of(t)->cancelled && !cancelled_too)
		return NULL;
	*loop = eddy_loop_now;
	return t;
}

int loop_enter_wait(eddy_loop **loop)
{
	int err;
	return enter_wait(loop, false, &err) ? 0 : err;
}

int loop_enter_uncancellable_wait(eddy_loop **loop)
{
	int err;
	return enter_wait(loop, true, &err) ? 0 : err;
}

/* Whether the end of the round would find nothing to do: nothing for the
 * kernel, no completion, no timer due. */
static inline bool round_end_is_quiet(eddy_loop *loop)
{
	struct eddy_timer *first = timer_first(&loop->timers);
	if (first && first->deadline <= loop_now_ns())
		return false;
	return loop->be->quiet && loop->be->quiet(loop);
}

/*
 * The time tasks are stamped with as they run (sched.last_ran, for the
 * dump): read every STAMP_EVERY rounds and after the loop may have slept,
 * not every round, as even the coarse clock costs more than a short
 * round of a few switches.
 */
#define STAMP_EVERY 16
static void stamp_round(eddy_loop *loop)
{
	if (loop->unstamped--)
		return;
	loop->unstamped = STAMP_EVERY - 1;
	loop->round_ns = loop_coarse_ns();
}

/* eddy_task_handoff from self to next, through switch_across (a handoff
 * that fails shows as a slice of next with nothing in it). */
static inline int hand_to(eddy_loop *loop, eddy_task *self, eddy_task *next)
{
	switch_across(loop, self, next);
	int err = eddy_task_handoff(next);
	if (__builtin_expect(err != 0, 0))
		switch_across(loop, next, self);
	return err;
}

/*
 * The calling task stops running: it is queued, or waits for something.
 * The thread goes straight to the next task of the round; at the round's
 * end, if that has nothing to do, to the first task of the next round
 * (which may be the caller: then it just runs on); else back to
 * run_rounds, which also minds the tasks held back for lent contexts.
 * (Always inlined: the watchers' branches must not tip GCC into calling
 * it.)
 */
static inline __attribute__((always_inline)) void
switch_away(eddy_loop *loop, eddy_task *self)
{
	if (!loop->lent) {
		if (!loop->round_end && loop->run_head &&
		    round_end_is_quiet(loop)) {
			loop->round_end = loop->run_tail; /* a round begins */
			stamp_round(loop);
		}
		eddy_task *next = round_next(loop);
		if (next == self || (next && !hand_to(loop, self, next)))
			return;
		if (next) /* its context is entered on another thread */
			runq_push(loop, next);
	}
	eddy_task_suspend();
}

long loop_suspend(struct eddy_wait *w)
{
	eddy_task *t = eddy_task_current();
	w->task = t;
	sched_of(t)->wait = w;
	switch_away(eddy_loop_now, t);
	return w->result;
}

void loop_wake(eddy_loop *loop, struct eddy_wait *w, long result)
{
	w->result = result;
	w->end = NULL;
	sched_of(w->task)->wait = NULL;
	runq_push(loop, w->task);
}

int loop_timer_arm(struct eddy_timer *timer, struct eddy_wait *w,
		   uint64_t timeout_ns)
{
	timer->index = TIMER_DISARMED;
	if (!timeout_ns)
		return 0;
	timer->deadline = loop_deadline(timeout_ns);
	timer->wait = w;
	return timer_add(&eddy_loop_now->timers, timer) ? -ENOMEM : 0;
}

void loop_timer_disarm(struct eddy_timer *timer)
{
	if (timer->index != TIMER_DISARMED)
		timer_remove(&eddy_loop_now->timers, timer);
}

long loop_suspend_timed(struct eddy_wait *w, uint64_t timeout_ns)
{
	struct eddy_timer timer;
	if (loop_timer_arm(&timer, w, timeout_ns))
		return -ENOMEM;
	long r = loop_suspend(w);
	loop_timer_disarm(&timer);
	return r;
}

/* End w's wait early, through its own hook, if it still has one. */
static void end_wait(eddy_loop *loop, struct eddy_wait *w, long why)
{
	wait_end_fn end = w->end;
	if (!end)
		return;
	w->end = NULL;
	end(loop, w, why);
}

static void fire_timers(eddy_loop *loop)
{
	struct eddy_timer *t = timer_first(&loop->timers);
	if (!t)
		return;
	uint64_t now = loop_now_ns();
	while ((t = timer_first(&loop->timers)) && t->deadline <= now) {
		timer_remove(&loop->timers, t);
		t->index = TIMER_DISARMED;
		loop->counters.timers_fired++;
		end_wait(loop, t->wait, -ETIMEDOUT);
	}
}

/* ---- tasks ------------------------------------------------------------- */

eddy_task *loop_spawn(eddy_loop *loop, eddy_fn fn, void *arg,
		      const eddy_spawn_opts *opts)
{
	eddy_spawn_opts o = opts ? *opts : (eddy_spawn_opts){ 0 };
	if (!o.policy)
		o.policy = loop->cfg.default_policy;
	if (!o.stack_size)
		o.stack_size = loop->cfg.stack_size;
	eddy_task *t = eddy_task_new(fn, arg, &o, sizeof(struct sched));
	if (!t)
		return NULL;
	sched_of(t)->loop = loop;
	sched_of(t)->parent = eddy_task_id(eddy_loop_now == loop ? eddy_task_current() : NULL);
	list_add(loop, t);
	loop->unfinished++;
	runq_push(loop, t);
	TRACE(spawn, loop, t);
	return t;
}

eddy_task *eddy_spawn_with(eddy_fn fn, void *arg, const eddy_spawn_opts *opts)
{
	if (!eddy_loop_now || !eddy_task_current()) {
		errno = EPERM;
		return NULL;
	}
	return loop_spawn(eddy_loop_now, fn, arg, opts);
}

eddy_task *eddy_spawn(eddy_fn fn, void *arg)
{
	return eddy_spawn_with(fn, arg, NULL);
}

eddy_task *eddy_self(void)
{
	return eddy_loop_now ? eddy_task_current() : NULL;
}

static void finished(eddy_loop *loop, eddy_task *t)
{
	struct sched *s = sched_of(t);
	s->finished = true;
	loop->unfinished--;
	loop->counters.finished++;
	if (s->on_finish)
		s->on_finish(loop, t, s->finish_arg);
	if (s->detached)
		free_task(loop, t);
	else if (s->joiner)
		loop_wake(loop, s->joiner, 0);
}

/* ---- contexts out on worker threads ------------------------------------- */

/* Only the newest lend of a context decides for the tasks in it: an older
 * one is the same context lent on, from a borrower, down the chain. */
static bool must_wait_for_lent(eddy_loop *loop, eddy_task *t)
{
	eddy_ctx *ctx = eddy_task_ctx(t);
	bool ctx_decided = false;
	for (struct lent *l = loop->lent; l; l = l->next) {
		if (l->lender == t)
			return true;
		if (l->ctx == ctx && !ctx_decided) {
			if (l->borrower != t)
				return true;
			ctx_decided = true;
		}
	}
	return false;
}

struct lent *loop_lent_to(eddy_loop *loop, eddy_ctx *ctx, eddy_task *t)
{
	for (struct lent *l = loop->lent; l; l = l->next)
		if (l->ctx == ctx) {
			l->borrower = t;
			return l;
		}
	return NULL;
}

int loop_lend(eddy_loop *loop, struct lent *l, eddy_ctx *ctx)
{
	int holds = eddy_ctx_lend(ctx);
	if (holds < 0)
		return holds;
	*l = (struct lent){ .ctx = ctx, .lender = eddy_task_current(),
			    .holds = holds, .next = loop->lent };
	loop->lent = l;
	return 0;
}

void loop_unlend(eddy_loop *loop, struct lent *l)
{
	struct lent **p = &loop->lent;
	while (*p != l)
		p = &(*p)->next;
	*p = l->next;
	/* the worker left it before posting its job back */
	int err = eddy_ctx_reclaim(l->ctx, l->holds);
	(void)err;
	assert(err == 0);
	/* the held tasks go back to the run queue; those whose context is
	 * still out elsewhere come back here when they are reached */
	if (loop->held_head) {
		if (loop->run_tail)
			sched_of(loop->run_tail)->next = loop->held_head;
		else
			loop->run_head = loop->held_head;
		loop->run_tail = loop->held_tail;
		loop->held_head = loop->held_tail = NULL;
	}
}

static void hold_back(eddy_loop *loop, eddy_task *t)
{
	sched_of(t)->next = NULL;
	if (loop->held_tail)
		sched_of(loop->held_tail)->next = t;
	else
		loop->held_head = t;
	loop->held_tail = t;
}

static void run_task(eddy_loop *loop, eddy_task *t)
{
	if (loop->lent && must_wait_for_lent(loop, t)) {
		hold_back(loop, t);
		return;
	}
	switch_in(loop, t);
	int r = eddy_task_resume(t);
	/* the task that stopped: t, or one the thread was handed to from t */
	eddy_task *last = r >= 0 ? eddy_task_last() : t;
	switch_out(loop, last, r == 1);
	if (r == 1)
		finished(loop, last);
	else if (r == -EBUSY) /* its context is entered on another thread */
		runq_push(loop, t);
}

static void join_end(eddy_loop *loop, struct eddy_wait *w, long why)
{
	struct sched *joiner = sched_of(w->task);
	sched_of(joiner->joining)->joiner = NULL;
	loop_wake(loop, w, why);
}

int eddy_join(eddy_task *t, void **result)
{
	eddy_loop *loop;
	int err = loop_enter_wait(&loop);
	if (err)
		return err;
	eddy_task *self = eddy_task_current();
	if (!t)
		return -EINVAL;
	if (t == self)
		return -EDEADLK;
	struct sched *s = sched_of(t);
	if (s->joiner || s->detached || s->loop != loop)
		return -EINVAL;
	if (!s->finished) {
		struct eddy_wait w = { .end = join_end, .kind = WAIT_JOIN };
		s->joiner = &w;
		sched_of(self)->joining = t;
		long r = loop_suspend(&w);
		sched_of(self)->joining = NULL;
		s->joiner = NULL;
		if (r)
			return (int)r;
	}
	TRACE(join, t);
	err = eddy_task_collect(t, result);
	if (err == -ENOMEM) /* nothing merged: the join may be retried */
		return err;
	free_task(loop, t); /* joined, even when a merge rule failed */
	return err;
}

int eddy_detach(eddy_task *t)
{
	if (!t)
		return -EINVAL;
	struct sched *s = sched_of(t);
	if (s->joiner || s->detached)
		return -EINVAL;
	s->detached = true;
	TRACE(detach, t);
	if (s->finished)
		free_task(s->loop, t);
	return 0;
}

int eddy_cancel(eddy_task *t)
{
	if (!t)
		return -EINVAL;
	struct sched *s = sched_of(t);
	if (s->finished)
		return 0;
	s->cancelled = true;
	TRACE(cancel, t);
	if (s->wait)
		end_wait(s->loop, s->wait, -ECANCELED);
	return 0;
}

int eddy_yield(void)
{
	eddy_loop *loop;
	int err;
	eddy_task *self = enter_wait(&loop, false, &err);
	if (!self)
		return err;
	runq_push(loop, self);
	switch_away(loop, self);
	return sched_of(self)->cancelled ? -ECANCELED : 0;
}

static void sleep_end(eddy_loop *loop, struct eddy_wait *w, long why)
{
	loop_wake(loop, w, why == -ETIMEDOUT ? 0 : why);
}

int eddy_sleep(uint64_t ns)
{
	eddy_loop *loop;
	int err = loop_enter_wait(&loop);
	if (err)
		return err;
	struct eddy_wait w = { .end = sleep_end, .kind = WAIT_SLEEP };
	TRACE(sleep, ns);
	return (int)loop_suspend_timed(&w, ns ? ns : 1);
}

/* ---- the loop ----------------------------------------------------------- */

static const struct backend *backend_for(enum eddy_backend kind)
{
	return kind == EDDY_BACKEND_EPOLL ? &eddy_backend_epoll
					  : &eddy_backend_uring;
}

static int choose_backend(eddy_loop *loop)
{
	enum eddy_backend kind = loop->cfg.backend;
	const char *env = getenv("EDDY_BACKEND");
	if (env && !strcmp(env, "uring"))
		kind = EDDY_BACKEND_URING;
	else if (env && !strcmp(env, "epoll"))
		kind = EDDY_BACKEND_EPOLL;
	else if (env && *env)
		return -EINVAL;

	loop->be = backend_for(kind);
	int err = loop->be->init(loop);
	if (err && kind == EDDY_BACKEND_AUTO) {
		loop->be = &eddy_backend_epoll;
		err = loop->be->init(loop);
	}
	return err;
}

eddy_loop *eddy_loop_new(const eddy_loop_config *cfg)
{
	eddy_loop *loop = eddy_alloc(sizeof *loop);
	if (!loop) {
		errno = ENOMEM;
		return NULL;
	}
	memset(loop, 0, sizeof *loop);
	if (cfg)
		loop->cfg = *cfg;
	if (!loop->cfg.ring_entries)
		loop->cfg.ring_entries = 256;
	if (!loop->cfg.default_policy)
		loop->cfg.default_policy = EDDY_COPY;
	if (!loop->cfg.workers)
		loop->cfg.workers = 4;
	loop->thread = pthread_self();
	trace_env_start();
	int err = 0;
	if (loop->cfg.default_policy > EDDY_MERGE ||
	    loop->cfg.backend > EDDY_BACKEND_EPOLL ||
	    loop->cfg.ring_entries > 32768)
		err = -EINVAL;
	else if (!(loop->wake = eddy_alloc(sizeof *loop->wake)))
		err = -ENOMEM;
	else if ((err = wake_init(loop->wake)))
		eddy_free(loop->wake);
	else if ((err = choose_backend(loop))) {
		wake_fini(loop->wake);
		eddy_free(loop->wake);
	}
	if (err) {
		eddy_free(loop);
		errno = -err;
		return NULL;
	}
	return loop;
}

int loop_pool_start(eddy_loop *loop)
{
	if (loop->pool)
		return 0;
	struct pool *pool = eddy_alloc(sizeof *pool);
	if (!pool)
		return -ENOMEM;
	int err = pool_init(pool, loop->cfg.workers, loop->wake);
	if (err) {
		eddy_free(pool);
		return err;
	}
	loop->pool = pool;
	return 0;
}

enum eddy_backend eddy_loop_backend(const eddy_loop *loop)
{
	return loop ? loop->be->kind : EDDY_BACKEND_AUTO;
}

eddy_loop *eddy_loop_current(void)
{
	return eddy_loop_now;
}

/*
 * Every task left waits for something nothing will bring: cancel them all,
 * so that each unwinds through its own error paths.  false when none of
 * them could be woken (tasks suspended outside any loop wait).
 */
static bool break_deadlock(eddy_loop *loop)
{
	for (eddy_task *t = loop->all; t; t = sched_of(t)->all_next)
		eddy_cancel(t);
	return loop->run_head != NULL;
}

/* 0 when every task finished, -EDEADLK when some never can. */
static int run_rounds(eddy_loop *loop)
{
	while (loop->unfinished || loop->jobs_pending) {
		eddy_task *t;
		stamp_round(loop);
		loop->round_end = loop->run_tail;
		while ((t = round_next(loop)))
			run_task(loop, t);
		if (!loop->unfinished && !loop->jobs_pending)
			break;
		struct eddy_timer *first = timer_first(&loop->timers);
		bool idle = !loop->run_head;
		if (idle && !first && !loop->io_pending && !loop->jobs_pending &&
		    !atomic_load_explicit(&loop->wake->called_in,
					  memory_order_relaxed) &&
		    !atomic_load_explicit(&loop->wake->inbox,
					  memory_order_relaxed)) {
			if (!break_deadlock(loop))
				return -EDEADLK;
			continue;
		}
		loop->be->poll(loop, idle, first ? first->deadline : 0);
		if (idle) /* it may have slept: stamp the next round afresh */
			loop->unstamped = 0;
		fire_timers(loop);
	}
	return 0;
}

int eddy_loop_run(eddy_loop *loop, eddy_fn main, void *arg, void **result)
{
	if (!loop || !main)
		return -EINVAL;
	/* io_uring takes submissions from the thread that made the ring */
	if (!pthread_equal(loop->thread, pthread_self()))
		return -EPERM;
	if (loop->running || eddy_loop_now || eddy_task_current())
		return -EBUSY;
	eddy_loop_now = loop;
	loop->running = true;
	int err = 0;
	/* Main first: a run that cannot start takes no call from the inbox
	 * (its task would be freed unserved, and its caller never woken). */
	eddy_task *main_task = loop_spawn(loop, main, arg, NULL);
	if (!main_task) {
		err = -ENOMEM;
	} else {
		/* the calls that came before the run go before main */
		assert(loop->run_head == main_task);
		wake_arm(loop);
		runq_push(loop, runq_pop(loop));
		err = run_rounds(loop);
		if (!err)
			err = eddy_task_collect(main_task, result);
	}
	/* Tasks nobody joined are finished by now, but for those -EDEADLK
	 * gives up on, which must stop counting too; their handles die
	 * here. */
	while (loop->all) {
		if (!sched_of(loop->all)->finished)
			loop->unfinished--;
		free_task(loop, loop->all);
	}
	loop->running = false;
	eddy_loop_now = NULL;
	return err;
}

void eddy_loop_free(eddy_loop *loop)
{
	if (!loop || loop->running)
		return;
	if (loop->pool) {
		pool_fini(loop->pool);
		eddy_free(loop->pool);
	}
	loop->be->fini(loop);
	observe_loop_free(loop);
	wake_fini(loop->wake);
	eddy_free(loop->wake);
	timer_heap_free(&loop->timers);
	eddy_free(loop);
}

int eddy_run(eddy_fn main, void *arg, void **result)
{
	eddy_loop *loop = eddy_loop_new(NULL);
	if (!loop)
		return -errno;
	int err = eddy_loop_run(loop, main, arg, result);
	eddy_loop_free(loop);
	return err;
}
