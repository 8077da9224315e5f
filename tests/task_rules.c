/*
 * Per-variable rules between tasks: task-local and loop-only variables
 * and every merge rule, under every spawn policy, two levels of children,
 * and task groups.  Each test runs its body as the main task of a loop.
 */
#include "check.h"

#include <stdint.h>
#include <string.h>

#include "ctx/alloc.h"
#include "eddy.h"
#include "rules_common.h"

EDDY_SUITE(task_rules);

#define V(n) ((void *)(intptr_t)(n))
#define N(p) ((long)(intptr_t)(p))

static const enum eddy_policy policies[] = { EDDY_COPY, EDDY_SHARE,
					     EDDY_MERGE };
static const char *const policy_names[] = { "", "COPY", "SHARE", "MERGE" };

static eddy_var *user;

static void make_vars(void)
{
	make_stayers();
	cr_assert_not_null(user = eddy_var_new("user"));
}

static void free_vars(void)
{
	free_stayers();
	eddy_var_free(user);
}

/* var in the current context, -ENOENT when unset and without default. */
static long now(const eddy_var *var)
{
	void *v;
	int err = eddy_var_get(var, &v);
	return err ? err : N(v);
}

static void set(eddy_var *var, long v)
{
	cr_assert_eq(eddy_var_set(var, V(v), NULL), 0);
}

static void run_main(eddy_fn fn)
{
	make_vars();
	void *result = NULL;
	cr_assert_eq(eddy_run(fn, NULL, &result), 0);
	cr_assert_eq(result, V(0));
	free_vars();
}

/* Spawn fn(arg) under policy and join it: the join's result. */
static int spawn_join(enum eddy_policy policy, eddy_fn fn, void *arg)
{
	eddy_task *t = eddy_spawn_with(
		fn, arg, &(eddy_spawn_opts){ .policy = policy });
	cr_assert_not_null(t);
	return eddy_join(t, NULL);
}

/* ---- task-local -------------------------------------------------------- */

/* What a child saw and could do: its deadline, then its set's result. */
struct seen {
	long deadline, set;
};

static void *look_and_set_deadline(void *arg)
{
	struct seen *s = arg;
	s->deadline = now(deadline);
	s->set = eddy_var_set(deadline, V(9), NULL);
	return NULL;
}

static void *task_local_main(void *arg)
{
	(void)arg;
	set(deadline, 5);
	for (int i = 0; i < 3; i++) {
		struct seen s;
		cr_assert_eq(spawn_join(policies[i], look_and_set_deadline, &s),
			     0);
		const char *p = policy_names[policies[i]];
		cr_assert_eq(s.deadline, 30, "%s: the default", p);
		cr_assert_eq(s.set, policies[i] == EDDY_SHARE ? -EPERM : 0,
			     "%s", p);
		cr_assert_eq(now(deadline), 5, "%s: the parent's stays", p);
	}
	return V(0);
}

Test(task_rules, a_child_never_sees_a_task_local_var_under_any_policy)
{
	run_main(task_local_main);
}

/* Two levels: the grandchild's view, by the two policies. */
struct levels {
	enum eddy_policy inner;
	struct seen child, grandchild;
};

static void *child_then_grandchild(void *arg)
{
	struct levels *l = arg;
	look_and_set_deadline(&l->child);
	cr_assert_eq(spawn_join(l->inner, look_and_set_deadline,
				&l->grandchild),
		     0);
	return NULL;
}

static void *two_levels_main(void *arg)
{
	(void)arg;
	set(deadline, 5);
	for (int i = 0; i < 3; i++)
		for (int j = 0; j < 3; j++) {
			struct levels l = { .inner = policies[j] };
			cr_assert_eq(spawn_join(policies[i],
						child_then_grandchild, &l),
				     0);
			cr_assert_eq(l.grandchild.deadline, 30,
				     "%s then %s: the grandchild sees the "
				     "default, not the child's 9",
				     policy_names[policies[i]],
				     policy_names[policies[j]]);
			/* a SHARE grandchild shares its parent's object: if
			 * that is a copy, the value there is the child's */
			int share_all = policies[j] == EDDY_SHARE;
			cr_assert_eq(l.grandchild.set, share_all ? -EPERM : 0);
			cr_assert_eq(now(deadline), 5);
		}
	return V(0);
}

Test(task_rules, task_local_vars_stay_behind_across_two_levels)
{
	run_main(two_levels_main);
}

/* ---- loop-only between tasks ------------------------------------------- */

static void *sets_db(void *arg)
{
	long *saw = arg;
	*saw = now(db);
	set(db, 8);
	return NULL;
}

static void *loop_only_main(void *arg)
{
	(void)arg;
	for (int i = 0; i < 3; i++) {
		set(db, 7);
		long saw = 0;
		cr_assert_eq(spawn_join(policies[i], sets_db, &saw), 0);
		cr_assert_eq(saw, 7, "tasks of one loop see it");
		cr_assert_eq(now(db), policies[i] == EDDY_COPY ? 7 : 8, "%s",
			     policy_names[policies[i]]);
	}
	return V(0);
}

Test(task_rules, loop_only_vars_follow_the_policy_between_tasks)
{
	run_main(loop_only_main);
}

/* ---- merge rules under each policy ------------------------------------- */

struct rule_case {
	const char *name;
	eddy_var_opts opts;
	int join;         /* what eddy_join returns under MERGE */
	long after_merge; /* the parent's value then */
};

static eddy_var *ruled;

static void *sets_ruled(void *arg)
{
	(void)arg;
	set(ruled, 8);
	set(user, 2); /* a plain change beside it */
	return V(42);
}

/* fork 5, parent 7 after the spawn, child 8 */
static void *rule_main(void *arg)
{
	const struct rule_case *rc = arg;
	for (int i = 0; i < 3; i++) {
		set(ruled, 5);
		set(user, 1);
		eddy_task *t = eddy_spawn_with(
			sets_ruled, NULL,
			&(eddy_spawn_opts){ .policy = policies[i] });
		cr_assert_not_null(t);
		set(ruled, 7);
		void *result = NULL;
		int err = eddy_join(t, &result);
		cr_assert_eq(result, V(42), "the result even when it fails");
		const char *p = policy_names[policies[i]];
		if (policies[i] == EDDY_COPY) {
			cr_assert_eq(err, 0);
			cr_assert_eq(now(ruled), 7, "%s %s", rc->name, p);
			cr_assert_eq(now(user), 1);
		} else if (policies[i] == EDDY_SHARE) {
			/* one object: the child's set came after the parent's */
			cr_assert_eq(err, 0);
			cr_assert_eq(now(ruled), 8, "%s %s", rc->name, p);
			cr_assert_eq(now(user), 2);
		} else {
			cr_assert_eq(err, rc->join, "%s: %d", rc->name, err);
			cr_assert_eq(now(ruled), rc->after_merge, "%s",
				     rc->name);
			cr_assert_eq(now(user), err ? 1 : 2,
				     "%s: all or nothing", rc->name);
		}
	}
	return V(0);
}

/* Run main(arg) with ruled made from opts; main returns 0. */
static void run_ruled(const char *name, eddy_var_opts opts, eddy_fn main,
		      void *arg)
{
	make_vars();
	ruled = eddy_var_new_opts(name, &opts);
	cr_assert_not_null(ruled);
	void *result = NULL;
	cr_assert_eq(eddy_run(main, arg, &result), 0);
	cr_assert_eq(result, V(0));
	eddy_var_free(ruled);
	free_vars();
}

static void run_rule(const struct rule_case *rc)
{
	run_ruled(rc->name, rc->opts, rule_main, (void *)rc);
}

static const eddy_var_opts counter = { .merge = EDDY_MERGE_REDUCE,
				       .reduce = add };

Test(task_rules, child_wins_under_every_policy)
{
	run_rule(&(struct rule_case){ "child", { .merge = 0 }, 0, 8 });
}

Test(task_rules, parent_wins_under_every_policy)
{
	run_rule(&(struct rule_case){
		"parent", { .merge = EDDY_MERGE_PARENT_WINS }, 0, 7 });
}

Test(task_rules, reduce_under_every_policy)
{
	run_rule(&(struct rule_case){
		"reduce", { .merge = EDDY_MERGE_REDUCE, .reduce = add }, 0,
		7 + 8 - 5 });
}

Test(task_rules, a_failing_reducer_fails_the_join_and_merges_nothing)
{
	run_rule(&(struct rule_case){
		"reduce", { .merge = EDDY_MERGE_REDUCE,
			     .reduce = refuse,
			     .reduce_arg = V(-EOVERFLOW) },
		-EOVERFLOW, 7 });
}

Test(task_rules, conflict_error_under_every_policy)
{
	run_rule(&(struct rule_case){
		"conflict", { .merge = EDDY_MERGE_CONFLICT_ERROR },
		-EDDY_ECONFLICT, 7 });
}

Test(task_rules, never_under_every_policy)
{
	run_rule(&(struct rule_case){ "never", { .merge = EDDY_MERGE_NEVER },
				      0, 7 });
}

static void *conflict_named_main(void *arg)
{
	(void)arg;
	set(ruled, 5);
	eddy_task *t = eddy_spawn_with(
		sets_ruled, NULL, &(eddy_spawn_opts){ .policy = EDDY_MERGE });
	set(ruled, 7);
	cr_assert_eq(eddy_join(t, NULL), -EDDY_ECONFLICT);
	cr_assert_eq(eddy_ctx_conflict_var(), ruled);
	cr_assert_not_null(strstr(eddy_strerror(-EDDY_ECONFLICT),
				  "\"session\""));
	return V(0);
}

Test(task_rules, a_conflict_join_names_the_var_and_joins_the_task)
{
	run_ruled("session",
		  (eddy_var_opts){ .merge = EDDY_MERGE_CONFLICT_ERROR },
		  conflict_named_main, NULL);
}

/* ---- two levels of MERGE with a reducer -------------------------------- */

static void *adds(void *arg)
{
	set(ruled, now(ruled) + N(arg));
	return NULL;
}

static void *adds_with_children(void *arg)
{
	eddy_task *a = eddy_spawn_with(adds, V(10),
				       &(eddy_spawn_opts){ .policy = EDDY_MERGE });
	eddy_task *b = eddy_spawn_with(adds, V(20),
				       &(eddy_spawn_opts){ .policy = EDDY_MERGE });
	adds(arg);
	cr_assert_eq(eddy_join(b, NULL), 0);
	cr_assert_eq(eddy_join(a, NULL), 0);
	return NULL;
}

static void *two_level_reduce_main(void *arg)
{
	(void)arg;
	set(ruled, 0);
	eddy_task *a = eddy_spawn_with(adds_with_children, V(1),
				       &(eddy_spawn_opts){ .policy = EDDY_MERGE });
	eddy_task *b = eddy_spawn_with(adds_with_children, V(2),
				       &(eddy_spawn_opts){ .policy = EDDY_MERGE });
	adds(V(100));
	cr_assert_eq(eddy_join(b, NULL), 0);
	cr_assert_eq(eddy_join(a, NULL), 0);
	cr_assert_eq(now(ruled), 100 + 1 + 2 + 2 * (10 + 20));
	return V(0);
}

Test(task_rules, a_reducer_adds_up_two_levels_of_children)
{
	run_ruled("count", counter, two_level_reduce_main, NULL);
}

/* ---- groups ------------------------------------------------------------ */

/* Child i yields 3 - i times, so the children finish in reverse spawn
 * order; then adds i + 1 to ruled and sets user to i. */
static void *group_child(void *arg)
{
	long i = N(arg);
	for (long k = i; k < 3; k++)
		eddy_yield();
	set(ruled, now(ruled) + i + 1);
	set(user, i);
	return NULL;
}

static void *group_main(void *arg)
{
	(void)arg;
	set(ruled, 0);
	eddy_group *g = eddy_group_new();
	eddy_spawn_opts merge = { .policy = EDDY_MERGE };
	for (long i = 0; i < 3; i++)
		cr_assert_eq(eddy_group_spawn(g, group_child, V(i), &merge), 0);
	cr_assert_eq(eddy_group_wait(g, NULL), 0);
	cr_assert_eq(now(ruled), 1 + 2 + 3, "the reducer sums them");
	cr_assert_eq(now(user), 2, "child wins: the last spawned, though it "
				   "finished first");
	eddy_group_free(g);
	return V(0);
}

Test(task_rules, a_group_merges_its_children_in_spawn_order)
{
	run_ruled("count", counter, group_main, NULL);
}

/* Each child sets ruled (conflict on the second merge) and its own var. */
static eddy_var *own[3];

static void *group_conflict_child(void *arg)
{
	long i = N(arg);
	set(ruled, 10 + i);
	set(own[i], i + 1);
	return NULL;
}

static void *group_conflict_main(void *arg)
{
	(void)arg;
	set(ruled, 0);
	eddy_group *g = eddy_group_new();
	eddy_spawn_opts merge = { .policy = EDDY_MERGE };
	for (long i = 0; i < 3; i++)
		cr_assert_eq(eddy_group_spawn(g, group_conflict_child, V(i),
					      &merge),
			     0);
	cr_assert_eq(eddy_group_wait(g, NULL), -EDDY_ECONFLICT);
	cr_assert_eq(now(ruled), 10, "the first merged; the others conflict");
	cr_assert_eq(now(own[0]), 1);
	cr_assert_eq(now(own[1]), -ENOENT, "a failed merge brings nothing");
	cr_assert_eq(now(own[2]), -ENOENT);
	cr_assert_eq(eddy_group_free(g), 0, "every child was joined");
	return V(0);
}

/* Run main with ruled a CONFLICT_ERROR variable and own[] plain ones. */
static void run_conflicting(eddy_fn main)
{
	for (int i = 0; i < 3; i++)
		own[i] = eddy_var_new("own");
	run_ruled("owner", (eddy_var_opts){ .merge = EDDY_MERGE_CONFLICT_ERROR },
		  main, NULL);
	for (int i = 0; i < 3; i++)
		eddy_var_free(own[i]);
}

Test(task_rules, a_group_wait_reports_a_conflict_and_joins_every_child)
{
	run_conflicting(group_conflict_main);
}

/* Child 0 only conflicts (the parent changed ruled too), which its
 * merge finds without allocating; child 1 only sets its own variable,
 * which its merge must allocate for. */
static int group_children_done;

static void *conflicts_or_adds_own(void *arg)
{
	long i = N(arg);
	if (i == 0)
		set(ruled, 10);
	else
		set(own[i], i + 1);
	group_children_done++;
	return NULL;
}

/* Every allocation of the wait's joins failed in turn: a wait that ran
 * out of memory after a child's conflict, and is retried, still reports
 * the conflict, or it would pass unnoticed. */
static void *conflict_then_out_of_memory_main(void *arg)
{
	(void)arg;
	eddy_spawn_opts merge = { .policy = EDDY_MERGE };
	bool failed = true;
	for (long n = 1; failed; n++) {
		set(ruled, 0);
		group_children_done = 0;
		eddy_group *g = eddy_group_new();
		cr_assert_not_null(g);
		for (long i = 0; i < 2; i++)
			cr_assert_eq(eddy_group_spawn(g, conflicts_or_adds_own,
						      V(i), &merge),
				     0);
		set(ruled, 5);
		for (int k = 0; k < 10 && group_children_done < 2; k++)
			eddy_yield(); /* the joins, not the children, fail */
		cr_assert_eq(group_children_done, 2);
		eddy_alloc_fail_nth(n);
		int r = eddy_group_wait(g, NULL);
		failed = eddy_alloc_failed();
		eddy_alloc_fail_nth(0);
		while (r == -ENOMEM)
			r = eddy_group_wait(g, NULL);
		cr_assert_eq(r, -EDDY_ECONFLICT, "allocation %ld", n);
		cr_assert_eq(now(ruled), 5, "allocation %ld", n);
		cr_assert_eq(now(own[1]), 2, "allocation %ld", n);
		cr_assert_eq(eddy_group_free(g), 0);
	}
	return V(0);
}

Test(task_rules, a_group_wait_retried_after_enomem_still_reports_a_conflict)
{
	run_conflicting(conflict_then_out_of_memory_main);
}

/* ---- resumes from inside a task ---------------------------------------- */

static void *deadline_seen(void *out)
{
	*(long *)out = now(deadline);
	return NULL;
}

static void *resumes(void *task)
{
	cr_assert_eq(eddy_task_resume(task), 1);
	return NULL;
}

/* A SHARE child resumed by another SHARE child, both hiding task-local
 * variables, in a context where the parent's deadline is cached: the
 * resume must still drop the cached value. */
Test(task_rules, a_hiding_task_resumed_by_a_hiding_task_hides_cached_values)
{
	make_vars();
	eddy_spawn_opts share = { .policy = EDDY_SHARE };
	long seen = 0;
	eddy_ctx *w = eddy_ctx_new(), *y = eddy_ctx_new();
	cr_assert_eq(eddy_ctx_enter(w), 0);
	set(deadline, 5);
	cr_assert_eq(now(deadline), 5); /* cached in w */
	eddy_task *inner = eddy_task_new(deadline_seen, &seen, &share, 0);
	cr_assert_eq(eddy_ctx_leave(w), 0);
	cr_assert_eq(eddy_ctx_enter(y), 0);
	eddy_task *outer = eddy_task_new(resumes, inner, &share, 0);
	cr_assert_eq(eddy_task_resume(outer), 1);
	cr_assert_eq(eddy_ctx_leave(y), 0);
	cr_assert_eq(seen, 30);
	eddy_task_free(outer);
	eddy_task_free(inner);
	eddy_ctx_unref(w);
	eddy_ctx_unref(y);
	free_vars();
}

static void *hands_off(void *task)
{
	cr_assert_eq(eddy_task_handoff(task), 0);
	return NULL;
}

/* A task that hides nothing hands the thread to a SHARE child that hides
 * task-local variables, in a context where the parent's deadline is
 * cached: the handoff takes up the child's crossing, and the resume puts
 * the thread's own back when the thread returns from the child. */
Test(task_rules, a_handoff_takes_up_the_crossing_of_the_task_it_hands_to)
{
	make_vars();
	eddy_spawn_opts share = { .policy = EDDY_SHARE },
			copy = { .policy = EDDY_COPY };
	long seen = 0;
	eddy_ctx *w = eddy_ctx_new(), *y = eddy_ctx_new();
	cr_assert_eq(eddy_ctx_enter(w), 0);
	set(deadline, 5);
	cr_assert_eq(now(deadline), 5); /* cached in w */
	eddy_task *sharer = eddy_task_new(deadline_seen, &seen, &share, 0);
	cr_assert_eq(eddy_ctx_leave(w), 0);
	cr_assert_eq(eddy_ctx_enter(y), 0);
	eddy_task *plain = eddy_task_new(hands_off, sharer, &copy, 0);
	cr_assert_eq(eddy_task_resume(plain), 1);
	cr_assert_eq(eddy_task_last(), sharer);
	cr_assert_eq(seen, 30, "the handed-to task saw the hidden value");
	cr_assert_eq(eddy_ctx_crossing(), 0, "the crossing outlived the task");
	cr_assert_eq(eddy_ctx_leave(y), 0);
	eddy_task_free(plain);
	eddy_task_free(sharer);
	eddy_ctx_unref(w);
	eddy_ctx_unref(y);
	free_vars();
}

/* ---- out of memory ----------------------------------------------------- */

static void *returns_arg(void *arg)
{
	return arg;
}

/* A MERGE spawn makes two copies (the fork, the child's), and here the
 * fork leaves a task-local value out: each of its allocations failed in
 * turn, the spawn is NULL with ENOMEM and holds on to nothing (ASan sees
 * a copy freed twice or leaked). */
Test(task_rules, a_merge_spawn_out_of_memory_holds_nothing)
{
	make_vars();
	set(deadline, 5);
	set(user, 1);
	static const eddy_spawn_opts merge = { .policy = EDDY_MERGE };
	/* a first task leaves its stack in this thread's pool, where the
	 * spawns below take it from and give it back to */
	eddy_task *t = eddy_task_new(returns_arg, NULL, NULL, 0);
	cr_assert_not_null(t);
	cr_assert_eq(eddy_task_resume(t), 1);
	cr_assert_eq(eddy_task_collect(t, NULL), 0);
	cr_assert_eq(eddy_task_free(t), 0);
	long live = eddy_alloc_live();
	long n = 1;
	for (;; n++) {
		eddy_alloc_fail_nth(n);
		t = eddy_task_new(returns_arg, V(3), &merge, 0);
		bool failed = eddy_alloc_failed();
		eddy_alloc_fail_nth(0);
		if (!failed)
			break;
		cr_assert_null(t, "allocation %ld", n);
		cr_assert_eq(errno, ENOMEM, "allocation %ld", n);
		cr_assert_eq(eddy_alloc_live(), live, "allocation %ld", n);
	}
	cr_assert_not_null(t);
	cr_assert_gt(n, 2, "both copies allocate");
	cr_assert_eq(eddy_task_resume(t), 1);
	void *result;
	cr_assert_eq(eddy_task_collect(t, &result), 0);
	cr_assert_eq(result, V(3));
	cr_assert_eq(eddy_task_free(t), 0);
	cr_assert_eq(now(deadline), 5);
	free_vars();
}
