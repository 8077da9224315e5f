/*
 * What the tests that run each scenario on both of the loop's backends
 * share (loop_backend_io.c, loop_backend_tcp.c, loop_backend_close.c,
 * loop_backend_blocking.c): a run on a backend, a
 * test macro with a timeout, pipes.  Each includer defines BACKEND_SUITE
 * before including this.
 */
#ifndef EDDY_TESTS_LOOP_BACKEND_COMMON_H
#define EDDY_TESTS_LOOP_BACKEND_COMMON_H

#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "eddy.h"

/* A bug here tends to hang the loop rather than crash: fail instead. */
#define BACKEND_TEST(name) Test(BACKEND_SUITE, name, .timeout = 60)

/* ---- running a scenario on each backend ---------------------------------- */

static inline const char *backend_name(enum eddy_backend b)
{
	return b == EDDY_BACKEND_URING ? "io_uring" : "epoll";
}

/*
 * Runs main(arg) on a loop asking for backend b.  false when b is io_uring
 * and this machine forbids it: main did not run.  (With EDDY_BACKEND set,
 * as `make test` does for its epoll run, the variable wins over b.)
 */
static inline bool run_on_ring(enum eddy_backend b, unsigned ring_entries,
			eddy_fn main, void *arg)
{
	eddy_loop_config cfg = { .backend = b, .ring_entries = ring_entries };
	eddy_loop *loop = eddy_loop_new(&cfg);
	if (!loop && b == EDDY_BACKEND_URING &&
	    (errno == EPERM || errno == ENOSYS))
		return false;
	cr_assert_not_null(loop, "%s: %s", backend_name(b), strerror(errno));
	int r = eddy_loop_run(loop, main, arg, NULL);
	eddy_loop_free(loop);
	cr_assert_eq(r, 0, "%s: eddy_loop_run: %d", backend_name(b), r);
	return true;
}

static inline bool run_on(enum eddy_backend b, eddy_fn main, void *arg)
{
	return run_on_ring(b, 0, main, arg);
}

#define EACH_BACKEND(b)                                                  \
	for (enum eddy_backend b = EDDY_BACKEND_URING;                   \
	     b <= EDDY_BACKEND_EPOLL; b++)

static inline void make_pipe(int fds[2])
{
	cr_assert_eq(pipe2(fds, O_CLOEXEC), 0);
}

static inline void close_both(int fds[2])
{
	close(fds[0]);
	close(fds[1]);
}

/* ---- a call blocked on one of io_uring's worker threads ------------------ */

/*
 * Waits (bounded: 5 s in 1 ms steps) until a thread of this process sleeps
 * in the kernel function wchan, as /proc/self/task/N/wchan says: an
 * io_uring operation that blocks on one of the ring's workers (a Unix
 * connect to a full backlog, an open of a FIFO with O_CREAT) is then
 * there, not still queued.  Where wchan is hidden, the bound runs out and
 * the test goes on all the same: it only exercises less.
 */
static inline void wait_for_a_thread_in(const char *wchan)
{
	for (int i = 0; i < 5000; i++) {
		DIR *d = opendir("/proc/self/task");
		if (!d)
			return;
		bool found = false;
		for (struct dirent *e; !found && (e = readdir(d));) {
			char path[64], got[64] = "";
			snprintf(path, sizeof path, "/proc/self/task/%.20s/wchan",
				 e->d_name);
			FILE *f = fopen(path, "r");
			if (!f)
				continue;
			found = fgets(got, sizeof got, f) && !strcmp(got, wchan);
			fclose(f);
		}
		closedir(d);
		if (found)
			return;
		eddy_sleep(1000000);
	}
}

#endif
