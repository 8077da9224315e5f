/*
 * Context variables: creation, get, set, defaults, and the get cache, as
 * CPython's test_context.py checks ContextVar.
 */
#include "check.h"

#include <stdint.h>
#include <string.h>

#include "ctx/alloc.h"
#include "eddy.h"
#include "xorshift.h"

EDDY_SUITE(ctx_var);

#define V(n) ((void *)(uintptr_t)(n))


Test(ctx_var, new_var_keeps_a_copy_of_its_name)
{
	char name[] = "request_id";
	eddy_var *v = eddy_var_new(name);
	cr_assert_not_null(v);
	memset(name, 'x', sizeof name - 1);
	cr_assert_str_eq(eddy_var_name(v), "request_id");
	eddy_var_free(v);
}

Test(ctx_var, new_var_with_default_keeps_its_name)
{
	eddy_var *v = eddy_var_new_default("user", V(7));
	cr_assert_not_null(v);
	cr_assert_str_eq(eddy_var_name(v), "user");
	eddy_var_free(v);
}

Test(ctx_var, new_var_with_null_name_is_einval)
{
	errno = 0;
	cr_assert_null(eddy_var_new(NULL));
	cr_assert_eq(errno, EINVAL);
	errno = 0;
	cr_assert_null(eddy_var_new_default(NULL, V(1)));
	cr_assert_eq(errno, EINVAL);
}

Test(ctx_var, vars_with_the_same_name_are_distinct)
{
	eddy_var *a = eddy_var_new("same"), *b = eddy_var_new("same");
	void *out;
	cr_assert_neq(a, b);
	cr_assert_eq(eddy_var_set(a, V(1), NULL), 0);
	cr_assert_eq(eddy_var_get(b, &out), -ENOENT);
	eddy_var_free(a);
	eddy_var_free(b);
}

Test(ctx_var, get_of_unset_var_without_default_is_enoent)
{
	eddy_var *v = eddy_var_new("v");
	void *out = V(99);
	cr_assert_eq(eddy_var_get(v, &out), -ENOENT);
	cr_assert_eq(out, V(99), "a failed get must not write *out");
	eddy_var_free(v);
}

Test(ctx_var, get_of_unset_var_returns_its_default)
{
	eddy_var *v = eddy_var_new_default("v", V(42));
	void *out;
	cr_assert_eq(eddy_var_get(v, &out), 0);
	cr_assert_eq(out, V(42));
	eddy_var_free(v);
}

Test(ctx_var, null_default_is_a_default)
{
	eddy_var *v = eddy_var_new_default("v", NULL);
	void *out = V(1);
	cr_assert_eq(eddy_var_get(v, &out), 0);
	cr_assert_null(out);
	eddy_var_free(v);
}

Test(ctx_var, get_before_any_context_allocates_nothing)
{
	eddy_var *v = eddy_var_new_default("v", V(3));
	long live = eddy_alloc_live();
	void *out;
	cr_assert_eq(eddy_var_get(v, &out), 0);
	cr_assert_eq(eddy_var_get_or(v, V(4)), V(4));
	cr_assert_eq(eddy_alloc_live(), live);
	eddy_var_free(v);
}

Test(ctx_var, set_then_get_returns_the_value)
{
	eddy_var *v = eddy_var_new("v");
	void *out;
	cr_assert_eq(eddy_var_set(v, V(42), NULL), 0);
	cr_assert_eq(eddy_var_get(v, &out), 0);
	cr_assert_eq(out, V(42));
	eddy_var_free(v);
}

Test(ctx_var, set_overwrites_the_previous_value)
{
	eddy_var *v = eddy_var_new("v");
	void *out;
	cr_assert_eq(eddy_var_set(v, V(1), NULL), 0);
	cr_assert_eq(eddy_var_set(v, V(2), NULL), 0);
	cr_assert_eq(eddy_var_get(v, &out), 0);
	cr_assert_eq(out, V(2));
	cr_assert_eq(eddy_ctx_len(eddy_ctx_current()), 1);
	eddy_var_free(v);
}

Test(ctx_var, set_value_wins_over_the_default)
{
	eddy_var *v = eddy_var_new_default("v", V(42));
	void *out;
	cr_assert_eq(eddy_var_set(v, V(1), NULL), 0);
	cr_assert_eq(eddy_var_get(v, &out), 0);
	cr_assert_eq(out, V(1));
	eddy_var_free(v);
}

Test(ctx_var, null_value_is_a_value_not_unset)
{
	eddy_var *v = eddy_var_new_default("v", V(42));
	void *out = V(1);
	cr_assert_eq(eddy_var_set(v, NULL, NULL), 0);
	cr_assert_eq(eddy_var_get(v, &out), 0);
	cr_assert_null(out);
	cr_assert_null(eddy_var_get_or(v, V(5)));
	cr_assert_eq(eddy_ctx_get(eddy_ctx_current(), v, NULL), 0);
	eddy_var_free(v);
}

Test(ctx_var, get_or_returns_the_fallback_when_unset)
{
	eddy_var *v = eddy_var_new("v");
	cr_assert_eq(eddy_var_get_or(v, V(9)), V(9));
	cr_assert_null(eddy_var_get_or(v, NULL));
	eddy_var_free(v);
}

Test(ctx_var, get_or_fallback_wins_over_the_var_default)
{
	eddy_var *v = eddy_var_new_default("v", V(42));
	cr_assert_eq(eddy_var_get_or(v, V(9)), V(9));
	eddy_var_free(v);
}

Test(ctx_var, get_or_returns_the_set_value)
{
	eddy_var *v = eddy_var_new_default("v", V(42));
	cr_assert_eq(eddy_var_set(v, V(1), NULL), 0);
	cr_assert_eq(eddy_var_get_or(v, V(9)), V(1));
	eddy_var_free(v);
}

Test(ctx_var, null_arguments_are_einval)
{
	eddy_var *v = eddy_var_new("v");
	void *out;
	cr_assert_eq(eddy_var_get(NULL, &out), -EINVAL);
	cr_assert_eq(eddy_var_get(v, NULL), -EINVAL);
	cr_assert_eq(eddy_var_set(NULL, V(1), NULL), -EINVAL);
	cr_assert_eq(eddy_var_get_or(NULL, V(3)), V(3));
	cr_assert_null(eddy_var_name(NULL));
	eddy_var_free(v);
}

Test(ctx_var, free_of_null_var_is_harmless)
{
	eddy_var_free(NULL);
}

/*
 * The get cache holds CTX_CACHE_SLOTS entries per context, so 3 x that
 * many variables share slots.  A random walk of sets, resets and gets in
 * two contexts (one a copy of the other, entered in turn) checks every
 * get against a plain array: the cache must never answer with a value
 * another variable, an earlier set or the other context left behind.
 */
Test(ctx_var, get_cache_never_returns_a_stale_value)
{
	enum { NV = 24, STEPS = 20000 };
	eddy_var *vars[NV];
	void *model[2][NV] = { { 0 } }; /* NULL: unset */
	for (int i = 0; i < NV; i++)
		vars[i] = i % 2 ? eddy_var_new("odd") :
				  eddy_var_new_default("even", V(1000 + i));
	eddy_ctx *ctx[2] = { eddy_ctx_new(), NULL };
	cr_assert_eq(eddy_ctx_enter(ctx[0]), 0);
	for (int i = 0; i < NV; i += 3) {
		cr_assert_eq(eddy_var_set(vars[i], V(i + 1), NULL), 0);
		model[0][i] = V(i + 1);
	}
	void *out;
	cr_assert_eq(eddy_var_get(vars[0], &out), 0); /* warm the cache */
	cr_assert_eq(eddy_ctx_leave(ctx[0]), 0);
	ctx[1] = eddy_ctx_copy(ctx[0]);
	memcpy(model[1], model[0], sizeof model[0]);

	uint32_t seed = 12345;
	int c = 0;
	cr_assert_eq(eddy_ctx_enter(ctx[c]), 0);
	for (int step = 0; step < STEPS; step++) {
		uint32_t r = xorshift32(&seed);
		int i = (int)(r >> 8) % NV;
		switch (r % 8) {
		case 0: /* switch to the other context */
			cr_assert_eq(eddy_ctx_leave(ctx[c]), 0);
			c ^= 1;
			cr_assert_eq(eddy_ctx_enter(ctx[c]), 0);
			break;
		case 1:
		case 2: {
			void *val = V(step * 2 + 1);
			cr_assert_eq(eddy_var_set(vars[i], val, NULL), 0);
			model[c][i] = val;
			break;
		}
		case 3: { /* set and undo at once */
			eddy_token *tok;
			cr_assert_eq(eddy_var_set(vars[i], V(7), &tok), 0);
			cr_assert_eq(eddy_var_get(vars[i], &out), 0);
			cr_assert_eq(out, V(7), "step %d", step);
			cr_assert_eq(eddy_var_reset(vars[i], tok), 0);
			eddy_token_free(tok);
			break;
		}
		default: {
			int err = eddy_var_get(vars[i], &out);
			if (model[c][i]) {
				cr_assert_eq(err, 0, "step %d var %d", step, i);
				cr_assert_eq(out, model[c][i], "step %d var %d",
					     step, i);
			} else if (i % 2 == 0) {
				cr_assert_eq(err, 0, "step %d var %d", step, i);
				cr_assert_eq(out, V(1000 + i), "step %d", step);
			} else {
				cr_assert_eq(err, -ENOENT, "step %d var %d",
					     step, i);
			}
		}
		}
	}
	cr_assert_eq(eddy_ctx_leave(ctx[c]), 0);
	eddy_ctx_unref(ctx[0]);
	eddy_ctx_unref(ctx[1]);
	for (int i = 0; i < NV; i++)
		eddy_var_free(vars[i]);
}
