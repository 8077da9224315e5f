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
#include <stdint.h>

#include "ctx/alloc.h"
#include "ctx/context.h"
#include "eddy.h"
#include "pthread_join.h"

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
