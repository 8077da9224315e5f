/*
 * Task groups: waiting for every child, the first failure cancelling the
 * others and being reported, a cancelled waiter, MERGE in spawn order,
 * and misuse returning errors.
 *
 * Every test body runs as the main task of eddy_run.  Children that must
 * be cancelled sleep for a minute; each such test has a Criterion timeout
 * well under that, so a cancellation that does not arrive fails the test
 * instead of hanging it.  Nothing asserts on time.
 */
#include "check.h"

#include <errno.h>
#include <stdint.h>

#include "ctx/alloc.h"
#include "eddy.h"
#include "loop_test.h"

EDDY_SUITE(loop_group);

#define MINUTE (60 * 1000000000ull)

/* What a child did. */
struct kid {
	int yields;      /* eddy_yield calls before it returns */
	int fail;        /* its failure (a negative errno), or 0 */
	int sleep_result;
	bool returned;
	eddy_event *started; /* set when it starts, if non-NULL */
};

static void *yields_then_returns(void *arg)
{
	struct kid *k = arg;
	for (int i = 0; i < k->yields; i++)
		eddy_yield();
	k->returned = true;
	return k->fail ? EDDY_GROUP_FAILED(k->fail) : NULL;
}

/* Sleeps a minute unless cancelled; fails with what its sleep returned. */
static void *sleeps_a_minute(void *arg)
{
	struct kid *k = arg;
	if (k->started)
		eddy_event_set(k->started);
	k->sleep_result = eddy_sleep(MINUTE);
	k->returned = true;
	return k->sleep_result ? EDDY_GROUP_FAILED(k->sleep_result) : NULL;
}

static eddy_group *new_group(void)
{
	eddy_group *g = eddy_group_new();
	cr_assert_not_null(g);
	return g;
}

static void spawn(eddy_group *g, eddy_fn fn, void *arg)
{
	cr_assert_eq(eddy_group_spawn(g, fn, arg, NULL), 0);
}

/* ---- success and failure ------------------------------------------------ */

LOOP_TEST(loop_group, group_wait_is_0_when_every_child_succeeds)
{
	eddy_group *g = new_group();
	struct kid k[3] = { { .yields = 2 }, { .yields = 0 }, { .yields = 1 } };
	for (int i = 0; i < 3; i++)
		spawn(g, yields_then_returns, &k[i]);
	void *failed = &k[0];
	cr_assert_eq(eddy_group_wait(g, &failed), 0);
	cr_assert_null(failed);
	for (int i = 0; i < 3; i++)
		cr_assert(k[i].returned);
	cr_assert_eq(eddy_group_free(g), 0);
}

LOOP_TEST(loop_group, group_wait_of_an_empty_group_is_0)
{
	eddy_group *g = new_group();
	cr_assert_eq(eddy_group_wait(g, NULL), 0);
	eddy_group_free(g);
}

static void *returns_arg(void *arg)
{
	return arg;
}

LOOP_TEST(loop_group, group_child_fails_only_by_returning_eddy_group_failed)
{
	eddy_group *g = new_group();
	spawn(g, returns_arg, NULL);
	spawn(g, returns_arg, "a result");
	spawn(g, returns_arg, (void *)(intptr_t)-4096); /* below the range */
	spawn(g, returns_arg, (void *)(intptr_t)1);
	cr_assert_eq(eddy_group_wait(g, NULL), 0);
	spawn(g, returns_arg, EDDY_GROUP_FAILED(-4095));
	cr_assert_eq(eddy_group_wait(g, NULL), -4095);
	eddy_group_free(g);
}

LOOP_TEST(loop_group, group_first_failure_cancels_the_siblings_and_is_reported,
	  .timeout = 20)
{
	eddy_group *g = new_group();
	struct kid sleeper = { 0 }, failer = { .yields = 1, .fail = -EIO };
	struct kid late = { .yields = 3, .fail = -ENOSPC };
	spawn(g, sleeps_a_minute, &sleeper);
	spawn(g, yields_then_returns, &failer);
	spawn(g, yields_then_returns, &late);
	void *failed;
	cr_assert_eq(eddy_group_wait(g, &failed), -EIO);
	cr_assert_eq(failed, &failer);
	/* The sleeper was cancelled; its own failure is not the first. */
	cr_assert_eq(sleeper.sleep_result, -ECANCELED);
	cr_assert(late.returned);
	eddy_group_free(g);
}

LOOP_TEST(loop_group, group_failure_cancels_the_siblings_before_anyone_waits,
	  .timeout = 20)
{
	eddy_group *g = new_group();
	struct kid sleeper = { 0 }, failer = { .fail = -EIO };
	spawn(g, sleeps_a_minute, &sleeper);
	spawn(g, yields_then_returns, &failer);
	while (!sleeper.returned)
		cr_assert_eq(eddy_yield(), 0);
	cr_assert_eq(sleeper.sleep_result, -ECANCELED);
	cr_assert_eq(eddy_group_wait(g, NULL), -EIO);
	eddy_group_free(g);
}

LOOP_TEST(loop_group, group_spawn_while_the_group_cancels_is_ecanceled)
{
	eddy_group *g = new_group();
	struct kid failer = { .fail = -EIO }, later = { 0 };
	spawn(g, yields_then_returns, &failer);
	while (!failer.returned)
		eddy_yield();
	cr_assert_eq(eddy_group_spawn(g, yields_then_returns, &later, NULL),
		     -ECANCELED);
	cr_assert_eq(eddy_group_wait(g, NULL), -EIO);
	/* Waited for, the group is empty and usable again. */
	spawn(g, yields_then_returns, &later);
	cr_assert_eq(eddy_group_wait(g, NULL), 0);
	cr_assert(later.returned);
	eddy_group_free(g);
}

/* ---- a cancelled waiter ------------------------------------------------- */

struct waiting {
	eddy_group *g;
	struct kid kids[2];
	int result;
	bool kids_returned; /* every child had returned when the wait did */
};

static void *waits_on_its_group(void *arg)
{
	struct waiting *w = arg;
	w->result = eddy_group_wait(w->g, NULL);
	w->kids_returned = w->kids[0].returned && w->kids[1].returned;
	return NULL;
}

static void *spawns_sleepers_and_waits(void *arg)
{
	struct waiting *w = arg;
	for (int i = 0; i < 2; i++)
		spawn(w->g, sleeps_a_minute, &w->kids[i]);
	return waits_on_its_group(w);
}

LOOP_TEST(loop_group, group_wait_cancelled_cancels_the_children_and_waits_for_them,
	  .timeout = 20)
{
	eddy_event *started = eddy_event_new();
	struct waiting w = { .g = new_group() };
	w.kids[1].started = started; /* the last child to start */
	eddy_task *t = eddy_spawn(spawns_sleepers_and_waits, &w);
	/* The children run only once their parent is in eddy_group_wait. */
	cr_assert_eq(eddy_event_wait(started), 0);
	eddy_cancel(t);
	cr_assert_eq(eddy_join(t, NULL), 0);
	cr_assert_eq(w.result, -ECANCELED);
	cr_assert(w.kids_returned);
	cr_assert_eq(w.kids[0].sleep_result, -ECANCELED);
	cr_assert_eq(w.kids[1].sleep_result, -ECANCELED);
	cr_assert_eq(eddy_group_free(w.g), 0);
	eddy_event_free(started);
}

static void *cancels_itself_then_waits(void *arg)
{
	eddy_cancel(eddy_self());
	return spawns_sleepers_and_waits(arg);
}

LOOP_TEST(loop_group, group_wait_in_a_cancelled_task_cancels_the_children, .timeout = 20)
{
	struct waiting w = { .g = new_group() };
	cr_assert_eq(eddy_join(eddy_spawn(cancels_itself_then_waits, &w), NULL),
		     0);
	cr_assert_eq(w.result, -ECANCELED);
	cr_assert(w.kids_returned);
	cr_assert_eq(w.kids[0].sleep_result, -ECANCELED);
	cr_assert_eq(w.kids[1].sleep_result, -ECANCELED);
	eddy_group_free(w.g);
}

/* ---- MERGE ---------------------------------------------------------------- */

static eddy_var *who, *mine[3];
static const char *const names[] = { "0", "1", "2" };

struct merger {
	int id;
	int yields;
};

static void *sets_vars_late(void *arg)
{
	struct merger *m = arg;
	for (int i = 0; i < m->yields; i++)
		eddy_yield();
	eddy_var_set(who, (void *)names[m->id], NULL);
	eddy_var_set(mine[m->id], (void *)names[m->id], NULL);
	return NULL;
}

static void *spawns_mergers_and_waits(void *arg)
{
	(void)arg;
	eddy_group *g = new_group();
	/* They finish in reverse order: 2, 1, 0. */
	struct merger m[3] = { { 0, 4 }, { 1, 2 }, { 2, 0 } };
	eddy_spawn_opts merge = { .policy = EDDY_MERGE };
	for (int i = 0; i < 3; i++)
		cr_assert_eq(eddy_group_spawn(g, sets_vars_late, &m[i], &merge),
			     0);
	cr_assert_eq(eddy_group_wait(g, NULL), 0);
	/* Merged 0, then 1, then 2: the last spawned wins. */
	cr_assert_str_eq(eddy_var_get_or(who, "unset"), "2");
	for (int i = 0; i < 3; i++) /* every child's own change arrived */
		cr_assert_str_eq(eddy_var_get_or(mine[i], "unset"), names[i]);
	eddy_group_free(g);
	return NULL;
}

static void *merge_fails_then_succeeds(void *arg)
{
	(void)arg;
	eddy_group *g = new_group();
	struct merger m = { 0, 0 };
	eddy_spawn_opts merge = { .policy = EDDY_MERGE };
	cr_assert_eq(eddy_group_spawn(g, sets_vars_late, &m, &merge), 0);
	eddy_yield(); /* the child runs to its end (the run queue is FIFO) */
	eddy_alloc_fail_nth(1);
	cr_assert_eq(eddy_group_wait(g, NULL), -ENOMEM);
	eddy_alloc_fail_nth(0);
	cr_assert_str_eq(eddy_var_get_or(who, "unset"), "unset");
	cr_assert_eq(eddy_group_free(g), -EBUSY); /* the child is still in it */
	cr_assert_eq(eddy_group_wait(g, NULL), 0);
	cr_assert_str_eq(eddy_var_get_or(who, "unset"), "0");
	eddy_group_free(g);
	return NULL;
}

static void run_with_vars(eddy_fn body)
{
	who = eddy_var_new("who");
	for (int i = 0; i < 3; i++)
		mine[i] = eddy_var_new("mine");
	cr_assert_eq(eddy_run(body, NULL, NULL), 0);
	eddy_var_free(who);
	for (int i = 0; i < 3; i++)
		eddy_var_free(mine[i]);
}

Test(loop_group, group_merges_its_children_in_spawn_order)
{
	run_with_vars(spawns_mergers_and_waits);
}

Test(loop_group, group_wait_enomem_keeps_the_unmerged_children_for_a_retry)
{
	run_with_vars(merge_fails_then_succeeds);
}

/* ---- misuse and reuse --------------------------------------------------- */

static eddy_group *shared;

static void *spawns_a_sibling(void *arg)
{
	eddy_yield();
	cr_assert_eq(eddy_group_spawn(shared, yields_then_returns, arg, NULL),
		     0);
	return NULL;
}

LOOP_TEST(loop_group, group_waits_for_children_spawned_by_children)
{
	shared = new_group();
	struct kid sibling = { .yields = 2 };
	spawn(shared, spawns_a_sibling, &sibling);
	cr_assert_eq(eddy_group_wait(shared, NULL), 0);
	cr_assert(sibling.returned);
	cr_assert_eq(eddy_group_free(shared), 0);
}

static void *waits_on_shared(void *arg)
{
	*(int *)arg = eddy_group_wait(shared, NULL);
	return NULL;
}

LOOP_TEST(loop_group, group_wait_by_its_own_child_is_edeadlk)
{
	shared = new_group();
	int result = 0;
	spawn(shared, waits_on_shared, &result);
	cr_assert_eq(eddy_group_wait(shared, NULL), 0);
	cr_assert_eq(result, -EDEADLK);
	eddy_group_free(shared);
}

static void *waits_for_event(void *arg)
{
	eddy_event_wait(arg);
	return NULL;
}

LOOP_TEST(loop_group, group_wait_by_a_second_task_is_ebusy)
{
	shared = new_group();
	eddy_event *go = eddy_event_new();
	int first = 1;
	spawn(shared, waits_for_event, go);
	eddy_task *t = eddy_spawn(waits_on_shared, &first);
	eddy_yield(); /* t is in eddy_group_wait */
	cr_assert_eq(eddy_group_wait(shared, NULL), -EBUSY);
	cr_assert_eq(eddy_group_free(shared), -EBUSY);
	eddy_event_set(go);
	cr_assert_eq(eddy_join(t, NULL), 0);
	cr_assert_eq(first, 0);
	cr_assert_eq(eddy_group_free(shared), 0);
	eddy_event_free(go);
}

LOOP_TEST(loop_group, group_free_before_the_wait_is_ebusy)
{
	eddy_group *g = new_group();
	struct kid k = { 0 };
	spawn(g, yields_then_returns, &k);
	cr_assert_eq(eddy_group_free(g), -EBUSY);
	eddy_group_wait(g, NULL);
	cr_assert_eq(eddy_group_free(g), 0);
}

Test(loop_group, group_calls_outside_a_task_are_eperm)
{
	eddy_group *g = new_group();
	cr_assert_eq(eddy_group_spawn(g, returns_arg, NULL, NULL), -EPERM);
	cr_assert_eq(eddy_group_wait(g, NULL), -EPERM);
	cr_assert_eq(eddy_group_spawn(NULL, returns_arg, NULL, NULL), -EINVAL);
	cr_assert_eq(eddy_group_wait(NULL, NULL), -EINVAL);
	cr_assert_eq(eddy_group_free(g), 0);
	cr_assert_eq(eddy_group_free(NULL), 0);
}

/*
 * The deadlock breaker over a group whose child is suspended outside any
 * loop wait: the waiter, once cancelled, has nothing more to do on a
 * cancel, so the breaker cannot wake it again and again; the run gives
 * up with -EDEADLK, as for any task suspended that way (loop.h).
 */
static void *suspends_outside_any_wait(void *arg)
{
	(void)arg;
	eddy_task_suspend(); /* the task layer's suspend: nothing wakes it */
	return NULL;
}

/* The group stays reachable here once the run has given up on it. */
static eddy_group *given_up;

static void *waits_on_a_child_nothing_wakes(void *arg)
{
	(void)arg;
	given_up = new_group();
	eddy_group_spawn(given_up, suspends_outside_any_wait, NULL, NULL);
	eddy_group_wait(given_up, NULL); /* never returns: the run gives up */
	return NULL;
}

Test(loop_group, group_waiter_over_a_child_no_cancel_can_wake_makes_run_edeadlk,
     .timeout = 20)
{
	cr_assert_eq(eddy_run(waits_on_a_child_nothing_wakes, NULL, NULL),
		     -EDEADLK);
}
