/*
 * Coroutine stacks across threads: a stack released on another thread
 * than the one that acquired it, a thread's pool at its exit, and many
 * threads acquiring and trading stacks at once.  Runs under TSan too.
 */
#define _GNU_SOURCE
#include "check.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fork_common.h"
#include "task/stack.h"

EDDY_SUITE(task_stack_threads);

static struct eddy_stack_stats stats(void)
{
	struct eddy_stack_stats s;
	eddy_stack_stats(&s);
	return s;
}

static void *run(void *(*fn)(void *), void *arg)
{
	pthread_t t;
	void *result;
	cr_assert_eq(pthread_create(&t, NULL, fn, arg), 0);
	cr_assert_eq(pthread_join(t, &result), 0);
	return result;
}

static void *release_then_take_again(void *arg)
{
	struct eddy_stack *st = arg, *again = NULL;
	eddy_stack_release(st);
	if (eddy_stack_acquire(st->size, &again))
		return NULL;
	eddy_stack_release(again);
	return again;
}

Test(task_stack_threads, stack_released_elsewhere_joins_that_threads_pool)
{
	struct eddy_stack *st = NULL;
	cr_assert_eq(eddy_stack_acquire(0, &st), 0);
	uint64_t mmaps = stats().mmaps;
	cr_assert_eq(run(release_then_take_again, st), st);

	/* The thread has exited: its pool went to the depot, cold. */
	struct eddy_stack_stats s = stats();
	cr_assert_eq(s.pooled, 1);
	cr_assert_eq(s.cold, 1);
	struct eddy_stack *again = NULL;
	cr_assert_eq(eddy_stack_acquire(0, &again), 0);
	cr_assert_eq(again, st);
	cr_assert_eq(stats().mmaps, mmaps);
	eddy_stack_release(again);
	eddy_stack_pool_drain();
	cr_assert_eq(stats().mapped, 0);
	cr_assert_eq(stats().regions, 0);
}

/* ---- Many threads at once -------------------------------------------- */

#define THREADS 8
#define ROUNDS 200
#define HELD 24

/* Stacks left by one thread for another to release. */
static pthread_mutex_t trade_lock = PTHREAD_MUTEX_INITIALIZER;
static struct eddy_stack *traded[THREADS * HELD];
static size_t ntraded;

static void mark(struct eddy_stack *st, uintptr_t who)
{
	memcpy((char *)st->lo + st->size - sizeof who, &who, sizeof who);
	memcpy((char *)st->lo + sizeof(uint64_t), &who, sizeof who);
}

static int marked(const struct eddy_stack *st, uintptr_t who)
{
	uintptr_t top, bottom;
	memcpy(&top, (char *)st->lo + st->size - sizeof top, sizeof top);
	memcpy(&bottom, (char *)st->lo + sizeof(uint64_t), sizeof bottom);
	return top == who && bottom == who;
}

static void *churn(void *arg)
{
	uintptr_t id = (uintptr_t)arg;
	static const size_t sizes[] = { 0, 16 * 1024, 64 * 1024 };
	struct eddy_stack *held[HELD];
	for (unsigned round = 0; round < ROUNDS; round++) {
		uintptr_t who = id << 32 | round;
		for (unsigned i = 0; i < HELD; i++) {
			if (eddy_stack_acquire(sizes[(i + round) % 3], &held[i]))
				return (void *)"acquire failed";
			mark(held[i], who);
		}
		for (unsigned i = 0; i < HELD; i++)
			if (!marked(held[i], who))
				return (void *)"a stack was held twice";
		for (unsigned i = 0; i < HELD; i++)
			if (i % 4) /* every fourth goes to another thread */
				eddy_stack_release(held[i]);
		pthread_mutex_lock(&trade_lock);
		struct eddy_stack *theirs[HELD / 4];
		size_t n = 0;
		while (ntraded && n < HELD / 4)
			theirs[n++] = traded[--ntraded];
		for (unsigned i = 0; i < HELD; i += 4)
			traded[ntraded++] = held[i];
		pthread_mutex_unlock(&trade_lock);
		for (size_t i = 0; i < n; i++)
			eddy_stack_release(theirs[i]);
	}
	return NULL;
}

Test(task_stack_threads, threads_acquire_and_trade_stacks_without_sharing_one)
{
	pthread_t t[THREADS];
	for (uintptr_t i = 0; i < THREADS; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, churn, (void *)(i + 1)),
			     0);
	for (int i = 0; i < THREADS; i++) {
		void *failure;
		cr_assert_eq(pthread_join(t[i], &failure), 0);
		cr_assert_null(failure, "%s", (const char *)failure);
	}
	while (ntraded)
		eddy_stack_release(traded[--ntraded]);
	struct eddy_stack_stats s = stats();
	cr_assert_eq(s.pooled, s.mapped, "every stack is idle");
	eddy_stack_pool_drain();
	s = stats();
	cr_assert_eq(s.mapped, 0);
	cr_assert_eq(s.regions, 0);
	cr_assert_eq(s.map_entries, 0);
}

/* ---- a thread's signal stack ---------------------------------------- */

/*
 * A thread that takes a stack gets an alternate signal stack for the
 * overflow report, and gives it back at its exit, also when none of its
 * stacks ever entered its pool: one too large for a pool, or one handed
 * to another thread.  The thread reports the signal stack it was given
 * (NULL when it had one of its own already, as under ASan).
 */
static void *takes_a_stack_past_its_pool(void *out)
{
	stack_t before, after;
	struct eddy_stack *st;
	sigaltstack(NULL, &before);
	if (eddy_stack_acquire(EDDY_STACK_POOL_BYTES * 2, &st))
		return (void *)"acquire failed";
	eddy_stack_release(st); /* too large for the pool: to the depot */
	if (eddy_stack_acquire(0, &st))
		return (void *)"acquire failed";
	*(struct eddy_stack **)out = st; /* released by the test's thread */
	sigaltstack(NULL, &after);
	return before.ss_flags & SS_DISABLE ? after.ss_sp : NULL;
}

Test(task_stack_threads, a_thread_whose_pool_stays_empty_frees_its_signal_stack)
{
	struct eddy_stack *handed = NULL;
	void *altstack = run(takes_a_stack_past_its_pool, &handed);
	cr_assert_not_null(handed);
	/* before anything here maps memory, which could land there */
	unsigned char in_core;
	int mapped = altstack ? mincore(altstack, (size_t)sysconf(_SC_PAGESIZE),
					&in_core) == 0 :
				0;
	int err = errno;
	eddy_stack_release(handed);
	if (!altstack)
		cr_skip("the thread had a signal stack of its own");
	cr_assert_not(mapped, "the signal stack is still mapped");
	cr_assert_eq(err, ENOMEM);
}

/* ---- fork ------------------------------------------------------------ */

static atomic_bool stop;

/* Keeps the depot's lock busy: every stack past the pool goes there. */
static void *use_the_depot(void *arg)
{
	(void)arg;
	enum { N = 80 }; /* more 256 KiB stacks than a pool keeps */
	struct eddy_stack *st[N];
	while (!atomic_load(&stop)) {
		for (int i = 0; i < N; i++)
			if (eddy_stack_acquire(0, &st[i]))
				return (void *)"acquire failed";
		for (int i = 0; i < N; i++)
			eddy_stack_release(st[i]);
	}
	return NULL;
}

/* The depot's lock must be free in a child of fork. */
static int acquires_a_stack(void)
{
	struct eddy_stack *st;
	return eddy_stack_acquire(24 * 1024, &st) ? 1 : 0;
}

Test(task_stack_threads, fork_while_another_thread_is_in_the_depot,
     .timeout = 120)
{
	pthread_t t;
	cr_assert_eq(pthread_create(&t, NULL, use_the_depot, NULL), 0);
	fork_children(acquires_a_stack);
	atomic_store(&stop, true);
	void *failure;
	cr_assert_eq(pthread_join(t, &failure), 0);
	cr_assert_null(failure);
	eddy_stack_pool_drain();
	cr_assert_eq(stats().mapped, 0);
}
