/*
 * eddy_ctx_merge: copy-then-merge, the rule MERGE applies at join.
 */
#include "check.h"

#include "ctx/alloc.h"
#include "ctx/hamt.h"
#include "eddy.h"

EDDY_SUITE(ctx_merge);

#define NVARS 64
static eddy_var *vars[NVARS];

static void make_vars(void)
{
	for (int i = 0; i < NVARS; i++)
		vars[i] = eddy_var_new("v");
}

static void free_vars(void)
{
	for (int i = 0; i < NVARS; i++)
		eddy_var_free(vars[i]);
}

static void *V(long n)
{
	return (void *)n;
}

static void set_in(eddy_ctx *ctx, int var, long value)
{
	cr_assert_eq(eddy_ctx_enter(ctx), 0);
	cr_assert_eq(eddy_var_set(vars[var], V(value), NULL), 0);
	cr_assert_eq(eddy_ctx_leave(ctx), 0);
}

/* Removes the variable from ctx, as a reset to "was unset" does. */
static void unset_in(eddy_ctx *ctx, int var)
{
	eddy_ctx *base = eddy_ctx_new();
	eddy_ctx *tmp = eddy_ctx_copy(ctx);
	set_in(base, var, 1);
	eddy_ctx *without = eddy_ctx_new();
	/* base maps var, without does not: merging that removes var */
	cr_assert_geq(eddy_ctx_merge(ctx, without, base), 0);
	eddy_ctx_unref(base);
	eddy_ctx_unref(tmp);
	eddy_ctx_unref(without);
}

static long get_in(eddy_ctx *ctx, int var)
{
	void *out;
	return eddy_ctx_get(ctx, vars[var], &out) ? -1 : (long)out;
}

struct fork {
	eddy_ctx *parent, *child, *base;
};

/* A child forked from a parent that maps vars 0..n-1 to 100+i. */
static struct fork fork_from(int n)
{
	struct fork f = { .parent = eddy_ctx_new() };
	for (int i = 0; i < n; i++)
		set_in(f.parent, i, 100 + i);
	f.base = eddy_ctx_copy(f.parent);
	f.child = eddy_ctx_copy(f.parent);
	return f;
}

static void fork_free(struct fork *f)
{
	eddy_ctx_unref(f->parent);
	eddy_ctx_unref(f->child);
	eddy_ctx_unref(f->base);
}

Test(ctx_merge, child_set_reaches_parent)
{
	make_vars();
	struct fork f = fork_from(10);
	set_in(f.child, 3, 7);
	set_in(f.child, 20, 8);
	cr_assert_eq(eddy_ctx_merge(f.parent, f.child, f.base), 2);
	cr_assert_eq(get_in(f.parent, 3), 7);
	cr_assert_eq(get_in(f.parent, 20), 8);
	cr_assert_eq(get_in(f.parent, 4), 104);
	cr_assert_eq(eddy_ctx_len(f.parent), 11);
	fork_free(&f);
	free_vars();
}

Test(ctx_merge, child_unset_removes_from_parent)
{
	make_vars();
	struct fork f = fork_from(10);
	unset_in(f.child, 5);
	cr_assert_eq(eddy_ctx_merge(f.parent, f.child, f.base), 1);
	cr_assert_eq(get_in(f.parent, 5), -1);
	cr_assert_eq(eddy_ctx_len(f.parent), 9);
	fork_free(&f);
	free_vars();
}

Test(ctx_merge, untouched_vars_keep_parent_changes)
{
	make_vars();
	struct fork f = fork_from(10);
	set_in(f.parent, 1, 555); /* the parent moves on meanwhile */
	set_in(f.child, 2, 9);
	cr_assert_eq(eddy_ctx_merge(f.parent, f.child, f.base), 1);
	cr_assert_eq(get_in(f.parent, 1), 555);
	cr_assert_eq(get_in(f.parent, 2), 9);
	fork_free(&f);
	free_vars();
}

Test(ctx_merge, both_changed_child_wins)
{
	make_vars();
	struct fork f = fork_from(10);
	set_in(f.parent, 1, 555);
	set_in(f.child, 1, 777);
	cr_assert_eq(eddy_ctx_merge(f.parent, f.child, f.base), 1);
	cr_assert_eq(get_in(f.parent, 1), 777);
	fork_free(&f);
	free_vars();
}

Test(ctx_merge, set_back_to_snapshot_value_is_no_change)
{
	make_vars();
	struct fork f = fork_from(10);
	set_in(f.parent, 1, 555);
	set_in(f.child, 1, 42);
	set_in(f.child, 1, 101); /* the value the child started with */
	cr_assert_eq(eddy_ctx_merge(f.parent, f.child, f.base), 0);
	cr_assert_eq(get_in(f.parent, 1), 555);
	fork_free(&f);
	free_vars();
}

Test(ctx_merge, unchanged_child_merges_nothing)
{
	make_vars();
	struct fork f = fork_from(NVARS);
	cr_assert_eq(eddy_ctx_merge(f.parent, f.child, f.base), 0);
	cr_assert_eq(eddy_ctx_len(f.parent), NVARS);
	fork_free(&f);
	free_vars();
}

Test(ctx_merge, merged_value_seen_by_cached_get)
{
	make_vars();
	struct fork f = fork_from(4);
	void *out;
	cr_assert_eq(eddy_ctx_enter(f.parent), 0);
	cr_assert_eq(eddy_var_get(vars[0], &out), 0); /* warm the cache */
	set_in(f.child, 0, 1234);
	cr_assert_eq(eddy_ctx_merge(f.parent, f.child, f.base), 1);
	cr_assert_eq(eddy_var_get(vars[0], &out), 0);
	cr_assert_eq(out, V(1234));
	cr_assert_eq(eddy_ctx_leave(f.parent), 0);
	fork_free(&f);
	free_vars();
}

Test(ctx_merge, null_argument_is_einval)
{
	eddy_ctx *c = eddy_ctx_new();
	cr_assert_eq(eddy_ctx_merge(NULL, c, c), -EINVAL);
	cr_assert_eq(eddy_ctx_merge(c, NULL, c), -EINVAL);
	cr_assert_eq(eddy_ctx_merge(c, c, NULL), -EINVAL);
	eddy_ctx_unref(c);
}

/* Visits for one change in a context of n variables. */
static size_t visits_for_one_change(int n)
{
	eddy_ctx *parent = eddy_ctx_new();
	eddy_var **many = malloc(sizeof *many * (size_t)n);
	cr_assert_eq(eddy_ctx_enter(parent), 0);
	for (int i = 0; i < n; i++) {
		many[i] = eddy_var_new("m");
		eddy_var_set(many[i], V(i), NULL);
	}
	cr_assert_eq(eddy_ctx_leave(parent), 0);
	eddy_ctx *base = eddy_ctx_copy(parent);
	eddy_ctx *child = eddy_ctx_copy(parent);
	cr_assert_eq(eddy_ctx_enter(child), 0);
	eddy_var_set(many[n / 2], V(-1), NULL);
	cr_assert_eq(eddy_ctx_leave(child), 0);
	cr_assert_eq(eddy_ctx_merge(parent, child, base), 1);
	size_t visits = eddy_hamt_diff_visits();
	eddy_ctx_unref(parent);
	eddy_ctx_unref(base);
	eddy_ctx_unref(child);
	for (int i = 0; i < n; i++)
		eddy_var_free(many[i]);
	free(many);
	return visits;
}

Test(ctx_merge, cost_follows_changes_not_size)
{
	size_t small = visits_for_one_change(1000);
	size_t big = visits_for_one_change(100000);
	/* one path from root to leaf: a node per level, log32(n) levels */
	cr_assert_leq(small, 3);
	cr_assert_leq(big, 5);
}

Test(ctx_merge, cost_grows_with_the_number_of_changes)
{
	make_vars();
	struct fork f = fork_from(NVARS);
	set_in(f.child, 0, -1);
	eddy_ctx_merge(f.parent, f.child, f.base);
	size_t one = eddy_hamt_diff_visits();
	for (int i = 1; i < NVARS; i += 2)
		set_in(f.child, i, -1);
	eddy_ctx_merge(f.parent, f.child, f.base);
	size_t many = eddy_hamt_diff_visits();
	cr_assert_gt(many, one);
	fork_free(&f);
	free_vars();
}

Test(ctx_merge, out_of_memory_leaves_target_unchanged)
{
	make_vars();
	struct fork f = fork_from(NVARS);
	for (int i = 0; i < NVARS; i += 3)
		set_in(f.child, i, -i);
	unset_in(f.child, 1);
	long live = eddy_alloc_live();
	int r;
	for (long n = 1;; n++) {
		eddy_alloc_fail_nth(n);
		r = eddy_ctx_merge(f.parent, f.child, f.base);
		int failed = eddy_alloc_failed();
		eddy_alloc_fail_nth(0);
		if (!failed)
			break;
		cr_assert_eq(r, -ENOMEM, "attempt %ld returned %d", n, r);
		cr_assert_eq(eddy_alloc_live(), live, "attempt %ld leaked", n);
		for (int i = 0; i < NVARS; i++)
			cr_assert_eq(get_in(f.parent, i), 100 + i);
	}
	cr_assert_eq(r, (NVARS + 2) / 3 + 1);
	cr_assert_eq(get_in(f.parent, 1), -1);
	cr_assert_eq(get_in(f.parent, 3), -3);
	fork_free(&f);
	free_vars();
}
