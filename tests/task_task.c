/*
 * Tasks: creation, resume and suspend, results, the context a task runs
 * in, and misuse returning errors.
 */
#include "check.h"

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
