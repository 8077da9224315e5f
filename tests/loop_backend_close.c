/*
 * eddy_close of an fd that other tasks wait on, on both backends: the
 * waiters end with -EBADF, waiters on other fds go on, and what completed
 * before the close keeps its result.  (docs/loop.md, "eddy_close".)
 *
 * Tasks record what they saw; the assertions read it after the run.
 * Nothing sleeps, nothing is timed, every loop is bounded.
 */
#define _GNU_SOURCE
#include "check.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define BACKEND_SUITE loop_backend_close
#include "loop_backend_common.h"

EDDY_SUITE(loop_backend_close);

/* Long enough never to run out in a passing test: a waiter the close does
 * not end fails with -ETIMEDOUT instead of hanging the test. */
#define CLOSE_BOUND_NS (30ull * 1000000000u)

struct closing {
	int fds[2], other[2];
	long r[3], closed;
	char c[3];
	bool other_done, other_ended_early;
};

static void *reads_fd0(void *arg)
{
	struct closing *s = arg;
	s->r[0] = eddy_read_timeout(s->fds[0], &s->c[0], 1, CLOSE_BOUND_NS);
	return NULL;
}

static void *recvs_fd0(void *arg)
{
	struct closing *s = arg;
	s->r[0] = eddy_recv_timeout(s->fds[0], &s->c[0], 1, 0,
				    CLOSE_BOUND_NS);
	return NULL;
}

static void *polls_fd0(void *arg)
{
	struct closing *s = arg;
	s->r[1] = eddy_poll_timeout(s->fds[0], POLLIN, CLOSE_BOUND_NS);
	return NULL;
}

static void *reads_other(void *arg)
{
	struct closing *s = arg;
	s->r[2] = eddy_read_timeout(s->other[0], &s->c[2], 1, CLOSE_BOUND_NS);
	s->other_done = true;
	return NULL;
}

/* waiters wait on fds[0], then main closes it */
static void close_under(struct closing *s, eddy_fn w0, eddy_fn w1)
{
	eddy_task *a = eddy_spawn(w0, s);
	eddy_task *b = w1 ? eddy_spawn(w1, s) : NULL;
	eddy_yield(); /* they wait on the empty pipe or socket now */
	s->closed = eddy_close(s->fds[0]);
	s->fds[0] = -1;
	eddy_join(a, NULL);
	if (b)
		eddy_join(b, NULL);
}

static void *close_under_a_recv(void *arg)
{
	close_under(arg, recvs_fd0, NULL);
	return NULL;
}

BACKEND_TEST(close_ends_a_recv_waiting_on_the_socket_with_ebadf)
{
	EACH_BACKEND(b)
	{
		struct closing s = { .r = { 0 } };
		cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
					s.fds), 0);
		if (run_on(b, close_under_a_recv, &s)) {
			const char *n = backend_name(b);
			cr_expect_eq(s.closed, 0, "%s: %ld", n, s.closed);
			cr_expect_eq(s.r[0], -EBADF, "%s: %ld", n, s.r[0]);
		}
		if (s.fds[0] >= 0)
			close(s.fds[0]);
		close(s.fds[1]);
	}
}

static void *close_under_a_read_and_a_poll(void *arg)
{
	close_under(arg, reads_fd0, polls_fd0);
	return NULL;
}

/* A read and a poll wait on a pipe that is closed under them, on a ring of
 * ring_entries (0: the default). */
static void close_under_a_read_and_a_poll_on(unsigned ring_entries)
{
	EACH_BACKEND(b)
	{
		struct closing s = { .r = { 0 } };
		make_pipe(s.fds);
		if (run_on_ring(b, ring_entries, close_under_a_read_and_a_poll,
				&s)) {
			const char *n = backend_name(b);
			cr_expect_eq(s.closed, 0, "%s/%u: %ld", n, ring_entries,
				     s.closed);
			cr_expect_eq(s.r[0], -EBADF, "%s/%u: read %ld", n,
				     ring_entries, s.r[0]);
			cr_expect_eq(s.r[1], -EBADF, "%s/%u: poll %ld", n,
				     ring_entries, s.r[1]);
		}
		if (s.fds[0] >= 0)
			close(s.fds[0]);
		close(s.fds[1]);
	}
}

BACKEND_TEST(close_ends_every_operation_waiting_on_the_fd_with_ebadf)
{
	close_under_a_read_and_a_poll_on(0);
}

/* The cancel a close needs under io_uring goes with it in one submission,
 * or ahead of it when the ring has room for one SQE only. */
BACKEND_TEST(close_ends_the_waiters_on_rings_of_one_and_two_entries)
{
	close_under_a_read_and_a_poll_on(1);
	close_under_a_read_and_a_poll_on(2);
}

static void *close_beside_another_fd(void *arg)
{
	struct closing *s = arg;
	eddy_task *o = eddy_spawn(reads_other, s);
	close_under(s, reads_fd0, NULL);
	s->other_ended_early = s->other_done;
	eddy_write(s->other[1], "o", 1);
	eddy_join(o, NULL);
	return NULL;
}

BACKEND_TEST(close_leaves_an_operation_on_another_fd_waiting)
{
	EACH_BACKEND(b)
	{
		struct closing s = { .r = { 0 } };
		make_pipe(s.fds);
		make_pipe(s.other);
		if (run_on(b, close_beside_another_fd, &s)) {
			const char *n = backend_name(b);
			cr_expect_eq(s.r[0], -EBADF, "%s: %ld", n, s.r[0]);
			cr_expect_not(s.other_ended_early, "%s", n);
			cr_expect_eq(s.r[2], 1, "%s: %ld", n, s.r[2]);
			cr_expect_eq(s.c[2], 'o', "%s", n);
		}
		if (s.fds[0] >= 0)
			close(s.fds[0]);
		close(s.fds[1]);
		close_both(s.other);
	}
}

static void *reads_twice(void *arg)
{
	struct closing *s = arg;
	s->r[0] = eddy_read_timeout(s->fds[0], &s->c[0], 1, CLOSE_BOUND_NS);
	s->r[1] = eddy_read_timeout(s->fds[0], &s->c[1], 1, CLOSE_BOUND_NS);
	return NULL;
}

/* The write end is closed right after a write that completed: the reader
 * of the other end, a different file, gets the byte, then end of file. */
static void *writes_then_closes(void *arg)
{
	struct closing *s = arg;
	eddy_task *r = eddy_spawn(reads_twice, s);
	eddy_yield(); /* the reader waits on the empty pipe now */
	s->r[2] = eddy_write(s->fds[1], "w", 1);
	s->closed = eddy_close(s->fds[1]);
	s->fds[1] = -1;
	eddy_join(r, NULL);
	return NULL;
}

BACKEND_TEST(a_write_completed_before_the_close_of_its_fd_keeps_its_result)
{
	EACH_BACKEND(b)
	{
		struct closing s = { .r = { 0 } };
		make_pipe(s.fds);
		if (run_on(b, writes_then_closes, &s)) {
			const char *n = backend_name(b);
			cr_expect_eq(s.r[2], 1, "%s: %ld", n, s.r[2]);
			cr_expect_eq(s.closed, 0, "%s: %ld", n, s.closed);
			cr_expect_eq(s.r[0], 1, "%s: %ld", n, s.r[0]);
			cr_expect_eq(s.c[0], 'w', "%s", n);
			cr_expect_eq(s.r[1], 0, "%s: %ld", n, s.r[1]);
		}
		close(s.fds[0]);
		if (s.fds[1] >= 0)
			close(s.fds[1]);
	}
}


/*
 * A close under an operation that blocks on one of io_uring's workers: the
 * kernel interrupts the call (-EINTR rather than -ECANCELED), and the
 * operation must end there, not run again on an fd number the close freed
 * and the program may have reused already.  A connect to a Unix listener
 * whose backlog is full is such a call (no readiness says when to try
 * again).  io_uring only: epoll makes that connect on the loop's thread.
 */
struct full_backlog {
	struct sockaddr_un addr;
	int listener, filler, fd, reused;
	long connected, closed;
	enum eddy_backend backend;
};

static void *connects(void *arg)
{
	struct full_backlog *s = arg;
	s->connected = eddy_connect_timeout(s->fd, (struct sockaddr *)&s->addr,
					    sizeof s->addr, CLOSE_BOUND_NS);
	return NULL;
}

static void *closes_under_a_connect_then_reuses_the_fd(void *arg)
{
	struct full_backlog *s = arg;
	s->backend = eddy_loop_backend(eddy_loop_current());
	if (s->backend != EDDY_BACKEND_URING)
		return NULL;
	eddy_task *t = eddy_spawn(connects, s);
	wait_for_a_thread_in("unix_wait_for_peer");
	s->closed = eddy_close(s->fd);
	/* the lowest free number: the one just closed */
	s->reused = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	/* room in the backlog, for a connect that should not come */
	int c = accept4(s->listener, NULL, NULL, SOCK_CLOEXEC);
	if (c >= 0)
		close(c);
	eddy_join(t, NULL);
	return NULL;
}

BACKEND_TEST(close_under_a_connect_on_a_worker_ends_it_and_leaves_the_reused_fd_alone)
{
	struct full_backlog s = { .addr.sun_family = AF_UNIX, .reused = -1 };
	snprintf(s.addr.sun_path + 1, sizeof s.addr.sun_path - 1,
		 "eddy-full-backlog-%d", (int)getpid());
	s.listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_eq(bind(s.listener, (struct sockaddr *)&s.addr,
			  sizeof s.addr), 0);
	cr_assert_eq(listen(s.listener, 0), 0);
	/* a backlog of 0 holds one connection: this one fills it */
	s.filler = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_eq(connect(s.filler, (struct sockaddr *)&s.addr,
			     sizeof s.addr), 0);
	s.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(s.fd, 0);
	run_on(EDDY_BACKEND_URING, closes_under_a_connect_then_reuses_the_fd,
	       &s);
	if (s.backend == EDDY_BACKEND_URING) {
		struct sockaddr_un peer;
		socklen_t len = sizeof peer;
		cr_expect_eq(s.closed, 0, "%ld", s.closed);
		cr_expect_eq(s.connected, -EBADF, "%ld", s.connected);
		cr_expect_neq(getpeername(s.reused, (struct sockaddr *)&peer,
					  &len), 0,
			      "the reused fd was connected");
	} else {
		close(s.fd);
	}
	if (s.reused >= 0)
		close(s.reused);
	close(s.filler);
	close(s.listener);
	if (s.backend != EDDY_BACKEND_URING)
		cr_skip_test("no io_uring here (or EDDY_BACKEND chose epoll)");
}
