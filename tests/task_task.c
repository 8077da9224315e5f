/*
 * Tasks: creation, resume and suspend, results, the context a task runs
 * in, and misuse returning errors.
 */
#include "check.h"

#include <stdint.h>
#include <string.h>

#include "eddy.h"

EDDY_SUITE(task_task);

static void *returns_arg(void *arg)
{
	return arg;
}

static void *suspends_twice(void *arg)
{
	int *steps = arg;
	(*steps)++;
	eddy_task_suspend();
	(*steps)++;
	eddy_task_suspend();
	(*steps)++;
	return steps;
}

Test(task_task, finished_task_hands_back_its_result)
{
	eddy_task *t = eddy_task_new(returns_arg, "result", NULL, 0);
	cr_assert_not_null(t);
	cr_assert_eq(eddy_task_resume(t), 1);
	void *r;
	cr_assert_eq(eddy_task_collect(t, &r), 0);
	cr_assert_str_eq(r, "result");
	cr_assert_eq(eddy_task_free(t), 0);
}

Test(task_task, suspend_returns_to_the_resumer_and_resume_continues)
{
	int steps = 0;
	eddy_task *t = eddy_task_new(suspends_twice, &steps, NULL, 0);
	cr_assert_eq(steps, 0); /* created suspended */
	cr_assert_eq(eddy_task_resume(t), 0);
	cr_assert_eq(steps, 1);
	cr_assert_eq(eddy_task_resume(t), 0);
	cr_assert_eq(steps, 2);
	cr_assert_eq(eddy_task_resume(t), 1);
	cr_assert_eq(steps, 3);
	eddy_task_free(t);
}

Test(task_task, resume_after_finish_is_einval)
{
	eddy_task *t = eddy_task_new(returns_arg, NULL, NULL, 0);
	cr_assert_eq(eddy_task_resume(t), 1);
	cr_assert_eq(eddy_task_resume(t), -EINVAL);
	cr_assert_eq(eddy_task_resume(t), -EINVAL);
	eddy_task_free(t);
}

static void *resumes_itself(void *arg)
{
	(void)arg;
	return (void *)(long)eddy_task_resume(eddy_task_current());
}

Test(task_task, resume_of_a_running_task_is_ebusy)
{
	eddy_task *t = eddy_task_new(resumes_itself, NULL, NULL, 0);
	void *r;
	cr_assert_eq(eddy_task_resume(t), 1);
	cr_assert_eq(eddy_task_collect(t, &r), 0);
	cr_assert_eq((long)r, -EBUSY);
	eddy_task_free(t);
}

Test(task_task, collect_before_finish_is_ebusy_and_twice_is_ealready)
{
	int steps = 0;
	eddy_task *t = eddy_task_new(suspends_twice, &steps, NULL, 0);
	cr_assert_eq(eddy_task_collect(t, NULL), -EBUSY);
	while (eddy_task_resume(t) == 0)
		;
	cr_assert_eq(eddy_task_collect(t, NULL), 0);
	cr_assert_eq(eddy_task_collect(t, NULL), -EALREADY);
	eddy_task_free(t);
}

Test(task_task, suspend_outside_a_task_is_eperm)
{
	cr_assert_eq(eddy_task_suspend(), -EPERM);
	cr_assert_null(eddy_task_current());
}

Test(task_task, null_fn_is_einval)
{
	errno = 0;
	cr_assert_null(eddy_task_new(NULL, NULL, NULL, 0));
	cr_assert_eq(errno, EINVAL);
}

/* A scheduler area no stack can hold is refused, however large: a size
 * near SIZE_MAX must not wrap the task's block around to a small one. */
Test(task_task, sched_area_larger_than_any_stack_is_einval)
{
	const size_t huge[] = { SIZE_MAX, SIZE_MAX - 100, SIZE_MAX / 2 };
	for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
		errno = 0;
		cr_assert_null(eddy_task_new(returns_arg, NULL, NULL, huge[i]),
			       "sched_size %zu", huge[i]);
		cr_assert_eq(errno, EINVAL);
	}
}

static void *reports_self(void *arg)
{
	(void)arg;
	return eddy_task_current();
}

Test(task_task, current_task_is_the_running_one)
{
	eddy_task *t = eddy_task_new(reports_self, NULL, NULL, 0);
	void *r;
	eddy_task_resume(t);
	eddy_task_collect(t, &r);
	cr_assert_eq(r, t);
	cr_assert_null(eddy_task_current());
	eddy_task_free(t);
}

Test(task_task, name_id_policy_and_sched_area)
{
	eddy_spawn_opts opts = { .policy = EDDY_MERGE, .name = "worker-7" };
	char name[] = "worker-7";
	opts.name = name;
	eddy_task *a = eddy_task_new(returns_arg, NULL, &opts, 48);
	name[0] = 'X'; /* the task keeps its own copy */
	eddy_task *b = eddy_task_new(returns_arg, NULL, NULL, 0);
	cr_assert_str_eq(eddy_task_name(a), "worker-7");
	cr_assert_null(eddy_task_name(b));
	cr_assert_gt(eddy_task_id(b), eddy_task_id(a));
	cr_assert_eq(eddy_task_policy(a), EDDY_MERGE);
	cr_assert_eq(eddy_task_policy(b), EDDY_COPY);
	unsigned char *sched = eddy_task_sched(a);
	for (int i = 0; i < 48; i++)
		cr_assert_eq(sched[i], 0);
	memset(sched, 0xff, 48); /* the task's own fields survive */
	cr_assert_str_eq(eddy_task_name(a), "worker-7");
	cr_assert_eq(eddy_task_resume(a), 1);
	eddy_task_free(a);
	eddy_task_free(b);
}

static eddy_var *var;

static void *reads_and_sets(void *arg)
{
	void *v;
	int err = eddy_var_get(var, &v);
	eddy_var_set(var, arg, NULL);
	eddy_task_suspend();
	/* still this task's value after the resumer set its own */
	eddy_var_get(var, &v);
	return err ? NULL : v;
}

Test(task_task, task_code_runs_in_the_task_context_and_switching_restores)
{
	var = eddy_var_new("v");
	eddy_var_set(var, "outside", NULL);
	eddy_task *t = eddy_task_new(reads_and_sets, "inside", NULL, 0);
	cr_assert_eq(eddy_task_resume(t), 0);
	void *v;
	eddy_var_get(var, &v);
	cr_assert_str_eq(v, "outside");
	cr_assert_eq(eddy_ctx_get(eddy_task_ctx(t), var, &v), 0);
	cr_assert_str_eq(v, "inside");
	eddy_var_set(var, "outside-2", NULL);
	cr_assert_eq(eddy_task_resume(t), 1);
	eddy_task_collect(t, &v);
	cr_assert_str_eq(v, "inside");
	eddy_task_free(t);
	eddy_var_free(var);
}

static void *runs_own_context(void *arg)
{
	(void)arg;
	return (void *)(long)eddy_ctx_run(eddy_task_ctx(eddy_task_current()),
					  returns_arg, NULL, NULL);
}

Test(task_task, running_the_task_context_from_inside_is_ebusy)
{
	eddy_task *t = eddy_task_new(runs_own_context, NULL, NULL, 0);
	void *r;
	eddy_task_resume(t);
	eddy_task_collect(t, &r);
	cr_assert_eq((long)r, -EBUSY);
	eddy_task_free(t);
}

/* The task's context is current by the task switch, not by an enter:
 * leaving it is a misuse, refused, and changes nothing. */
static void *leaves_own_context(void *arg)
{
	eddy_ctx *own = eddy_task_ctx(eddy_task_current());
	*(int *)arg = eddy_ctx_leave(own);
	eddy_task_suspend();
	return eddy_ctx_current();
}

Test(task_task, leaving_the_task_context_from_inside_is_einval)
{
	int err = 0;
	eddy_task *t = eddy_task_new(leaves_own_context, &err, NULL, 0);
	eddy_ctx *own = eddy_task_ctx(t);
	cr_assert_eq(eddy_task_resume(t), 0);
	cr_assert_eq(err, -EINVAL);
	/* still held for the task: no other enter while it may run there */
	cr_assert_eq(eddy_ctx_run(own, returns_arg, NULL, NULL), -EBUSY);
	cr_assert_eq(eddy_task_resume(t), 1);
	void *r;
	cr_assert_eq(eddy_task_collect(t, &r), 0);
	cr_assert_eq(r, own, "the task still runs in its own context");
	eddy_task_free(t);
}

static void *parent_of_nested(void *arg)
{
	int *order = arg;
	eddy_task *child = eddy_task_new(suspends_twice, order + 1, NULL, 0);
	while (eddy_task_resume(child) == 0) {
		order[0]++;
		eddy_task_suspend();
	}
	eddy_task_free(child);
	return NULL;
}

Test(task_task, tasks_resume_tasks)
{
	int order[2] = { 0, 0 };
	eddy_task *t = eddy_task_new(parent_of_nested, order, NULL, 0);
	int rounds = 0;
	while (eddy_task_resume(t) == 0)
		rounds++;
	cr_assert_eq(rounds, 2);
	cr_assert_eq(order[0], 2);
	cr_assert_eq(order[1], 3);
	eddy_task_free(t);
}

Test(task_task, abandoned_suspended_task_frees_cleanly)
{
	int steps = 0;
	eddy_task *t = eddy_task_new(suspends_twice, &steps, NULL, 0);
	cr_assert_eq(eddy_task_resume(t), 0);
	cr_assert_eq(eddy_task_free(t), 0);
	cr_assert_eq(steps, 1);
}

Test(task_task, many_tasks_interleave)
{
	enum { N = 1000 };
	static eddy_task *tasks[N];
	static int steps[N];
	for (int i = 0; i < N; i++)
		cr_assert_not_null(tasks[i] = eddy_task_new(suspends_twice,
							    &steps[i], NULL, 0));
	for (int round = 0; round < 3; round++)
		for (int i = 0; i < N; i++)
			cr_assert_eq(eddy_task_resume(tasks[i]), round == 2);
	for (int i = 0; i < N; i++) {
		cr_assert_eq(steps[i], 3);
		eddy_task_free(tasks[i]);
	}
}

/* ---- handoff -------------------------------------------------------------- */

struct relay {
	eddy_task *peer; /* whom to hand the thread to */
	int *log, *n;    /* the order things happened in */
	int mark;
};

static void note(struct relay *r, int what)
{
	r->log[(*r->n)++] = what;
}

/* Notes mark, hands the thread to its peer, notes mark + 1 when back. */
static void *hands_off_once(void *arg)
{
	struct relay *r = arg;
	note(r, r->mark);
	int err = eddy_task_handoff(r->peer);
	note(r, r->mark + 1);
	return (void *)(long)err;
}

/* Notes mark, suspends, notes mark + 1 and returns. */
static void *suspends_once(void *arg)
{
	struct relay *r = arg;
	note(r, r->mark);
	eddy_task_suspend();
	note(r, r->mark + 1);
	return NULL;
}

Test(task_task, handoff_runs_the_other_task_which_suspends_back_to_the_resumer)
{
	int log[8], n = 0;
	struct relay rb = { NULL, log, &n, 20 };
	eddy_task *b = eddy_task_new(suspends_once, &rb, NULL, 0);
	struct relay ra = { b, log, &n, 10 };
	eddy_task *a = eddy_task_new(hands_off_once, &ra, NULL, 0);

	cr_assert_eq(eddy_task_resume(a), 0); /* b suspended */
	cr_assert_eq(eddy_task_last(), b);
	cr_assert_null(eddy_task_current());
	cr_assert_eq(eddy_task_resume(a), 1); /* a goes on after its handoff */
	cr_assert_eq(eddy_task_last(), a);
	cr_assert_eq(eddy_task_resume(b), 1);
	cr_assert_eq(n, 4);
	cr_assert_eq(log[0], 10);
	cr_assert_eq(log[1], 20);
	cr_assert_eq(log[2], 11);
	cr_assert_eq(log[3], 21);
	void *r;
	cr_assert_eq(eddy_task_collect(a, &r), 0);
	cr_assert_eq((long)r, 0);
	eddy_task_free(a);
	eddy_task_free(b);
}

Test(task_task, a_task_handed_to_that_finishes_ends_the_resume_with_1)
{
	int log[8], n = 0;
	eddy_task *b = eddy_task_new(returns_arg, "b's", NULL, 0);
	struct relay ra = { b, log, &n, 10 };
	eddy_task *a = eddy_task_new(hands_off_once, &ra, NULL, 0);

	cr_assert_eq(eddy_task_resume(a), 1);
	cr_assert_eq(eddy_task_last(), b);
	void *r;
	cr_assert_eq(eddy_task_collect(b, &r), 0);
	cr_assert_str_eq(r, "b's");
	cr_assert_eq(eddy_task_collect(a, NULL), -EBUSY); /* a only suspended */
	cr_assert_eq(eddy_task_resume(a), 1);
	cr_assert_eq(n, 2);
	eddy_task_free(a);
	eddy_task_free(b);
}

static void *sets_and_hands_off(void *arg)
{
	eddy_var_set(var, "a's", NULL);
	eddy_task_handoff(arg);
	void *v = NULL;
	eddy_var_get(var, &v);
	return v;
}

static void *reads_and_suspends(void *arg)
{
	(void)arg;
	void *v = NULL;
	eddy_var_get(var, &v);
	eddy_task_suspend();
	return v;
}

Test(task_task, handoff_switches_to_the_context_of_the_task_handed_to)
{
	var = eddy_var_new("v");
	eddy_var_set(var, "outside", NULL);
	eddy_task *b = eddy_task_new(reads_and_suspends, NULL, NULL, 0);
	eddy_var_set(var, "outside-2", NULL); /* after b's snapshot */
	eddy_task *a = eddy_task_new(sets_and_hands_off, b, NULL, 0);

	cr_assert_eq(eddy_task_resume(a), 0);
	void *v;
	eddy_var_get(var, &v);
	cr_assert_str_eq(v, "outside-2"); /* the resumer's, restored */
	cr_assert_eq(eddy_task_resume(b), 1);
	eddy_task_collect(b, &v);
	cr_assert_str_eq(v, "outside"); /* b ran in its own context */
	cr_assert_eq(eddy_task_resume(a), 1);
	eddy_task_collect(a, &v);
	cr_assert_str_eq(v, "a's");
	eddy_task_free(a);
	eddy_task_free(b);
	eddy_var_free(var);
}

static void *hands_off_to_bad_peers(void *arg)
{
	eddy_task *finished = arg;
	long errs[3] = {
		eddy_task_handoff(NULL),
		eddy_task_handoff(finished),
		eddy_task_handoff(eddy_task_current()),
	};
	return (void *)(errs[0] == -EINVAL && errs[1] == -EINVAL &&
			errs[2] == -EBUSY ? "all refused" : "not refused");
}

Test(task_task, handoff_to_no_task_a_finished_or_a_running_one_is_refused)
{
	cr_assert_eq(eddy_task_handoff(NULL), -EPERM); /* not in a task */
	eddy_task *done = eddy_task_new(returns_arg, NULL, NULL, 0);
	cr_assert_eq(eddy_task_resume(done), 1);
	eddy_task *t = eddy_task_new(hands_off_to_bad_peers, done, NULL, 0);
	cr_assert_eq(eddy_task_resume(t), 1); /* the caller ran on */
	void *r;
	eddy_task_collect(t, &r);
	cr_assert_str_eq(r, "all refused");
	eddy_task_free(t);
	eddy_task_free(done);
}

/* A ring of tasks passing the thread around: each hands it to the next,
 * laps times, and the last lap ends back at the resumer. */
enum { RING = 64, LAPS = 50 };
static eddy_task *ring[RING];
static int ring_visits[RING];

static void *passes_it_on(void *arg)
{
	int i = (int)(long)arg;
	for (int lap = 0; lap < LAPS; lap++) {
		ring_visits[i]++;
		if (i == RING - 1)
			eddy_task_suspend(); /* one lap done: to the resumer */
		else if (eddy_task_handoff(ring[i + 1]))
			return "refused";
	}
	return NULL;
}

Test(task_task, tasks_pass_the_thread_around_a_ring)
{
	for (int i = 0; i < RING; i++)
		cr_assert_not_null(ring[i] = eddy_task_new(
					   passes_it_on, (void *)(long)i, NULL, 0));
	for (int lap = 0; lap < LAPS; lap++) {
		cr_assert_eq(eddy_task_resume(ring[0]), 0);
		cr_assert_eq(eddy_task_last(), ring[RING - 1]);
	}
	/* each task but the last waits in its handoff, the last suspended */
	for (int i = 0; i < RING; i++) {
		cr_assert_eq(ring_visits[i], LAPS);
		cr_assert_eq(eddy_task_resume(ring[i]), 1);
		void *r;
		cr_assert_eq(eddy_task_collect(ring[i], &r), 0);
		cr_assert_null(r);
		eddy_task_free(ring[i]);
	}
}
