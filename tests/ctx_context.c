/*
 * Contexts: new, copy, run and its nesting, enter and leave, the mapping
 * API and iteration, as CPython's test_context.py checks Context.
 */
#include "check.h"

#include <stdint.h>

#include "ctx/alloc.h"
#include "eddy.h"

EDDY_SUITE(ctx_context);

#define V(n) ((void *)(uintptr_t)(n))

static void *return_current(void *arg)
{
	(void)arg;
	return eddy_ctx_current();
}

static void *return_arg_plus_one(void *arg)
{
	return V((uintptr_t)arg + 1);
}

static void *do_nothing(void *arg)
{
	return arg;
}

static void *value_of(eddy_ctx *ctx, eddy_var *var)
{
	void *out;
	cr_assert_eq(eddy_ctx_get(ctx, var, &out), 0);
	return out;
}

/* ---- new, current, copy ------------------------------------------- */

Test(ctx_context, new_context_is_empty)
{
	eddy_ctx *ctx = eddy_ctx_new();
	eddy_var *v = eddy_var_new("v");
	cr_assert_not_null(ctx);
	cr_assert_eq(eddy_ctx_len(ctx), 0);
	cr_assert_eq(eddy_ctx_get(ctx, v, NULL), -ENOENT);
	eddy_var_free(v);
	eddy_ctx_unref(ctx);
}

Test(ctx_context, current_is_the_same_base_context_each_time)
{
	eddy_ctx *base = eddy_ctx_current();
	cr_assert_not_null(base);
	cr_assert_eq(eddy_ctx_current(), base);
	cr_assert_eq(eddy_ctx_len(base), 0);
}

Test(ctx_context, set_outside_any_run_goes_to_the_base_context)
{
	eddy_var *v = eddy_var_new("v");
	cr_assert_eq(eddy_var_set(v, V(1), NULL), 0);
	cr_assert_eq(value_of(eddy_ctx_current(), v), V(1));
	eddy_var_free(v);
}

Test(ctx_context, copy_current_before_any_context_is_empty)
{
	eddy_ctx *copy = eddy_ctx_copy_current();
	cr_assert_not_null(copy);
	cr_assert_eq(eddy_ctx_len(copy), 0);
	eddy_ctx_unref(copy);
}

Test(ctx_context, copy_current_holds_the_current_mapping)
{
	eddy_var *a = eddy_var_new("a"), *b = eddy_var_new("b");
	cr_assert_eq(eddy_var_set(a, V(1), NULL), 0);
	cr_assert_eq(eddy_var_set(b, V(2), NULL), 0);
	eddy_ctx *copy = eddy_ctx_copy_current();
	cr_assert_neq(copy, eddy_ctx_current());
	cr_assert_eq(eddy_ctx_len(copy), 2);
	cr_assert_eq(value_of(copy, a), V(1));
	cr_assert_eq(value_of(copy, b), V(2));
	eddy_ctx_unref(copy);
	eddy_var_free(a);
	eddy_var_free(b);
}

Test(ctx_context, copy_is_unaffected_by_later_sets_in_the_original)
{
	eddy_var *v = eddy_var_new("v"), *w = eddy_var_new("w");
	cr_assert_eq(eddy_var_set(v, V(10), NULL), 0);
	eddy_ctx *copy = eddy_ctx_copy_current();
	cr_assert_eq(eddy_var_set(v, V(20), NULL), 0);
	cr_assert_eq(eddy_var_set(w, V(30), NULL), 0);
	cr_assert_eq(value_of(copy, v), V(10));
	cr_assert_eq(eddy_ctx_get(copy, w, NULL), -ENOENT);
	cr_assert_eq(eddy_ctx_len(copy), 1);
	eddy_ctx_unref(copy);
	eddy_var_free(v);
	eddy_var_free(w);
}

static eddy_var *shared_var;

static void *set_30(void *arg)
{
	void *out;
	cr_assert_eq(eddy_var_get(shared_var, &out), 0);
	cr_assert_eq(out, V(10));
	cr_assert_eq(eddy_var_set(shared_var, V(30), NULL), 0);
	cr_assert_eq(eddy_var_get(shared_var, &out), 0);
	cr_assert_eq(out, V(30));
	return arg;
}

Test(ctx_context, sets_in_a_copy_are_not_seen_by_the_original)
{
	shared_var = eddy_var_new_default("c", V(42));
	void *out;
	cr_assert_eq(eddy_var_set(shared_var, V(10), NULL), 0);
	eddy_ctx *copy = eddy_ctx_copy_current();
	cr_assert_eq(eddy_ctx_run(copy, set_30, NULL, NULL), 0);
	cr_assert_eq(value_of(copy, shared_var), V(30));
	cr_assert_eq(eddy_var_get(shared_var, &out), 0);
	cr_assert_eq(out, V(10));
	eddy_ctx_unref(copy);
	eddy_var_free(shared_var);
}

Test(ctx_context, copy_of_a_context_holds_its_mapping)
{
	eddy_var *v = eddy_var_new("v");
	eddy_ctx *ctx = eddy_ctx_new();
	cr_assert_eq(eddy_ctx_enter(ctx), 0);
	cr_assert_eq(eddy_var_set(v, V(10), NULL), 0);
	eddy_ctx *copy = eddy_ctx_copy(ctx);
	cr_assert_eq(eddy_var_set(v, V(20), NULL), 0);
	cr_assert_eq(eddy_ctx_leave(ctx), 0);
	cr_assert_eq(value_of(ctx, v), V(20));
	cr_assert_eq(value_of(copy, v), V(10));
	eddy_ctx_unref(copy);
	eddy_ctx_unref(ctx);
	eddy_var_free(v);
}

Test(ctx_context, copy_of_null_is_einval)
{
	errno = 0;
	cr_assert_null(eddy_ctx_copy(NULL));
	cr_assert_eq(errno, EINVAL);
}

Test(ctx_context, ref_keeps_a_context_alive)
{
	long live = eddy_alloc_live();
	eddy_ctx *ctx = eddy_ctx_new();
	cr_assert_eq(eddy_ctx_ref(ctx), ctx);
	eddy_ctx_unref(ctx);
	cr_assert_eq(eddy_ctx_len(ctx), 0);
	eddy_ctx_unref(ctx);
	cr_assert_eq(eddy_alloc_live(), live);
	cr_assert_null(eddy_ctx_ref(NULL));
	eddy_ctx_unref(NULL);
}

/* ---- run ---------------------------------------------------------- */

Test(ctx_context, run_makes_the_context_current_then_restores_the_previous)
{
	eddy_ctx *base = eddy_ctx_current();
	eddy_ctx *ctx = eddy_ctx_new();
	void *inside;
	cr_assert_eq(eddy_ctx_run(ctx, return_current, NULL, &inside), 0);
	cr_assert_eq(inside, ctx);
	cr_assert_eq(eddy_ctx_current(), base);
	eddy_ctx_unref(ctx);
}

Test(ctx_context, run_before_any_context_restores_the_base_context)
{
	eddy_ctx *ctx = eddy_ctx_new();
	cr_assert_eq(eddy_ctx_run(ctx, do_nothing, NULL, NULL), 0);
	eddy_ctx *base = eddy_ctx_current();
	cr_assert_not_null(base);
	cr_assert_neq(base, ctx);
	eddy_ctx_unref(ctx);
}

Test(ctx_context, run_passes_the_argument_and_returns_the_result)
{
	eddy_ctx *ctx = eddy_ctx_new();
	void *result;
	cr_assert_eq(eddy_ctx_run(ctx, return_arg_plus_one, V(41), &result), 0);
	cr_assert_eq(result, V(42));
	cr_assert_eq(eddy_ctx_run(ctx, return_arg_plus_one, V(1), NULL), 0);
	eddy_ctx_unref(ctx);
}

Test(ctx_context, run_with_null_arguments_is_einval)
{
	eddy_ctx *ctx = eddy_ctx_new();
	cr_assert_eq(eddy_ctx_run(ctx, NULL, NULL, NULL), -EINVAL);
	cr_assert_eq(eddy_ctx_run(NULL, do_nothing, NULL, NULL), -EINVAL);
	/* neither refusal left ctx entered */
	cr_assert_eq(eddy_ctx_run(ctx, do_nothing, NULL, NULL), 0);
	eddy_ctx_unref(ctx);
}

static void *set_spam(void *arg)
{
	(void)arg;
	cr_assert_null(eddy_var_get_or(shared_var, NULL));
	cr_assert_eq(eddy_var_set(shared_var, V(1), NULL), 0);
	return NULL;
}

Test(ctx_context, set_inside_run_is_not_seen_outside)
{
	shared_var = eddy_var_new("var");
	eddy_ctx *ctx = eddy_ctx_new();
	cr_assert_eq(eddy_ctx_run(ctx, set_spam, NULL, NULL), 0);
	cr_assert_null(eddy_var_get_or(shared_var, NULL));
	cr_assert_eq(value_of(ctx, shared_var), V(1));
	eddy_ctx_unref(ctx);
	eddy_var_free(shared_var);
}

static eddy_ctx *ctx1, *ctx2;

static void *inner(void *arg)
{
	(void)arg;
	cr_assert_null(eddy_var_get_or(shared_var, NULL));
	cr_assert_eq(eddy_var_set(shared_var, V(2), NULL), 0);
	return eddy_ctx_current();
}

static void *outer(void *arg)
{
	(void)arg;
	void *in;
	cr_assert_null(eddy_var_get_or(shared_var, NULL));
	cr_assert_eq(eddy_var_set(shared_var, V(1), NULL), 0);
	cr_assert_eq(eddy_ctx_run(ctx2, inner, NULL, &in), 0);
	cr_assert_eq(in, ctx2);
	cr_assert_eq(eddy_ctx_current(), ctx1);
	cr_assert_eq(eddy_var_get_or(shared_var, NULL), V(1));
	eddy_ctx *cur = eddy_ctx_copy_current();
	cr_assert_eq(eddy_ctx_len(cur), 1);
	cr_assert_eq(value_of(cur, shared_var), V(1));
	eddy_ctx_unref(cur);
	return eddy_ctx_current();
}

Test(ctx_context, run_nests_and_restores_each_level)
{
	shared_var = eddy_var_new("var");
	ctx1 = eddy_ctx_new();
	ctx2 = eddy_ctx_new();
	void *returned;
	cr_assert_eq(eddy_ctx_run(ctx1, outer, NULL, &returned), 0);
	cr_assert_eq(returned, ctx1);
	cr_assert_eq(value_of(ctx1, shared_var), V(1));
	cr_assert_eq(value_of(ctx2, shared_var), V(2));
	cr_assert_null(eddy_var_get_or(shared_var, NULL));
	eddy_ctx_unref(ctx1);
	eddy_ctx_unref(ctx2);
	eddy_var_free(shared_var);
}

static void *check_default_then_set(void *ctx)
{
	void *out;
	cr_assert_eq(eddy_var_get(shared_var, &out), 0);
	cr_assert_eq(out, V(42));
	cr_assert_eq(eddy_ctx_get(ctx, shared_var, NULL), -ENOENT);
	cr_assert_eq(eddy_var_set(shared_var, V(7), NULL), 0);
	cr_assert_eq(eddy_var_get(shared_var, &out), 0);
	cr_assert_eq(out, V(7));
	cr_assert_eq(value_of(ctx, shared_var), V(7));
	return NULL;
}

Test(ctx_context, run_sees_the_default_then_its_own_set)
{
	shared_var = eddy_var_new_default("c", V(42));
	eddy_ctx *ctx = eddy_ctx_new();
	cr_assert_eq(eddy_ctx_run(ctx, check_default_then_set, ctx, NULL), 0);
	eddy_ctx_unref(ctx);
	eddy_var_free(shared_var);
}

static void *run_self(void *ctx)
{
	return V(eddy_ctx_run(ctx, do_nothing, NULL, NULL));
}

Test(ctx_context, run_of_a_context_entered_by_this_thread_is_ebusy)
{
	eddy_ctx *ctx = eddy_ctx_new();
	void *err;
	cr_assert_eq(eddy_ctx_run(ctx, run_self, ctx, &err), 0);
	cr_assert_eq((intptr_t)err, -EBUSY);
	/* the refused run did not leave ctx or change the current context */
	cr_assert_eq(eddy_ctx_run(ctx, return_current, NULL, &err), 0);
	cr_assert_eq(err, ctx);
	eddy_ctx_unref(ctx);
}

static void *run_other_then_outer(void *ctx)
{
	eddy_ctx *other = eddy_ctx_new();
	void *err = V(1);
	cr_assert_eq(eddy_ctx_run(other, run_self, ctx, &err), 0);
	eddy_ctx_unref(other);
	return err;
}

Test(ctx_context, run_of_a_context_entered_lower_in_the_nesting_is_ebusy)
{
	eddy_ctx *ctx = eddy_ctx_new();
	void *err;
	cr_assert_eq(eddy_ctx_run(ctx, run_other_then_outer, ctx, &err), 0);
	cr_assert_eq((intptr_t)err, -EBUSY);
	eddy_ctx_unref(ctx);
}

Test(ctx_context, run_of_the_base_context_is_ebusy)
{
	cr_assert_eq(eddy_ctx_run(eddy_ctx_current(), do_nothing, NULL, NULL),
		     -EBUSY);
}

/* ---- enter and leave ---------------------------------------------- */

Test(ctx_context, enter_of_an_entered_context_is_ebusy)
{
	eddy_ctx *ctx = eddy_ctx_new();
	cr_assert_eq(eddy_ctx_enter(ctx), 0);
	cr_assert_eq(eddy_ctx_enter(ctx), -EBUSY);
	cr_assert_eq(eddy_ctx_run(ctx, do_nothing, NULL, NULL), -EBUSY);
	cr_assert_eq(eddy_ctx_current(), ctx);
	cr_assert_eq(eddy_ctx_leave(ctx), 0);
	eddy_ctx_unref(ctx);
}

Test(ctx_context, leave_of_a_context_not_entered_is_einval)
{
	eddy_ctx *ctx = eddy_ctx_new();
	cr_assert_eq(eddy_ctx_leave(ctx), -EINVAL);
	cr_assert_eq(eddy_ctx_leave(NULL), -EINVAL);
	cr_assert_eq(eddy_ctx_enter(NULL), -EINVAL);
	eddy_ctx_unref(ctx);
}

Test(ctx_context, leave_of_a_context_that_is_not_current_is_einval)
{
	eddy_ctx *out = eddy_ctx_new(), *in = eddy_ctx_new();
	cr_assert_eq(eddy_ctx_enter(out), 0);
	cr_assert_eq(eddy_ctx_enter(in), 0);
	cr_assert_eq(eddy_ctx_leave(out), -EINVAL);
	cr_assert_eq(eddy_ctx_current(), in);
	cr_assert_eq(eddy_ctx_leave(in), 0);
	cr_assert_eq(eddy_ctx_current(), out);
	cr_assert_eq(eddy_ctx_leave(out), 0);
	eddy_ctx_unref(in);
	eddy_ctx_unref(out);
}

Test(ctx_context, leave_of_the_base_context_is_einval)
{
	eddy_ctx *base = eddy_ctx_current();
	cr_assert_eq(eddy_ctx_leave(base), -EINVAL);
	cr_assert_eq(eddy_ctx_current(), base);
}

Test(ctx_context, context_can_be_entered_again_after_leaving)
{
	eddy_var *v = eddy_var_new_default("v", V(1));
	eddy_ctx *ctx = eddy_ctx_copy_current();
	cr_assert_eq(eddy_ctx_enter(ctx), 0);
	cr_assert_eq(eddy_var_set(v, V(2), NULL), 0);
	cr_assert_eq(eddy_ctx_leave(ctx), 0);
	cr_assert_eq(eddy_var_get_or(v, NULL), NULL);
	cr_assert_eq(eddy_ctx_enter(ctx), 0);
	cr_assert_eq(eddy_var_get_or(v, NULL), V(2));
	cr_assert_eq(eddy_ctx_leave(ctx), 0);
	eddy_ctx_unref(ctx);
	eddy_var_free(v);
}

Test(ctx_context, nested_copies_see_the_level_they_were_copied_from)
{
	eddy_var *v = eddy_var_new_default("cvar", V(0));
	void *out;
	eddy_ctx *outer_ctx = eddy_ctx_copy_current();
	cr_assert_eq(eddy_ctx_enter(outer_ctx), 0);
	cr_assert_eq(eddy_var_set(v, V(1), NULL), 0);
	eddy_ctx *inner_ctx = eddy_ctx_copy_current();
	cr_assert_eq(eddy_ctx_enter(inner_ctx), 0);
	cr_assert_eq(eddy_var_get(v, &out), 0);
	cr_assert_eq(out, V(1));
	cr_assert_eq(eddy_var_set(v, V(2), NULL), 0);
	cr_assert_eq(value_of(outer_ctx, v), V(1));
	cr_assert_eq(eddy_ctx_leave(inner_ctx), 0);
	cr_assert_eq(eddy_var_get(v, &out), 0);
	cr_assert_eq(out, V(1));
	cr_assert_eq(eddy_ctx_leave(outer_ctx), 0);
	cr_assert_eq(eddy_var_get(v, &out), 0);
	cr_assert_eq(out, V(0));
	eddy_ctx_unref(inner_ctx);
	eddy_ctx_unref(outer_ctx);
	eddy_var_free(v);
}

/* ---- the mapping API ---------------------------------------------- */

Test(ctx_context, ctx_get_returns_the_value_or_enoent)
{
	eddy_var *v = eddy_var_new("v"), *w = eddy_var_new("w");
	eddy_ctx *ctx = eddy_ctx_current();
	void *out = V(5);
	cr_assert_eq(eddy_var_set(v, V(1), NULL), 0);
	cr_assert_eq(value_of(ctx, v), V(1));
	cr_assert_eq(eddy_ctx_get(ctx, w, &out), -ENOENT);
	cr_assert_eq(out, V(5));
	eddy_var_free(v);
	eddy_var_free(w);
}

Test(ctx_context, ctx_get_with_null_out_tests_membership)
{
	eddy_var *v = eddy_var_new("v"), *w = eddy_var_new("w");
	cr_assert_eq(eddy_var_set(v, V(1), NULL), 0);
	cr_assert_eq(eddy_ctx_get(eddy_ctx_current(), v, NULL), 0);
	cr_assert_eq(eddy_ctx_get(eddy_ctx_current(), w, NULL), -ENOENT);
	eddy_var_free(v);
	eddy_var_free(w);
}

Test(ctx_context, ctx_get_ignores_the_var_default)
{
	eddy_var *v = eddy_var_new_default("v", V(42));
	eddy_ctx *ctx = eddy_ctx_new();
	cr_assert_eq(eddy_ctx_get(ctx, v, NULL), -ENOENT);
	cr_assert_eq(eddy_ctx_len(ctx), 0);
	eddy_ctx_unref(ctx);
	eddy_var_free(v);
}

Test(ctx_context, ctx_get_with_null_arguments_is_einval)
{
	eddy_var *v = eddy_var_new("v");
	eddy_ctx *ctx = eddy_ctx_new();
	cr_assert_eq(eddy_ctx_get(NULL, v, NULL), -EINVAL);
	cr_assert_eq(eddy_ctx_get(ctx, NULL, NULL), -EINVAL);
	cr_assert_eq(eddy_ctx_len(NULL), 0);
	eddy_ctx_unref(ctx);
	eddy_var_free(v);
}

Test(ctx_context, len_counts_the_vars_set)
{
	eddy_var *a = eddy_var_new("a"), *b = eddy_var_new("b");
	eddy_ctx *ctx = eddy_ctx_current();
	eddy_token *tok;
	cr_assert_eq(eddy_ctx_len(ctx), 0);
	cr_assert_eq(eddy_var_set(a, V(1), NULL), 0);
	cr_assert_eq(eddy_ctx_len(ctx), 1);
	cr_assert_eq(eddy_var_set(b, V(2), &tok), 0);
	cr_assert_eq(eddy_ctx_len(ctx), 2);
	cr_assert_eq(eddy_var_set(a, V(3), NULL), 0);
	cr_assert_eq(eddy_ctx_len(ctx), 2);
	cr_assert_eq(eddy_var_reset(b, tok), 0);
	cr_assert_eq(eddy_ctx_len(ctx), 1);
	eddy_token_free(tok);
	eddy_var_free(a);
	eddy_var_free(b);
}

/* ---- iteration ---------------------------------------------------- */

#define NITER 300

static eddy_var *many[NITER];

/* Sets many[i] = i + 1 in the current context for i < n. */
static void set_many(int n)
{
	for (int i = 0; i < n; i++) {
		many[i] = eddy_var_new("m");
		cr_assert_eq(eddy_var_set(many[i], V(i + 1), NULL), 0);
	}
}

static void free_many(int n)
{
	for (int i = 0; i < n; i++)
		eddy_var_free(many[i]);
}

static int index_of_var(const eddy_var *var, int n)
{
	for (int i = 0; i < n; i++)
		if (many[i] == var)
			return i;
	return -1;
}

/* Iterates ctx and checks it holds exactly many[i] = i + 1, i < n. */
static void expect_many(const eddy_ctx *ctx, int n)
{
	int seen[NITER] = { 0 };
	eddy_ctx_iter it;
	eddy_var *var;
	void *val;
	int pairs = 0;
	eddy_ctx_iter_begin(&it, ctx);
	while (eddy_ctx_iter_next(&it, &var, &val)) {
		int i = index_of_var(var, n);
		cr_assert_geq(i, 0, "a var the context lacks");
		cr_assert_eq(seen[i]++, 0, "var %d yielded twice", i);
		cr_assert_eq(val, V(i + 1), "var %d has the wrong value", i);
		pairs++;
	}
	cr_assert_eq(pairs, n);
}

Test(ctx_context, iteration_of_an_empty_context_ends_at_once)
{
	eddy_ctx *ctx = eddy_ctx_new();
	eddy_ctx_iter it;
	eddy_var *var;
	void *val;
	eddy_ctx_iter_begin(&it, ctx);
	cr_assert_eq(eddy_ctx_iter_next(&it, &var, &val), 0);
	eddy_ctx_unref(ctx);
}

Test(ctx_context, iteration_yields_every_pair_once)
{
	set_many(NITER);
	expect_many(eddy_ctx_current(), NITER);
	free_many(NITER);
}

Test(ctx_context, iteration_accepts_null_outputs)
{
	set_many(5);
	eddy_ctx_iter it;
	int pairs = 0;
	eddy_ctx_iter_begin(&it, eddy_ctx_current());
	while (eddy_ctx_iter_next(&it, NULL, NULL))
		pairs++;
	cr_assert_eq(pairs, 5);
	free_many(5);
}

Test(ctx_context, iteration_snapshot_is_unaffected_by_later_sets)
{
	set_many(NITER);
	eddy_var *extra = eddy_var_new("extra");
	eddy_ctx_iter it;
	eddy_var *var;
	void *val;
	int pairs = 0;
	eddy_ctx_iter_begin(&it, eddy_ctx_current());
	while (eddy_ctx_iter_next(&it, &var, &val)) {
		int i = index_of_var(var, NITER);
		cr_assert_geq(i, 0);
		cr_assert_eq(val, V(i + 1));
		/* change the context under the walk: overwrite, add */
		int other = (i + 7) % NITER;
		cr_assert_eq(eddy_var_set(many[other], V(0), NULL), 0);
		cr_assert_eq(eddy_var_set(extra, V(pairs), NULL), 0);
		pairs++;
	}
	cr_assert_eq(pairs, NITER);
	cr_assert_eq(eddy_ctx_len(eddy_ctx_current()), NITER + 1);
	eddy_var_free(extra);
	free_many(NITER);
}

Test(ctx_context, iteration_holds_its_snapshot_after_the_context_is_freed)
{
	eddy_ctx *ctx = eddy_ctx_new();
	cr_assert_eq(eddy_ctx_enter(ctx), 0);
	set_many(50);
	cr_assert_eq(eddy_ctx_leave(ctx), 0);
	eddy_ctx_iter it;
	eddy_var *var;
	void *val;
	int pairs = 0;
	eddy_ctx_iter_begin(&it, ctx);
	eddy_ctx_unref(ctx);
	while (eddy_ctx_iter_next(&it, &var, &val)) {
		cr_assert_eq(val, V(index_of_var(var, 50) + 1));
		pairs++;
	}
	cr_assert_eq(pairs, 50);
	free_many(50);
}

Test(ctx_context, iter_end_releases_the_snapshot_early)
{
	long live = eddy_alloc_live();
	eddy_ctx *ctx = eddy_ctx_new();
	cr_assert_eq(eddy_ctx_enter(ctx), 0);
	set_many(100);
	cr_assert_eq(eddy_ctx_leave(ctx), 0);
	eddy_ctx_iter it;
	eddy_var *var;
	void *val;
	eddy_ctx_iter_begin(&it, ctx);
	cr_assert_eq(eddy_ctx_iter_next(&it, &var, &val), 1);
	eddy_ctx_unref(ctx);
	/* what is left: the 100 variables, and the nodes the snapshot holds */
	cr_assert_gt(eddy_alloc_live(), live + 100);
	eddy_ctx_iter_end(&it);
	cr_assert_eq(eddy_alloc_live(), live + 100);
	/* harmless twice, and next after end reports the end */
	eddy_ctx_iter_end(&it);
	cr_assert_eq(eddy_ctx_iter_next(&it, &var, &val), 0);
	free_many(100);
}

Test(ctx_context, iteration_after_the_end_stays_at_the_end)
{
	set_many(3);
	eddy_ctx_iter it;
	eddy_var *var;
	void *val;
	eddy_ctx_iter_begin(&it, eddy_ctx_current());
	while (eddy_ctx_iter_next(&it, &var, &val))
		;
	cr_assert_eq(eddy_ctx_iter_next(&it, &var, &val), 0);
	eddy_ctx_iter_end(&it);
	free_many(3);
}

Test(ctx_context, iteration_of_null_context_is_empty)
{
	eddy_ctx_iter it;
	eddy_ctx_iter_begin(&it, NULL);
	cr_assert_eq(eddy_ctx_iter_next(&it, NULL, NULL), 0);
}
