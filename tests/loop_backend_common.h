/*
 * What the tests that run each scenario on both of the loop's backends
 * share (loop_backend_io.c, loop_backend_close.c): a run on a backend, a
 * test macro with a timeout, pipes.  Each includer defines BACKEND_SUITE
 * before including this.
 */
#ifndef EDDY_TESTS_LOOP_BACKEND_COMMON_H
#define EDDY_TESTS_LOOP_BACKEND_COMMON_H

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
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

#endif
