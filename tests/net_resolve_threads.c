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

static void *by_name(void *arg)
{
	(void)arg;
	by_name_within(LONG_NS);
	return NULL;
}

Test(net_resolve, connect_resolves_a_name_on_the_worker_pool)
{
	run_net(by_name);
}

static void *by_name_no_timeout(void *arg)
{
	(void)arg;
	by_name_within(0);
	return NULL;
}

Test(net_resolve, connect_resolves_a_name_without_a_timeout)
{
	run_net(by_name_no_timeout);
}

/*
 * Timeouts of a few microseconds race the lookup on the worker: either
 * may win.  Whichever does, the call returns a connection or -ETIMEDOUT,
 * and the lookup's memory is freed by the last of the task and the
 * worker to leave it (ASan's leak check runs after the test).
 */
static void *lookup_races_deadline(void *arg)
{
	(void)arg;
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
	return NULL;
}

Test(net_resolve, connect_by_name_with_a_tiny_timeout_times_out_or_connects)
{
	run_net(lookup_races_deadline);
}

static void *connect_localhost(void *arg)
{
	(void)arg;
	return V(eddy_tcp_connect("localhost", "1", LONG_NS));
}

static void *cancel_during_lookup(void *arg)
{
	(void)arg;
	eddy_task *t = eddy_spawn(connect_localhost, NULL);
	cr_assert_not_null(t);
	eddy_yield(); /* t waits for its lookup */
	cr_assert_eq(eddy_cancel(t), 0);
	void *r;
	cr_assert_eq(eddy_join(t, &r), 0);
	cr_assert_eq(N(r), -ECANCELED);
	return NULL;
}

Test(net_resolve, connect_cancelled_during_the_lookup_is_ecanceled)
{
	run_net(cancel_during_lookup);
}
