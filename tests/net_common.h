/*
 * What the TCP tests share: running a test as a main task, loopback
 * listeners, and connected pairs.  Included by tests/net_*.c, each its
 * own program.
 *
 * A test whose whole body runs as the main task is a LOOP_TEST
 * (loop_test.h); run_net(fn) runs fn as the main task for a test that
 * does more around it, and fn asserts as it goes and returns NULL.
 * Timeouts that must fire are SHORT_NS; those that must not, LONG_NS.
 */
#ifndef EDDY_TESTS_NET_COMMON_H
#define EDDY_TESTS_NET_COMMON_H

#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "loop_test.h"
#include "eddy.h"

#define V(n) ((void *)(intptr_t)(n))
#define N(p) ((long)(intptr_t)(p))

#define SHORT_NS 20000000ull              /* 20 ms: must fire */
#define LONG_NS (60ull * 1000000000ull)   /* must not */

static inline void run_net(eddy_fn fn)
{
	void *r = V(-1);
	cr_assert_eq(eddy_run(fn, NULL, &r), 0);
	cr_assert_null(r);
}

static inline int has_ipv6_loopback(void)
{
	int fd = socket(AF_INET6, SOCK_STREAM, 0);
	if (fd < 0)
		return 0;
	struct sockaddr_in6 a = { .sin6_family = AF_INET6,
				  .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	int ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
	close(fd);
	return ok;
}

static inline const char *port_str(int port)
{
	static char buf[2][12];
	static int i;
	i ^= 1;
	snprintf(buf[i], sizeof buf[i], "%d", port);
	return buf[i];
}

/* A listener on host, any port; *port gets it. */
static inline int listener(const char *host, int *port)
{
	int fd = eddy_tcp_listen(host, "0", NULL);
	cr_assert_geq(fd, 0, "listen on %s: %s", host ? host : "(any)",
		      eddy_strerror(fd));
	*port = eddy_tcp_local_port(fd);
	cr_assert_gt(*port, 0);
	return fd;
}

/* Connect to host:port within timeout_ns and accept it: the two ends in
 * c[0] (client) and c[1] (server). */
static inline void connected_pair_within(int lfd, const char *host, int port,
				  uint64_t timeout_ns, int c[2])
{
	c[0] = eddy_tcp_connect(host, port_str(port), timeout_ns);
	cr_assert_geq(c[0], 0, "connect %s: %s", host, eddy_strerror(c[0]));
	c[1] = eddy_tcp_accept(lfd, NULL, NULL);
	cr_assert_geq(c[1], 0);
}

static inline void connected_pair(int lfd, const char *host, int port, int c[2])
{
	connected_pair_within(lfd, host, port, LONG_NS, c);
}

static inline void close_pair(int c[2])
{
	close(c[0]);
	close(c[1]);
}

/* One byte from c[0] reaches c[1]. */
static inline void assert_talks(int c[2])
{
	char b = 0;
	cr_assert_eq(eddy_write_all(c[0], "x", 1, LONG_NS), 1);
	cr_assert_eq(eddy_recv(c[1], &b, 1, 0), 1);
	cr_assert_eq(b, 'x');
}

#endif
