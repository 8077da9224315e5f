/*
 * eddy_close of an fd that other tasks wait on, on both backends: the
 * waiters end with -EBADF, waiters on other fds go on, and what completed
 * before the close keeps its result; and the close itself is never cut
 * short, so the fd is released when it returns.  (docs/loop.md, the
 * I/O reference and "Closing".)
 *
 * Tasks record what they saw; the assertions read it after the run.
 * Nothing sleeps, nothing is timed, every loop is bounded.
 */
#define _GNU_SOURCE
#include "check.h"

#include <errno.h>
#include <ftw.h>
#include <poll.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
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

/* A cancelled task cleaning up: every other suspending call is
 * -ECANCELED, but its close still closes, with a waiter on the fd ended
 * as by any close. */
static void *closes_after_being_cancelled(void *arg)
{
	struct closing *s = arg;
	eddy_task *r = eddy_spawn(reads_fd0, s);
	eddy_yield(); /* the reader waits on the empty pipe now */
	eddy_cancel(eddy_self());
	s->r[1] = eddy_yield();
	s->closed = eddy_close(s->fds[0]);
	s->other_done = fcntl(s->fds[0], F_GETFD) == -1;
	if (!s->other_done)
		close(s->fds[0]);
	s->fds[0] = -1;
	s->r[2] = eddy_join(r, NULL); /* -ECANCELED: the reader ends anyway */
	return NULL;
}

BACKEND_TEST(close_in_a_cancelled_task_still_closes)
{
	EACH_BACKEND(b)
	{
		struct closing s = { .r = { 0 } };
		make_pipe(s.fds);
		if (run_on(b, closes_after_being_cancelled, &s)) {
			const char *n = backend_name(b);
			cr_expect_eq(s.r[1], -ECANCELED, "%s: yield %ld", n,
				     s.r[1]);
			cr_expect_eq(s.closed, 0, "%s: %ld", n, s.closed);
			cr_expect(s.other_done, "%s: the fd is still open", n);
			cr_expect_eq(s.r[0], -EBADF, "%s: the reader %ld", n,
				     s.r[0]);
		}
		if (s.fds[0] >= 0)
			close(s.fds[0]);
		close(s.fds[1]);
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

/*
 * A close that cannot be made at once: an overlayfs file has a flush
 * method, so io_uring's close never runs it inline but hands it to one of
 * the ring's workers, and the fd stays in the table until that worker
 * takes it.  An eddy_cancel (or, once, a timeout) that reached it there (a
 * cancel of a request still queued for a worker ends it with -ECANCELED,
 * unrun) made eddy_close say -ECANCELED with the fd still open.  A close
 * is never cut short now: it returns when the fd is released, with the
 * close's own result, on both backends.
 *
 * To hold the close in the worker queue, the loop's ring has one SQE
 * entry: a thread's io_uring workers are made for the first ring it
 * submits to (this one, in a fresh child), and that ring's SQ size bounds
 * them (min(SQ entries, 4 per CPU)), so there is one; an open of a FIFO
 * with O_CREAT, which waits on it for a reader, keeps it busy.  Under
 * epoll the close goes to the loop's pool and is made at once: the test
 * checks the same results there.  The overlay is mounted in a child
 * process's own mount namespace (as root, or in a user namespace); where
 * neither is allowed the test is skipped.
 */
struct worker_close {
	char path[3][96];               /* lower, upper, work dirs */
	char merged[96], file[112], fifo[96];
	/* what the child saw */
	enum eddy_backend backend;
	int fd;
	long closed, writer;
	bool still_open;
};

enum { CHILD_OK, CHILD_FAILED, CHILD_NO_OVERLAY };

static void *opens_the_fifo_for_writing(void *arg)
{
	struct worker_close *s = arg;
	s->writer = eddy_openat(AT_FDCWD, s->fifo,
				O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	return NULL;
}

static void *closes_the_overlay_file(void *arg)
{
	struct worker_close *s = arg;
	s->closed = eddy_close(s->fd);
	return NULL;
}

static void *closes_behind_a_busy_worker(void *arg)
{
	struct worker_close *s = arg;
	s->backend = eddy_loop_backend(eddy_loop_current());
	eddy_task *w = eddy_spawn(opens_the_fifo_for_writing, s);
	wait_for_a_thread_in("wait_for_partner");
	eddy_task *c = eddy_spawn(closes_the_overlay_file, s);
	eddy_yield(); /* the close is submitted: queued behind the open */
	eddy_cancel(c);
	for (int i = 0; i < 10; i++)
		eddy_yield(); /* the cancel is out */
	/* a reader frees the worker (and the FIFO open cannot block) */
	int reader = open(s->fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	eddy_join(c, NULL);
	eddy_join(w, NULL);
	s->still_open = fcntl(s->fd, F_GETFD) != -1;
	if (reader >= 0)
		close(reader);
	if (s->writer >= 0)
		close((int)s->writer);
	return NULL;
}

/* A mount namespace of our own: as root, or in a user namespace. */
static bool own_mount_namespace(void)
{
	if (unshare(CLONE_NEWNS) == 0)
		return true;
	uid_t uid = getuid();
	gid_t gid = getgid();
	if (unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0)
		return false;
	char map[64];
	snprintf(map, sizeof map, "0 %d 1", (int)uid);
	FILE *f = fopen("/proc/self/uid_map", "w");
	bool ok = f && fputs(map, f) >= 0;
	if (f)
		ok = !fclose(f) && ok;
	f = fopen("/proc/self/setgroups", "w");
	if (f) {
		fputs("deny", f);
		fclose(f);
	}
	snprintf(map, sizeof map, "0 %d 1", (int)gid);
	f = fopen("/proc/self/gid_map", "w");
	ok = f && fputs(map, f) >= 0 && ok;
	if (f)
		ok = !fclose(f) && ok;
	return ok;
}

/* In the child: mount the overlay, open a file in it, run the loop. */
static int close_on_an_overlay_file(struct worker_close *s,
				    enum eddy_backend b)
{
	char opts[400];
	snprintf(opts, sizeof opts, "lowerdir=%s,upperdir=%s,workdir=%s",
		 s->path[0], s->path[1], s->path[2]);
	if (!own_mount_namespace() ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
	    mount("overlay", s->merged, "overlay", 0, opts) != 0)
		return CHILD_NO_OVERLAY;
	s->fd = open(s->file, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (s->fd < 0)
		return CHILD_NO_OVERLAY;
	eddy_loop_config cfg = { .backend = b, .ring_entries = 1 };
	eddy_loop *loop = eddy_loop_new(&cfg);
	if (!loop)
		return errno == EPERM || errno == ENOSYS ? CHILD_NO_OVERLAY
							 : CHILD_FAILED;
	int r = eddy_loop_run(loop, closes_behind_a_busy_worker, s, NULL);
	eddy_loop_free(loop);
	return r ? CHILD_FAILED : CHILD_OK;
}

static int remove_one(const char *path, const struct stat *st, int flag,
		      struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

BACKEND_TEST(close_on_a_worker_is_not_cut_short_by_eddy_cancel)
{
	EACH_BACKEND(b)
	{
		struct worker_close *s = mmap(NULL, sizeof *s,
					      PROT_READ | PROT_WRITE,
					      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		cr_assert_neq(s, MAP_FAILED);
		*s = (struct worker_close){ .fd = -1, .writer = -1 };
		const char *tmp = getenv("TMPDIR");
		char dir[64], merged[96];
		snprintf(dir, sizeof dir, "%s/eddy-ovl-XXXXXX",
			 tmp && strlen(tmp) < 32 ? tmp : "/tmp");
		cr_assert_not_null(mkdtemp(dir));
		static const char *const names[] = { "lower", "upper", "work" };
		for (int i = 0; i < 3; i++) {
			snprintf(s->path[i], sizeof s->path[i], "%s/%s", dir,
				 names[i]);
			cr_assert_eq(mkdir(s->path[i], 0700), 0);
		}
		snprintf(merged, sizeof merged, "%s/merged", dir);
		cr_assert_eq(mkdir(merged, 0700), 0);
		snprintf(s->merged, sizeof s->merged, "%s", merged);
		snprintf(s->file, sizeof s->file, "%s/file", merged);
		snprintf(s->fifo, sizeof s->fifo, "%s/fifo", dir);
		cr_assert_eq(mkfifo(s->fifo, 0600), 0);
		fflush(NULL);
		pid_t pid = fork();
		cr_assert_neq(pid, -1);
		if (pid == 0)
			_exit(close_on_an_overlay_file(s, b));
		int status;
		cr_assert_eq(waitpid(pid, &status, 0), pid);
		nftw(dir, remove_one, 8, FTW_DEPTH | FTW_PHYS);
		struct worker_close seen = *s;
		munmap(s, sizeof *s);
		cr_assert(WIFEXITED(status), "the child crashed");
		if (WEXITSTATUS(status) == CHILD_NO_OVERLAY)
			cr_skip_test("no overlayfs mount allowed here");
		cr_assert_eq(WEXITSTATUS(status), CHILD_OK);
		const char *n = backend_name(seen.backend);
		cr_expect_eq(seen.closed, 0, "%s: %ld", n, seen.closed);
		cr_expect_not(seen.still_open, "%s: the fd is still open", n);
		cr_expect_geq(seen.writer, 0, "%s: %ld", n, seen.writer);
	}
}

