/*
 * Per-variable rules (eddy_var_new_opts): what a copy for a child leaves
 * behind, what a SHARE child hides, and what a merge does with each rule.
 * Pure ctx/: the crossings are given by hand, as task/ and loop/ give them.
 */
#include "check.h"

#include <stdint.h>
#include <string.h>

#include "ctx/alloc.h"
#include "ctx/context.h"
#include "eddy.h"
#include "rules_common.h"

EDDY_SUITE(ctx_rules);

#define V(n) ((void *)(intptr_t)(n))

static eddy_var *opt_var(const char *name, enum eddy_propagate p,
			 enum eddy_merge_rule m)
{
	eddy_var *v = eddy_var_new_opts(
		name, &(eddy_var_opts){ .propagate = p, .merge = m });
	cr_assert_not_null(v);
	return v;
}

static void set_in(eddy_ctx *ctx, eddy_var *var, long value)
{
	cr_assert_eq(eddy_ctx_enter(ctx), 0);
	cr_assert_eq(eddy_var_set(var, V(value), NULL), 0);
	cr_assert_eq(eddy_ctx_leave(ctx), 0);
}

/* ctx[var], or -1 when unset. */
static long in(const eddy_ctx *ctx, const eddy_var *var)
{
	void *out;
	return eddy_ctx_get(ctx, var, &out) ? -1 : (long)(intptr_t)out;
}

/* What eddy_var_get answers inside ctx: the value, the default, or -1. */
static long get_inside(eddy_ctx *ctx, const eddy_var *var)
{
	void *out;
	cr_assert_eq(eddy_ctx_enter(ctx), 0);
	int err = eddy_var_get(var, &out);
	cr_assert_eq(eddy_ctx_leave(ctx), 0);
	return err ? -1 : (long)(intptr_t)out;
}

/* ---- options ----------------------------------------------------------- */

Test(ctx_rules, null_opts_make_a_plain_variable)
{
	eddy_var *v = eddy_var_new_opts("plain", NULL);
	cr_assert_not_null(v);
	cr_assert_str_eq(eddy_var_name(v), "plain");
	void *out;
	cr_assert_eq(eddy_var_get(v, &out), -ENOENT);
	eddy_var_free(v);
}

Test(ctx_rules, options_out_of_range_are_einval)
{
	const eddy_var_opts bad[] = {
		{ .propagate = 3 },
		{ .propagate = -1 },
		{ .merge = EDDY_MERGE_NEVER + 1 },
		{ .merge = EDDY_MERGE_REDUCE }, /* no reducer */
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		errno = 0;
		cr_assert_null(eddy_var_new_opts("v", &bad[i]), "opts %zu", i);
		cr_assert_eq(errno, EINVAL);
	}
	errno = 0;
	cr_assert_null(eddy_var_new_opts(NULL, NULL));
	cr_assert_eq(errno, EINVAL);
}

Test(ctx_rules, default_of_opts_is_returned_while_unset)
{
	eddy_var *v = eddy_var_new_opts(
		"deadline", &(eddy_var_opts){
				    .propagate = EDDY_PROPAGATE_TASK_LOCAL,
				    .has_default = 1, .dflt = V(30) });
	void *out = NULL;
	cr_assert_eq(eddy_var_get(v, &out), 0);
	cr_assert_eq(out, V(30));
	eddy_var_free(v);
}

/* ---- copies for a child ------------------------------------------------ */

/* user inherits; deadline (task-local) and db (loop-only) come from
 * rules_common.h; the parent maps all three. */
struct world {
	eddy_var *user, *deadline, *db;
	eddy_ctx *parent;
};

static struct world world_new(void)
{
	make_stayers();
	struct world w = { .user = eddy_var_new("user"),
			   .deadline = deadline, .db = db };
	w.parent = eddy_ctx_new();
	set_in(w.parent, w.user, 1);
	set_in(w.parent, w.deadline, 5);
	set_in(w.parent, w.db, 7);
	return w;
}

static void world_free(struct world *w)
{
	eddy_ctx_unref(w->parent);
	eddy_var_free(w->user);
	free_stayers();
}

Test(ctx_rules, copy_across_a_task_leaves_task_local_out)
{
	struct world w = world_new();
	eddy_ctx *child = eddy_ctx_copy_crossing(w.parent, EDDY_CROSS_TASK);
	cr_assert_not_null(child);
	cr_assert_eq(in(child, w.user), 1);
	cr_assert_eq(in(child, w.deadline), -1);
	cr_assert_eq(in(child, w.db), 7);
	cr_assert_eq(eddy_ctx_len(child), 2);
	cr_assert_eq(get_inside(child, w.deadline), 30, "the default");
	cr_assert_eq(in(w.parent, w.deadline), 5, "the parent keeps it");
	eddy_ctx_unref(child);
	world_free(&w);
}

Test(ctx_rules, copy_across_a_thread_leaves_task_local_and_loop_only_out)
{
	struct world w = world_new();
	eddy_ctx *child = eddy_ctx_copy_crossing(w.parent, EDDY_CROSS_THREAD);
	cr_assert_not_null(child);
	cr_assert_eq(in(child, w.user), 1);
	cr_assert_eq(in(child, w.deadline), -1);
	cr_assert_eq(in(child, w.db), -1);
	cr_assert_eq(eddy_ctx_len(child), 1);
	cr_assert_eq(eddy_ctx_len(w.parent), 3);
	eddy_ctx_unref(child);
	world_free(&w);
}

/* With many variables mapped the copy looks the few stayers up instead of
 * walking the mapping: the same result. */
Test(ctx_rules, copy_of_a_big_context_leaves_its_stayers_out)
{
	struct world w = world_new();
	eddy_var *many[200];
	for (int i = 0; i < 200; i++) {
		many[i] = eddy_var_new("many");
		set_in(w.parent, many[i], i);
	}
	eddy_ctx *task = eddy_ctx_copy_crossing(w.parent, EDDY_CROSS_TASK);
	eddy_ctx *thread = eddy_ctx_copy_crossing(w.parent, EDDY_CROSS_THREAD);
	cr_assert_eq(eddy_ctx_len(task), 202);
	cr_assert_eq(in(task, w.deadline), -1);
	cr_assert_eq(in(task, w.db), 7);
	cr_assert_eq(eddy_ctx_len(thread), 201);
	cr_assert_eq(in(thread, w.db), -1);
	cr_assert_eq(in(thread, many[150]), 150);
	eddy_ctx_unref(task);
	eddy_ctx_unref(thread);
	for (int i = 0; i < 200; i++)
		eddy_var_free(many[i]);
	world_free(&w);
}

Test(ctx_rules, a_stayer_out_of_memory_is_not_created)
{
	long live = eddy_alloc_live();
	for (long n = 1;; n++) {
		eddy_alloc_fail_nth(n);
		eddy_var *v = eddy_var_new_opts(
			"v", &(eddy_var_opts){
				     .propagate = EDDY_PROPAGATE_TASK_LOCAL });
		int failed = eddy_alloc_failed();
		eddy_alloc_fail_nth(0);
		if (!failed) {
			cr_assert_not_null(v);
			eddy_var_free(v);
			break;
		}
		cr_assert_null(v);
		cr_assert_eq(errno, ENOMEM);
		cr_assert_eq(eddy_alloc_live(), live, "attempt %ld", n);
	}
	cr_assert_eq(eddy_alloc_live(), live, "the registry was given back");
}

Test(ctx_rules, copy_of_a_context_without_stayers_shares_its_mapping)
{
	struct world w = world_new();
	eddy_ctx *plain = eddy_ctx_new();
	set_in(plain, w.user, 1);
	eddy_ctx *child = eddy_ctx_copy_crossing(plain, EDDY_CROSS_THREAD);
	cr_assert_eq(child->map.root, plain->map.root, "an O(1) copy");
	eddy_ctx_unref(child);
	/* only loop-only vars mapped: a task's copy needs no walk either */
	eddy_ctx *loop_only = eddy_ctx_new();
	set_in(loop_only, w.db, 7);
	child = eddy_ctx_copy_crossing(loop_only, EDDY_CROSS_TASK);
	cr_assert_eq(child->map.root, loop_only->map.root);
	eddy_ctx_unref(child);
	eddy_ctx_unref(loop_only);
	eddy_ctx_unref(plain);
	world_free(&w);
}

Test(ctx_rules, reset_of_the_last_stayer_makes_copies_o1_again)
{
	struct world w = world_new();
	eddy_ctx *ctx = eddy_ctx_new();
	eddy_token *tok;
	cr_assert_eq(eddy_ctx_enter(ctx), 0);
	cr_assert_eq(eddy_var_set(w.user, V(1), NULL), 0);
	cr_assert_eq(eddy_var_set(w.deadline, V(5), &tok), 0);
	cr_assert_eq(eddy_var_reset(w.deadline, tok), 0);
	cr_assert_eq(eddy_ctx_leave(ctx), 0);
	eddy_token_free(tok);
	eddy_ctx *child = eddy_ctx_copy_crossing(ctx, EDDY_CROSS_THREAD);
	cr_assert_eq(child->map.root, ctx->map.root);
	eddy_ctx_unref(child);
	eddy_ctx_unref(ctx);
	world_free(&w);
}

Test(ctx_rules, copy_forgets_the_parents_cached_value)
{
	struct world w = world_new();
	/* the parent's cache holds deadline = 5 when the copy is made */
	cr_assert_eq(get_inside(w.parent, w.deadline), 5);
	cr_assert_eq(eddy_ctx_enter(w.parent), 0);
	eddy_ctx *child = eddy_ctx_copy_crossing(eddy_ctx_current(),
						 EDDY_CROSS_TASK);
	cr_assert_eq(eddy_ctx_leave(w.parent), 0);
	cr_assert_eq(get_inside(child, w.deadline), 30);
	cr_assert_eq(get_inside(child, w.user), 1);
	eddy_ctx_unref(child);
	world_free(&w);
}

Test(ctx_rules, a_child_s_own_value_stays_out_of_its_children)
{
	struct world w = world_new();
	eddy_ctx *child = eddy_ctx_copy_crossing(w.parent, EDDY_CROSS_TASK);
	set_in(child, w.deadline, 9);
	eddy_ctx *grandchild = eddy_ctx_copy_crossing(child, EDDY_CROSS_TASK);
	cr_assert_eq(in(child, w.deadline), 9);
	cr_assert_eq(in(grandchild, w.deadline), -1);
	cr_assert_eq(in(grandchild, w.db), 7, "loop-only crosses tasks");
	eddy_ctx *worker = eddy_ctx_copy_crossing(grandchild,
						  EDDY_CROSS_THREAD);
	cr_assert_eq(in(worker, w.db), -1);
	cr_assert_eq(in(worker, w.user), 1);
	eddy_ctx_unref(worker);
	eddy_ctx_unref(grandchild);
	eddy_ctx_unref(child);
	world_free(&w);
}

Test(ctx_rules, plain_copy_keeps_everything)
{
	struct world w = world_new();
	eddy_ctx *copy = eddy_ctx_copy(w.parent); /* PEP 567's ctx.copy() */
	cr_assert_eq(in(copy, w.deadline), 5);
	cr_assert_eq(in(copy, w.db), 7);
	eddy_ctx_unref(copy);
	world_free(&w);
}

/* ---- hiding, for SHARE ------------------------------------------------- */

Test(ctx_rules, a_task_crossing_hides_task_local_vars_only)
{
	struct world w = world_new();
	cr_assert_eq(eddy_ctx_enter(w.parent), 0);
	void *out;
	cr_assert_eq(eddy_var_get(w.deadline, &out), 0); /* cached: 5 */
	cr_assert_eq(eddy_ctx_set_crossing(EDDY_CROSS_TASK), 0);
	cr_assert_eq(eddy_ctx_crossing(), EDDY_CROSS_TASK);
	cr_assert_eq(eddy_var_get(w.deadline, &out), 0);
	cr_assert_eq(out, V(30), "the default, not the parent's 5");
	cr_assert_eq(eddy_var_get_or(w.deadline, V(-2)), V(-2));
	cr_assert_eq(eddy_var_get(w.db, &out), 0);
	cr_assert_eq(out, V(7));
	cr_assert_eq(eddy_var_get(w.user, &out), 0);
	cr_assert_eq(out, V(1));
	cr_assert_eq(eddy_var_set(w.deadline, V(8), NULL), -EPERM);
	cr_assert_eq(eddy_var_set(w.db, V(8), NULL), 0);
	cr_assert_eq(eddy_ctx_set_crossing(EDDY_CROSS_NONE), EDDY_CROSS_TASK);
	cr_assert_eq(eddy_var_get(w.deadline, &out), 0);
	cr_assert_eq(out, V(5), "the parent's value is there again");
	cr_assert_eq(eddy_ctx_leave(w.parent), 0);
	world_free(&w);
}

Test(ctx_rules, a_thread_crossing_hides_loop_only_vars_too)
{
	struct world w = world_new();
	cr_assert_eq(eddy_ctx_enter(w.parent), 0);
	void *out;
	cr_assert_eq(eddy_var_get(w.db, &out), 0); /* cached: 7 */
	eddy_ctx_set_crossing(EDDY_CROSS_THREAD);
	cr_assert_eq(eddy_var_get(w.db, &out), -ENOENT);
	cr_assert_eq(eddy_var_get(w.deadline, &out), 0);
	cr_assert_eq(out, V(30));
	cr_assert_eq(eddy_var_set(w.db, V(8), NULL), -EPERM);
	cr_assert_eq(eddy_var_set(w.user, V(2), NULL), 0);
	eddy_ctx_set_crossing(EDDY_CROSS_NONE);
	cr_assert_eq(eddy_var_get(w.db, &out), 0);
	cr_assert_eq(out, V(7));
	cr_assert_eq(eddy_ctx_leave(w.parent), 0);
	cr_assert_eq(in(w.parent, w.user), 2, "plain vars are shared");
	world_free(&w);
}

Test(ctx_rules, reset_of_a_hidden_var_is_eperm)
{
	struct world w = world_new();
	cr_assert_eq(eddy_ctx_enter(w.parent), 0);
	eddy_token *tok;
	cr_assert_eq(eddy_var_set(w.deadline, V(6), &tok), 0);
	eddy_ctx_set_crossing(EDDY_CROSS_TASK);
	cr_assert_eq(eddy_var_reset(w.deadline, tok), -EPERM);
	eddy_ctx_set_crossing(EDDY_CROSS_NONE);
	cr_assert_eq(eddy_var_reset(w.deadline, tok), 0);
	cr_assert_eq(eddy_ctx_leave(w.parent), 0);
	cr_assert_eq(in(w.parent, w.deadline), 5);
	eddy_token_free(tok);
	world_free(&w);
}

Test(ctx_rules, entering_behind_a_crossing_forgets_cached_hidden_values)
{
	struct world w = world_new();
	cr_assert_eq(get_inside(w.parent, w.db), 7); /* now cached */
	eddy_ctx_set_crossing(EDDY_CROSS_THREAD);
	cr_assert_eq(get_inside(w.parent, w.db), -1);
	cr_assert_eq(get_inside(w.parent, w.user), 1);
	eddy_ctx_set_crossing(EDDY_CROSS_NONE);
	cr_assert_eq(get_inside(w.parent, w.db), 7);
	world_free(&w);
}

/* A variable may be freed once no context maps it, though a context's
 * get cache still names it (it was read there, unset): dropping the cache
 * entries a crossing hides or leaves behind must not read it. */
static eddy_var *read_then_freed(eddy_ctx *ctx)
{
	eddy_var *gone = eddy_var_new("gone");
	cr_assert_eq(get_inside(ctx, gone), -1); /* cached: unset */
	eddy_var_free(gone);
	return gone;
}

Test(ctx_rules, copy_across_a_crossing_after_a_cached_var_was_freed)
{
	struct world w = world_new();
	read_then_freed(w.parent);
	eddy_ctx *child = eddy_ctx_copy_crossing(w.parent, EDDY_CROSS_TASK);
	cr_assert_not_null(child);
	cr_assert_eq(get_inside(child, w.deadline), 30, "the default");
	cr_assert_eq(get_inside(child, w.user), 1);
	eddy_ctx_unref(child);
	world_free(&w);
}

Test(ctx_rules, entering_behind_a_crossing_after_a_cached_var_was_freed)
{
	struct world w = world_new();
	read_then_freed(w.parent);
	eddy_ctx_set_crossing(EDDY_CROSS_TASK);
	cr_assert_eq(get_inside(w.parent, w.deadline), 30, "hidden");
	cr_assert_eq(get_inside(w.parent, w.user), 1);
	eddy_ctx_set_crossing(EDDY_CROSS_NONE);
	world_free(&w);
}

Test(ctx_rules, returning_to_a_context_behind_a_crossing_hides_its_cache)
{
	struct world w = world_new();
	eddy_ctx *inner = eddy_ctx_new();
	cr_assert_eq(eddy_ctx_enter(w.parent), 0);
	void *out;
	cr_assert_eq(eddy_var_get(w.deadline, &out), 0); /* cached: 5 */
	cr_assert_eq(eddy_ctx_enter(inner), 0);
	eddy_ctx_set_crossing(EDDY_CROSS_TASK);
	cr_assert_eq(eddy_ctx_leave(inner), 0); /* back to the parent */
	cr_assert_eq(eddy_var_get(w.deadline, &out), 0);
	cr_assert_eq(out, V(30));
	eddy_ctx_set_crossing(EDDY_CROSS_NONE);
	cr_assert_eq(eddy_ctx_leave(w.parent), 0);
	eddy_ctx_unref(inner);
	world_free(&w);
}

/* ---- merge rules ------------------------------------------------------- */

/* A parent at fork, its snapshot, and a child copied from it. */
struct fork {
	eddy_ctx *parent, *base, *child;
};

static struct fork fork_of(eddy_ctx *parent, unsigned crossing)
{
	struct fork f = { .parent = parent };
	f.base = eddy_ctx_copy_crossing(parent, crossing);
	f.child = eddy_ctx_copy(f.base);
	cr_assert(f.base && f.child);
	return f;
}

static int merge(struct fork *f, unsigned crossing)
{
	return eddy_ctx_merge_crossing(f->parent, f->child, f->base, crossing);
}

static void fork_free(struct fork *f)
{
	eddy_ctx_unref(f->base);
	eddy_ctx_unref(f->child);
}

/* Both the parent and the child change var from fork; returns the
 * merge's result and leaves the parent's value in *after. */
static int both_set(eddy_var *var, long fork, long parent_v, long child_v,
		    long *after)
{
	eddy_ctx *parent = eddy_ctx_new();
	set_in(parent, var, fork);
	struct fork f = fork_of(parent, EDDY_CROSS_TASK);
	set_in(parent, var, parent_v);
	set_in(f.child, var, child_v);
	int r = merge(&f, EDDY_CROSS_TASK);
	*after = in(parent, var);
	fork_free(&f);
	eddy_ctx_unref(parent);
	return r;
}

/* fork 5, parent 7, child 8 */
static int both_change(eddy_var *var, long *after)
{
	return both_set(var, 5, 7, 8, after);
}

/* Only the child changes var (fork 5, child 8). */
static int child_changes(eddy_var *var, long *after)
{
	eddy_ctx *parent = eddy_ctx_new();
	set_in(parent, var, 5);
	struct fork f = fork_of(parent, EDDY_CROSS_TASK);
	set_in(f.child, var, 8);
	int r = merge(&f, EDDY_CROSS_TASK);
	*after = in(parent, var);
	fork_free(&f);
	eddy_ctx_unref(parent);
	return r;
}

static eddy_var *reducing(const char *name, eddy_reduce_fn fn, void *arg)
{
	eddy_var *v = eddy_var_new_opts(
		name, &(eddy_var_opts){ .merge = EDDY_MERGE_REDUCE,
					.reduce = fn, .reduce_arg = arg });
	cr_assert_not_null(v);
	return v;
}

Test(ctx_rules, child_wins_when_both_changed)
{
	eddy_var *v = opt_var("v", 0, EDDY_MERGE_CHILD_WINS);
	long after;
	cr_assert_eq(both_change(v, &after), 1);
	cr_assert_eq(after, 8);
	eddy_var_free(v);
}

Test(ctx_rules, parent_wins_when_both_changed)
{
	eddy_var *v = opt_var("v", 0, EDDY_MERGE_PARENT_WINS);
	long after;
	cr_assert_eq(both_change(v, &after), 0);
	cr_assert_eq(after, 7);
	eddy_var_free(v);
}

Test(ctx_rules, every_rule_but_never_takes_a_change_only_the_child_made)
{
	eddy_var *v[] = {
		opt_var("child", 0, EDDY_MERGE_CHILD_WINS),
		opt_var("parent", 0, EDDY_MERGE_PARENT_WINS),
		reducing("reduce", refuse, V(-EIO)), /* not called */
		opt_var("conflict", 0, EDDY_MERGE_CONFLICT_ERROR),
	};
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		long after;
		cr_assert_eq(child_changes(v[i], &after), 1, "%zu", i);
		cr_assert_eq(after, 8, "%s", eddy_var_name(v[i]));
		eddy_var_free(v[i]);
	}
}

Test(ctx_rules, never_keeps_the_parents_value)
{
	eddy_var *v = opt_var("span", 0, EDDY_MERGE_NEVER);
	long after;
	cr_assert_eq(child_changes(v, &after), 0);
	cr_assert_eq(after, 5);
	cr_assert_eq(both_change(v, &after), 0);
	cr_assert_eq(after, 7);
	eddy_var_free(v);
}

Test(ctx_rules, reduce_combines_parent_child_and_fork)
{
	eddy_var *v = reducing("count", add, NULL);
	long after;
	cr_assert_eq(both_change(v, &after), 1);
	cr_assert_eq(after, 7 + 8 - 5);
	eddy_var_free(v);
}

Test(ctx_rules, reduce_is_called_when_both_sides_reached_the_same_value)
{
	eddy_var *v = reducing("count", add, NULL);
	long after;
	cr_assert_eq(both_set(v, 5, 6, 6, &after), 1); /* +1 on each side */
	cr_assert_eq(after, 7);
	eddy_var_free(v);
}

struct seen {
	void *parent, *child, *fork;
};

static int record(void *parent, void *child, void *fork, void **out,
		  void *arg)
{
	struct seen *s = arg;
	*s = (struct seen){ parent, child, fork };
	*out = V(99);
	return 0;
}

Test(ctx_rules, reduce_sees_the_default_for_an_unset_side)
{
	struct seen s;
	eddy_var *v = eddy_var_new_opts(
		"v", &(eddy_var_opts){ .merge = EDDY_MERGE_REDUCE,
				       .reduce = record, .reduce_arg = &s,
				       .has_default = 1, .dflt = V(-3) });
	eddy_ctx *parent = eddy_ctx_new(); /* v unset at the fork */
	struct fork f = fork_of(parent, EDDY_CROSS_TASK);
	set_in(parent, v, 7);
	set_in(f.child, v, 8);
	cr_assert_eq(merge(&f, EDDY_CROSS_TASK), 1);
	cr_assert_eq(s.parent, V(7));
	cr_assert_eq(s.child, V(8));
	cr_assert_eq(s.fork, V(-3));
	cr_assert_eq(in(parent, v), 99);
	fork_free(&f);
	eddy_ctx_unref(parent);
	eddy_var_free(v);
}

/* A merge with changes to three plain vars and one var whose rule fails:
 * returns the merge's result; the parent must be as before. */
static int merge_with_failing(eddy_var *failing)
{
	eddy_var *plain[3];
	eddy_ctx *parent = eddy_ctx_new();
	for (int i = 0; i < 3; i++) {
		plain[i] = eddy_var_new("plain");
		set_in(parent, plain[i], 10 + i);
	}
	set_in(parent, failing, 5);
	struct fork f = fork_of(parent, EDDY_CROSS_TASK);
	set_in(parent, failing, 7);
	set_in(f.child, failing, 8);
	for (int i = 0; i < 3; i++)
		set_in(f.child, plain[i], 20 + i);
	eddy_ctx *before = eddy_ctx_copy(parent);
	int r = merge(&f, EDDY_CROSS_TASK);
	cr_assert_eq(parent->map.root, before->map.root, "parent unchanged");
	cr_assert_eq(in(parent, failing), 7);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(in(parent, plain[i]), 10 + i);
		eddy_var_free(plain[i]);
	}
	eddy_ctx_unref(before);
	fork_free(&f);
	eddy_ctx_unref(parent);
	return r;
}

Test(ctx_rules, conflict_fails_the_merge_and_applies_nothing)
{
	eddy_var *v = opt_var("user", 0, EDDY_MERGE_CONFLICT_ERROR);
	cr_assert_eq(merge_with_failing(v), -EDDY_ECONFLICT);
	cr_assert_eq(eddy_ctx_conflict_var(), v);
	eddy_var_free(v);
}

Test(ctx_rules, conflict_without_other_changes_fails_too)
{
	eddy_var *v = opt_var("user", 0, EDDY_MERGE_CONFLICT_ERROR);
	long after;
	cr_assert_eq(both_change(v, &after), -EDDY_ECONFLICT);
	cr_assert_eq(after, 7);
	eddy_var_free(v);
}

Test(ctx_rules, conflict_is_named_by_strerror)
{
	eddy_var *v = opt_var("user", 0, EDDY_MERGE_CONFLICT_ERROR);
	long after;
	cr_assert_eq(both_change(v, &after), -EDDY_ECONFLICT);
	const char *text = eddy_strerror(-EDDY_ECONFLICT);
	cr_assert_not_null(strstr(text, "\"user\""), "%s", text);
	cr_assert_not_null(strstr(text, "conflict"), "%s", text);
	eddy_var_free(v);
}

/* The sentence is read after the merge, maybe long after: the variable
 * may be gone by then (ASan catches a read of its freed name). */
Test(ctx_rules, conflict_sentence_outlives_the_variable)
{
	eddy_var *v = opt_var("user", 0, EDDY_MERGE_CONFLICT_ERROR);
	long after;
	cr_assert_eq(both_change(v, &after), -EDDY_ECONFLICT);
	eddy_var_free(v);
	const char *text = eddy_strerror(-EDDY_ECONFLICT);
	cr_assert_not_null(strstr(text, "\"user\""), "%s", text);
}

Test(ctx_rules, equal_changes_on_both_sides_are_no_conflict)
{
	eddy_var *v = opt_var("user", 0, EDDY_MERGE_CONFLICT_ERROR);
	long after;
	cr_assert_eq(both_set(v, 5, 8, 8, &after), 0);
	cr_assert_eq(after, 8);
	eddy_var_free(v);
}

Test(ctx_rules, a_failing_reducer_fails_the_merge_and_applies_nothing)
{
	eddy_var *v = reducing("log", refuse, V(-EOVERFLOW));
	cr_assert_eq(merge_with_failing(v), -EOVERFLOW);
	cr_assert_eq(eddy_ctx_conflict_var(), v);
	eddy_var_free(v);
}

Test(ctx_rules, task_local_changes_never_come_back)
{
	struct world w = world_new();
	struct fork f = fork_of(w.parent, EDDY_CROSS_TASK);
	set_in(f.child, w.deadline, 9);
	set_in(f.child, w.user, 2);
	cr_assert_eq(merge(&f, EDDY_CROSS_TASK), 1);
	cr_assert_eq(in(w.parent, w.deadline), 5);
	cr_assert_eq(in(w.parent, w.user), 2);
	fork_free(&f);
	/* eddy_ctx_merge is a task crossing, also for a plain copy */
	eddy_ctx *base = eddy_ctx_copy(w.parent), *child = eddy_ctx_copy(base);
	set_in(child, w.deadline, 9);
	cr_assert_eq(eddy_ctx_merge(w.parent, child, base), 0);
	cr_assert_eq(in(w.parent, w.deadline), 5);
	eddy_ctx_unref(base);
	eddy_ctx_unref(child);
	world_free(&w);
}

Test(ctx_rules, loop_only_changes_come_back_from_a_task_not_a_thread)
{
	struct world w = world_new();
	struct fork task = fork_of(w.parent, EDDY_CROSS_TASK);
	set_in(task.child, w.db, 8);
	cr_assert_eq(merge(&task, EDDY_CROSS_TASK), 1);
	cr_assert_eq(in(w.parent, w.db), 8);
	struct fork thread = fork_of(w.parent, EDDY_CROSS_THREAD);
	set_in(thread.child, w.db, 9);
	cr_assert_eq(merge(&thread, EDDY_CROSS_THREAD), 0);
	cr_assert_eq(in(w.parent, w.db), 8);
	fork_free(&task);
	fork_free(&thread);
	world_free(&w);
}

Test(ctx_rules, a_merged_back_stayer_is_counted)
{
	struct world w = world_new();
	eddy_ctx *parent = eddy_ctx_new(); /* maps no stayer */
	struct fork f = fork_of(parent, EDDY_CROSS_TASK);
	set_in(f.child, w.db, 8);
	cr_assert_eq(merge(&f, EDDY_CROSS_TASK), 1);
	eddy_ctx *worker = eddy_ctx_copy_crossing(parent, EDDY_CROSS_THREAD);
	cr_assert_eq(in(worker, w.db), -1, "the merged db is left out");
	eddy_ctx_unref(worker);
	fork_free(&f);
	eddy_ctx_unref(parent);
	world_free(&w);
}

/* Two children of one fork, merged in the given order. */
static void two_children(eddy_var *v, eddy_var *a, eddy_var *b, int order,
			 long out[3])
{
	eddy_ctx *parent = eddy_ctx_new();
	set_in(parent, v, 5);
	struct fork c[2] = { fork_of(parent, EDDY_CROSS_TASK),
			     fork_of(parent, EDDY_CROSS_TASK) };
	set_in(c[0].child, v, 6); /* +1 */
	set_in(c[1].child, v, 8); /* +3 */
	set_in(c[0].child, a, 1);
	set_in(c[1].child, b, 2);
	cr_assert_geq(merge(&c[order], EDDY_CROSS_TASK), 0);
	cr_assert_geq(merge(&c[!order], EDDY_CROSS_TASK), 0);
	out[0] = in(parent, v);
	out[1] = in(parent, a);
	out[2] = in(parent, b);
	fork_free(&c[0]);
	fork_free(&c[1]);
	eddy_ctx_unref(parent);
}

Test(ctx_rules, a_commutative_reducer_makes_join_order_irrelevant)
{
	eddy_var *v = reducing("count", add, NULL);
	eddy_var *a = eddy_var_new("a"), *b = eddy_var_new("b");
	long first[3], second[3];
	two_children(v, a, b, 0, first);
	two_children(v, a, b, 1, second);
	cr_assert_eq(first[0], 5 + 1 + 3);
	cr_assert_arr_eq(first, second, sizeof first);
	cr_assert_eq(first[1], 1);
	cr_assert_eq(first[2], 2);
	eddy_var_free(v);
	eddy_var_free(a);
	eddy_var_free(b);
}

Test(ctx_rules, child_wins_depends_on_join_order)
{
	eddy_var *v = eddy_var_new("v");
	eddy_var *a = eddy_var_new("a"), *b = eddy_var_new("b");
	long first[3], second[3];
	two_children(v, a, b, 0, first);
	two_children(v, a, b, 1, second);
	cr_assert_eq(first[0], 8, "the last joined wins");
	cr_assert_eq(second[0], 6);
	eddy_var_free(v);
	eddy_var_free(a);
	eddy_var_free(b);
}

/* ---- out of memory ----------------------------------------------------- */

/* Fail each allocation of a thread crossing's copy of w's parent in
 * turn: NULL, ENOMEM, nothing allocated, the parent as it was; then the
 * copy that succeeds maps all but the two stayers. */
static void copy_out_of_memory_leaves_nothing(struct world *w)
{
	size_t len = eddy_ctx_len(w->parent);
	long live = eddy_alloc_live();
	for (long n = 1;; n++) {
		eddy_alloc_fail_nth(n);
		eddy_ctx *child = eddy_ctx_copy_crossing(w->parent,
							 EDDY_CROSS_THREAD);
		int failed = eddy_alloc_failed();
		eddy_alloc_fail_nth(0);
		if (!failed) {
			cr_assert_not_null(child);
			cr_assert_eq(eddy_ctx_len(child), len - 2);
			cr_assert_eq(in(child, w->db), -1);
			eddy_ctx_unref(child);
			break;
		}
		cr_assert_null(child, "attempt %ld", n);
		cr_assert_eq(errno, ENOMEM);
		cr_assert_eq(eddy_alloc_live(), live, "attempt %ld", n);
		cr_assert_eq(eddy_ctx_len(w->parent), len);
	}
}

Test(ctx_rules, copy_across_a_crossing_out_of_memory_leaves_nothing)
{
	struct world w = world_new();
	copy_out_of_memory_leaves_nothing(&w);
	world_free(&w);
}

/* The same over a big context, where the copy searches the registry of
 * stayers under its read lock: every failure lets the lock go (freeing a
 * variable, which takes it to write, would hang) and leaves nothing
 * behind. */
Test(ctx_rules, copy_of_a_big_context_out_of_memory_leaves_nothing)
{
	struct world w = world_new();
	eddy_var *many[100];
	for (int i = 0; i < 100; i++) {
		many[i] = eddy_var_new("many");
		set_in(w.parent, many[i], i);
	}
	copy_out_of_memory_leaves_nothing(&w);
	for (int i = 0; i < 100; i++)
		eddy_var_free(many[i]);
	world_free(&w);
}

/* Where more variables with a propagation rule exist than an eighth of
 * the mapping, the copy walks the mapping instead: the same result. */
Test(ctx_rules, copy_with_a_long_registry_walks_and_leaves_its_stayers_out)
{
	struct world w = world_new();
	eddy_var *locals[40], *plain[30];
	for (int i = 0; i < 40; i++) {
		locals[i] = opt_var("local", EDDY_PROPAGATE_TASK_LOCAL, 0);
		set_in(w.parent, locals[i], i);
	}
	for (int i = 0; i < 30; i++) { /* 73 mapped: past the small walk */
		plain[i] = eddy_var_new("plain");
		set_in(w.parent, plain[i], i);
	}
	eddy_ctx *task = eddy_ctx_copy_crossing(w.parent, EDDY_CROSS_TASK);
	cr_assert_not_null(task);
	cr_assert_eq(eddy_ctx_len(task), 73 - 41);
	for (int i = 0; i < 40; i++)
		cr_assert_eq(in(task, locals[i]), -1);
	cr_assert_eq(in(task, plain[29]), 29);
	cr_assert_eq(in(task, w.db), 7);
	eddy_ctx_unref(task);
	for (int i = 0; i < 40; i++)
		eddy_var_free(locals[i]);
	for (int i = 0; i < 30; i++)
		eddy_var_free(plain[i]);
	world_free(&w);
}

Test(ctx_rules, merge_with_rules_out_of_memory_leaves_the_parent)
{
	eddy_var *count = reducing("count", add, NULL);
	eddy_var *never = opt_var("never", 0, EDDY_MERGE_NEVER);
	eddy_var *plain[40];
	eddy_ctx *parent = eddy_ctx_new();
	for (int i = 0; i < 40; i++) {
		plain[i] = eddy_var_new("plain");
		set_in(parent, plain[i], i);
	}
	set_in(parent, count, 5);
	for (long n = 1;; n++) {
		struct fork f = fork_of(parent, EDDY_CROSS_TASK);
		set_in(parent, count, 7);
		set_in(f.child, count, 8);
		set_in(f.child, never, 1);
		for (int i = 0; i < 40; i += 4)
			set_in(f.child, plain[i], 100 + i);
		eddy_ctx *before = eddy_ctx_copy(parent);
		long live = eddy_alloc_live();
		eddy_alloc_fail_nth(n);
		int r = merge(&f, EDDY_CROSS_TASK);
		int failed = eddy_alloc_failed();
		eddy_alloc_fail_nth(0);
		if (!failed) {
			cr_assert_eq(r, 11);
			cr_assert_eq(in(parent, count), 10);
			cr_assert_eq(in(parent, never), -1);
			cr_assert_eq(in(parent, plain[4]), 104);
			eddy_ctx_unref(before);
			fork_free(&f);
			break;
		}
		cr_assert_eq(r, -ENOMEM, "attempt %ld", n);
		cr_assert_eq(parent->map.root, before->map.root);
		cr_assert_eq(eddy_alloc_live(), live, "attempt %ld", n);
		set_in(parent, count, 5);
		eddy_ctx_unref(before);
		fork_free(&f);
	}
	for (int i = 0; i < 40; i++)
		eddy_var_free(plain[i]);
	eddy_ctx_unref(parent);
	eddy_var_free(count);
	eddy_var_free(never);
}
