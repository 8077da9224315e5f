/*
 * Spawn policies: what a parent sees of a child's context changes under
 * COPY, SHARE and MERGE (DESIGN.md, "Spawn policies").
 */
#include "check.h"

#include "eddy.h"

EDDY_SUITE(task_policy);

static eddy_var *user, *other;

static void setup_vars(void)
{
	user = eddy_var_new("user");
	other = eddy_var_new("other");
}

static void free_vars(void)
{
	eddy_var_free(user);
	eddy_var_free(other);
}

static const char *user_now(void)
{
	void *v;
	return eddy_var_get(user, &v) ? "unset" : v;
}

/* Spawn fn under policy, run it to the end, collect it: a join. */
static void run_child(enum eddy_policy policy, eddy_fn fn, void *arg)
{
	eddy_spawn_opts opts = { .policy = policy, .name = "child" };
	eddy_task *t = eddy_task_new(fn, arg, &opts, 0);
	cr_assert_not_null(t);
	while (eddy_task_resume(t) == 0)
		;
	cr_assert_eq(eddy_task_collect(t, NULL), 0);
	cr_assert_eq(eddy_task_free(t), 0);
}

static void *sets_user(void *arg)
{
	eddy_var_set(user, arg, NULL);
	return NULL;
}

static void *sets_then_resets(void *arg)
{
	eddy_token *tok;
	eddy_var_set(user, arg, &tok);
	eddy_task_suspend();
	eddy_var_reset(user, tok);
	eddy_token_free(tok);
	return NULL;
}

/* Resets user with a token the parent made: allowed only in the
 * parent's own context object. */
static void *resets_parent_token(void *tok)
{
	return (void *)(long)eddy_var_reset(user, tok);
}

Test(task_policy, copy_child_set_is_not_seen)
{
	setup_vars();
	run_child(EDDY_COPY, sets_user, "adrian");
	cr_assert_str_eq(user_now(), "unset");
	free_vars();
}

Test(task_policy, share_child_set_is_seen)
{
	setup_vars();
	run_child(EDDY_SHARE, sets_user, "adrian");
	cr_assert_str_eq(user_now(), "adrian");
	free_vars();
}

Test(task_policy, merge_child_set_is_seen_after_collect)
{
	setup_vars();
	eddy_spawn_opts opts = { .policy = EDDY_MERGE };
	eddy_task *t = eddy_task_new(sets_user, "adrian", &opts, 0);
	cr_assert_eq(eddy_task_resume(t), 1);
	cr_assert_str_eq(user_now(), "unset"); /* not before the join */
	cr_assert_eq(eddy_task_collect(t, NULL), 0);
	cr_assert_str_eq(user_now(), "adrian");
	eddy_task_free(t);
	free_vars();
}

Test(task_policy, share_parent_sees_child_set_while_child_suspended)
{
	setup_vars();
	eddy_spawn_opts opts = { .policy = EDDY_SHARE };
	eddy_task *t = eddy_task_new(sets_then_resets, "adrian", &opts, 0);
	cr_assert_eq(eddy_task_resume(t), 0);
	cr_assert_str_eq(user_now(), "adrian");
	cr_assert_eq(eddy_task_resume(t), 1);
	cr_assert_str_eq(user_now(), "unset");
	eddy_task_free(t);
	free_vars();
}

Test(task_policy, set_then_reset_leaves_parent_unchanged_under_every_policy)
{
	setup_vars();
	eddy_var_set(user, "parent", NULL);
	for (enum eddy_policy p = EDDY_COPY; p <= EDDY_MERGE; p++) {
		run_child(p, sets_then_resets, "child");
		cr_assert_str_eq(user_now(), "parent", "policy %d", p);
	}
	free_vars();
}

Test(task_policy, child_reset_with_parent_token_works_only_under_share)
{
	setup_vars();
	for (enum eddy_policy p = EDDY_COPY; p <= EDDY_MERGE; p++) {
		eddy_ctx *parent = eddy_ctx_new();
		cr_assert_eq(eddy_ctx_enter(parent), 0);
		eddy_token *tok;
		cr_assert_eq(eddy_var_set(user, "parent", &tok), 0);
		eddy_spawn_opts opts = { .policy = p };
		eddy_task *t = eddy_task_new(resets_parent_token, tok, &opts, 0);
		void *r;
		cr_assert_eq(eddy_task_resume(t), 1);
		cr_assert_eq(eddy_task_collect(t, &r), 0);
		cr_assert_eq((long)r, p == EDDY_SHARE ? 0 : -EINVAL, "policy %d", p);
		/* under SHARE the variable is gone from the parent too */
		cr_assert_str_eq(user_now(), p == EDDY_SHARE ? "unset" : "parent");
		eddy_task_free(t);
		eddy_token_free(tok);
		cr_assert_eq(eddy_ctx_leave(parent), 0);
		eddy_ctx_unref(parent);
	}
	free_vars();
}

/* Leaves the context it runs in, which its parent entered: NULL when
 * the leave is refused and changes nothing, else what went wrong. */
static void *leaves_parents_enter(void *entered)
{
	if (eddy_ctx_leave(entered) != -EINVAL)
		return "the leave was not -EINVAL";
	if (eddy_ctx_current() != entered)
		return "the leave changed the current context";
	return NULL;
}

/* Spawns leaves_parents_enter under SHARE and runs it to its end. */
static const char *run_leaving_child(eddy_ctx *entered)
{
	eddy_spawn_opts opts = { .policy = EDDY_SHARE };
	eddy_task *t = eddy_task_new(leaves_parents_enter, entered, &opts, 0);
	void *why = "the child did not run to its end";
	if (t && eddy_task_resume(t) == 1)
		eddy_task_collect(t, &why);
	eddy_task_free(t);
	return why;
}

Test(task_policy, share_child_cannot_leave_a_context_its_parent_entered)
{
	eddy_ctx *outside = eddy_ctx_current();
	eddy_ctx *parent = eddy_ctx_new();
	cr_assert_eq(eddy_ctx_enter(parent), 0);
	const char *why = run_leaving_child(parent);
	cr_assert_null(why, "%s", why);
	/* the enter is still the parent's: its leave goes back to outside */
	cr_assert_eq(eddy_ctx_current(), parent);
	cr_assert_eq(eddy_ctx_leave(parent), 0);
	cr_assert_eq(eddy_ctx_current(), outside);
	eddy_ctx_unref(parent);
}

/* A task that enters a context, then runs a SHARE child that leaves it:
 * a task's enter is refused to the tasks it spawns too. */
static void *enters_then_runs_a_leaving_child(void *arg)
{
	(void)arg;
	eddy_ctx *own = eddy_ctx_current(), *entered = eddy_ctx_new();
	const char *why = "the enter failed";
	if (eddy_ctx_enter(entered) == 0) {
		why = run_leaving_child(entered);
		if (!why && eddy_ctx_current() != entered)
			why = "the parent's current context changed";
		if (eddy_ctx_leave(entered) && !why)
			why = "the parent's own leave failed";
		if (!why && eddy_ctx_current() != own)
			why = "the leave did not return to the task's context";
	}
	eddy_ctx_unref(entered);
	return (void *)why;
}

Test(task_policy, share_child_of_a_task_cannot_leave_the_context_the_task_entered)
{
	eddy_task *t = eddy_task_new(enters_then_runs_a_leaving_child, NULL,
				     NULL, 0);
	void *why;
	cr_assert_eq(eddy_task_resume(t), 1);
	cr_assert_eq(eddy_task_collect(t, &why), 0);
	cr_assert_null(why, "%s", (char *)why);
	eddy_task_free(t);
}

/* Enters and leaves a context of its own, twice, suspending while it
 * is entered: NULL, or what went wrong. */
static void *enters_and_leaves_its_own(void *arg)
{
	(void)arg;
	eddy_ctx *mine = eddy_ctx_new(), *before = eddy_ctx_current();
	const char *why = NULL;
	for (int i = 0; i < 2 && !why; i++) {
		if (eddy_ctx_enter(mine) || eddy_ctx_current() != mine)
			why = "the enter failed";
		eddy_task_suspend();
		if (!why && eddy_ctx_leave(mine))
			why = "the leave failed";
		if (!why && eddy_ctx_current() != before)
			why = "the leave did not return to the shared context";
	}
	eddy_ctx_unref(mine);
	return (void *)why;
}

Test(task_policy, share_child_enters_and_leaves_its_own_contexts)
{
	eddy_ctx *parent = eddy_ctx_new();
	cr_assert_eq(eddy_ctx_enter(parent), 0);
	eddy_spawn_opts opts = { .policy = EDDY_SHARE };
	eddy_task *t = eddy_task_new(enters_and_leaves_its_own, NULL, &opts, 0);
	int suspends = 0;
	while (eddy_task_resume(t) == 0 && ++suspends <= 2)
		cr_assert_eq(eddy_ctx_current(), parent);
	void *why;
	cr_assert_eq(eddy_task_collect(t, &why), 0);
	cr_assert_null(why, "%s", (char *)why);
	eddy_task_free(t);
	cr_assert_eq(eddy_ctx_leave(parent), 0);
	eddy_ctx_unref(parent);
}

Test(task_policy, child_set_and_reset_of_unset_var_leaves_it_unset)
{
	setup_vars();
	for (enum eddy_policy p = EDDY_COPY; p <= EDDY_MERGE; p++) {
		run_child(p, sets_then_resets, "child");
		cr_assert_str_eq(user_now(), "unset", "policy %d", p);
	}
	free_vars();
}

static void *sets_user_after_parent_moves(void *arg)
{
	eddy_task_suspend(); /* the parent changes things meanwhile */
	eddy_var_set(user, arg, NULL);
	return NULL;
}

Test(task_policy, merge_both_changed_child_wins_untouched_keep_parent)
{
	setup_vars();
	eddy_var_set(user, "before", NULL);
	eddy_spawn_opts opts = { .policy = EDDY_MERGE };
	eddy_task *t =
		eddy_task_new(sets_user_after_parent_moves, "child", &opts, 0);
	cr_assert_eq(eddy_task_resume(t), 0);
	eddy_var_set(user, "parent", NULL);
	eddy_var_set(other, "parent-only", NULL);
	cr_assert_eq(eddy_task_resume(t), 1);
	cr_assert_eq(eddy_task_collect(t, NULL), 0);
	cr_assert_str_eq(user_now(), "child");
	void *v;
	cr_assert_eq(eddy_var_get(other, &v), 0);
	cr_assert_str_eq(v, "parent-only");
	eddy_task_free(t);
	free_vars();
}

static void *sees_parent_value(void *arg)
{
	(void)arg;
	return (void *)user_now();
}

Test(task_policy, every_policy_starts_with_the_parent_values)
{
	setup_vars();
	eddy_var_set(user, "parent", NULL);
	for (enum eddy_policy p = EDDY_COPY; p <= EDDY_MERGE; p++) {
		eddy_spawn_opts opts = { .policy = p };
		eddy_task *t = eddy_task_new(sees_parent_value, NULL, &opts, 0);
		void *seen;
		cr_assert_eq(eddy_task_resume(t), 1);
		cr_assert_eq(eddy_task_collect(t, &seen), 0);
		cr_assert_str_eq(seen, "parent", "policy %d", p);
		eddy_task_free(t);
	}
	free_vars();
}

Test(task_policy, copy_parent_change_after_spawn_is_not_seen_by_child)
{
	setup_vars();
	eddy_var_set(user, "before", NULL);
	for (enum eddy_policy p = EDDY_COPY; p <= EDDY_MERGE; p++) {
		eddy_spawn_opts opts = { .policy = p };
		eddy_task *t = eddy_task_new(sees_parent_value, NULL, &opts, 0);
		eddy_var_set(user, "after", NULL);
		void *seen;
		cr_assert_eq(eddy_task_resume(t), 1);
		cr_assert_eq(eddy_task_collect(t, &seen), 0);
		cr_assert_str_eq(seen, p == EDDY_SHARE ? "after" : "before",
				 "policy %d", p);
		eddy_task_free(t);
		eddy_var_set(user, "before", NULL);
	}
	free_vars();
}

Test(task_policy, unknown_policy_is_einval)
{
	eddy_spawn_opts opts = { .policy = 7 };
	errno = 0;
	cr_assert_null(eddy_task_new(sees_parent_value, NULL, &opts, 0));
	cr_assert_eq(errno, EINVAL);
}
