/*
 * Borrowed roots: a copy made by the thread that has its source current
 * shares the source's reference to the root instead of counting its own
 * (ctx/context.h, docs/ctx.md).  These tests follow the link through each
 * way it can end: the copy dropped here or in another thread, the source
 * changed or freed first, both changing at once in two threads, and they
 * check values and that every block comes back (eddy_alloc_live), since
 * a mistake here is a leak or a double free.  Also the per-thread spare
 * contexts.  make test runs this file under ThreadSanitizer too.
 */
#define _POSIX_C_SOURCE 200809L /* pthread barriers */
#include "check.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctx/alloc.h"
#include "ctx/context.h"
#include "eddy.h"
#include "pthread_join.h"
#include "xorshift.h"

EDDY_SUITE(ctx_borrow_threads);

#define V(n) ((void *)(uintptr_t)(n))

static eddy_var *a, *b;

/* A context holding a = 1, b = 2, entered: the lender of the tests. */
static eddy_ctx *entered_source(void)
{
	a = eddy_var_new("a");
	b = eddy_var_new("b");
	eddy_ctx *ctx = eddy_ctx_new();
	cr_assert_not_null(ctx);
	cr_assert_eq(eddy_ctx_enter(ctx), 0);
	cr_assert_eq(eddy_var_set(a, V(1), NULL), 0);
	cr_assert_eq(eddy_var_set(b, V(2), NULL), 0);
	return ctx;
}

static void done(eddy_ctx *ctx)
{
	if (ctx) {
		cr_assert_eq(eddy_ctx_leave(ctx), 0);
		eddy_ctx_unref(ctx);
	}
	eddy_var_free(a);
	eddy_var_free(b);
}

static void *value(const eddy_ctx *ctx, eddy_var *var)
{
	void *v = NULL;
	if (eddy_ctx_get(ctx, var, &v))
		return V(-1);
	return v;
}

static void *drop(void *ctx)
{
	eddy_ctx_unref(ctx);
	return NULL;
}

/* ---- the link, made and undone in one thread ------------------------- */

Test(ctx_borrow_threads, copy_of_the_current_context_borrows_its_root)
{
	eddy_ctx *src = entered_source();
	eddy_ctx *copy = eddy_ctx_copy_current();
	cr_assert_eq(copy->lender, src);
	cr_assert_eq(src->borrower, copy);
	cr_assert_eq(copy->map.root, src->map.root);
	cr_assert_eq(value(copy, a), V(1));
	cr_assert_eq(value(copy, b), V(2));
	eddy_ctx_unref(copy);
	done(src);
}

Test(ctx_borrow_threads, copy_dropped_here_unhooks_and_returns_its_block)
{
	eddy_ctx *src = entered_source();
	long live = eddy_alloc_live();
	eddy_ctx_unref(eddy_ctx_copy_current());
	cr_assert_null(src->borrower);
	cr_assert_null(src->map.root_release);
	cr_assert_eq(eddy_alloc_live(), live);
	eddy_ctx *again = eddy_ctx_copy_current();
	cr_assert_eq(src->borrower, again, "the slot is free for the next");
	eddy_ctx_unref(again);
	done(src);
}

Test(ctx_borrow_threads, copy_of_a_context_that_is_not_current_counts)
{
	eddy_ctx *src = entered_source();
	cr_assert_eq(eddy_ctx_leave(src), 0);
	eddy_ctx *copy = eddy_ctx_copy(src);
	cr_assert_null(copy->lender);
	cr_assert_null(src->borrower);
	cr_assert_eq(value(copy, a), V(1));
	eddy_ctx_unref(copy);
	eddy_ctx_unref(src);
	done(NULL);
}

Test(ctx_borrow_threads, second_copy_counts_while_the_first_borrows)
{
	eddy_ctx *src = entered_source();
	eddy_ctx *first = eddy_ctx_copy_current();
	eddy_ctx *second = eddy_ctx_copy_current();
	cr_assert_eq(src->borrower, first);
	cr_assert_null(second->lender);
	cr_assert_eq(value(second, b), V(2));
	eddy_ctx_unref(first);
	eddy_ctx_unref(second);
	done(src);
}

Test(ctx_borrow_threads, set_in_the_source_leaves_the_copy_its_values)
{
	eddy_ctx *src = entered_source();
	long live = eddy_alloc_live();
	eddy_ctx *copy = eddy_ctx_copy_current();
	cr_assert_eq(eddy_var_set(a, V(10), NULL), 0);
	cr_assert_null(src->borrower, "the source let go before changing");
	cr_assert_eq(value(copy, a), V(1));
	cr_assert_eq(value(src, a), V(10));
	eddy_ctx_unref(copy);
	cr_assert_eq(eddy_var_set(a, V(1), NULL), 0);
	cr_assert_eq(eddy_alloc_live(), live, "the old root went with the copy");
	done(src);
}

/* The source passed its root on to the copy: each kind of change copies
 * that root instead of changing or freeing it. */
Test(ctx_borrow_threads, new_var_in_the_source_stays_out_of_the_copy)
{
	eddy_ctx *src = entered_source();
	eddy_var *c = eddy_var_new("c");
	eddy_ctx *copy = eddy_ctx_copy_current();
	cr_assert_eq(eddy_var_set(c, V(3), NULL), 0);
	cr_assert_eq(value(src, c), V(3));
	cr_assert_eq(value(copy, c), V(-1));
	cr_assert_eq(eddy_ctx_len(copy), 2);
	cr_assert_eq(value(copy, a), V(1));
	eddy_ctx_unref(copy);
	done(src);
	eddy_var_free(c);
}

Test(ctx_borrow_threads, reset_in_the_source_leaves_the_copy_its_value)
{
	eddy_ctx *src = entered_source();
	eddy_var *c = eddy_var_new("c");
	eddy_token *tok;
	cr_assert_eq(eddy_var_set(c, V(3), &tok), 0);
	eddy_ctx *copy = eddy_ctx_copy_current();
	cr_assert_eq(eddy_var_reset(c, tok), 0);
	cr_assert_eq(value(src, c), V(-1));
	cr_assert_eq(value(copy, c), V(3));
	eddy_token_free(tok);
	eddy_ctx_unref(copy);
	done(src);
	eddy_var_free(c);
}

Test(ctx_borrow_threads, source_out_of_memory_keeps_the_root_for_both)
{
	eddy_ctx *src = entered_source();
	eddy_var *c = eddy_var_new("c");
	long live = eddy_alloc_live();
	eddy_ctx *copy = eddy_ctx_copy_current();
	eddy_alloc_fail_nth(1);
	cr_assert_eq(eddy_var_set(c, V(3), NULL), -ENOMEM);
	eddy_alloc_fail_nth(0);
	cr_assert_eq(eddy_alloc_live(), live + 1, "only the copy");
	cr_assert_eq(value(src, c), V(-1));
	cr_assert_eq(value(src, a), V(1));
	cr_assert_eq(eddy_var_set(a, V(4), NULL), 0, "and then succeeds");
	cr_assert_eq(value(copy, a), V(1));
	cr_assert_eq(value(src, a), V(4));
	eddy_ctx_unref(copy);
	cr_assert_eq(eddy_var_set(a, V(1), NULL), 0);
	cr_assert_eq(eddy_alloc_live(), live);
	done(src);
	eddy_var_free(c);
}

static void *set_a_to_20(void *arg)
{
	(void)arg;
	return V(eddy_var_set(a, V(20), NULL));
}

Test(ctx_borrow_threads, set_in_the_copy_leaves_the_source_its_values)
{
	eddy_ctx *src = entered_source();
	long live = eddy_alloc_live();
	eddy_ctx *copy = eddy_ctx_copy_current();
	void *err;
	cr_assert_eq(eddy_ctx_run(copy, set_a_to_20, NULL, &err), 0);
	cr_assert_null(err);
	cr_assert_eq(value(copy, a), V(20));
	cr_assert_eq(value(src, a), V(1));
	cr_assert_eq(value(copy, b), V(2));
	cr_assert_eq(eddy_var_set(b, V(30), NULL), 0, "after the copy detached");
	cr_assert_eq(value(copy, b), V(2));
	eddy_ctx_unref(copy);
	cr_assert_eq(eddy_var_set(b, V(2), NULL), 0);
	cr_assert_eq(eddy_alloc_live(), live);
	done(src);
}

static void *copy_current(void *arg)
{
	(void)arg;
	return eddy_ctx_copy_current();
}

Test(ctx_borrow_threads, source_freed_first_passes_its_root_to_the_copy)
{
	a = eddy_var_new("a");
	b = eddy_var_new("b");
	long live = eddy_alloc_live();
	eddy_ctx *src = eddy_ctx_new();
	cr_assert_eq(eddy_ctx_enter(src), 0);
	cr_assert_eq(eddy_var_set(a, V(1), NULL), 0);
	cr_assert_eq(eddy_ctx_leave(src), 0);
	eddy_ctx *copy;
	cr_assert_eq(eddy_ctx_run(src, copy_current, NULL, (void **)&copy), 0);
	cr_assert_eq(copy->lender, src);
	eddy_ctx_unref(src);
	cr_assert_eq(value(copy, a), V(1));
	cr_assert_eq(eddy_ctx_run(copy, set_a_to_20, NULL, NULL), 0);
	cr_assert_eq(value(copy, a), V(20));
	eddy_ctx_unref(copy);
	cr_assert_eq(eddy_alloc_live(), live);
	done(NULL);
}

Test(ctx_borrow_threads, copy_of_a_borrowing_copy_counts_its_root)
{
	eddy_ctx *src = entered_source();
	eddy_ctx *copy = eddy_ctx_copy_current();
	eddy_ctx *inner;
	cr_assert_eq(eddy_ctx_run(copy, copy_current, NULL, (void **)&inner), 0);
	cr_assert_null(inner->lender, "copy's root is not its own to lend");
	eddy_ctx_unref(copy);
	cr_assert_eq(value(inner, a), V(1));
	eddy_ctx_unref(inner);
	done(src);
}

Test(ctx_borrow_threads, merge_into_the_source_leaves_the_copy_its_values)
{
	eddy_ctx *src = entered_source();
	eddy_ctx *copy = eddy_ctx_copy_current();
	eddy_ctx *base = eddy_ctx_copy(src);
	eddy_ctx *work = eddy_ctx_copy(src);
	cr_assert_eq(eddy_ctx_run(work, set_a_to_20, NULL, NULL), 0);
	cr_assert_eq(eddy_ctx_merge(src, work, base), 1);
	cr_assert_eq(value(src, a), V(20));
	cr_assert_eq(value(copy, a), V(1));
	eddy_ctx_unref(work);
	eddy_ctx_unref(base);
	eddy_ctx_unref(copy);
	done(src);
}

/* ---- the link across threads ----------------------------------------- */

Test(ctx_borrow_threads, copy_dropped_elsewhere_waits_for_the_sources_set)
{
	eddy_ctx *src = entered_source();
	long live = eddy_alloc_live();
	eddy_ctx *copy = eddy_ctx_copy_current();
	finish(start(drop, copy));
	cr_assert_eq(eddy_alloc_live(), live + 1, "its block waits");
	cr_assert_eq(eddy_var_set(a, V(5), NULL), 0); /* in place */
	cr_assert_null(src->borrower);
	cr_assert_eq(eddy_alloc_live(), live);
	done(src);
}

Test(ctx_borrow_threads, copy_dropped_elsewhere_waits_for_the_next_copy)
{
	eddy_ctx *src = entered_source();
	long live = eddy_alloc_live();
	finish(start(drop, eddy_ctx_copy_current()));
	eddy_ctx *next = eddy_ctx_copy_current();
	cr_assert_eq(src->borrower, next, "the waiting block was freed");
	eddy_ctx_unref(next);
	cr_assert_eq(eddy_alloc_live(), live);
	done(src);
}

Test(ctx_borrow_threads, copy_dropped_elsewhere_is_freed_with_the_source)
{
	eddy_ctx *src = entered_source();
	cr_assert_eq(eddy_ctx_leave(src), 0);
	long live = eddy_alloc_live();
	eddy_ctx *copy;
	cr_assert_eq(eddy_ctx_run(src, copy_current, NULL, (void **)&copy), 0);
	finish(start(drop, copy));
	eddy_ctx_unref(src);
	cr_assert_eq(eddy_alloc_live(), live - 2, "source and copy");
	done(NULL);
}

static void *set_in_run(void *ctx)
{
	return V(eddy_ctx_run(ctx, set_a_to_20, NULL, NULL));
}

Test(ctx_borrow_threads, copy_changed_in_another_thread_keeps_its_values)
{
	eddy_ctx *src = entered_source();
	long live = eddy_alloc_live();
	eddy_ctx *copy = eddy_ctx_copy_current();
	cr_assert_null(finish(start(set_in_run, copy)));
	cr_assert_eq(value(copy, a), V(20));
	cr_assert_eq(value(src, a), V(1));
	finish(start(drop, copy));
	cr_assert_eq(eddy_var_set(a, V(1), NULL), 0);
	cr_assert_eq(eddy_alloc_live(), live);
	done(src);
}

/*
 * Both sides end the link at the same moment: the copy sets (or is
 * dropped) in a worker while this thread sets in the source (or frees
 * it).  Rounds meet at a barrier so that the two really overlap; under
 * ThreadSanitizer any unordered access is a report, and a lost or doubled
 * reference shows in the block count.
 */
#define ROUNDS 300

static pthread_barrier_t both;

struct worker {
	eddy_ctx *copy;
	int set;   /* set in the copy before dropping it */
	int err;   /* first failure seen */
};

static void *race_copy(void *arg)
{
	struct worker *w = arg;
	pthread_barrier_wait(&both);
	if (w->set) {
		int err = (int)(intptr_t)set_in_run(w->copy);
		if (!w->err)
			w->err = err;
		if (!w->err && value(w->copy, a) != V(20))
			w->err = -1;
	} else if (!w->err && value(w->copy, b) != V(2)) {
		w->err = -2;
	}
	eddy_ctx_unref(w->copy);
	return NULL;
}

static void race(int set_in_copy, int free_source)
{
	a = eddy_var_new("a");
	b = eddy_var_new("b");
	long live = eddy_alloc_live();
	struct worker w = { .set = set_in_copy };
	cr_assert_eq(pthread_barrier_init(&both, NULL, 2), 0);
	for (int i = 0; i < ROUNDS && !w.err; i++) {
		eddy_ctx *src = eddy_ctx_new();
		cr_assert_eq(eddy_ctx_enter(src), 0);
		cr_assert_eq(eddy_var_set(a, V(1), NULL), 0);
		cr_assert_eq(eddy_var_set(b, V(2), NULL), 0);
		w.copy = eddy_ctx_copy_current();
		cr_assert_eq(w.copy->lender, src);
		pthread_t t = start(race_copy, &w);
		pthread_barrier_wait(&both);
		if (free_source) {
			cr_assert_eq(eddy_ctx_leave(src), 0);
			eddy_ctx_unref(src);
			src = NULL;
		} else {
			cr_assert_eq(eddy_var_set(a, V(3), NULL), 0);
			cr_assert_eq(value(src, a), V(3));
		}
		/* reuse what the copy left (a spare now) before the join
		 * orders anything, so a late write by the worker shows */
		eddy_ctx_unref(eddy_ctx_new());
		finish(t);
		if (src) {
			cr_assert_eq(eddy_ctx_leave(src), 0);
			eddy_ctx_unref(src);
		}
		cr_assert_eq(eddy_alloc_live(), live, "round %d", i);
	}
	cr_assert_eq(w.err, 0, "the copy saw wrong values (%d)", w.err);
	pthread_barrier_destroy(&both);
	done(NULL);
}

Test(ctx_borrow_threads, source_sets_while_the_copy_sets_elsewhere)
{
	race(1, 0);
}

Test(ctx_borrow_threads, source_sets_while_the_copy_is_dropped_elsewhere)
{
	race(0, 0);
}

Test(ctx_borrow_threads, source_freed_while_the_copy_sets_elsewhere)
{
	race(1, 1);
}

Test(ctx_borrow_threads, source_freed_while_the_copy_is_dropped_elsewhere)
{
	race(0, 1);
}

/* ---- many links at once, against a model ---------------------------- */

/*
 * Random steps on a few contexts in one thread: entering one, copying the
 * entered one (a borrower) or another, sets and resets in the entered one,
 * merges, and drops in any order; every value is checked against a model,
 * through eddy_var_get (the cache) in the entered context and eddy_ctx_get
 * in all, and every block must come back at the end.  A seeded xorshift
 * makes each run the same; the failure message names the step.
 */
#define RSLOTS 6
#define RVARS 24
#define RTOKS 8
#define RSTEPS 60000

static eddy_var *rvar[RVARS];
static eddy_ctx *rslot[RSLOTS];
static void *rmodel[RSLOTS][RVARS]; /* NULL: unset */
static struct {
	eddy_token *tok;
	int k;
} rtok[RSLOTS][RTOKS];
static int rntok[RSLOTS];
static int rcur = -1; /* the entered slot */
static unsigned rstays[RVARS]; /* the variables' propagation, as STAY_ bits */
static unsigned rhide;         /* this thread's crossing */
static uint32_t rstate;
static long rstep;

static uint32_t rbelow(uint32_t n)
{
	return xorshift32(&rstate) % n;
}

#define RCHECK(cond, fmt, ...) cr_assert(cond, "step %ld: " fmt, rstep, ##__VA_ARGS__)

/* What eddy_var_get sees of var k: hidden behind this thread's crossing? */
static bool rvisible(int k)
{
	return !(rstays[k] & rhide);
}

static unsigned rcrossing(void)
{
	static const unsigned crossings[] = { EDDY_CROSS_NONE, EDDY_CROSS_TASK,
					      EDDY_CROSS_THREAD };
	return crossings[rbelow(3)];
}

static void rdrop(int j)
{
	for (int t = 0; t < rntok[j]; t++)
		eddy_token_free(rtok[j][t].tok);
	rntok[j] = 0;
	eddy_ctx_unref(rslot[j]);
	rslot[j] = NULL;
	memset(rmodel[j], 0, sizeof rmodel[j]);
}

/* Slot j takes ctx, a copy of slot from (or a new one, from < 0) that
 * left behind what stays at crossing. */
/* An armed allocation failure happened: the call must have failed with
 * -ENOMEM and kept no block of what it was making. */
static bool rfailed(int err, long live)
{
	if (!eddy_alloc_failed())
		return false;
	RCHECK(err == -ENOMEM, "a failed allocation answered %d", err);
	RCHECK(eddy_alloc_live() == live, "a failed call kept %ld blocks",
	       eddy_alloc_live() - live);
	return true;
}

static void rput(int j, eddy_ctx *ctx, int from, unsigned crossing)
{
	if (!ctx) { /* only when out of memory; j stays empty */
		RCHECK(eddy_alloc_failed() && errno == ENOMEM, "a copy failed");
		return;
	}
	RCHECK(!eddy_alloc_failed(), "a copy succeeded without an allocation");
	rslot[j] = ctx;
	if (from >= 0)
		for (int k = 0; k < RVARS; k++)
			rmodel[j][k] = rstays[k] & crossing ? NULL :
							      rmodel[from][k];
}

static void rcheck_slot(int j)
{
	size_t n = 0;
	unsigned stayers[2] = { 0, 0 };
	for (int k = 0; k < RVARS; k++) {
		void *v = NULL;
		int err = eddy_ctx_get(rslot[j], rvar[k], &v);
		RCHECK(err == (rmodel[j][k] ? 0 : -ENOENT) &&
			       (!rmodel[j][k] || v == rmodel[j][k]),
		       "slot %d var %d: %d %p, want %p", j, k, err, v,
		       rmodel[j][k]);
		if (j == rcur) {
			void *want = rvisible(k) ? rmodel[j][k] : NULL;
			err = eddy_var_get(rvar[k], &v);
			RCHECK(err == (want ? 0 : -ENOENT) && (!want || v == want),
			       "get of var %d in slot %d: %d %p, want %p", k,
			       j, err, v, want);
		}
		n += rmodel[j][k] != NULL;
		if (rmodel[j][k] && rstays[k])
			stayers[rstays[k] >> 1]++;
	}
	RCHECK(eddy_ctx_len(rslot[j]) == n, "slot %d len", j);
	RCHECK(rslot[j]->stayers[0] == stayers[0] &&
		       rslot[j]->stayers[1] == stayers[1],
	       "slot %d counts %u task-local and %u loop-only, maps %u, %u", j,
	       rslot[j]->stayers[0], rslot[j]->stayers[1], stayers[0],
	       stayers[1]);
}

static void rswitch(int i)
{
	if (rcur >= 0)
		RCHECK(eddy_ctx_leave(rslot[rcur]) == 0, "leave");
	rcur = -1;
	if (rslot[i]) {
		RCHECK(eddy_ctx_enter(rslot[i]) == 0, "enter");
		rcur = i;
	}
}

static void rset(int k)
{
	void *val = V(rstep * 2 + 1);
	eddy_token **want = rntok[rcur] < RTOKS && rbelow(2) ?
				    &rtok[rcur][rntok[rcur]].tok :
				    NULL;
	long live = eddy_alloc_live();
	int err = eddy_var_set(rvar[k], val, want);
	if (!rvisible(k)) {
		RCHECK(err == -EPERM, "set of hidden var %d: %d", k, err);
		return;
	}
	if (rfailed(err, live))
		return;
	RCHECK(err == 0, "set");
	if (want)
		rtok[rcur][rntok[rcur]++].k = k;
	rmodel[rcur][k] = val;
}

static void rreset(int t)
{
	eddy_token *tok = rtok[rcur][t].tok;
	int k = rtok[rcur][t].k;
	void *old = NULL;
	eddy_token_old_value(tok, &old);
	long live = eddy_alloc_live();
	int err = eddy_var_reset(rvar[k], tok);
	if (rfailed(err, live))
		return;
	RCHECK(err == 0 || err == -EALREADY || (err == -EPERM && !rvisible(k)),
	       "reset of var %d: %d", k, err);
	RCHECK(err || rvisible(k), "reset of hidden var %d", k);
	if (!err)
		rmodel[rcur][k] = old;
}

static void rmerge(int into, int from, int base, unsigned crossing)
{
	int want = 0;
	void *merged[RVARS];
	for (int k = 0; k < RVARS; k++) {
		merged[k] = rmodel[into][k];
		if (rmodel[from][k] == rmodel[base][k] || rstays[k] & crossing)
			continue;
		if (rmodel[from][k] || rmodel[into][k])
			want++;
		merged[k] = rmodel[from][k];
	}
	long live = eddy_alloc_live();
	int got = eddy_ctx_merge_crossing(rslot[into], rslot[from],
					  rslot[base], crossing);
	if (rfailed(got, live))
		return;
	RCHECK(got == want, "merge %d <- %d - %d: %d, want %d", into, from,
	       base, got, want);
	memcpy(rmodel[into], merged, sizeof merged);
}

/* One random step; with rules, also copies and merges across crossings
 * and this thread's crossing taken up and dropped. */
static void rstep_once(bool rules, bool nomem)
{
	int i = (int)rbelow(RSLOTS), j = (int)rbelow(RSLOTS);
	uint32_t r = rbelow(100);
	if (nomem && rbelow(4) == 0) /* the step's n-th allocation fails */
		eddy_alloc_fail_nth(1 + rbelow(3));
	if (r < 10) {
		rswitch(i);
	} else if (r < 25) { /* a copy of the entered one: it borrows */
		if (rcur >= 0 && j != rcur) {
			rdrop(j);
			rput(j, eddy_ctx_copy_current(), rcur, 0);
		}
	} else if (r < 30) {
		if (rslot[i] && j != rcur && j != i) {
			unsigned c = rules ? rcrossing() : 0;
			rdrop(j);
			rput(j, c ? eddy_ctx_copy_crossing(rslot[i], c) :
				    eddy_ctx_copy(rslot[i]),
			     i, c);
		}
	} else if (r < 33) {
		if (j != rcur) {
			rdrop(j);
			rput(j, eddy_ctx_new(), -1, 0);
		}
	} else if (r < 63) {
		if (rcur >= 0)
			rset((int)rbelow(RVARS));
	} else if (r < 75) {
		if (rcur >= 0 && rntok[rcur])
			rreset((int)rbelow((uint32_t)rntok[rcur]));
	} else if (r < 83) { /* into the entered one half of the time */
		int into = rcur >= 0 && rbelow(2) ? rcur : (int)rbelow(RSLOTS);
		if (rslot[into] && rslot[i] && rslot[j])
			rmerge(into, i, j,
			       rules ? rcrossing() : EDDY_CROSS_TASK);
	} else if (r < 85) {
		if (rules)
			eddy_ctx_set_crossing(rhide = rcrossing());
	} else if (r < 95) {
		if (j != rcur)
			rdrop(j);
	} else {
		for (int s = 0; s < RSLOTS; s++)
			if (rslot[s])
				rcheck_slot(s);
	}
	eddy_alloc_fail_nth(0);
}

/* Variables r0..r7 in two groups of full hash collisions; with rules,
 * r6, r7, r8..r11 task-local and r12..r15 loop-only. */
static void rrun(bool rules, bool nomem)
{
	for (int k = 0; k < RVARS; k++) {
		char name[16];
		snprintf(name, sizeof name, "r%d", k);
		enum eddy_propagate p = EDDY_PROPAGATE_INHERIT;
		if (rules && k >= 6 && k < 12)
			p = EDDY_PROPAGATE_TASK_LOCAL;
		else if (rules && k >= 12 && k < 16)
			p = EDDY_PROPAGATE_LOOP_ONLY;
		rvar[k] = eddy_var_new_opts(name,
					    &(eddy_var_opts){ .propagate = p });
		rstays[k] = rvar[k]->stays;
		if (k < 8)
			eddy_var_force_hash(rvar[k], 0x5a5a5a5au + (k & 1));
	}
	long live = eddy_alloc_live();
	const char *seed = getenv("EDDY_MODEL_SEED"); /* to replay another */
	rstate = seed ? (uint32_t)strtoul(seed, NULL, 0) : 0x6d2b79f5u;
	rstate += !rstate;
	for (rstep = 0; rstep < RSTEPS; rstep++)
		rstep_once(rules, nomem);
	for (int s = 0; s < RSLOTS; s++)
		if (rslot[s])
			rcheck_slot(s);
	eddy_ctx_set_crossing(rhide = EDDY_CROSS_NONE);
	if (rcur >= 0)
		RCHECK(eddy_ctx_leave(rslot[rcur]) == 0, "last leave");
	rcur = -1;
	for (int s = 0; s < RSLOTS; s++)
		rdrop(s);
	RCHECK(eddy_alloc_live() == live, "%ld blocks kept",
	       eddy_alloc_live() - live);
	for (int k = 0; k < RVARS; k++)
		eddy_var_free(rvar[k]);
}

Test(ctx_borrow_threads, random_copies_sets_merges_and_drops_match_a_model)
{
	rrun(false, false);
}

/* The same with task-local and loop-only variables: copies across a
 * crossing leave them out, merges across one leave them behind, a thread
 * behind a crossing sees them unset and may not set them, and each
 * context's counts of them stay right. */
Test(ctx_borrow_threads, random_crossings_and_hidden_variables_match_a_model)
{
	rrun(true, false);
}

/* The same again with a quarter of the steps failing one of their first
 * allocations: each failed call is -ENOMEM (NULL and ENOMEM for a copy),
 * changes nothing the model can see and keeps no block. */
Test(ctx_borrow_threads, random_steps_out_of_memory_change_nothing)
{
	rrun(true, true);
}

/* ---- spare contexts -------------------------------------------------- */

Test(ctx_borrow_threads, copy_from_a_spare_can_fail_and_counts_as_a_block)
{
	eddy_ctx *src = entered_source();
	eddy_ctx_unref(eddy_ctx_copy_current()); /* leaves a spare */
	long live = eddy_alloc_live();
	eddy_alloc_fail_nth(1);
	errno = 0;
	cr_assert_null(eddy_ctx_copy_current());
	cr_assert_eq(errno, ENOMEM);
	cr_assert(eddy_alloc_failed());
	eddy_alloc_fail_nth(0);
	eddy_ctx *copy = eddy_ctx_copy_current();
	cr_assert_eq(eddy_alloc_live(), live + 1);
	eddy_ctx_unref(copy);
	cr_assert_eq(eddy_alloc_live(), live);
	done(src);
}

static void *churn(void *arg)
{
	(void)arg;
	eddy_ctx *held[40];
	for (int i = 0; i < 40; i++)
		held[i] = eddy_ctx_copy_current();
	for (int i = 0; i < 40; i++)
		eddy_ctx_unref(held[i]);
	return NULL;
}

Test(ctx_borrow_threads, spares_go_back_when_their_thread_exits)
{
	a = eddy_var_new("a");
	b = eddy_var_new("b");
	long live = eddy_alloc_live();
	finish(start(churn, NULL));
	cr_assert_eq(eddy_alloc_live(), live);
	done(NULL); /* and LeakSanitizer checks the list was freed */
}
