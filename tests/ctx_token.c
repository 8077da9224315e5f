/*
 * Tokens: what a set remembers, and how reset uses and refuses them, as
 * CPython's test_context.py checks Token and ContextVar.reset.
 */
#include "check.h"

#include <stdint.h>

#include "ctx/alloc.h"
#include "eddy.h"

EDDY_SUITE(ctx_token);

#define V(n) ((void *)(uintptr_t)(n))

static eddy_var *var;

static void make_var(void)
{
	var = eddy_var_new("var");
	cr_assert_not_null(var);
}

static void free_var(void)
{
	eddy_var_free(var);
}

static int get(void **out)
{
	return eddy_var_get(var, out);
}

Test(ctx_token, token_names_its_var)
{
	make_var();
	eddy_token *tok;
	cr_assert_eq(eddy_var_set(var, V(1), &tok), 0);
	cr_assert_eq(eddy_token_var(tok), var);
	cr_assert_null(eddy_token_var(NULL));
	eddy_token_free(tok);
	free_var();
}

Test(ctx_token, old_value_of_first_set_is_enoent)
{
	make_var();
	eddy_token *tok;
	void *old = V(5);
	cr_assert_eq(eddy_var_set(var, V(1), &tok), 0);
	cr_assert_eq(eddy_token_old_value(tok, &old), -ENOENT);
	cr_assert_eq(old, V(5));
	eddy_token_free(tok);
	free_var();
}

Test(ctx_token, old_value_is_the_value_the_set_replaced)
{
	make_var();
	eddy_token *tok;
	void *old;
	cr_assert_eq(eddy_var_set(var, V(42), NULL), 0);
	cr_assert_eq(eddy_var_set(var, V(43), &tok), 0);
	cr_assert_eq(eddy_token_old_value(tok, &old), 0);
	cr_assert_eq(old, V(42));
	eddy_token_free(tok);
	free_var();
}

Test(ctx_token, old_value_ignores_the_var_default)
{
	eddy_var *d = eddy_var_new_default("d", V(42));
	eddy_token *tok;
	void *old;
	cr_assert_eq(eddy_var_set(d, V(1), &tok), 0);
	cr_assert_eq(eddy_token_old_value(tok, &old), -ENOENT);
	eddy_token_free(tok);
	eddy_var_free(d);
}

Test(ctx_token, old_value_with_null_arguments_is_einval)
{
	make_var();
	eddy_token *tok;
	void *old;
	cr_assert_eq(eddy_var_set(var, V(1), &tok), 0);
	cr_assert_eq(eddy_token_old_value(NULL, &old), -EINVAL);
	cr_assert_eq(eddy_token_old_value(tok, NULL), -EINVAL);
	eddy_token_free(tok);
	free_var();
}

Test(ctx_token, reset_restores_the_previous_value)
{
	make_var();
	eddy_token *tok;
	void *out;
	cr_assert_eq(eddy_var_set(var, V(42), NULL), 0);
	cr_assert_eq(eddy_var_set(var, V(43), &tok), 0);
	cr_assert_eq(eddy_var_reset(var, tok), 0);
	cr_assert_eq(get(&out), 0);
	cr_assert_eq(out, V(42));
	eddy_token_free(tok);
	free_var();
}

Test(ctx_token, reset_of_first_set_unsets_the_var)
{
	make_var();
	eddy_token *tok;
	void *out;
	cr_assert_eq(eddy_var_set(var, V(1), &tok), 0);
	cr_assert_eq(eddy_var_reset(var, tok), 0);
	cr_assert_eq(get(&out), -ENOENT);
	cr_assert_eq(eddy_ctx_get(eddy_ctx_current(), var, NULL), -ENOENT);
	cr_assert_eq(eddy_ctx_len(eddy_ctx_current()), 0);
	eddy_token_free(tok);
	free_var();
}

Test(ctx_token, reset_of_first_set_brings_back_the_default)
{
	eddy_var *d = eddy_var_new_default("d", V(42));
	eddy_token *tok;
	void *out;
	cr_assert_eq(eddy_var_set(d, V(1), &tok), 0);
	cr_assert_eq(eddy_var_reset(d, tok), 0);
	cr_assert_eq(eddy_var_get(d, &out), 0);
	cr_assert_eq(out, V(42));
	eddy_token_free(tok);
	eddy_var_free(d);
}

Test(ctx_token, reset_after_later_sets_restores_the_token_old_value)
{
	make_var();
	eddy_token *tok;
	void *out;
	cr_assert_eq(eddy_var_set(var, V(1), NULL), 0);
	cr_assert_eq(eddy_var_set(var, V(2), &tok), 0);
	cr_assert_eq(eddy_var_set(var, V(3), NULL), 0);
	cr_assert_eq(eddy_var_set(var, V(4), NULL), 0);
	cr_assert_eq(eddy_var_reset(var, tok), 0);
	cr_assert_eq(get(&out), 0);
	cr_assert_eq(out, V(1));
	eddy_token_free(tok);
	free_var();
}

Test(ctx_token, tokens_reset_out_of_order_restore_their_own_old_values)
{
	make_var();
	eddy_token *t1, *t2;
	void *out;
	cr_assert_eq(eddy_var_set(var, V(1), &t1), 0);
	cr_assert_eq(eddy_var_set(var, V(2), &t2), 0);
	cr_assert_eq(eddy_var_reset(var, t1), 0);
	cr_assert_eq(get(&out), -ENOENT);
	cr_assert_eq(eddy_var_reset(var, t2), 0);
	cr_assert_eq(get(&out), 0);
	cr_assert_eq(out, V(1));
	eddy_token_free(t1);
	eddy_token_free(t2);
	free_var();
}

Test(ctx_token, reset_with_used_token_is_ealready)
{
	make_var();
	eddy_token *tok;
	cr_assert_eq(eddy_var_set(var, V(1), &tok), 0);
	cr_assert_eq(eddy_var_reset(var, tok), 0);
	cr_assert_eq(eddy_var_reset(var, tok), -EALREADY);
	eddy_token_free(tok);
	free_var();
}

Test(ctx_token, refused_reset_leaves_the_value_alone)
{
	make_var();
	eddy_token *tok;
	void *out;
	cr_assert_eq(eddy_var_set(var, V(42), NULL), 0);
	cr_assert_eq(eddy_var_set(var, V(43), &tok), 0);
	cr_assert_eq(eddy_var_reset(var, tok), 0);
	cr_assert_eq(eddy_var_set(var, V(44), NULL), 0);
	cr_assert_eq(eddy_var_reset(var, tok), -EALREADY);
	cr_assert_eq(get(&out), 0);
	cr_assert_eq(out, V(44));
	eddy_token_free(tok);
	free_var();
}

Test(ctx_token, used_token_of_other_var_is_ealready_first)
{
	make_var();
	eddy_var *other = eddy_var_new("other");
	eddy_token *tok;
	cr_assert_eq(eddy_var_set(var, V(1), &tok), 0);
	cr_assert_eq(eddy_var_reset(var, tok), 0);
	cr_assert_eq(eddy_var_reset(other, tok), -EALREADY);
	eddy_token_free(tok);
	eddy_var_free(other);
	free_var();
}

Test(ctx_token, reset_with_token_of_other_var_is_einval)
{
	make_var();
	eddy_var *other = eddy_var_new("other");
	eddy_token *tok;
	void *out;
	cr_assert_eq(eddy_var_set(var, V(1), &tok), 0);
	cr_assert_eq(eddy_var_set(other, V(2), NULL), 0);
	cr_assert_eq(eddy_var_reset(other, tok), -EINVAL);
	cr_assert_eq(eddy_var_get(other, &out), 0);
	cr_assert_eq(out, V(2));
	/* the refusal did not use the token up */
	cr_assert_eq(eddy_var_reset(var, tok), 0);
	eddy_token_free(tok);
	eddy_var_free(other);
	free_var();
}

Test(ctx_token, reset_with_null_token_is_einval)
{
	make_var();
	cr_assert_eq(eddy_var_reset(var, NULL), -EINVAL);
	free_var();
}

Test(ctx_token, reset_with_token_and_null_var_is_einval)
{
	make_var();
	eddy_token *tok;
	cr_assert_eq(eddy_var_set(var, V(1), &tok), 0);
	cr_assert_eq(eddy_var_reset(NULL, tok), -EINVAL);
	eddy_token_free(tok);
	free_var();
}

static void *set_with_token(void *arg)
{
	eddy_token *tok = NULL;
	cr_assert_eq(eddy_var_set(var, arg, &tok), 0);
	return tok;
}

Test(ctx_token, reset_with_token_from_other_context_is_einval)
{
	make_var();
	eddy_ctx *ctx = eddy_ctx_new();
	void *tok, *out;
	cr_assert_eq(eddy_ctx_run(ctx, set_with_token, V(1), &tok), 0);
	cr_assert_eq(eddy_var_reset(var, tok), -EINVAL);
	cr_assert_eq(eddy_ctx_get(ctx, var, &out), 0);
	cr_assert_eq(out, V(1));
	eddy_token_free(tok);
	eddy_ctx_unref(ctx);
	free_var();
}

Test(ctx_token, reset_with_token_from_the_original_of_a_copy_is_einval)
{
	make_var();
	eddy_token *tok;
	cr_assert_eq(eddy_var_set(var, V(1), &tok), 0);
	eddy_ctx *copy = eddy_ctx_copy_current();
	cr_assert_eq(eddy_ctx_enter(copy), 0);
	cr_assert_eq(eddy_var_reset(var, tok), -EINVAL);
	cr_assert_eq(eddy_ctx_leave(copy), 0);
	cr_assert_eq(eddy_var_reset(var, tok), 0);
	eddy_token_free(tok);
	eddy_ctx_unref(copy);
	free_var();
}

static void *reset_token(void *tok)
{
	return (void *)(intptr_t)eddy_var_reset(var, tok);
}

Test(ctx_token, reset_works_when_the_token_context_is_entered_again)
{
	make_var();
	eddy_ctx *ctx = eddy_ctx_new();
	void *tok, *err;
	cr_assert_eq(eddy_ctx_run(ctx, set_with_token, V(1), &tok), 0);
	cr_assert_eq(eddy_ctx_run(ctx, reset_token, tok, &err), 0);
	cr_assert_eq((intptr_t)err, 0);
	cr_assert_eq(eddy_ctx_len(ctx), 0);
	eddy_token_free(tok);
	eddy_ctx_unref(ctx);
	free_var();
}

Test(ctx_token, token_keeps_its_context_alive)
{
	make_var();
	long live = eddy_alloc_live();
	eddy_ctx *ctx = eddy_ctx_new();
	void *tok;
	cr_assert_eq(eddy_ctx_run(ctx, set_with_token, V(1), &tok), 0);
	eddy_ctx_unref(ctx);
	cr_assert_gt(eddy_alloc_live(), live);
	cr_assert_eq(eddy_token_old_value(tok, &(void *){ 0 }), -ENOENT);
	eddy_token_free(tok);
	cr_assert_eq(eddy_alloc_live(), live);
	eddy_token_free(NULL);
	free_var();
}
