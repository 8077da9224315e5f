/*
 * TCP sockets: listening on IPv4, IPv6 and both, sharing a port, accepting
 * (and its cancellation), connecting (refused, timed out, cancelled before
 * or during the attempt, with no descriptor left behind), the socket
 * options, and the ends of a connection (a cancelled close still closes).
 * Everything is on loopback.
 */
#define _GNU_SOURCE
#include "net_common.h"
#include "accept_queue.h"
#include "refused_port.h"

#include <fcntl.h>
#include <netinet/tcp.h>
#include <string.h>

EDDY_SUITE(net_tcp);

/* ---- listen and accept ------------------------------------------------- */

LOOP_TEST(net_tcp, listen_on_ipv4_loopback_accepts_with_the_peer_address)
{
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

LOOP_TEST(net_tcp, listen_on_every_address_takes_ipv4_and_ipv6)
{
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
}

static void *v6only_refuses_v4(void *arg)
{
	(void)arg;
	/* The port's IPv4 side first, held by a socket that does not
	 * listen, so that no other socket listens there (refused_port.h);
	 * then the IPv6-only listener on the same port, which a dual-stack
	 * one could not share. */
	struct sockaddr_in four;
	int held = hold_port(INADDR_ANY, 0, &four);
	const char *port = port_str(ntohs(four.sin_port));
	int lfd = eddy_tcp_listen("::", port,
				  &(eddy_tcp_listen_opts){ .v6only = 1 });
	cr_assert_geq(lfd, 0, "%s", eddy_strerror(lfd));
	cr_assert_eq(eddy_tcp_connect("127.0.0.1", port, LONG_NS),
		     -ECONNREFUSED);
	close(lfd);
	close(held);
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

LOOP_TEST(net_tcp, listening_on_a_port_in_use_is_eaddrinuse)
{
	int port;
	int a = listener("127.0.0.1", &port);
	cr_assert_eq(eddy_tcp_listen("127.0.0.1", port_str(port), NULL),
		     -EADDRINUSE);
	close(a);
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

static void *accept_on(void *arg)
{
	return V(eddy_tcp_accept((int)N(arg), NULL, NULL));
}

LOOP_TEST(net_tcp, accept_cancelled_while_waiting_is_ecanceled)
{
	int port;
	int lfd = listener("127.0.0.1", &port);
	eddy_task *t = eddy_spawn(accept_on, V(lfd));
	cr_assert_not_null(t);
	cr_assert_eq(eddy_yield(), 0); /* t waits in accept */
	cr_assert_eq(eddy_cancel(t), 0);
	void *r;
	cr_assert_eq(eddy_join(t, &r), 0);
	cr_assert_eq(N(r), -ECANCELED);
	close(lfd);
}

/* The server's listeners are non-blocking (it drains them with accept4):
 * eddy_tcp_accept on one still waits for a connection, on both backends. */
LOOP_TEST(net_tcp, accept_on_a_nonblocking_listener_waits_for_a_connection)
{
	int port;
	int lfd = listener("127.0.0.1", &port);
	cr_assert_eq(fcntl(lfd, F_SETFL, fcntl(lfd, F_GETFL) | O_NONBLOCK), 0);
	eddy_task *t = eddy_spawn(accept_on, V(lfd));
	cr_assert_not_null(t);
	cr_assert_eq(eddy_yield(), 0); /* it runs and waits: nothing queued */
	int c[2];
	c[0] = eddy_tcp_connect("127.0.0.1", port_str(port), LONG_NS);
	cr_assert_geq(c[0], 0);
	void *fd;
	cr_assert_eq(eddy_join(t, &fd), 0);
	c[1] = (int)N(fd);
	cr_assert_geq(c[1], 0, "%s", eddy_strerror(c[1]));
	assert_talks(c);
	close_pair(c);
	close(lfd);
}

/* ---- connect ------------------------------------------------------------ */

/* The descriptors this process has open. */
static int open_fds(void)
{
	int n = 0;
	for (int fd = 0; fd < 4096; fd++)
		n += fcntl(fd, F_GETFD) >= 0;
	return n;
}

static void *refused(void *arg)
{
	(void)arg;
	struct sockaddr_in addr;
	int held = refused_port(&addr); /* nobody listens there */
	const char *port = port_str(ntohs(addr.sin_port));
	cr_assert_eq(eddy_tcp_connect("127.0.0.1", port, LONG_NS),
		     -ECONNREFUSED);
	close(held);
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
struct full_backlog {
	int lfd, port;
	int fds[8], n; /* the connections that filled it */
};

/* A listener with backlog 1, connected to until it says its queue is
 * full (accept_queue.h); then a connect times out. */
static void fill_backlog(struct full_backlog *b)
{
	b->lfd = eddy_tcp_listen("127.0.0.1", "0",
				 &(eddy_tcp_listen_opts){ .backlog = 1 });
	cr_assert_geq(b->lfd, 0);
	b->port = eddy_tcp_local_port(b->lfd);
	b->n = 0;
	while (b->n < 8 && !accept_queue_wait(b->lfd, (unsigned)b->n)) {
		/* room in the queue: the handshake completes */
		int fd = eddy_tcp_connect("127.0.0.1", port_str(b->port),
					  LONG_NS);
		cr_assert_geq(fd, 0, "connection %d: %s", b->n,
			      eddy_strerror(fd));
		b->fds[b->n++] = fd;
	}
	cr_assert_lt(b->n, 8, "the queue never filled");
	int r = eddy_tcp_connect("127.0.0.1", port_str(b->port), SHORT_NS);
	cr_assert_eq(r, -ETIMEDOUT, "after %d connections: %s", b->n,
		     eddy_strerror(r));
}

static void close_backlog(struct full_backlog *b)
{
	while (b->n)
		close(b->fds[--b->n]);
	close(b->lfd);
}

LOOP_TEST(net_tcp, connect_to_a_full_backlog_times_out)
{
	struct full_backlog b;
	fill_backlog(&b);
	close_backlog(&b);
}

static void *connect_to(void *arg)
{
	return V(eddy_tcp_connect("127.0.0.1", port_str((int)N(arg)),
				  LONG_NS));
}

/* A connect cancelled while its SYN waits on a full backlog closes the
 * socket it made. */
LOOP_TEST(net_tcp, connect_cancelled_while_connecting_closes_its_socket)
{
	struct full_backlog b;
	fill_backlog(&b);
	int before = open_fds();
	eddy_task *t = eddy_spawn(connect_to, V(b.port));
	cr_assert_not_null(t);
	cr_assert_eq(eddy_yield(), 0); /* t waits in connect */
	cr_assert_eq(eddy_cancel(t), 0);
	void *got;
	cr_assert_eq(eddy_join(t, &got), 0);
	cr_assert_eq(N(got), -ECANCELED);
	cr_assert_eq(open_fds(), before, "the cancelled connect leaked");
	close_backlog(&b);
}

LOOP_TEST(net_tcp, connect_in_a_cancelled_task_is_ecanceled)
{
	eddy_cancel(eddy_self());
	cr_assert_eq(eddy_tcp_connect("localhost", "1", LONG_NS), -ECANCELED);
}

/* ---- options and the ends of a connection ------------------------------ */

LOOP_TEST(net_tcp, nodelay_switches_tcp_nodelay)
{
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
}

LOOP_TEST(net_tcp, shutdown_of_writing_gives_the_peer_eof_and_keeps_reading)
{
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

LOOP_TEST(net_tcp, graceful_close_delivers_everything_and_waits_for_the_peer)
{
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
}

LOOP_TEST(net_tcp, close_whose_peer_stays_open_times_out_and_still_closes)
{
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
}

LOOP_TEST(net_tcp, close_without_linger_does_not_wait)
{
	int port, c[2];
	char b;
	int lfd = listener("127.0.0.1", &port);
	connected_pair(lfd, "127.0.0.1", port, c);
	cr_assert_eq(eddy_tcp_close(c[0], 0), 0);
	cr_assert_eq(eddy_recv(c[1], &b, 1, 0), 0);
	close(c[1]);
	close(lfd);
}

/* A cancelled task's graceful close gives up waiting for the peer, and
 * still closes: the peer reads EOF. */
LOOP_TEST(net_tcp, close_in_a_cancelled_task_still_closes)
{
	int port, c[2];
	char b;
	int lfd = listener("127.0.0.1", &port);
	connected_pair(lfd, "127.0.0.1", port, c);
	cr_assert_eq(eddy_cancel(eddy_self()), 0);
	cr_assert_eq(eddy_tcp_close(c[0], LONG_NS), -ECANCELED);
	cr_assert_eq(fcntl(c[0], F_GETFD), -1);
	cr_assert_eq(recv(c[1], &b, 1, 0), 0);
	close(c[1]);
	close(lfd);
}
