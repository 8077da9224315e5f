/*
 * Connecting: resolve the name, then try its addresses in the resolver's
 * order (RFC 6724's preference) until one answers, the timeout shared by
 * all of them.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sys/socket.h>

#include "deadline.h"
#include "net.h"
#include "tcp.h"

/* A socket connected to ai, or -errno. */
static int connect_one(const struct addrinfo *ai, uint64_t timeout_ns)
{
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC,
			ai->ai_protocol);
	if (fd < 0)
		return -errno;
	int err = eddy_connect_timeout(fd, ai->ai_addr, ai->ai_addrlen,
				       timeout_ns);
	if (err) {
		net_close(fd);
		return err;
	}
	return fd;
}

int eddy_tcp_connect(const char *host, const char *port, uint64_t timeout_ns)
{
	if (!host || !port)
		return -EINVAL;
	uint64_t deadline = net_deadline(timeout_ns), left;
	struct addrinfo *res;
	int err = net_resolve(host, port, 0, 1, deadline, &res);
	if (err)
		return err;
	int fd = -ENOENT;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		if ((err = net_time_left(deadline, &left))) {
			fd = err;
			break;
		}
		fd = connect_one(ai, left);
		/* the next address cannot help a cancelled task, nor
		 * one whose time is up */
		if (fd >= 0 || fd == -ECANCELED || fd == -ETIMEDOUT)
			break;
	}
	freeaddrinfo(res);
	return fd;
}
