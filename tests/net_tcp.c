/*
 * TCP sockets: listening on IPv4, IPv6 and both, sharing a port, accepting,
 * connecting (refused, timed out, by name), the socket options, the ends
 * of a connection, and writing everything through short writes.
 *
 * Each test runs inside eddy_run: run_net(fn) runs fn as the main task,
 * which asserts as it goes and returns NULL.  Everything is on loopback.
 */
#define _GNU_SOURCE
#include "check.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "eddy.h"

EDDY_SUITE(net_tcp);

#define V(n) ((void *)(intptr_t)(n))
#define N(p) ((long)(intptr_t)(p))

#define SHORT_NS 20000000ull              /* 20 ms: must fire */
#define LONG_NS (60ull * 1000000000ull)   /* must not */

static void run_net(eddy_fn fn)
{
	void *r = V(-1);
	cr_assert_eq(eddy_run(fn, NULL, &r), 0);
	cr_assert_null(r);
}

static int has_ipv6_loopback(void)
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

static const char *port_str(int port)
{
	static char buf[2][12];
	static int i;
	i ^= 1;
	snprintf(buf[i], sizeof buf[i], "%d", port);
	return buf[i];
}

/* A listener on host, any port; *port gets it. */
static int listener(const char *host, int *port)
{
	int fd = eddy_tcp_listen(host, "0", NULL);
	cr_assert_geq(fd, 0, "listen on %s: %s", host ? host : "(any)",
		      eddy_strerror(fd));
	*port = eddy_tcp_local_port(fd);
	cr_assert_gt(*port, 0);
	return fd;
}

/* Connect to host:port and accept it: the two ends in c[0] (client)
 * and c[1] (server). */
static void connected_pair(int lfd, const char *host, int port, int c[2])
{
	c[0] = eddy_tcp_connect(host, port_str(port), LONG_NS);
	cr_assert_geq(c[0], 0, "connect %s: %s", host, eddy_strerror(c[0]));
	c[1] = eddy_tcp_accept(lfd, NULL, NULL);
	cr_assert_geq(c[1], 0);
}

static void close_pair(int c[2])
{
	close(c[0]);
	close(c[1]);
}

/* One byte from c[0] reaches c[1]. */
static void assert_talks(int c[2])
{
	char b = 0;
	cr_assert_eq(eddy_write_all(c[0], "x", 1, LONG_NS), 1);
	cr_assert_eq(eddy_recv(c[1], &b, 1, 0), 1);
	cr_assert_eq(b, 'x');
}

/* ---- listen and accept ------------------------------------------------- */

static void *listen_ipv4(void *arg)
{
	(void)arg;
	int port, c[2];
	int lfd = listener("127.0.0.1", &port);
	struct sockaddr_storage peer;
	socklen_t len = 0;
	c[0] = eddy_tcp_connect("127.0.0.1", port_str(port), LONG_NS);
	cr_assert_geq(c[0], 0);
	c[1] = eddy_tcp_accept(lfd, &peer, &len);
	cr_assert_geq(c[1], 0);
	cr_assert_eq(peer.ss_family, AF_INET);
	cr_assert_eq(len, sizeof(struct sockaddr_in));
	cr_assert_eq(((struct sockaddr_in *)&peer)->sin_addr.s_addr,
		     htonl(INADDR_LOOPBACK));
	cr_assert_eq(fcntl(c[1], F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	assert_talks(c);
	close_pair(c);
	close(lfd);
	return NULL;
}

Test(net_tcp, listen_on_ipv4_loopback_accepts_with_the_peer_address)
{
	run_net(listen_ipv4);
}

static void *listen_ipv6(void *arg)
{
	(void)arg;
	int port, c[2];
	int lfd = listener("::1", &port);
	connected_pair(lfd, "::1", port, c);
	assert_talks(c);
	close_pair(c);
	close(lfd);
	return NULL;
}

Test(net_tcp, listen_on_ipv6_loopback)
{
	if (!has_ipv6_loopback())
		cr_skip_test("no IPv6 loopback here");
	run_net(listen_ipv6);
}

static void *listen_any_dual(void *arg)
{
	(void)arg;
	int port, c[2];
	int lfd = listener(NULL, &port);
	connected_pair(lfd, "127.0.0.1", port, c);
	assert_talks(c);
	close_pair(c);
	if (has_ipv6_loopback()) {
		connected_pair(lfd, "::1", port, c);
		assert_talks(c);
		close_pair(c);
	}
	close(lfd);
	return NULL;
}

Test(net_tcp, listen_on_every_address_takes_ipv4_and_ipv6)
{
	run_net(listen_any_dual);
}

static void *v6only_refuses_v4(void *arg)
{
	(void)arg;
	int lfd = eddy_tcp_listen("::", "0",
				  &(eddy_tcp_listen_opts){ .v6only = 1 });
	cr_assert_geq(lfd, 0);
	int port = eddy_tcp_local_port(lfd);
	cr_assert_eq(eddy_tcp_connect("127.0.0.1", port_str(port), LONG_NS),
		     -ECONNREFUSED);
	close(lfd);
	return NULL;
}

Test(net_tcp, v6only_listener_refuses_ipv4)
{
	if (!has_ipv6_loopback())
		cr_skip_test("no IPv6 loopback here");
	run_net(v6only_refuses_v4);
}

static void *reuseport(void *arg)
{
	(void)arg;
	eddy_tcp_listen_opts o = { .reuseport = 1 };
	int a = eddy_tcp_listen("127.0.0.1", "0", &o);
	cr_assert_geq(a, 0);
	const char *port = port_str(eddy_tcp_local_port(a));
	int b = eddy_tcp_listen("127.0.0.1", port, &o);
	cr_assert_geq(b, 0, "%s", eddy_strerror(b));
	cr_assert_eq(eddy_tcp_local_port(b), eddy_tcp_local_port(a));
	close(a);
	close(b);
	return NULL;
}

Test(net_tcp, reuseport_lets_two_listeners_share_a_port)
{
	run_net(reuseport);
}

static void *port_in_use(void *arg)
{
	(void)arg;
	int port;
	int a = listener("127.0.0.1", &port);
	cr_assert_eq(eddy_tcp_listen("127.0.0.1", port_str(port), NULL),
		     -EADDRINUSE);
	close(a);
	return NULL;
}

Test(net_tcp, listening_on_a_port_in_use_is_eaddrinuse)
{
	run_net(port_in_use);
}

Test(net_tcp, bad_arguments_are_einval)
{
	cr_assert_eq(eddy_tcp_listen("127.0.0.1", NULL, NULL), -EINVAL);
	cr_assert_eq(eddy_tcp_listen("127.0.0.1", "no-such-service-x", NULL),
		     -EINVAL);
	cr_assert_eq(eddy_tcp_listen("127.0.0.1", "0",
				     &(eddy_tcp_listen_opts){ .backlog = -1 }),
		     -EINVAL);
	cr_assert_eq(eddy_tcp_connect(NULL, "80", 0), -EINVAL);
}

Test(net_tcp, accept_outside_a_task_is_eperm)
{
	int port;
	int lfd = listener("127.0.0.1", &port);
	cr_assert_eq(eddy_tcp_accept(lfd, NULL, NULL), -EPERM);
	close(lfd);
}

/* ---- connect ------------------------------------------------------------ */

static void *refused(void *arg)
{
	(void)arg;
	int port;
	int lfd = listener("127.0.0.1", &port);
	close(lfd); /* nobody listens on port now */
	cr_assert_eq(eddy_tcp_connect("127.0.0.1", port_str(port), LONG_NS),
		     -ECONNREFUSED);
	return NULL;
}

Test(net_tcp, connect_to_a_closed_port_is_econnrefused)
{
	run_net(refused);
}

/*
 * A listener whose accept queue is full drops new SYNs (Linux, however
 * tcp_syncookies is set), so a connect waits for the retransmission, a
 * second away: well past the timeout.  backlog 1 holds up to two.
 */
static void *times_out(void *arg)
{
	(void)arg;
	int port;
	int lfd = eddy_tcp_listen("127.0.0.1", "0",
				  &(eddy_tcp_listen_opts){ .backlog = 1 });
	cr_assert_geq(lfd, 0);
	port = eddy_tcp_local_port(lfd);
	int fds[8], n = 0, r = 0;
	while (n < 8) {
		r = eddy_tcp_connect("127.0.0.1", port_str(port), SHORT_NS);
		if (r < 0)
			break;
		fds[n++] = r;
	}
	cr_assert_eq(r, -ETIMEDOUT, "after %d connections: %s", n,
		     eddy_strerror(r));
	while (n)
		close(fds[--n]);
	close(lfd);
	return NULL;
}

Test(net_tcp, connect_to_a_full_backlog_times_out)
{
	run_net(times_out);
}

static void *by_name(void *arg)
{
	(void)arg;
	int port, c[2];
	int lfd = listener(NULL, &port);
	connected_pair(lfd, "localhost", port, c);
	assert_talks(c);
	close_pair(c);
	close(lfd);
	return NULL;
}

Test(net_tcp, connect_resolves_a_name_on_the_worker_pool)
{
	run_net(by_name);
}

static void *cancelled_connect(void *arg)
{
	(void)arg;
	eddy_cancel(eddy_self());
	cr_assert_eq(eddy_tcp_connect("localhost", "1", LONG_NS), -ECANCELED);
	return NULL;
}

Test(net_tcp, connect_in_a_cancelled_task_is_ecanceled)
{
	run_net(cancelled_connect);
}

/* ---- options and the ends of a connection ------------------------------ */

static void *nodelay(void *arg)
{
	(void)arg;
	int port, c[2], on = -1;
	socklen_t len = sizeof on;
	int lfd = listener("127.0.0.1", &port);
	connected_pair(lfd, "127.0.0.1", port, c);
	cr_assert_eq(eddy_tcp_nodelay(c[0], 1), 0);
	cr_assert_eq(getsockopt(c[0], IPPROTO_TCP, TCP_NODELAY, &on, &len), 0);
	cr_assert_neq(on, 0);
	cr_assert_eq(eddy_tcp_nodelay(c[0], 0), 0);
	cr_assert_eq(getsockopt(c[0], IPPROTO_TCP, TCP_NODELAY, &on, &len), 0);
	cr_assert_eq(on, 0);
	cr_assert_eq(eddy_tcp_nodelay(-1, 1), -EBADF);
	close_pair(c);
	close(lfd);
	return NULL;
}

Test(net_tcp, nodelay_switches_tcp_nodelay)
{
	run_net(nodelay);
}

static void *half_close(void *arg)
{
	(void)arg;
	int port, c[2];
	char b[4];
	int lfd = listener("127.0.0.1", &port);
	connected_pair(lfd, "127.0.0.1", port, c);
	cr_assert_eq(eddy_tcp_shutdown(c[0], SHUT_WR), 0);
	cr_assert_eq(eddy_recv(c[1], b, sizeof b, 0), 0); /* EOF */
	/* the other direction still works */
	cr_assert_eq(eddy_write_all(c[1], "ok", 2, LONG_NS), 2);
	cr_assert_eq(eddy_recv(c[0], b, sizeof b, 0), 2);
	cr_assert_eq(eddy_tcp_shutdown(-1, SHUT_WR), -EBADF);
	close_pair(c);
	close(lfd);
	return NULL;
}

Test(net_tcp, shutdown_of_writing_gives_the_peer_eof_and_keeps_reading)
{
	run_net(half_close);
}

/* The peer of a graceful close: reads everything, answers, then closes. */
static void *peer_reads_then_closes(void *arg)
{
	int fd = (int)N(arg);
	char buf[65536];
	long total = 0;
	ssize_t n;
	while ((n = eddy_recv(fd, buf, sizeof buf, 0)) > 0)
		total += n;
	cr_assert_eq(n, 0);
	/* what it sends after our shutdown is drained by the close */
	cr_assert_eq(eddy_write_all(fd, buf, 1000, LONG_NS), 1000);
	close(fd);
	return V(total);
}

static void *graceful_close(void *arg)
{
	(void)arg;
	int port, c[2];
	static char big[300000];
	int lfd = listener("127.0.0.1", &port);
	connected_pair(lfd, "127.0.0.1", port, c);
	eddy_task *peer = eddy_spawn(peer_reads_then_closes, V(c[1]));
	cr_assert_eq(eddy_write_all(c[0], big, sizeof big, LONG_NS),
		     (ssize_t)sizeof big);
	cr_assert_eq(eddy_tcp_close(c[0], LONG_NS), 0);
	cr_assert_eq(fcntl(c[0], F_GETFD), -1); /* closed */
	void *total;
	cr_assert_eq(eddy_join(peer, &total), 0);
	cr_assert_eq(N(total), (long)sizeof big);
	close(lfd);
	return NULL;
}

Test(net_tcp, graceful_close_delivers_everything_and_waits_for_the_peer)
{
	run_net(graceful_close);
}

static void *linger_runs_out(void *arg)
{
	(void)arg;
	int port, c[2];
	int lfd = listener("127.0.0.1", &port);
	connected_pair(lfd, "127.0.0.1", port, c);
	/* c[1] never closes: the linger runs out, and c[0] is closed */
	cr_assert_eq(eddy_tcp_close(c[0], SHORT_NS), -ETIMEDOUT);
	cr_assert_eq(fcntl(c[0], F_GETFD), -1);
	char b;
	cr_assert_eq(eddy_recv(c[1], &b, 1, 0), 0);
	close(c[1]);
	close(lfd);
	return NULL;
}

Test(net_tcp, close_whose_peer_stays_open_times_out_and_still_closes)
{
	run_net(linger_runs_out);
}

static void *close_no_linger(void *arg)
{
	(void)arg;
	int port, c[2];
	char b;
	int lfd = listener("127.0.0.1", &port);
	connected_pair(lfd, "127.0.0.1", port, c);
	cr_assert_eq(eddy_tcp_close(c[0], 0), 0);
	cr_assert_eq(eddy_recv(c[1], &b, 1, 0), 0);
	close(c[1]);
	close(lfd);
	return NULL;
}

Test(net_tcp, close_without_linger_does_not_wait)
{
	run_net(close_no_linger);
}

/* ---- writing everything ------------------------------------------------ */

#define BIG (1 << 20)

/* Reads n bytes in small pieces, yielding between them, and checks that
 * byte i is (char)(i * 7). */
static void *slow_reader(void *arg)
{
	int fd = (int)N(arg);
	char buf[1000];
	long got = 0;
	ssize_t n;
	while ((n = eddy_recv(fd, buf, sizeof buf, 0)) > 0) {
		for (ssize_t i = 0; i < n; i++)
			cr_assert_eq(buf[i], (char)((got + i) * 7));
		got += n;
		eddy_yield();
	}
	return V(got);
}

static char *pattern(size_t n)
{
	char *p = malloc(n);
	cr_assert_not_null(p);
	for (size_t i = 0; i < n; i++)
		p[i] = (char)(i * 7);
	return p;
}

/* A pair whose buffers are small, so that sends are short. */
static void small_buffers(int c[2])
{
	int small = 4096;
	cr_assert_eq(setsockopt(c[0], SOL_SOCKET, SO_SNDBUF, &small,
				sizeof small), 0);
	cr_assert_eq(setsockopt(c[1], SOL_SOCKET, SO_RCVBUF, &small,
				sizeof small), 0);
}

static void *short_writes(void *arg)
{
	(void)arg;
	int port, c[2];
	int lfd = listener("127.0.0.1", &port);
	connected_pair(lfd, "127.0.0.1", port, c);
	small_buffers(c);
	char *p = pattern(BIG);
	eddy_task *r = eddy_spawn(slow_reader, V(c[1]));
	cr_assert_eq(eddy_write_all(c[0], p, BIG, LONG_NS), BIG);
	cr_assert_eq(eddy_tcp_shutdown(c[0], SHUT_WR), 0);
	void *got;
	cr_assert_eq(eddy_join(r, &got), 0);
	cr_assert_eq(N(got), BIG);
	free(p);
	close_pair(c);
	close(lfd);
	return NULL;
}

Test(net_tcp, write_all_sends_everything_through_short_writes)
{
	run_net(short_writes);
}

static void *vector(void *arg)
{
	(void)arg;
	int port, c[2];
	int lfd = listener("127.0.0.1", &port);
	connected_pair(lfd, "127.0.0.1", port, c);
	small_buffers(c);
	char *p = pattern(BIG);
	/* small and large pieces, and empty ones, back to back */
	size_t sizes[] = { 10, 0, 200, 5000, 1, 100000, 3, 4096, 0, 70000 };
	struct iovec iov[64];
	int n = 0;
	size_t off = 0;
	while (off < BIG) {
		size_t l = sizes[n % 10];
		if (l > BIG - off || n == 63)
			l = BIG - off;
		iov[n++] = (struct iovec){ p + off, l };
		off += l;
	}
	eddy_task *r = eddy_spawn(slow_reader, V(c[1]));
	cr_assert_eq(eddy_writev_all(c[0], iov, n, LONG_NS), BIG);
	cr_assert_eq(eddy_tcp_shutdown(c[0], SHUT_WR), 0);
	void *got;
	cr_assert_eq(eddy_join(r, &got), 0);
	cr_assert_eq(N(got), BIG);
	free(p);
	close_pair(c);
	close(lfd);
	return NULL;
}

Test(net_tcp, writev_all_sends_every_buffer_in_order)
{
	run_net(vector);
}

static void *write_timeout(void *arg)
{
	(void)arg;
	int port, c[2];
	int lfd = listener("127.0.0.1", &port);
	connected_pair(lfd, "127.0.0.1", port, c);
	small_buffers(c);
	char *p = pattern(BIG);
	/* nobody reads c[1] */
	cr_assert_eq(eddy_write_all(c[0], p, BIG, SHORT_NS), -ETIMEDOUT);
	free(p);
	close_pair(c);
	close(lfd);
	return NULL;
}

Test(net_tcp, write_all_to_a_peer_that_does_not_read_times_out)
{
	run_net(write_timeout);
}

static void *closed_peer(void *arg)
{
	(void)arg;
	int port, c[2];
	int lfd = listener("127.0.0.1", &port);
	connected_pair(lfd, "127.0.0.1", port, c);
	close(c[1]);
	char buf[4096] = { 0 };
	ssize_t r;
	/* the first write may still be taken; the reset comes back */
	for (int i = 0; i < 100; i++)
		if ((r = eddy_write_all(c[0], buf, sizeof buf, LONG_NS)) < 0)
			break;
	cr_assert(r == -EPIPE || r == -ECONNRESET, "%s", eddy_strerror(r));
	close(c[0]);
	close(lfd);
	return NULL;
}

Test(net_tcp, write_all_to_a_closed_peer_is_an_error_not_sigpipe)
{
	run_net(closed_peer);
}

static void *to_a_pipe(void *arg)
{
	(void)arg;
	int p[2];
	cr_assert_eq(pipe(p), 0);
	struct iovec iov[2] = { { "ab", 2 }, { "cde", 3 } };
	cr_assert_eq(eddy_write_all(p[1], "xyz", 3, 0), 3);
	cr_assert_eq(eddy_writev_all(p[1], iov, 2, 0), 5);
	char buf[16] = { 0 };
	cr_assert_eq(eddy_read(p[0], buf, sizeof buf), 8);
	cr_assert_str_eq(buf, "xyzabcde");
	close(p[0]);
	close(p[1]);
	return NULL;
}

Test(net_tcp, write_all_writes_to_descriptors_that_are_not_sockets)
{
	run_net(to_a_pipe);
}
