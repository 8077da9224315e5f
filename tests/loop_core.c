/*
 * The loop without I/O: running and finishing, the run queue's order,
 * fairness towards timers and completions, spawn, join and detach, MERGE
 * at join, misuse returning errors, sleeping, and the deadlock breaker.
 *
 * Each test body runs its checks inside eddy_run (or an explicit loop):
 * tasks record what they saw, and the assertions read it, there or after
 * the run.  Nothing sleeps to wait for another thread; every loop is
 * bounded.
 */
#define _GNU_SOURCE
#include "check.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "eddy.h"
#include "loop/timer.h"

EDDY_SUITE(loop_core);

#define V(n) ((void *)(intptr_t)(n))
#define N(p) ((long)(intptr_t)(p))

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void *returns_arg(void *arg)
{
	return arg;
}

static void *sleeps_then_counts(void *arg)
{
	int *count = arg;
	eddy_sleep(100000);
	(*count)++;
	return NULL;
}

/* ---- running ------------------------------------------------------------ */

Test(loop_core, run_returns_mains_result)
{
	void *r = NULL;
	cr_assert_eq(eddy_run(returns_arg, "main's result", &r), 0);
	cr_assert_str_eq(r, "main's result");
	cr_assert_eq(eddy_run(returns_arg, NULL, NULL), 0); /* result optional */
}

static void *spawns_and_returns(void *arg)
{
	for (int i = 0; i < 3; i++)
		cr_assert_not_null(eddy_spawn(sleeps_then_counts, arg));
	eddy_task *d = eddy_spawn(sleeps_then_counts, arg);
	cr_assert_eq(eddy_detach(d), 0);
	return NULL;
}

Test(loop_core, run_finishes_tasks_left_running_before_it_returns)
{
	int count = 0;
	cr_assert_eq(eddy_run(spawns_and_returns, &count, NULL), 0);
	cr_assert_eq(count, 4);
}

static void *reports_its_loop(void *arg)
{
	return eddy_loop_current() == arg ? V(1) : V(0);
}

Test(loop_core, explicit_loop_runs_tasks_and_names_its_backend)
{
	eddy_loop_config cfg = { .ring_entries = 32, .stack_size = 64 * 1024 };
	eddy_loop *loop = eddy_loop_new(&cfg);
	cr_assert_not_null(loop);
	enum eddy_backend be = eddy_loop_backend(loop);
	cr_assert(be == EDDY_BACKEND_URING || be == EDDY_BACKEND_EPOLL);
	void *r;
	cr_assert_eq(eddy_loop_run(loop, reports_its_loop, loop, &r), 0);
	cr_assert_eq(N(r), 1);
	/* a loop runs again after a run has ended */
	cr_assert_eq(eddy_loop_run(loop, reports_its_loop, loop, &r), 0);
	cr_assert_eq(N(r), 1);
	cr_assert_null(eddy_loop_current());
	eddy_loop_free(loop);
}

Test(loop_core, loop_new_with_a_bad_config_is_einval)
{
	eddy_loop_config bad_policy = { .default_policy = 99 };
	eddy_loop_config bad_backend = { .backend = 99 };
	errno = 0;
	cr_assert_null(eddy_loop_new(&bad_policy));
	cr_assert_eq(errno, EINVAL);
	errno = 0;
	cr_assert_null(eddy_loop_new(&bad_backend));
	cr_assert_eq(errno, EINVAL);
}

static void *runs_a_nested_loop(void *arg)
{
	(void)arg;
	return V(eddy_run(returns_arg, NULL, NULL));
}

Test(loop_core, run_from_inside_a_task_is_ebusy)
{
	void *r;
	cr_assert_eq(eddy_run(runs_a_nested_loop, NULL, &r), 0);
	cr_assert_eq(N(r), -EBUSY);
}

/* ---- the run queue -------------------------------------------------------- */

struct order {
	int seen[64];
	int n;
};

static struct order order;

static void *records_arg(void *arg)
{
	order.seen[order.n++] = (int)N(arg);
	return NULL;
}

static void *spawns_five_then_joins(void *arg)
{
	(void)arg;
	eddy_task *t[5];
	for (int i = 0; i < 5; i++)
		t[i] = eddy_spawn(records_arg, V(i));
	for (int i = 4; i >= 0; i--) /* join order does not matter */
		cr_assert_eq(eddy_join(t[i], NULL), 0);
	return NULL;
}

Test(loop_core, runnable_tasks_run_in_fifo_order)
{
	order.n = 0;
	cr_assert_eq(eddy_run(spawns_five_then_joins, NULL, NULL), 0);
	cr_assert_eq(order.n, 5);
	for (int i = 0; i < 5; i++)
		cr_assert_eq(order.seen[i], i);
}

static void *records_three_times(void *arg)
{
	for (int i = 0; i < 3; i++) {
		order.seen[order.n++] = (int)N(arg);
		cr_assert_eq(eddy_yield(), 0);
	}
	return NULL;
}

static void *spawns_three_yielders(void *arg)
{
	(void)arg;
	for (int i = 0; i < 3; i++)
		eddy_spawn(records_three_times, V(i));
	return NULL;
}

Test(loop_core, yielding_tasks_take_turns_in_fifo_order)
{
	order.n = 0;
	cr_assert_eq(eddy_run(spawns_three_yielders, NULL, NULL), 0);
	cr_assert_eq(order.n, 9);
	for (int i = 0; i < 9; i++)
		cr_assert_eq(order.seen[i], i % 3);
}

/* A task that yields until flag is set, at most LIMIT times: far more
 * rounds than any timer or completion below needs. */
#define YIELD_LIMIT 1000000

struct yielder {
	volatile int flag;
	long yields;
};

static void *yields_until_flag(void *arg)
{
	struct yielder *y = arg;
	while (!y->flag && y->yields < YIELD_LIMIT) {
		eddy_yield();
		y->yields++;
	}
	return NULL;
}

static void *sleeps_then_flags(void *arg)
{
	struct yielder *y = arg;
	cr_assert_eq(eddy_sleep(1000), 0);
	y->flag = 1;
	return NULL;
}

static void *yielder_and_sleeper(void *arg)
{
	eddy_task *y = eddy_spawn(yields_until_flag, arg);
	eddy_task *s = eddy_spawn(sleeps_then_flags, arg);
	cr_assert_eq(eddy_join(y, NULL), 0);
	cr_assert_eq(eddy_join(s, NULL), 0);
	return NULL;
}

Test(loop_core, a_task_that_only_yields_does_not_starve_timers)
{
	struct yielder y = { 0 };
	cr_assert_eq(eddy_run(yielder_and_sleeper, &y, NULL), 0);
	cr_assert_eq(y.flag, 1);
	cr_assert_lt(y.yields, YIELD_LIMIT);
}

struct reader {
	struct yielder y;
	int fds[2];
};

static void *reads_then_flags(void *arg)
{
	struct reader *r = arg;
	char c;
	cr_assert_eq(eddy_read(r->fds[0], &c, 1), 1);
	r->y.flag = 1;
	return NULL;
}

static void *yielder_and_reader(void *arg)
{
	struct reader *r = arg;
	eddy_task *rd = eddy_spawn(reads_then_flags, r);
	eddy_task *y = eddy_spawn(yields_until_flag, &r->y);
	eddy_yield(); /* the read is in the kernel */
	cr_assert_eq(write(r->fds[1], "x", 1), 1);
	cr_assert_eq(eddy_join(y, NULL), 0);
	cr_assert_eq(eddy_join(rd, NULL), 0);
	return NULL;
}

Test(loop_core, a_task_that_only_yields_does_not_starve_io_completions)
{
	struct reader r = { 0 };
	cr_assert_eq(pipe(r.fds), 0);
	cr_assert_eq(eddy_run(yielder_and_reader, &r, NULL), 0);
	cr_assert_eq(r.y.flag, 1);
	cr_assert_lt(r.y.yields, YIELD_LIMIT);
	close(r.fds[0]);
	close(r.fds[1]);
}

/* ---- spawn, join, detach ------------------------------------------------- */

static void *spawns_and_joins(void *arg)
{
	eddy_task *t = eddy_spawn(returns_arg, arg);
	cr_assert_not_null(t);
	void *r = NULL;
	cr_assert_eq(eddy_join(t, &r), 0);
	cr_assert_eq(r, arg);
	return r;
}

Test(loop_core, join_hands_back_the_childs_result)
{
	void *r;
	cr_assert_eq(eddy_run(spawns_and_joins, "child", &r), 0);
	cr_assert_str_eq(r, "child");
}

static void *joins_a_sleeping_child(void *arg)
{
	eddy_spawn_opts opts = { .name = "sleeper", .stack_size = 32 * 1024 };
	eddy_task *t = eddy_spawn_with(sleeps_then_counts, arg, &opts);
	cr_assert_not_null(t);
	cr_assert_str_eq(eddy_task_name(t), "sleeper");
	cr_assert_eq(eddy_join(t, NULL), 0);
	cr_assert_eq(*(int *)arg, 1);
	return NULL;
}

Test(loop_core, join_waits_for_a_child_that_suspends)
{
	int count = 0;
	cr_assert_eq(eddy_run(joins_a_sleeping_child, &count, NULL), 0);
	cr_assert_eq(count, 1);
}

static void *detaches_a_sleeper(void *arg)
{
	eddy_task *t = eddy_spawn(sleeps_then_counts, arg);
	cr_assert_eq(eddy_detach(t), 0);
	cr_assert_eq(eddy_detach(t), -EINVAL); /* exactly once */
	return NULL;
}

Test(loop_core, detached_task_runs_to_its_end_and_frees_itself)
{
	int count = 0;
	cr_assert_eq(eddy_run(detaches_a_sleeper, &count, NULL), 0);
	cr_assert_eq(count, 1);
}

static void *detaches_a_finished_task(void *arg)
{
	(void)arg;
	eddy_task *t = eddy_spawn(returns_arg, NULL);
	eddy_yield(); /* t finishes */
	return V(eddy_detach(t));
}

Test(loop_core, detach_of_a_finished_task_frees_it)
{
	void *r;
	cr_assert_eq(eddy_run(detaches_a_finished_task, NULL, &r), 0);
	cr_assert_eq(N(r), 0);
}

static eddy_var *var;

static void *sets_var(void *arg)
{
	cr_assert_eq(eddy_var_set(var, arg, NULL), 0);
	return NULL;
}

static void *spawns_merge_child(void *arg)
{
	(void)arg;
	eddy_spawn_opts merge = { .policy = EDDY_MERGE };
	eddy_task *t = eddy_spawn_with(sets_var, V(7), &merge);
	cr_assert_eq(eddy_task_policy(t), EDDY_MERGE);
	cr_assert_eq(eddy_yield(), 0); /* the child runs and finishes */
	void *v = NULL;
	cr_assert_eq(eddy_var_get(var, &v), -ENOENT); /* not before join */
	cr_assert_eq(eddy_join(t, NULL), 0);
	cr_assert_eq(eddy_var_get(var, &v), 0);
	cr_assert_eq(N(v), 7);
	return NULL;
}

Test(loop_core, join_applies_merge_and_not_before)
{
	var = eddy_var_new("merged");
	cr_assert_eq(eddy_run(spawns_merge_child, NULL, NULL), 0);
	eddy_var_free(var);
}

static void *joins_a_copy_child(void *arg)
{
	(void)arg;
	eddy_task *t = eddy_spawn(sets_var, V(7)); /* the loop's default */
	cr_assert_eq(eddy_task_policy(t), EDDY_COPY);
	cr_assert_eq(eddy_join(t, NULL), 0);
	void *v;
	return V(eddy_var_get(var, &v));
}

Test(loop_core, join_of_a_copy_child_brings_nothing_back)
{
	var = eddy_var_new("copied");
	void *r;
	cr_assert_eq(eddy_run(joins_a_copy_child, NULL, &r), 0);
	cr_assert_eq(N(r), -ENOENT);
	eddy_var_free(var);
}

/* ---- join's errors -------------------------------------------------------- */

static eddy_task *joined;

static void *joins_the_shared_task(void *arg)
{
	(void)arg;
	return V(eddy_join(joined, NULL));
}

static void *sleeps_long(void *arg)
{
	(void)arg;
	return V(eddy_sleep(3600ull * 1000000000u));
}

static void *joins_twice(void *arg)
{
	(void)arg;
	joined = eddy_spawn(sleeps_long, NULL);
	eddy_task *first = eddy_spawn(joins_the_shared_task, NULL);
	cr_assert_eq(eddy_yield(), 0); /* the first join is pending */
	cr_assert_eq(eddy_join(joined, NULL), -EINVAL);
	cr_assert_eq(eddy_detach(joined), -EINVAL);
	cr_assert_eq(eddy_cancel(joined), 0); /* lets the first join end */
	void *r;
	cr_assert_eq(eddy_join(first, &r), 0);
	cr_assert_eq(N(r), 0);
	return NULL;
}

Test(loop_core, join_while_another_join_is_pending_is_einval)
{
	cr_assert_eq(eddy_run(joins_twice, NULL, NULL), 0);
}

static void *joins_itself(void *arg)
{
	(void)arg;
	return V(eddy_join(eddy_self(), NULL));
}

Test(loop_core, join_of_self_is_edeadlk)
{
	void *r;
	cr_assert_eq(eddy_run(joins_itself, NULL, &r), 0);
	cr_assert_eq(N(r), -EDEADLK);
}

static void *joins_a_detached_task(void *arg)
{
	(void)arg;
	static int count;
	eddy_task *t = eddy_spawn(sleeps_then_counts, &count);
	cr_assert_eq(eddy_detach(t), 0);
	int r = eddy_join(t, NULL);
	cr_assert_eq(eddy_join(NULL, NULL), -EINVAL);
	return V(r);
}

Test(loop_core, join_of_a_detached_task_is_einval)
{
	void *r;
	cr_assert_eq(eddy_run(joins_a_detached_task, NULL, &r), 0);
	cr_assert_eq(N(r), -EINVAL);
}

Test(loop_core, suspending_calls_outside_a_task_are_eperm)
{
	char c;
	cr_assert_eq(eddy_sleep(1), -EPERM);
	cr_assert_eq(eddy_yield(), -EPERM);
	cr_assert_eq(eddy_read(0, &c, 1), -EPERM);
	cr_assert_eq(eddy_write(1, &c, 1), -EPERM);
	cr_assert_eq(eddy_poll(0, POLLIN), -EPERM);
	cr_assert_eq(eddy_join(NULL, NULL), -EPERM);
	cr_assert_null(eddy_self());
	cr_assert_null(eddy_loop_current());
}

Test(loop_core, spawn_outside_a_task_is_null_with_eperm)
{
	errno = 0;
	cr_assert_null(eddy_spawn(returns_arg, NULL));
	cr_assert_eq(errno, EPERM);
	errno = 0;
	cr_assert_null(eddy_spawn_with(returns_arg, NULL, NULL));
	cr_assert_eq(errno, EPERM);
}

static void *sleeps_in_a_bare_task(void *arg)
{
	(void)arg;
	return V(eddy_sleep(1));
}

static void *runs_a_bare_task(void *arg)
{
	(void)arg;
	/* a task of the task layer, resumed by hand: not the loop's */
	eddy_task *t = eddy_task_new(sleeps_in_a_bare_task, NULL, NULL, 0);
	cr_assert_eq(eddy_task_resume(t), 1);
	void *r;
	cr_assert_eq(eddy_task_collect(t, &r), 0);
	eddy_task_free(t);
	return r;
}

Test(loop_core, suspending_call_in_a_task_of_no_loop_is_eperm)
{
	eddy_task *t = eddy_task_new(runs_a_bare_task, NULL, NULL, 0);
	cr_assert_eq(eddy_task_resume(t), 1);
	void *r;
	cr_assert_eq(eddy_task_collect(t, &r), 0);
	cr_assert_eq(N(r), -EPERM);
	eddy_task_free(t);
}

/* ---- sleeping ------------------------------------------------------------- */

static void *sleeps_and_measures(void *arg)
{
	uint64_t *slept = arg, t0 = now_ns();
	cr_assert_eq(eddy_sleep(2000000), 0);
	*slept = now_ns() - t0;
	return NULL;
}

Test(loop_core, sleep_returns_no_earlier_than_asked)
{
	uint64_t slept = 0;
	cr_assert_eq(eddy_run(sleeps_and_measures, &slept, NULL), 0);
	cr_assert_geq(slept, 2000000u);
}

static void *sleeps_zero(void *arg)
{
	(void)arg;
	return V(eddy_sleep(0));
}

Test(loop_core, sleep_of_zero_returns_zero)
{
	void *r;
	cr_assert_eq(eddy_run(sleeps_zero, NULL, &r), 0);
	cr_assert_eq(N(r), 0);
}

static void *sleeps_forever(void *arg)
{
	(void)arg;
	return V(eddy_sleep(UINT64_MAX));
}

static void *cancels_an_endless_sleep(void *arg)
{
	(void)arg;
	eddy_task *t = eddy_spawn(sleeps_forever, NULL);
	eddy_yield();
	eddy_yield(); /* a sleep that wrapped around would be over by now */
	cr_assert_eq(eddy_cancel(t), 0);
	void *r;
	cr_assert_eq(eddy_join(t, &r), 0);
	return r;
}

Test(loop_core, sleep_of_uint64_max_lasts_until_cancelled)
{
	void *r;
	cr_assert_eq(eddy_run(cancels_an_endless_sleep, NULL, &r), 0);
	cr_assert_eq(N(r), -ECANCELED);
}

/* Yielders pass the thread straight to each other while they can; a
 * timer armed for later makes every round's end read the clock first. */
static void *spawns_yielders_beside_a_sleeper(void *arg)
{
	(void)arg;
	eddy_task *sleeper = eddy_spawn(sleeps_forever, NULL);
	eddy_task *t[3];
	for (int i = 0; i < 3; i++)
		t[i] = eddy_spawn(records_three_times, V(i));
	for (int i = 0; i < 3; i++)
		cr_assert_eq(eddy_join(t[i], NULL), 0);
	cr_assert_eq(eddy_cancel(sleeper), 0);
	void *r;
	cr_assert_eq(eddy_join(sleeper, &r), 0);
	return r;
}

Test(loop_core, yielding_tasks_keep_fifo_order_while_a_timer_is_armed)
{
	order.n = 0;
	void *r;
	cr_assert_eq(eddy_run(spawns_yielders_beside_a_sleeper, NULL, &r), 0);
	cr_assert_eq(N(r), -ECANCELED);
	cr_assert_eq(order.n, 9);
	for (int i = 0; i < 9; i++)
		cr_assert_eq(order.seen[i], i % 3);
}

enum { SLEEPERS = 10000 };

struct sleepers {
	int woke;
	int early; /* woke before their time: must stay 0 */
};

static void *sleeps_its_share(void *arg)
{
	struct sleepers *s = arg;
	uint64_t ns = 1000u * (uint64_t)(eddy_task_id(eddy_self()) % 500);
	uint64_t t0 = now_ns();
	if (eddy_sleep(ns) == 0)
		s->woke++;
	if (now_ns() - t0 < ns)
		s->early++;
	return NULL;
}

static void *spawns_sleepers(void *arg)
{
	for (int i = 0; i < SLEEPERS; i++) {
		eddy_task *t = eddy_spawn(sleeps_its_share, arg);
		cr_assert_not_null(t);
		eddy_detach(t);
	}
	return NULL;
}

Test(loop_core, ten_thousand_sleepers_with_small_stacks_all_wake)
{
	eddy_loop_config cfg = { .stack_size = 16 * 1024 };
	eddy_loop *loop = eddy_loop_new(&cfg);
	cr_assert_not_null(loop);
	struct sleepers s = { 0 };
	cr_assert_eq(eddy_loop_run(loop, spawns_sleepers, &s, NULL), 0);
	eddy_loop_free(loop);
	cr_assert_eq(s.woke, SLEEPERS);
	cr_assert_eq(s.early, 0);
}

/*
 * The timer heap itself: a pseudo-random mix of adds and removals, then
 * every timer left comes out in deadline order.
 */
Test(loop_core, timer_heap_yields_deadlines_in_order_after_removals)
{
	enum { T = 2000 };
	static struct eddy_timer timers[T];
	static bool armed[T];
	struct timer_heap h = { 0 };
	uint32_t x = 12345;
	for (int i = 0; i < T; i++) {
		x = x * 1103515245u + 12345u;
		timers[i].deadline = x >> 8;
		cr_assert_eq(timer_add(&h, &timers[i]), 0);
		armed[i] = true;
	}
	for (int i = 0; i < T; i += 3) {
		timer_remove(&h, &timers[i]);
		armed[i] = false;
	}
	size_t left = 0;
	for (int i = 0; i < T; i++)
		left += armed[i];
	cr_assert_eq(h.n, left);
	uint64_t last = 0;
	struct eddy_timer *t;
	while ((t = timer_first(&h))) {
		cr_assert_geq(t->deadline, last);
		cr_assert(armed[t - timers]);
		armed[t - timers] = false;
		last = t->deadline;
		timer_remove(&h, t);
		left--;
	}
	cr_assert_eq(left, 0);
	timer_heap_free(&h);
}

/* ---- the deadlock breaker -------------------------------------------------- */

static eddy_task *pair[2];
static long pair_result[2];

static void *joins_the_other(void *arg)
{
	long i = N(arg);
	pair_result[i] = eddy_join(pair[1 - i], NULL);
	return NULL;
}

static void *spawns_a_join_cycle(void *arg)
{
	(void)arg;
	pair[0] = eddy_spawn(joins_the_other, V(0));
	pair[1] = eddy_spawn(joins_the_other, V(1));
	return NULL;
}

Test(loop_core, tasks_joining_each_other_are_cancelled_and_run_returns)
{
	pair_result[0] = pair_result[1] = 1;
	cr_assert_eq(eddy_run(spawns_a_join_cycle, NULL, NULL), 0);
	cr_assert_eq(pair_result[0], -ECANCELED);
	cr_assert_eq(pair_result[1], -ECANCELED);
}

static void *joins_main(void *main_task)
{
	return V(eddy_join(main_task, NULL));
}

static void *joins_a_task_joining_it(void *arg)
{
	(void)arg;
	eddy_task *t = eddy_spawn(joins_main, eddy_self());
	int r = eddy_join(t, NULL);
	/* cancelled: the loop broke the cycle; t stays joinable */
	cr_assert_eq(r, -ECANCELED);
	return V(r);
}

Test(loop_core, main_in_a_join_cycle_is_cancelled_and_run_returns)
{
	void *r;
	cr_assert_eq(eddy_run(joins_a_task_joining_it, NULL, &r), 0);
	cr_assert_eq(N(r), -ECANCELED);
}

static void *suspends_outside_any_wait(void *arg)
{
	(void)arg;
	eddy_task_suspend(); /* the task layer's suspend: nothing wakes it */
	return NULL;
}

Test(loop_core, task_suspended_outside_any_wait_makes_run_edeadlk)
{
	cr_assert_eq(eddy_run(suspends_outside_any_wait, NULL, NULL),
		     -EDEADLK);
}

/* The tasks freed unfinished are gone from the loop's count as well. */
Test(loop_core, a_loop_runs_again_after_a_run_that_was_edeadlk)
{
	eddy_loop *loop = eddy_loop_new(NULL);
	cr_assert_not_null(loop);
	cr_assert_eq(eddy_loop_run(loop, suspends_outside_any_wait, NULL, NULL),
		     -EDEADLK);
	void *r = NULL;
	cr_assert_eq(eddy_loop_run(loop, returns_arg, V(7), &r), 0);
	cr_assert_eq(N(r), 7);
	eddy_loop_free(loop);
}
