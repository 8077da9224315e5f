/*
 * TCP sockets: listening, accepting under descriptor exhaustion, and the
 * options and ends of a connection.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net.h"
#include "deadline.h"
#include "tcp.h"

/* How eddy_tcp_accept waits when descriptors run out: 1 ms, doubling,
 * at most 1 s between tries. */
#define BACKOFF_FIRST_NS 1000000ull
#define BACKOFF_MAX_NS 1000000000ull

#ifdef EDDY_TEST_HOOKS
_Atomic unsigned long eddy_net_accept_calls;
_Atomic int eddy_net_accept_error;

/* The error a test stands in for the kernel's (tcp.h), counting the call:
 * 0 to make the call. */
static int accept_hook(void)
{
	eddy_net_accept_calls++;
	return eddy_net_accept_error;
}
#else
static int accept_hook(void)
{
	return 0;
}
#endif

static int set_int_opt(int fd, int level, int name, int value)
{
	return setsockopt(fd, level, name, &value, sizeof value) < 0 ? -errno
								      : 0;
}

/* A socket of addr's family bound to addr and listening, or -errno. */
static int bind_listen(const struct sockaddr *addr, socklen_t len,
		       const eddy_tcp_listen_opts *o)
{
	int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int err = set_int_opt(fd, SOL_SOCKET, SO_REUSEADDR, 1);
	if (!err && o->reuseport)
		err = set_int_opt(fd, SOL_SOCKET, SO_REUSEPORT, 1);
	/* Set either way: the default follows net.ipv6.bindv6only. */
	if (!err && addr->sa_family == AF_INET6)
		err = set_int_opt(fd, IPPROTO_IPV6, IPV6_V6ONLY, !!o->v6only);
	if (!err && bind(fd, addr, len) < 0)
		err = -errno;
	if (!err && listen(fd, o->backlog > 0 ? o->backlog : SOMAXCONN) < 0)
		err = -errno;
	if (err) {
		close(fd);
		return err;
	}
	return fd;
}

/* "::" dual-stack, or 0.0.0.0 where the kernel has no IPv6. */
static int listen_any(const char *port, const eddy_tcp_listen_opts *o)
{
	struct addrinfo *res;
	int err = net_resolve(NULL, port, 1, 0, 0, &res);
	if (err)
		return err;
	int port_be = res->ai_family == AF_INET6
			      ? ((struct sockaddr_in6 *)res->ai_addr)->sin6_port
			      : ((struct sockaddr_in *)res->ai_addr)->sin_port;
	freeaddrinfo(res);
	struct sockaddr_in6 six = { .sin6_family = AF_INET6,
				    .sin6_port = (in_port_t)port_be,
				    .sin6_addr = IN6ADDR_ANY_INIT };
	int fd = bind_listen((struct sockaddr *)&six, sizeof six, o);
	if (fd != -EAFNOSUPPORT && fd != -EADDRNOTAVAIL)
		return fd;
	struct sockaddr_in four = { .sin_family = AF_INET,
				    .sin_port = (in_port_t)port_be,
				    .sin_addr.s_addr = htonl(INADDR_ANY) };
	return bind_listen((struct sockaddr *)&four, sizeof four, o);
}

int eddy_tcp_listen(const char *host, const char *port,
		    const eddy_tcp_listen_opts *opts)
{
	eddy_tcp_listen_opts none = { 0 };
	const eddy_tcp_listen_opts *o = opts ? opts : &none;
	if (!port || o->backlog < 0)
		return -EINVAL;
	if (!host || !*host)
		return listen_any(port, o);
	struct addrinfo *res;
	int err = net_resolve(host, port, 1, 0, 0, &res);
	if (err)
		return err;
	int fd = -EADDRNOTAVAIL;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		fd = bind_listen(ai->ai_addr, ai->ai_addrlen, o);
		if (fd >= 0)
			break;
	}
	freeaddrinfo(res);
	return fd;
}

/* Errors that say the process or the system is short of something that
 * closing connections gives back: waiting for it beats failing. */
static int out_of_resources(int err)
{
	return err == -EMFILE || err == -ENFILE || err == -ENOBUFS ||
	       err == -ENOMEM;
}

int eddy_tcp_accept(int lfd, struct sockaddr_storage *peer,
		    socklen_t *peerlen)
{
	uint64_t backoff = BACKOFF_FIRST_NS;
	for (;;) {
		socklen_t len = sizeof *peer;
		int fd = accept_hook();
		if (!fd)
			fd = eddy_accept(lfd, (struct sockaddr *)peer,
					 peer ? &len : NULL, SOCK_CLOEXEC);
		if (fd >= 0) {
			if (peer && peerlen)
				*peerlen = len;
			return fd;
		}
		/* A connection reset while it waited in the backlog: the
		 * next one may be fine (accept(2) says to retry). */
		if (fd == -ECONNABORTED)
			continue;
		if (!out_of_resources(fd))
			return fd;
		/* The connection stays in the backlog meanwhile, and the
		 * loop serves the others: the sleep suspends only us. */
		int err = eddy_sleep(backoff);
		if (err)
			return err;
		backoff = backoff * 2 > BACKOFF_MAX_NS ? BACKOFF_MAX_NS
						       : backoff * 2;
	}
}

int net_tcp_accept_now(int lfd, struct sockaddr_storage *peer,
		       socklen_t *peerlen)
{
	for (;;) {
		*peerlen = sizeof *peer;
		int fd = accept_hook();
		if (fd)
			return fd;
		fd = accept4(lfd, (struct sockaddr *)peer, peerlen,
			     SOCK_CLOEXEC);
		if (fd >= 0)
			return fd;
		if (errno != ECONNABORTED && errno != EINTR)
			return -errno;
	}
}

int eddy_tcp_nodelay(int fd, int on)
{
	return set_int_opt(fd, IPPROTO_TCP, TCP_NODELAY, !!on);
}

int eddy_tcp_shutdown(int fd, int how)
{
	return shutdown(fd, how) < 0 ? -errno : 0;
}

int net_close(int fd)
{
	int err = eddy_close(fd);
	if (err == -EPERM)
		err = close(fd) < 0 ? -errno : 0;
	return err;
}

int eddy_tcp_close(int fd, uint64_t linger_ns)
{
	int err = eddy_tcp_shutdown(fd, SHUT_WR);
	if (!err && linger_ns) {
		char sink[2048];
		ssize_t n;
		uint64_t deadline = net_deadline(linger_ns), left;
		while (!(err = net_time_left(deadline, &left)) &&
		       (n = eddy_recv_timeout(fd, sink, sizeof sink, 0,
					      left)) != 0) {
			if (n < 0) {
				err = (int)n;
				break;
			}
		}
	}
	int cerr = net_close(fd);
	return err ? err : cerr;
}

int eddy_tcp_local_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return -errno;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return -EAFNOSUPPORT;
}
