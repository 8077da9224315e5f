/*
 * Accept and connect on loopback, on both of the loop's backends (as
 * loop_backend_io.c does for the other I/O calls): each test runs once on
 * io_uring (when this machine allows it) and once on epoll.
 *
 * Tasks record what they saw; the assertions read it after the run.
 * Nothing sleeps, nothing is timed, every loop is bounded.
 */
#define _GNU_SOURCE
#include "check.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "eddy.h"

#define BACKEND_SUITE loop_backend_tcp
#include "loop_backend_common.h"
#include "refused_port.h"

EDDY_SUITE(loop_backend_tcp);

static int listener(struct sockaddr_in *addr)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(fd, 0);
	*addr = (struct sockaddr_in){ .sin_family = AF_INET,
				      .sin_addr.s_addr =
					      htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof *addr;
	cr_assert_eq(bind(fd, (struct sockaddr *)addr, len), 0);
	cr_assert_eq(listen(fd, 8), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)addr, &len), 0);
	return fd;
}

struct tcp {
	int lfd, client;
	struct sockaddr_in addr;
	long accepted, connected, sent, got;
	char buf[8];
};

static void *server(void *arg)
{
	struct tcp *s = arg;
	int fd = eddy_accept(s->lfd, NULL, NULL, SOCK_CLOEXEC);
	s->accepted = fd;
	if (fd >= 0) {
		s->got = eddy_recv(fd, s->buf, sizeof s->buf, 0);
		eddy_close(fd);
	}
	return NULL;
}

static void *client_and_server(void *arg)
{
	struct tcp *s = arg;
	eddy_task *t = eddy_spawn(server, s);
	s->connected = eddy_connect(s->client, (struct sockaddr *)&s->addr,
				    sizeof s->addr);
	if (s->connected == 0)
		s->sent = eddy_send(s->client, "hello", 5, MSG_NOSIGNAL);
	eddy_join(t, NULL);
	return NULL;
}

static void accept_and_connect(int client_flags)
{
	EACH_BACKEND(b)
	{
		struct tcp s = { .accepted = -1 };
		s.lfd = listener(&s.addr);
		s.client = socket(AF_INET,
				  SOCK_STREAM | SOCK_CLOEXEC | client_flags, 0);
		cr_assert_geq(s.client, 0);
		if (run_on(b, client_and_server, &s)) {
			const char *n = backend_name(b);
			cr_expect_eq(s.connected, 0, "%s: %ld", n, s.connected);
			cr_expect_geq(s.accepted, 0, "%s: %ld", n, s.accepted);
			cr_expect_eq(s.sent, 5, "%s", n);
			cr_expect_eq(s.got, 5, "%s", n);
			cr_expect_eq(memcmp(s.buf, "hello", 5), 0, "%s", n);
			cr_expect_eq(fcntl(s.client, F_GETFL) & O_NONBLOCK,
				     client_flags ? O_NONBLOCK : 0,
				     "%s: the fd's flags changed", n);
		}
		close(s.client);
		close(s.lfd);
	}
}

BACKEND_TEST(accept_and_connect_on_loopback)
{
	accept_and_connect(0);
}

BACKEND_TEST(accept_and_connect_on_loopback_with_a_non_blocking_socket)
{
	accept_and_connect(SOCK_NONBLOCK);
}

static void *connects(void *arg)
{
	struct tcp *s = arg;
	s->connected = eddy_connect(s->client, (struct sockaddr *)&s->addr,
				    sizeof s->addr);
	return NULL;
}

BACKEND_TEST(connect_to_a_closed_port_is_econnrefused)
{
	EACH_BACKEND(b)
	{
		struct tcp s;
		int held = refused_port(&s.addr); /* nobody listens there */
		s.client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		cr_assert_geq(s.client, 0);
		if (run_on(b, connects, &s))
			cr_expect_eq(s.connected, -ECONNREFUSED, "%s: %ld",
				     backend_name(b), s.connected);
		close(s.client);
		close(held);
	}
}

/*
 * A connect that starts while another task's poll for POLLOUT waits on the
 * same unconnected socket: the connect is made and really connects (epoll
 * once queued it behind the poll without calling connect(2), and the
 * socket's first EPOLLOUT then read an SO_ERROR of 0 as "connected").
 */
struct connect_beside_poll {
	struct tcp tcp;
	long polled;
};

static void *polls_for_pollout(void *arg)
{
	struct connect_beside_poll *s = arg;
	s->polled = eddy_poll(s->tcp.client, POLLOUT);
	return NULL;
}

static void *connects_while_a_poll_waits(void *arg)
{
	struct connect_beside_poll *s = arg;
	eddy_task *t = eddy_spawn(polls_for_pollout, s);
	eddy_yield(); /* the poll waits in the backend now */
	s->tcp.connected = eddy_connect(s->tcp.client,
					(struct sockaddr *)&s->tcp.addr,
					sizeof s->tcp.addr);
	eddy_join(t, NULL);
	return NULL;
}

BACKEND_TEST(connect_beside_a_waiting_poll_on_the_same_socket_connects)
{
	EACH_BACKEND(b)
	{
		struct connect_beside_poll s = { .polled = -1 };
		s.tcp.lfd = listener(&s.tcp.addr);
		s.tcp.client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		cr_assert_geq(s.tcp.client, 0);
		if (run_on(b, connects_while_a_poll_waits, &s)) {
			const char *n = backend_name(b);
			struct sockaddr_in peer;
			socklen_t len = sizeof peer;
			cr_expect_eq(s.tcp.connected, 0, "%s: %ld", n,
				     s.tcp.connected);
			cr_expect(s.polled > 0 && (s.polled & POLLOUT),
				  "%s: %ld", n, s.polled);
			cr_expect_eq(getpeername(s.tcp.client,
						 (struct sockaddr *)&peer, &len),
				     0, "%s: not connected: %s", n,
				     strerror(errno));
			cr_expect_eq(peer.sin_port, s.tcp.addr.sin_port, "%s", n);
			/* the listener stays blocking: accept only what
			 * is there */
			struct pollfd p = { .fd = s.tcp.lfd, .events = POLLIN };
			int c = poll(&p, 1, 0) == 1
					? accept4(s.tcp.lfd, NULL, NULL,
						  SOCK_CLOEXEC)
					: -1;
			cr_expect_geq(c, 0, "%s: nothing to accept", n);
			if (c >= 0)
				close(c);
		}
		close(s.tcp.client);
		close(s.tcp.lfd);
	}
}

/* A connected socket is connected in the kernel's eyes too: connecting it
 * again is -EISCONN, as after a blocking connect(2) (epoll once read the
 * handshake's end from SO_ERROR, which left the socket "connecting", and
 * the second connect(2) said 0). */
struct connects_twice {
	struct tcp tcp;
	long again;
};

static void *connects_twice(void *arg)
{
	struct connects_twice *s = arg;
	struct sockaddr *a = (struct sockaddr *)&s->tcp.addr;
	s->tcp.connected = eddy_connect(s->tcp.client, a, sizeof s->tcp.addr);
	s->again = eddy_connect(s->tcp.client, a, sizeof s->tcp.addr);
	return NULL;
}

BACKEND_TEST(connect_of_a_connected_socket_is_eisconn)
{
	EACH_BACKEND(b)
	{
		struct connects_twice s = { .again = 0 };
		s.tcp.lfd = listener(&s.tcp.addr);
		s.tcp.client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		cr_assert_geq(s.tcp.client, 0);
		if (run_on(b, connects_twice, &s)) {
			const char *n = backend_name(b);
			cr_expect_eq(s.tcp.connected, 0, "%s: %ld", n,
				     s.tcp.connected);
			cr_expect_eq(s.again, -EISCONN, "%s: %ld", n, s.again);
		}
		close(s.tcp.client);
		close(s.tcp.lfd);
	}
}
