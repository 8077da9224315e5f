/*
 * Contexts and variables across OS threads: each thread's base context,
 * "already entered" from another thread, contexts made in one thread and
 * copied or run in another, and several threads hammering the same
 * variables.  make test runs this file under ThreadSanitizer too.
 *
 * Criterion's assertions belong to the test's main thread, so worker
 * threads record what they saw and the main thread asserts on it.
 * Threads meet at barriers; nothing sleeps.
 */
#define _POSIX_C_SOURCE 200809L /* pthread barriers */
#include "check.h"

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "ctx/alloc.h"
#include "ctx/var.h"
#include "eddy.h"
#include "pthread_join.h"

EDDY_SUITE(ctx_threads);

#define V(n) ((void *)(uintptr_t)(n))

/* ---- one context, two threads ------------------------------------- */

static pthread_barrier_t pair;
static eddy_var *var;

static void *wait_twice(void *arg)
{
	pthread_barrier_wait(&pair); /* entered */
	pthread_barrier_wait(&pair); /* the other thread has tried */
	return arg;
}

static void *run_and_hold(void *ctx)
{
	return V(eddy_ctx_run(ctx, wait_twice, NULL, NULL));
}

static void *do_nothing(void *arg)
{
	return arg;
}

Test(ctx_threads, run_of_a_context_entered_by_another_thread_is_ebusy)
{
	eddy_ctx *ctx = eddy_ctx_new();
	pthread_barrier_init(&pair, NULL, 2);
	pthread_t t = start(run_and_hold, ctx);
	pthread_barrier_wait(&pair);
	int run = eddy_ctx_run(ctx, do_nothing, NULL, NULL);
	int enter = eddy_ctx_enter(ctx);
	int claim = eddy_ctx_claim(ctx);
	pthread_barrier_wait(&pair);
	cr_assert_eq((intptr_t)finish(t), 0);
	cr_assert_eq(run, -EBUSY);
	cr_assert_eq(enter, -EBUSY);
	cr_assert_eq(claim, -EBUSY);
	/* left by the other thread: free for this one */
	cr_assert_eq(eddy_ctx_run(ctx, do_nothing, NULL, NULL), 0);
	pthread_barrier_destroy(&pair);
	eddy_ctx_unref(ctx);
}

static void *try_leave(void *ctx)
{
	return V(eddy_ctx_leave(ctx));
}

Test(ctx_threads, leave_from_another_thread_is_einval)
{
	eddy_ctx *ctx = eddy_ctx_new();
	cr_assert_eq(eddy_ctx_enter(ctx), 0);
	cr_assert_eq((intptr_t)finish(start(try_leave, ctx)), -EINVAL);
	cr_assert_eq(eddy_ctx_current(), ctx);
	cr_assert_eq(eddy_ctx_leave(ctx), 0);
	eddy_ctx_unref(ctx);
}

struct base_report {
	eddy_ctx *base;
	int get_before;
	void *got_after;
};

static void *use_own_base(void *arg)
{
	struct base_report *r = arg;
	void *out;
	r->base = eddy_ctx_current();
	r->get_before = eddy_var_get(var, &out);
	eddy_var_set(var, V(2), NULL);
	r->got_after = eddy_var_get_or(var, NULL);
	return NULL;
}

Test(ctx_threads, each_thread_gets_its_own_empty_base_context)
{
	var = eddy_var_new("v");
	cr_assert_eq(eddy_var_set(var, V(1), NULL), 0);
	struct base_report r;
	finish(start(use_own_base, &r));
	cr_assert_neq(r.base, eddy_ctx_current());
	cr_assert_eq(r.get_before, -ENOENT, "a new thread starts empty");
	cr_assert_eq(r.got_after, V(2));
	cr_assert_eq(eddy_var_get_or(var, NULL), V(1));
	eddy_var_free(var);
}

Test(ctx_threads, base_context_is_freed_when_its_thread_exits)
{
	var = eddy_var_new("v");
	long live = eddy_alloc_live();
	struct base_report r;
	finish(start(use_own_base, &r));
	cr_assert_eq(eddy_alloc_live(), live);
	eddy_var_free(var);
}

static void *set_with_token(void *arg)
{
	eddy_token *tok = NULL;
	eddy_var_set(var, arg, &tok);
	return tok;
}

Test(ctx_threads, token_outlives_the_thread_it_was_made_in)
{
	var = eddy_var_new("v");
	long live = eddy_alloc_live();
	eddy_token *tok = finish(start(set_with_token, V(5)));
	cr_assert_not_null(tok);
	void *old;
	cr_assert_eq(eddy_token_old_value(tok, &old), -ENOENT);
	cr_assert_eq(eddy_token_var(tok), var);
	cr_assert_eq(eddy_var_reset(var, tok), -EINVAL,
		     "made in the other thread's base context");
	eddy_token_free(tok);
	cr_assert_eq(eddy_alloc_live(), live);
	eddy_var_free(var);
}

static void *set_7(void *arg)
{
	(void)arg;
	return V(eddy_var_set(var, V(7), NULL));
}

static void *set_in_run(void *ctx)
{
	void *err = V(1);
	int run = eddy_ctx_run(ctx, set_7, NULL, &err);
	return run ? V(run) : err;
}

static void *get_var(void *arg)
{
	(void)arg;
	return eddy_var_get_or(var, NULL);
}

Test(ctx_threads, context_left_by_one_thread_runs_in_another)
{
	var = eddy_var_new("v");
	eddy_ctx *ctx = eddy_ctx_new();
	void *got;
	/* warm this thread's view of ctx, then let another thread change it */
	cr_assert_eq(eddy_ctx_run(ctx, get_var, NULL, &got), 0);
	cr_assert_null(got);
	eddy_token *tok = NULL;
	cr_assert_eq(eddy_ctx_run(ctx, set_with_token, V(6), (void **)&tok), 0);
	cr_assert_eq((intptr_t)finish(start(set_in_run, ctx)), 0);
	cr_assert_eq(eddy_ctx_run(ctx, get_var, NULL, &got), 0);
	cr_assert_eq(got, V(7));
	eddy_ctx *copy = eddy_ctx_copy(ctx);
	cr_assert_eq((intptr_t)finish(start(set_in_run, copy)), 0);
	cr_assert_eq(eddy_ctx_run(copy, get_var, NULL, &got), 0);
	cr_assert_eq(got, V(7));
	eddy_token_free(tok);
	eddy_ctx_unref(copy);
	eddy_ctx_unref(ctx);
	eddy_var_free(var);
}

/*
 * A context this thread entered, lent to another thread that enters and
 * leaves it in turn (a worker under SHARE), then reclaimed: its leave here
 * goes back to what was current before this thread's enter, as if the
 * other thread had never been inside.
 */
Test(ctx_threads, an_entered_context_lent_and_reclaimed_leaves_to_its_own_prev)
{
	var = eddy_var_new("v");
	eddy_ctx *outer = eddy_ctx_new(), *ctx = eddy_ctx_new();
	cr_assert_eq(eddy_ctx_enter(outer), 0);
	cr_assert_eq(eddy_ctx_enter(ctx), 0);
	int holds = eddy_ctx_lend(ctx);
	cr_assert_eq(holds, 1);
	cr_assert_eq((intptr_t)finish(start(set_in_run, ctx)), 0);
	cr_assert_eq(eddy_ctx_reclaim(ctx, holds), 0);
	cr_assert_eq(eddy_var_get_or(var, NULL), V(7));
	cr_assert_eq(eddy_ctx_leave(ctx), 0);
	cr_assert_eq(eddy_ctx_current(), outer);
	cr_assert_eq(eddy_ctx_leave(outer), 0);
	cr_assert_eq(eddy_ctx_run(ctx, do_nothing, NULL, NULL), 0,
		     "left: free for anyone to enter");
	eddy_ctx_unref(ctx);
	eddy_ctx_unref(outer);
	eddy_var_free(var);
}

/* The borrower, inside its run, lends the context on to a third thread
 * (a worker calling back into the loop under SHARE) and takes it back:
 * still current in its run, and then each lender's leave still goes back
 * to its own. */
static void *lend_on(void *ctx)
{
	int holds = eddy_ctx_lend(ctx);
	if (holds <= 0)
		return V(1);
	if (finish(start(set_in_run, ctx)))
		return V(2);
	if (eddy_ctx_reclaim(ctx, holds))
		return V(3);
	return V(eddy_ctx_current() == ctx ? 0 : 4);
}

static void *run_and_lend_on(void *ctx)
{
	void *err = V(5);
	eddy_ctx *mine = eddy_ctx_current();
	int run = eddy_ctx_run(ctx, lend_on, ctx, &err);
	if (eddy_ctx_current() != mine)
		return V(6);
	return run ? V(run) : err;
}

Test(ctx_threads, a_context_lent_on_by_its_borrower_leaves_to_each_lenders_prev)
{
	var = eddy_var_new("v");
	eddy_ctx *outer = eddy_ctx_new(), *ctx = eddy_ctx_new();
	cr_assert_eq(eddy_ctx_enter(outer), 0);
	cr_assert_eq(eddy_ctx_enter(ctx), 0);
	int holds = eddy_ctx_lend(ctx);
	cr_assert_eq((intptr_t)finish(start(run_and_lend_on, ctx)), 0);
	cr_assert_eq(eddy_ctx_reclaim(ctx, holds), 0);
	cr_assert_eq(eddy_var_get_or(var, NULL), V(7));
	cr_assert_eq(eddy_ctx_leave(ctx), 0);
	cr_assert_eq(eddy_ctx_current(), outer);
	cr_assert_eq(eddy_ctx_leave(outer), 0);
	eddy_ctx_unref(ctx);
	eddy_ctx_unref(outer);
	eddy_var_free(var);
}

/*
 * With every pthread key taken, a thread's base context cannot be freed at
 * its exit (it leaks, as context.c says), but its pointer must not be
 * stored under a key eddy never got: key 0 is someone else's then, and its
 * destructor would receive eddy's context.
 */
static void *base_under_key_0(void *arg)
{
	(void)arg;
	eddy_var_set(var, V(1), NULL); /* the thread's base context */
	eddy_ctx *base = eddy_ctx_current();
#ifdef EDDY_TEST_LSAN
	__lsan_ignore_object(base); /* without a key it leaks, by design */
#endif
	return V(pthread_getspecific(0) == base);
}

Test(ctx_threads, without_a_free_pthread_key_the_base_context_takes_no_other)
{
	var = eddy_var_new("v");
	static pthread_key_t keys[PTHREAD_KEYS_MAX];
	size_t n = 0;
	while (n < PTHREAD_KEYS_MAX && pthread_key_create(&keys[n], NULL) == 0)
		n++;
	cr_assert_lt(n, PTHREAD_KEYS_MAX, "the keys ran out");
	intptr_t stolen = (intptr_t)finish(start(base_under_key_0, NULL));
	while (n)
		pthread_key_delete(keys[--n]);
	cr_assert_eq(stolen, 0, "the base context went under key 0");
	eddy_var_free(var);
}

/* ---- many threads, shared variables -------------------------------- */

#define NTHREADS 4
#define NSHARED 64
#define ROUNDS 150

static eddy_var *shared[NSHARED];
static eddy_ctx *published[NTHREADS];
static pthread_barrier_t all;

static void make_shared_vars(void)
{
	for (int i = 0; i < NSHARED; i++) {
		shared[i] = eddy_var_new("shared");
		cr_assert_not_null(shared[i]);
	}
	/* collisions too: vars 0..5 share one hash, 6..11 sit deep beside it */
	for (int i = 1; i < 6; i++)
		eddy_var_force_hash(shared[i], shared[0]->hash);
	for (int i = 6; i < 12; i++)
		eddy_var_force_hash(shared[i],
				    shared[0]->hash ^ 1u << (5 * i - 25));
}

static void free_shared_vars(void)
{
	for (int i = 0; i < NSHARED; i++)
		eddy_var_free(shared[i]);
}

/* The value thread t gives variable i in round r: never NULL. */
static void *mine(int t, int r, int i)
{
	return V((uintptr_t)(t + 1) << 24 | (uintptr_t)r << 8 | (uintptr_t)i);
}

/* The quarter of the variables thread t changes in others' contexts, so
 * that most of a copy's nodes stay shared with the other threads' copies. */
static int touches(int t, int i)
{
	return i % NTHREADS == t;
}

struct worker {
	int id;
	long checks, errors;
	int first_line; /* where the first error was seen */
};

#define EXPECT(w, cond)                                 \
	do {                                            \
		(w)->checks++;                          \
		if (!(cond) && !(w)->errors++)          \
			(w)->first_line = __LINE__;     \
	} while (0)

/* What a context holds, for thread w to check: vals[i] NULL when unset. */
struct view {
	struct worker *w;
	int round;
	void *vals[NSHARED];
};

/* A view of a context holding thread t's round-r values. */
static struct view view_of(struct worker *w, int t, int r)
{
	struct view v = { w, r, { 0 } };
	for (int i = 0; i < NSHARED; i++)
		v.vals[i] = mine(t, r, i);
	return v;
}

static void expect_get(struct worker *w, int i, void *want)
{
	void *out = NULL;
	int err = eddy_var_get(shared[i], &out);
	if (want)
		EXPECT(w, err == 0 && out == want);
	else
		EXPECT(w, err == -ENOENT);
}

/* ctx holds exactly what v says, read from outside it. */
static void expect_ctx(const struct view *v, eddy_ctx *ctx)
{
	size_t len = 0;
	for (int i = 0; i < NSHARED; i++) {
		void *out = NULL;
		int err = eddy_ctx_get(ctx, shared[i], &out);
		if (v->vals[i])
			EXPECT(v->w, err == 0 && out == v->vals[i]);
		else
			EXPECT(v->w, err == -ENOENT);
		len += v->vals[i] != NULL;
	}
	EXPECT(v->w, eddy_ctx_len(ctx) == len);
}

/* Run in a context: sets this thread's quarter of the variables, tokens
 * in hand, then resets the odd ones; every get sees exactly that. */
static void *set_get_reset(void *arg)
{
	struct view *v = arg;
	struct worker *w = v->w;
	eddy_token *tok[NSHARED] = { 0 };
	for (int i = 0; i < NSHARED; i++)
		expect_get(w, i, v->vals[i]);
	for (int i = 0; i < NSHARED; i++) {
		if (!touches(w->id, i))
			continue;
		EXPECT(w, eddy_var_set(shared[i], mine(w->id, v->round, i),
				       &tok[i]) == 0);
		expect_get(w, i, mine(w->id, v->round, i));
	}
	for (int i = NSHARED - 1; i >= 0; i--) {
		if (i % 2 && tok[i])
			EXPECT(w, eddy_var_reset(shared[i], tok[i]) == 0);
		eddy_token_free(tok[i]);
	}
	for (int i = 0; i < NSHARED; i += 2)
		if (touches(w->id, i))
			v->vals[i] = mine(w->id, v->round, i);
	for (int i = 0; i < NSHARED; i++)
		expect_get(w, i, v->vals[i]);
	return NULL;
}

/* Run in a context: checks it, then sets every variable to this thread's
 * values. */
static void *fill(void *arg)
{
	struct view *v = arg;
	struct worker *w = v->w;
	for (int i = 0; i < NSHARED; i++) {
		expect_get(w, i, v->vals[i]);
		EXPECT(w, eddy_var_set(shared[i], mine(w->id, v->round, i),
				       NULL) == 0);
		expect_get(w, i, mine(w->id, v->round, i));
		v->vals[i] = mine(w->id, v->round, i);
	}
	return NULL;
}

static void run_in(struct worker *w, eddy_ctx *ctx, eddy_fn fn,
		   struct view *v)
{
	EXPECT(w, eddy_ctx_run(ctx, fn, v, NULL) == 0);
}

static void *hammer(void *arg)
{
	struct worker *w = arg;
	int t = w->id, prev = (t + NTHREADS - 1) % NTHREADS;
	eddy_ctx *copies[NTHREADS];
	struct view seen[NTHREADS]; /* what copies[o] holds */
	struct view base = { w, 0, { 0 } }; /* this thread's base context */
	for (int r = 0; r < ROUNDS; r++) {
		/* 1. own contexts: the base, and a new one to publish */
		base.round = r;
		set_get_reset(&base);
		eddy_ctx *made = eddy_ctx_new();
		struct view fresh = { w, r, { 0 } };
		run_in(w, made, fill, &fresh);
		published[t] = made;
		pthread_barrier_wait(&all);

		/* 2. all threads at once copy every other thread's context and
		 * change a quarter of each copy: copies share most nodes; each
		 * thread also keeps a reference to the original until 4 */
		for (int o = 0; o < NTHREADS; o++) {
			if (o == t)
				continue;
			eddy_ctx_ref(published[o]);
			copies[o] = eddy_ctx_copy(published[o]);
			seen[o] = view_of(w, o, r);
			expect_ctx(&seen[o], copies[o]);
			run_in(w, copies[o], set_get_reset, &seen[o]);
		}
		pthread_barrier_wait(&all);

		/* 3. run the next thread's context itself and overwrite it,
		 * while the others read their copies, which share its nodes */
		struct view next = view_of(w, (t + 1) % NTHREADS, r);
		run_in(w, published[(t + 1) % NTHREADS], fill, &next);
		for (int o = 0; o < NTHREADS; o++)
			if (o != t)
				expect_ctx(&seen[o], copies[o]);
		for (int i = 0; i < NSHARED; i++) /* back in the base */
			expect_get(w, i, base.vals[i]);
		pthread_barrier_wait(&all);

		/* 4. read, change and drop the copies and the originals while
		 * the other threads drop theirs: shared nodes and contexts
		 * get their last owner, who may change them in place, or free
		 * them */
		for (int o = 0; o < NTHREADS; o++) {
			if (o == t)
				continue;
			expect_ctx(&seen[o], copies[o]);
			run_in(w, copies[o], fill, &seen[o]);
			eddy_ctx_unref(copies[o]);
			int filler = (o + NTHREADS - 1) % NTHREADS;
			struct view orig = view_of(w, filler, r);
			expect_ctx(&orig, published[o]);
			eddy_ctx_unref(published[o]);
		}
		struct view mine_now = view_of(w, prev, r);
		expect_ctx(&mine_now, published[t]);
		eddy_ctx_unref(published[t]);
		pthread_barrier_wait(&all);
	}
	return NULL;
}

/* Runs fn on NTHREADS threads and asserts none of them saw an error. */
static void run_workers(void *(*fn)(void *), long min_checks)
{
	struct worker w[NTHREADS];
	pthread_t th[NTHREADS];
	for (int t = 0; t < NTHREADS; t++) {
		w[t] = (struct worker){ .id = t };
		th[t] = start(fn, &w[t]);
	}
	for (int t = 0; t < NTHREADS; t++)
		finish(th[t]);
	for (int t = 0; t < NTHREADS; t++) {
		cr_assert_eq(w[t].errors, 0,
			     "thread %d: %ld of %ld checks failed, the first "
			     "at line %d", t, w[t].errors, w[t].checks,
			     w[t].first_line);
		cr_assert_geq(w[t].checks, min_checks, "thread %d", t);
	}
}

Test(ctx_threads, threads_hammering_shared_vars_each_see_their_own_values)
{
	make_shared_vars();
	long live = eddy_alloc_live();
	pthread_barrier_init(&all, NULL, NTHREADS);
	run_workers(hammer, (long)ROUNDS * NSHARED * NTHREADS);
	cr_assert_eq(eddy_alloc_live(), live, "every context was freed");
	pthread_barrier_destroy(&all);
	free_shared_vars();
}

/* ---- one context, taken in turns ------------------------------------ */

#define TURNS 4000

static eddy_ctx *turns_ctx;
static atomic_long turns_taken;

/* In the shared context: add one to var 0's count, and leave var 1 naming
 * this thread, checking that no other thread got in meanwhile. */
static void *take_turn(void *arg)
{
	struct worker *w = arg;
	void *count = eddy_var_get_or(shared[0], V(0));
	EXPECT(w, eddy_var_set(shared[1], V(w->id + 1), NULL) == 0);
	EXPECT(w, eddy_var_set(shared[0], V((uintptr_t)count + 1), NULL) == 0);
	EXPECT(w, eddy_var_get_or(shared[1], NULL) == V(w->id + 1));
	return NULL;
}

static void *try_turns(void *arg)
{
	struct worker *w = arg;
	for (int i = 0; i < TURNS; i++) {
		int err = eddy_ctx_run(turns_ctx, take_turn, w, NULL);
		EXPECT(w, err == 0 || err == -EBUSY);
		if (!err)
			atomic_fetch_add(&turns_taken, 1);
	}
	return NULL;
}

/*
 * Threads race to run one context, with no other synchronisation: each run
 * that gets in reads and writes the context's mapping and get cache, so
 * entering must hand them over from the last thread that left, and two
 * threads must never be inside at once (a lost count would show it).
 */
Test(ctx_threads, one_context_run_by_racing_threads_loses_no_set)
{
	make_shared_vars();
	turns_ctx = eddy_ctx_new();
	run_workers(try_turns, TURNS);
	void *count;
	cr_assert_eq(eddy_ctx_get(turns_ctx, shared[0], &count), 0);
	cr_assert_eq((long)(uintptr_t)count, atomic_load(&turns_taken));
	cr_assert_gt(atomic_load(&turns_taken), 0);
	eddy_ctx_unref(turns_ctx);
	free_shared_vars();
}
