/*
 * Connecting by name: the lookup runs on the loop's worker pool (so these
 * tests run threads, and run under ThreadSanitizer too), within the
 * connect's timeout or without one, and a task cancelled or timed out
 * while it waits leaves the lookup to the worker without leaking it.
 */
#define _GNU_SOURCE
#include "net_common.h"

#include <fcntl.h>
#include <netinet/tcp.h>
#include <string.h>

EDDY_SUITE(net_resolve);

/* A connection to "localhost" (a name: looked up on the worker pool)
 * within timeout_ns, on a listener of every address. */
static void by_name_within(uint64_t timeout_ns)
{
	int port, c[2];
	int lfd = listener(NULL, &port);
	connected_pair_within(lfd, "localhost", port, timeout_ns, c);
	assert_talks(c);
	close_pair(c);
	close(lfd);
}

LOOP_TEST(net_resolve, connect_resolves_a_name_on_the_worker_pool)
{
	by_name_within(LONG_NS);
}

LOOP_TEST(net_resolve, connect_resolves_a_name_without_a_timeout)
{
	by_name_within(0);
}

/*
 * Timeouts of a few microseconds race the lookup on the worker: either
 * may win.  Whichever does, the call returns a connection or -ETIMEDOUT,
 * and the lookup's memory is freed by the last of the task and the
 * worker to leave it (ASan's leak check runs after the test).
 */
LOOP_TEST(net_resolve, connect_by_name_with_a_tiny_timeout_times_out_or_connects)
{
	int port;
	int lfd = listener(NULL, &port);
	for (uint64_t us = 1; us <= 64; us *= 2) {
		int fd = eddy_tcp_connect("localhost", port_str(port),
					  us * 1000);
		cr_assert(fd >= 0 || fd == -ETIMEDOUT, "%s", eddy_strerror(fd));
		if (fd >= 0)
			close(fd);
	}
	close(lfd);
}

static void *connect_localhost(void *arg)
{
	(void)arg;
	return V(eddy_tcp_connect("localhost", "1", LONG_NS));
}

LOOP_TEST(net_resolve, connect_cancelled_during_the_lookup_is_ecanceled)
{
	eddy_task *t = eddy_spawn(connect_localhost, NULL);
	cr_assert_not_null(t);
	/* t waits on the race of its lookup and its timeout, whose tasks
	 * have not run yet: the lookup never reaches a worker (the test
	 * below covers one that did) */
	eddy_yield();
	cr_assert_eq(eddy_cancel(t), 0);
	void *r;
	cr_assert_eq(eddy_join(t, &r), 0);
	cr_assert_eq(N(r), -ECANCELED);
}

/*
 * The path where the worker outlives the task: a loop with one worker,
 * kept busy by a job that waits on a pipe, so that the lookup is queued
 * behind it when its task is cancelled.  The worker runs the lookup after
 * the task has left and frees it (ASan finds a leak or a use after free
 * otherwise; TSan a race on its counter).
 */
static int worker_gate[2];

static void *wait_for_gate(void *arg)
{
	(void)arg;
	char b;
	return V(read(worker_gate[0], &b, 1));
}

static void *occupy_the_worker(void *arg)
{
	(void)arg;
	void *r = NULL;
	int err = eddy_to_thread(wait_for_gate, NULL, EDDY_COPY, &r);
	return V(err ? err : N(r));
}

static void *connect_localhost_no_timeout(void *arg)
{
	(void)arg;
	return V(eddy_tcp_connect("localhost", "1", 0));
}

static void *cancel_with_lookup_queued(void *arg)
{
	(void)arg;
	cr_assert_eq(pipe(worker_gate), 0);
	eddy_task *busy = eddy_spawn(occupy_the_worker, NULL);
	cr_assert_not_null(busy);
	cr_assert_eq(eddy_yield(), 0); /* the only worker waits on the gate */
	eddy_task *t = eddy_spawn(connect_localhost_no_timeout, NULL);
	cr_assert_not_null(t);
	/* t runs to the lookup's checkpoint, then hands the lookup over */
	cr_assert_eq(eddy_yield(), 0);
	cr_assert_eq(eddy_yield(), 0);
	cr_assert_eq(eddy_cancel(t), 0);
	void *r;
	cr_assert_eq(eddy_join(t, &r), 0);
	cr_assert_eq(N(r), -ECANCELED);
	cr_assert_eq(write(worker_gate[1], "x", 1), 1);
	cr_assert_eq(eddy_join(busy, &r), 0);
	cr_assert_eq(N(r), 1);
	close(worker_gate[0]);
	close(worker_gate[1]);
	return NULL;
}

Test(net_resolve, connect_cancelled_with_its_lookup_queued_leaves_it_to_the_worker)
{
	eddy_loop *loop = eddy_loop_new(&(eddy_loop_config){ .workers = 1 });
	cr_assert_not_null(loop);
	void *r = V(-1);
	cr_assert_eq(eddy_loop_run(loop, cancel_with_lookup_queued, NULL, &r),
		     0);
	cr_assert_null(r);
	eddy_loop_free(loop);
}
