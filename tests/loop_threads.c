/*
 * Several loops in one process, one per thread, running at the same time:
 * each schedules its own tasks, timers and I/O, and loops on different
 * threads talk only through the kernel.  make test runs this file under
 * ThreadSanitizer too.
 *
 * Criterion's assertions belong to the test's main thread, so each loop
 * thread records what it saw and the main thread asserts on it.  The loop
 * threads meet at a barrier from inside their main tasks, so that every
 * loop is running at once; nothing sleeps to wait for another thread.
 * (Only Test and the plain cr_assert macros here: the TSan build runs this
 * file without Criterion's runner.)
 */
#define _GNU_SOURCE
#include "check.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <unistd.h>

#include "eddy.h"

EDDY_SUITE(loop_threads);

#define V(n) ((void *)(intptr_t)(n))
#define N(p) ((long)(intptr_t)(p))

enum { THREADS = 4, TASKS = 50, ROUNDS = 20 };

static pthread_barrier_t all_running;

struct worker {
	pthread_t thread;
	int run_result;
	long done;          /* tasks that did all their work */
	eddy_loop *loop;    /* the loop its tasks saw */
	int loops_differ;   /* the loop seen inside is not another thread's */
	int errors;
};

/* Sleeps, yields and moves a byte through a pipe, ROUNDS times. */
static void *busy_task(void *arg)
{
	struct worker *w = arg;
	int p[2];
	if (pipe(p))
		return V(-errno);
	long r = 0;
	for (int i = 0; i < ROUNDS && r >= 0; i++) {
		char c = (char)i, back = 0;
		if ((r = eddy_sleep(1000)) < 0 || (r = eddy_yield()) < 0 ||
		    (r = eddy_write(p[1], &c, 1)) != 1 ||
		    (r = eddy_read(p[0], &back, 1)) != 1 || back != c)
			r = r < 0 ? r : -EIO;
	}
	close(p[0]);
	close(p[1]);
	if (eddy_loop_current() != w->loop)
		r = -EINVAL;
	return V(r < 0 ? r : 0);
}

static void *loop_main(void *arg)
{
	struct worker *w = arg;
	w->loop = eddy_loop_current();
	pthread_barrier_wait(&all_running); /* every loop exists now */
	eddy_task *t[TASKS];
	for (int i = 0; i < TASKS; i++)
		if (!(t[i] = eddy_spawn(busy_task, w)))
			w->errors++;
	for (int i = 0; i < TASKS; i++) {
		void *r = V(-1);
		if (t[i] && (eddy_join(t[i], &r) || r))
			w->errors++;
		else if (t[i])
			w->done++;
	}
	pthread_barrier_wait(&all_running); /* every loop ran its tasks */
	return NULL;
}

static void *thread_runs_a_loop(void *arg)
{
	struct worker *w = arg;
	w->run_result = eddy_run(loop_main, w, NULL);
	return NULL;
}

Test(loop_threads, several_loops_run_at_once_one_per_thread)
{
	static struct worker w[THREADS];
	cr_assert_eq(pthread_barrier_init(&all_running, NULL, THREADS), 0);
	for (int i = 0; i < THREADS; i++)
		cr_assert_eq(pthread_create(&w[i].thread, NULL,
					    thread_runs_a_loop, &w[i]),
			     0);
	for (int i = 0; i < THREADS; i++)
		cr_assert_eq(pthread_join(w[i].thread, NULL), 0);
	pthread_barrier_destroy(&all_running);
	for (int i = 0; i < THREADS; i++) {
		cr_assert_eq(w[i].run_result, 0);
		cr_assert_eq(w[i].errors, 0);
		cr_assert_eq(w[i].done, TASKS);
		for (int j = 0; j < i; j++)
			cr_assert_neq(w[i].loop, w[j].loop);
	}
}

/* ---- two loops, one pipe each way ------------------------------------- */

enum { PINGS = 2000 };

struct side {
	pthread_t thread;
	int in, out;   /* read from in, write to out */
	int first;     /* writes before it reads */
	long exchanged;
	int run_result;
};

static void *ping_pong(void *arg)
{
	struct side *s = arg;
	unsigned char c = 0;
	for (int i = 0; i < PINGS; i++) {
		if (s->first && eddy_write(s->out, &c, 1) != 1)
			return V(-EIO);
		unsigned char got;
		if (eddy_read(s->in, &got, 1) != 1 || got != c)
			return V(-EIO);
		c++;
		if (!s->first && eddy_write(s->out, &got, 1) != 1)
			return V(-EIO);
		s->exchanged++;
	}
	return NULL;
}

static void *thread_plays(void *arg)
{
	struct side *s = arg;
	void *r = V(-1);
	s->run_result = eddy_run(ping_pong, s, &r);
	if (r)
		s->run_result = (int)N(r);
	return NULL;
}

Test(loop_threads, loops_on_two_threads_talk_through_pipes)
{
	int ab[2], ba[2];
	cr_assert_eq(pipe(ab), 0);
	cr_assert_eq(pipe(ba), 0);
	static struct side a, b;
	a = (struct side){ .in = ba[0], .out = ab[1], .first = 1 };
	b = (struct side){ .in = ab[0], .out = ba[1], .first = 0 };
	cr_assert_eq(pthread_create(&a.thread, NULL, thread_plays, &a), 0);
	cr_assert_eq(pthread_create(&b.thread, NULL, thread_plays, &b), 0);
	cr_assert_eq(pthread_join(a.thread, NULL), 0);
	cr_assert_eq(pthread_join(b.thread, NULL), 0);
	cr_assert_eq(a.run_result, 0);
	cr_assert_eq(b.run_result, 0);
	cr_assert_eq(a.exchanged, PINGS);
	cr_assert_eq(b.exchanged, PINGS);
	close(ab[0]);
	close(ab[1]);
	close(ba[0]);
	close(ba[1]);
}

/* ---- loops made and freed on many threads in turn --------------------- */

enum { GENERATIONS = 8 };

static void *counts_its_loop(void *arg)
{
	(void)arg;
	return eddy_loop_current() ? NULL : V(-1);
}

static void *thread_makes_and_frees_loops(void *arg)
{
	long *failures = arg;
	for (int i = 0; i < 3; i++) {
		eddy_loop *loop = eddy_loop_new(NULL);
		void *r = V(-1);
		if (!loop || eddy_loop_run(loop, counts_its_loop, NULL, &r) || r)
			(*failures)++;
		eddy_loop_free(loop);
	}
	if (eddy_loop_current())
		(*failures)++;
	return NULL;
}

Test(loop_threads, loops_are_made_run_and_freed_on_short_lived_threads)
{
	for (int g = 0; g < GENERATIONS; g++) {
		pthread_t t[THREADS];
		long failures[THREADS] = { 0 };
		for (int i = 0; i < THREADS; i++)
			cr_assert_eq(pthread_create(&t[i], NULL,
						    thread_makes_and_frees_loops,
						    &failures[i]),
				     0);
		for (int i = 0; i < THREADS; i++) {
			cr_assert_eq(pthread_join(t[i], NULL), 0);
			cr_assert_eq(failures[i], 0);
		}
	}
}

/*
 * A loop runs on the thread that made it: under io_uring the ring takes
 * submissions from that thread only (SINGLE_ISSUER), and a run elsewhere
 * queued its operations forever.  Another thread's run is -EPERM, and the
 * loop still runs on its own thread afterwards.
 */
struct elsewhere {
	eddy_loop *loop;
	int err;
};

static void *returns_arg(void *arg)
{
	return arg;
}

static void *runs_anothers_loop(void *arg)
{
	struct elsewhere *e = arg;
	e->err = eddy_loop_run(e->loop, returns_arg, V(1), NULL);
	return NULL;
}

Test(loop_threads, a_run_on_a_thread_other_than_the_loops_is_eperm,
     .timeout = 60)
{
	struct elsewhere e = { .loop = eddy_loop_new(NULL) };
	cr_assert_not_null(e.loop);
	pthread_t t;
	cr_assert_eq(pthread_create(&t, NULL, runs_anothers_loop, &e), 0);
	cr_assert_eq(pthread_join(t, NULL), 0);
	cr_assert_eq(e.err, -EPERM);
	void *r = NULL;
	cr_assert_eq(eddy_loop_run(e.loop, returns_arg, V(2), &r), 0);
	cr_assert_eq(N(r), 2);
	eddy_loop_free(e.loop);
}
