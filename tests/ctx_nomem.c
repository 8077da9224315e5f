/*
 * Running out of memory, tested the way SQLite tests it: for N = 1, 2,
 * 3, ... the N-th allocation of an operation fails, until the operation
 * gets through without meeting the failure.  Every failing attempt must
 * return -ENOMEM (or NULL with errno ENOMEM), leave every context holding
 * exactly what it held, and leave eddy_alloc_live() where it was.
 */
#include "check.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctx/alloc.h"
#include "ctx/var.h"
#include "eddy.h"

EDDY_SUITE(ctx_nomem);

#define V(n) ((void *)(uintptr_t)(n))

#define MAXVARS 1100
#define MAXCTX 3
#define BIG 1000

/*
 * The contexts under test and what each must hold: want[c][i] is the value
 * of vars[i] in ctx[c], NULL when unset (tests never store NULL).  A
 * variable's name is its index, so a pair found by iteration is checked
 * in O(1).
 */
static struct {
	eddy_var *vars[MAXVARS];
	int nvars;
	eddy_ctx *ctx[MAXCTX];
	int nctx;
	void *want[MAXCTX][MAXVARS];
} w;

static int new_var(void)
{
	char name[16];
	snprintf(name, sizeof name, "%d", w.nvars);
	eddy_var *v = eddy_var_new(name);
	cr_assert_not_null(v);
	w.vars[w.nvars] = v;
	return w.nvars++;
}

static int new_ctx(void)
{
	w.ctx[w.nctx] = eddy_ctx_new();
	cr_assert_not_null(w.ctx[w.nctx]);
	return w.nctx++;
}

/* A context that is a copy of ctx c; its expectations too. */
static int copy_ctx(int c)
{
	w.ctx[w.nctx] = eddy_ctx_copy(w.ctx[c]);
	cr_assert_not_null(w.ctx[w.nctx]);
	memcpy(w.want[w.nctx], w.want[c], sizeof w.want[c]);
	return w.nctx++;
}

/* Sets vars[i] = val in ctx c, and expects it. */
static void set_in(int c, int i, void *val)
{
	cr_assert_eq(eddy_ctx_enter(w.ctx[c]), 0);
	cr_assert_eq(eddy_var_set(w.vars[i], val, NULL), 0);
	cr_assert_eq(eddy_ctx_leave(w.ctx[c]), 0);
	w.want[c][i] = val;
}

/* A context with vars 0..n-1 set to 1..n. */
static int big_ctx(int n)
{
	int c = new_ctx();
	while (w.nvars < n)
		new_var();
	for (int i = 0; i < n; i++)
		set_in(c, i, V(i + 1));
	return c;
}

static void free_world(void)
{
	for (int c = 0; c < w.nctx; c++)
		eddy_ctx_unref(w.ctx[c]);
	for (int i = 0; i < w.nvars; i++)
		eddy_var_free(w.vars[i]);
}

/* Every context holds exactly what w.want says, by iteration, get and len. */
static void expect_contexts(long attempt)
{
	for (int c = 0; c < w.nctx; c++) {
		static char seen[MAXVARS];
		size_t want_len = 0;
		memset(seen, 0, sizeof seen);
		for (int i = 0; i < w.nvars; i++) {
			void *val = NULL;
			int err = eddy_ctx_get(w.ctx[c], w.vars[i], &val);
			want_len += w.want[c][i] != NULL;
			if (w.want[c][i])
				cr_assert(err == 0 && val == w.want[c][i],
					  "attempt %ld: ctx %d var %d lost its "
					  "value", attempt, c, i);
			else
				cr_assert_eq(err, -ENOENT,
					     "attempt %ld: ctx %d gained %d",
					     attempt, c, i);
		}
		cr_assert_eq(eddy_ctx_len(w.ctx[c]), want_len,
			     "attempt %ld: ctx %d len", attempt, c);

		eddy_ctx_iter it;
		eddy_var *var;
		void *val;
		size_t pairs = 0;
		eddy_ctx_iter_begin(&it, w.ctx[c]);
		while (eddy_ctx_iter_next(&it, &var, &val)) {
			int i = atoi(eddy_var_name(var));
			cr_assert(i >= 0 && i < w.nvars && w.vars[i] == var,
				  "attempt %ld: ctx %d yields a stranger",
				  attempt, c);
			cr_assert_eq(seen[i]++, 0, "attempt %ld: var %d twice",
				     attempt, i);
			cr_assert_eq(val, w.want[c][i],
				     "attempt %ld: ctx %d var %d", attempt, c,
				     i);
			pairs++;
		}
		cr_assert_eq(pairs, want_len, "attempt %ld: ctx %d pairs",
			     attempt, c);
	}
}

/* An operation under test: 0, or a negative errno. */
typedef int (*operation)(void *arg);

/*
 * Runs op with its 1st, 2nd, ... allocation failing until it succeeds
 * without the failure happening.  Returns how many allocations it made on
 * the way to success (attempts - 1).
 */
static long fail_each_allocation(operation op, void *arg)
{
	for (long n = 1;; n++) {
		long live = eddy_alloc_live();
		eddy_alloc_fail_nth(n);
		int err = op(arg);
		int failed = eddy_alloc_failed();
		eddy_alloc_fail_nth(0);
		if (!failed) {
			cr_assert_eq(err, 0, "attempt %ld: %s", n,
				     eddy_strerror(err));
			return n - 1;
		}
		cr_assert_eq(err, -ENOMEM,
			     "attempt %ld: allocation failed, yet the result "
			     "is %d", n, err);
		cr_assert_eq(eddy_alloc_live(), live,
			     "attempt %ld: %ld blocks more after the failure",
			     n, eddy_alloc_live() - live);
		expect_contexts(n);
	}
}

/* A constructor's NULL with errno ENOMEM as -ENOMEM. */
static int from_errno(const void *made)
{
	if (made)
		return 0;
	cr_assert_eq(errno, ENOMEM, "NULL with errno %d", errno);
	return -ENOMEM;
}

/* ---- operations ------------------------------------------------------ */

struct set_args {
	int ctx, var;
	void *val;
	eddy_token *tok; /* receives the token when want_token */
	int want_token;
};

static int op_set(void *arg)
{
	struct set_args *a = arg;
	eddy_token *sentinel = (eddy_token *)&a->tok;
	eddy_token *tok = sentinel;
	cr_assert_eq(eddy_ctx_enter(w.ctx[a->ctx]), 0);
	int err = eddy_var_set(w.vars[a->var], a->val,
			       a->want_token ? &tok : NULL);
	cr_assert_eq(eddy_ctx_leave(w.ctx[a->ctx]), 0);
	if (err)
		cr_assert_eq(tok, sentinel, "a failed set wrote *tok");
	else if (a->want_token)
		a->tok = tok;
	return err;
}

/* Sets, counting allocations, then expects the new value. */
static long set_fails_cleanly(struct set_args *a)
{
	long allocs = fail_each_allocation(op_set, a);
	w.want[a->ctx][a->var] = a->val;
	expect_contexts(0);
	return allocs;
}

struct reset_args {
	int ctx, var;
	eddy_token *tok;
};

static int op_reset(void *arg)
{
	struct reset_args *a = arg;
	cr_assert_eq(eddy_ctx_enter(w.ctx[a->ctx]), 0);
	int err = eddy_var_reset(w.vars[a->var], a->tok);
	cr_assert_eq(eddy_ctx_leave(w.ctx[a->ctx]), 0);
	return err;
}

/* A token for a set of var in ctx c to val, to reset later. */
static eddy_token *set_with_token(int c, int var, void *val)
{
	struct set_args a = { c, var, val, NULL, 1 };
	cr_assert_eq(op_set(&a), 0);
	w.want[c][var] = val;
	return a.tok;
}

/* The hash of the var that sits next to another at the deepest level:
 * equal in the low `bits` bits, different above. */
static uint32_t near_hash(int var, int bits)
{
	return w.vars[var]->hash ^ (1u << bits);
}

/* ---- variables and contexts ------------------------------------------ */

static int op_var_new(void *out)
{
	eddy_var *v = eddy_var_new("made");
	*(eddy_var **)out = v;
	return from_errno(v);
}

static int op_var_new_default(void *out)
{
	eddy_var *v = eddy_var_new_default("made", V(1));
	*(eddy_var **)out = v;
	return from_errno(v);
}

Test(ctx_nomem, var_creation_fails_cleanly)
{
	eddy_var *v;
	cr_assert_eq(fail_each_allocation(op_var_new, &v), 1);
	cr_assert_str_eq(eddy_var_name(v), "made");
	eddy_var_free(v);
	cr_assert_eq(fail_each_allocation(op_var_new_default, &v), 1);
	cr_assert_eq(eddy_var_get_or(v, NULL), NULL);
	eddy_var_free(v);
}

static int op_ctx_new(void *out)
{
	eddy_ctx *ctx = eddy_ctx_new();
	*(eddy_ctx **)out = ctx;
	return from_errno(ctx);
}

Test(ctx_nomem, ctx_new_fails_cleanly)
{
	eddy_ctx *ctx;
	cr_assert_eq(fail_each_allocation(op_ctx_new, &ctx), 1);
	cr_assert_eq(eddy_ctx_len(ctx), 0);
	eddy_ctx_unref(ctx);
}

struct copy_args {
	int from;
	eddy_ctx *made;
};

static int op_copy(void *arg)
{
	struct copy_args *a = arg;
	a->made = eddy_ctx_copy(w.ctx[a->from]);
	return from_errno(a->made);
}

static int op_copy_current(void *arg)
{
	struct copy_args *a = arg;
	cr_assert_eq(eddy_ctx_enter(w.ctx[a->from]), 0);
	a->made = eddy_ctx_copy_current();
	cr_assert_eq(eddy_ctx_leave(w.ctx[a->from]), 0);
	return from_errno(a->made);
}

/* Makes a->made one of the world's contexts, expected to equal `from`. */
static void adopt_copy(struct copy_args *a)
{
	w.ctx[w.nctx] = a->made;
	memcpy(w.want[w.nctx], w.want[a->from], sizeof w.want[0]);
	w.nctx++;
	expect_contexts(0);
}

Test(ctx_nomem, copy_fails_cleanly)
{
	struct copy_args a = { big_ctx(BIG), NULL };
	cr_assert_eq(fail_each_allocation(op_copy, &a), 1);
	adopt_copy(&a);
	free_world();
}

Test(ctx_nomem, copy_current_fails_cleanly)
{
	struct copy_args a = { big_ctx(BIG), NULL };
	cr_assert_eq(fail_each_allocation(op_copy_current, &a), 1);
	adopt_copy(&a);
	free_world();
}

Test(ctx_nomem, first_use_of_the_base_context_fails_cleanly)
{
	eddy_var *v = eddy_var_new("v");
	long live = eddy_alloc_live();
	eddy_alloc_fail_nth(1);
	errno = 0;
	cr_assert_null(eddy_ctx_current());
	cr_assert_eq(errno, ENOMEM);
	eddy_alloc_fail_nth(1);
	cr_assert_eq(eddy_var_set(v, V(1), NULL), -ENOMEM);
	eddy_alloc_fail_nth(0);
	cr_assert_eq(eddy_alloc_live(), live);
	cr_assert_eq(eddy_var_set(v, V(1), NULL), 0);
	cr_assert_eq(eddy_var_get_or(v, NULL), V(1));
	eddy_var_free(v);
}

/* ---- set ------------------------------------------------------------- */

Test(ctx_nomem, set_of_a_new_var_fails_cleanly)
{
	int c = big_ctx(20);
	struct set_args a = { c, new_var(), V(7), NULL, 0 };
	cr_assert_geq(set_fails_cleanly(&a), 1);
	free_world();
}

Test(ctx_nomem, set_with_token_fails_cleanly)
{
	int c = big_ctx(20);
	struct set_args a = { c, new_var(), V(7), NULL, 1 };
	cr_assert_geq(set_fails_cleanly(&a), 2, "a token and a node");
	void *old;
	cr_assert_eq(eddy_token_old_value(a.tok, &old), -ENOENT);
	eddy_token_free(a.tok);

	struct set_args b = { c, 3, V(8), NULL, 1 };
	cr_assert_geq(set_fails_cleanly(&b), 1, "a token");
	cr_assert_eq(eddy_token_old_value(b.tok, &old), 0);
	cr_assert_eq(old, V(4));
	eddy_token_free(b.tok);
	free_world();
}

Test(ctx_nomem, set_of_the_first_var_in_an_empty_context_fails_cleanly)
{
	int c = new_ctx();
	struct set_args a = { c, new_var(), V(7), NULL, 1 };
	cr_assert_geq(set_fails_cleanly(&a), 2);
	eddy_token_free(a.tok);
	free_world();
}

Test(ctx_nomem, set_that_splits_nodes_in_a_big_context_fails_cleanly)
{
	int c = big_ctx(BIG);
	int v = new_var();
	/* shares 25 low bits with var 17: a chain of nodes down to level 5 */
	eddy_var_force_hash(w.vars[v], near_hash(17, 25));
	struct set_args a = { c, v, V(7), NULL, 0 };
	cr_assert_geq(set_fails_cleanly(&a), 3);
	free_world();
}

Test(ctx_nomem, set_that_makes_a_collision_node_fails_cleanly)
{
	int c = big_ctx(BIG);
	int v = new_var(), u = new_var();
	eddy_var_force_hash(w.vars[v], w.vars[17]->hash);
	eddy_var_force_hash(w.vars[u], w.vars[17]->hash);
	struct set_args a = { c, v, V(7), NULL, 0 };
	cr_assert_geq(set_fails_cleanly(&a), 1);
	struct set_args b = { c, u, V(8), NULL, 0 }; /* grows the collision */
	cr_assert_geq(set_fails_cleanly(&b), 1);
	free_world();
}

Test(ctx_nomem, set_beside_a_collision_node_fails_cleanly)
{
	int c = big_ctx(BIG);
	int v = new_var(), u = new_var();
	eddy_var_force_hash(w.vars[v], w.vars[17]->hash);
	eddy_var_force_hash(w.vars[u], near_hash(17, 20));
	set_in(c, v, V(7));
	struct set_args a = { c, u, V(8), NULL, 0 };
	cr_assert_geq(set_fails_cleanly(&a), 2);
	free_world();
}

Test(ctx_nomem, set_of_a_new_var_in_a_copied_context_fails_cleanly)
{
	int orig = big_ctx(BIG);
	int c = copy_ctx(orig);
	int v = new_var();
	eddy_var_force_hash(w.vars[v], near_hash(17, 15));
	struct set_args a = { c, v, V(7), NULL, 1 };
	/* path copies down to var 17, then the new nodes */
	cr_assert_geq(set_fails_cleanly(&a), 4);
	eddy_token_free(a.tok);
	free_world();
}

Test(ctx_nomem, overwrite_in_a_copied_context_fails_cleanly)
{
	int orig = big_ctx(BIG);
	int c = copy_ctx(orig);
	struct set_args a = { c, 17, V(7), NULL, 0 };
	cr_assert_geq(set_fails_cleanly(&a), 2, "a path of copies");
	/* the copied path is this version's own now: no allocation */
	struct set_args b = { c, 17, V(8), NULL, 0 };
	cr_assert_eq(set_fails_cleanly(&b), 0);
	free_world();
}

/* ---- reset ----------------------------------------------------------- */

/* Resets tok's set in ctx c, expecting var to become `back` (NULL: unset). */
static long reset_fails_cleanly(int c, int var, eddy_token *tok, void *back)
{
	struct reset_args a = { c, var, tok };
	long allocs = fail_each_allocation(op_reset, &a);
	w.want[c][var] = back;
	expect_contexts(0);
	cr_assert_eq(op_reset(&a), -EALREADY);
	eddy_token_free(tok);
	return allocs;
}

Test(ctx_nomem, reset_to_the_old_value_fails_cleanly)
{
	int c = big_ctx(BIG);
	eddy_token *tok = set_with_token(c, 17, V(-1));
	copy_ctx(c); /* the reset must copy the path it changes */
	cr_assert_geq(reset_fails_cleanly(c, 17, tok, V(18)), 2);
	free_world();
}

Test(ctx_nomem, reset_to_unset_fails_cleanly)
{
	int c = big_ctx(BIG);
	int v = new_var();
	eddy_token *tok = set_with_token(c, v, V(-1));
	cr_assert_geq(reset_fails_cleanly(c, v, tok, NULL), 1);
	free_world();
}

Test(ctx_nomem, reset_to_unset_folding_a_shared_path_fails_cleanly)
{
	int c = big_ctx(BIG);
	int v = new_var();
	/* deep beside var 17, so that deleting it folds var 17 back up */
	eddy_var_force_hash(w.vars[v], near_hash(17, 25));
	eddy_token *tok = set_with_token(c, v, V(-1));
	copy_ctx(c);
	cr_assert_geq(reset_fails_cleanly(c, v, tok, NULL), 2);
	free_world();
}

Test(ctx_nomem, reset_to_unset_inside_a_collision_node_fails_cleanly)
{
	int c = big_ctx(BIG);
	int v = new_var(), u = new_var();
	eddy_var_force_hash(w.vars[v], w.vars[17]->hash);
	eddy_var_force_hash(w.vars[u], w.vars[17]->hash);
	set_in(c, u, V(5));
	eddy_token *tok = set_with_token(c, v, V(-1));
	copy_ctx(c);
	cr_assert_geq(reset_fails_cleanly(c, v, tok, NULL), 2);
	free_world();
}

/* ---- run ------------------------------------------------------------- */

struct run_args {
	int ctx, var;
	eddy_token *tok;
};

static void *set_inside_run(void *arg)
{
	struct run_args *a = arg;
	return V(eddy_var_set(w.vars[a->var], V(9), &a->tok));
}

static int op_run(void *arg)
{
	struct run_args *a = arg;
	eddy_ctx *before = eddy_ctx_current();
	void *result;
	cr_assert_eq(eddy_ctx_run(w.ctx[a->ctx], set_inside_run, a, &result),
		     0);
	cr_assert_eq(eddy_ctx_current(), before, "run restores the current");
	/* whatever fn returned, ctx is no longer entered */
	cr_assert_eq(eddy_ctx_enter(w.ctx[a->ctx]), 0);
	cr_assert_eq(eddy_ctx_leave(w.ctx[a->ctx]), 0);
	return (int)(intptr_t)result;
}

Test(ctx_nomem, run_of_a_failing_set_fails_cleanly)
{
	eddy_ctx_current(); /* the base context exists before the count */
	int c = big_ctx(BIG);
	int v = new_var();
	copy_ctx(c);
	struct run_args a = { c, v, NULL };
	cr_assert_geq(fail_each_allocation(op_run, &a), 2);
	w.want[c][v] = V(9);
	expect_contexts(0);
	eddy_token_free(a.tok);
	free_world();
}
