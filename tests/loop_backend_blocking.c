/*
 * Calls that may block, on both backends: an open that waits for a FIFO's
 * other end runs beside the loop (epoll: on the loop's worker pool;
 * io_uring: on the ring's own workers), so the loop's other tasks keep
 * running, and a cancel or a timeout of it ends as documented.
 *
 * Tasks record what they saw; the assertions read it after the run.
 * Nothing sleeps, nothing is timed, every loop is bounded.
 */
#define _GNU_SOURCE
#include "check.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#define BACKEND_SUITE loop_backend_blocking
#include "loop_backend_common.h"

EDDY_SUITE(loop_backend_blocking);

/*
 * A FIFO's open for reading blocks until a writer opens it: a call that
 * sleeps for as long as the test wants, and that no readiness event ends.
 * Under epoll it runs on a worker thread.  (io_uring first tries the open
 * with O_NONBLOCK, which a FIFO's reader passes at once: there it does
 * not wait.)
 */
struct fifo {
	char dir[64], path[80];
	enum eddy_backend backend;
	long reader, writer, after;
	bool reader_done, waited;
	int yields;
};

static void make_fifo(struct fifo *s)
{
	const char *dir = getenv("TMPDIR");
	snprintf(s->dir, sizeof s->dir, "%s/eddy-fifo-XXXXXX",
		 dir && strlen(dir) < 32 ? dir : "/tmp");
	cr_assert_not_null(mkdtemp(s->dir));
	snprintf(s->path, sizeof s->path, "%s/fifo", s->dir);
	cr_assert_eq(mkfifo(s->path, 0600), 0);
	s->reader = s->writer = -1;
}

static void remove_fifo(struct fifo *s)
{
	if (s->reader >= 0)
		close((int)s->reader);
	if (s->writer >= 0)
		close((int)s->writer);
	unlink(s->path);
	rmdir(s->dir);
}

static void *opens_fifo_for_reading(void *arg)
{
	struct fifo *s = arg;
	s->reader = eddy_openat(AT_FDCWD, s->path, O_RDONLY | O_CLOEXEC, 0);
	s->reader_done = true;
	s->after = eddy_yield();
	return NULL;
}

static void *opens_fifo_for_reading_with_a_timeout(void *arg)
{
	struct fifo *s = arg;
	/* 1 ns: expired by the loop's first look at its timers. */
	s->reader = eddy_openat_timeout(AT_FDCWD, s->path,
					O_RDONLY | O_CLOEXEC, 0, 1);
	s->reader_done = true;
	return NULL;
}

/* Yield 100 times: whether the reader still waits at the end. */
static bool reader_waits_through_100_yields(struct fifo *s)
{
	for (int i = 0; i < 100; i++) {
		eddy_yield();
		s->yields++;
	}
	return !s->reader_done;
}

/* The writer's open completes the reader's. */
static void opens_fifo_for_writing(struct fifo *s)
{
	s->writer = eddy_openat(AT_FDCWD, s->path, O_WRONLY | O_CLOEXEC, 0);
}

/* The rest of every test's main once its reader task waits to open:
 * yield while it waits, then open the other end, which ends its wait. */
static void then_open_for_writing(struct fifo *s, eddy_task *reader)
{
	s->waited = reader_waits_through_100_yields(s);
	opens_fifo_for_writing(s);
	eddy_join(reader, NULL);
}

static void *counts_yields_then_opens_for_writing(void *arg)
{
	struct fifo *s = arg;
	s->backend = eddy_loop_backend(eddy_loop_current());
	then_open_for_writing(s, eddy_spawn(opens_fifo_for_reading, s));
	return NULL;
}

BACKEND_TEST(a_task_keeps_running_while_another_waits_in_a_fifo_open)
{
	EACH_BACKEND(b)
	{
		struct fifo s = { .reader_done = false };
		make_fifo(&s);
		if (run_on(b, counts_yields_then_opens_for_writing, &s)) {
			const char *n = backend_name(s.backend);
			if (s.backend == EDDY_BACKEND_EPOLL)
				cr_expect(s.waited, "%s", n);
			cr_expect_eq(s.yields, 100, "%s", n);
			cr_expect_geq(s.reader, 0, "%s: %ld", n, s.reader);
			cr_expect_geq(s.writer, 0, "%s: %ld", n, s.writer);
			cr_expect_eq(s.after, 0, "%s", n);
		}
		remove_fifo(&s);
	}
}

/*
 * The calls a worker makes cannot be interrupted: the cancelled task
 * resumes only once the call returned, with its result (an fd that is
 * the task's to close), and its next suspending call is -ECANCELED.
 * Epoll only: io_uring's open does not wait (see above).
 */
static void *cancels_a_fifo_opener(void *arg)
{
	struct fifo *s = arg;
	s->backend = eddy_loop_backend(eddy_loop_current());
	eddy_task *t = eddy_spawn(opens_fifo_for_reading, s);
	eddy_yield(); /* it starts its open */
	eddy_cancel(t);
	then_open_for_writing(s, t);
	return NULL;
}

/*
 * main on an epoll loop with a fresh FIFO in *s; then what both ends of an
 * open on a worker must show: the loop ran on while the reader waited, and
 * both opens succeeded.  Skips when EDDY_BACKEND chose io_uring.
 */
static void run_opener_on_epoll(eddy_fn main, struct fifo *s)
{
	make_fifo(s);
	run_on(EDDY_BACKEND_EPOLL, main, s);
	remove_fifo(s);
	if (s->backend != EDDY_BACKEND_EPOLL)
		cr_skip_test("EDDY_BACKEND chose io_uring");
	cr_expect(s->waited);
	cr_expect_geq(s->reader, 0, "%ld", s->reader);
	cr_expect_geq(s->writer, 0, "%ld", s->writer);
}

BACKEND_TEST(cancel_of_a_task_in_an_open_on_a_worker_resumes_it_when_the_open_returns)
{
	struct fifo s = { .reader_done = false };
	run_opener_on_epoll(cancels_a_fifo_opener, &s);
	cr_expect_eq(s.after, -ECANCELED, "%ld", s.after);
}

static void *times_out_a_fifo_opener(void *arg)
{
	struct fifo *s = arg;
	s->backend = eddy_loop_backend(eddy_loop_current());
	then_open_for_writing(s,
			      eddy_spawn(opens_fifo_for_reading_with_a_timeout,
					 s));
	return NULL;
}

BACKEND_TEST(timeout_of_an_open_on_a_worker_ends_it_when_the_open_returns)
{
	struct fifo s = { .reader_done = false };
	run_opener_on_epoll(times_out_a_fifo_opener, &s);
}

/*
 * io_uring's open of a FIFO for writing with O_CREAT waits on one of the
 * ring's workers for a reader (O_CREAT is never tried without blocking);
 * cancelled there, the kernel interrupts it and answers its own
 * -ERESTARTSYS (512), which no program knows: the task gets -ECANCELED.
 * io_uring only: epoll's worker cannot be interrupted (the test above).
 */
static void *opens_fifo_for_writing_with_o_creat(void *arg)
{
	struct fifo *s = arg;
	s->writer = eddy_openat(AT_FDCWD, s->path,
				O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	return NULL;
}

static void *cancels_a_fifo_opener_on_a_ring_worker(void *arg)
{
	struct fifo *s = arg;
	s->backend = eddy_loop_backend(eddy_loop_current());
	if (s->backend != EDDY_BACKEND_URING)
		return NULL;
	eddy_task *t = eddy_spawn(opens_fifo_for_writing_with_o_creat, s);
	wait_for_a_thread_in("wait_for_partner");
	eddy_cancel(t);
	eddy_join(t, NULL);
	return NULL;
}

BACKEND_TEST(cancel_of_an_open_waiting_on_an_io_uring_worker_is_ecanceled)
{
	struct fifo s = { .reader_done = false };
	make_fifo(&s);
	run_on(EDDY_BACKEND_URING, cancels_a_fifo_opener_on_a_ring_worker, &s);
	long writer = s.writer;
	remove_fifo(&s);
	if (s.backend != EDDY_BACKEND_URING)
		cr_skip_test("no io_uring here (or EDDY_BACKEND chose epoll)");
	cr_expect_eq(writer, -ECANCELED, "%ld", writer);
}

/* More file ops at once than the pool has workers: each gets its own. */
