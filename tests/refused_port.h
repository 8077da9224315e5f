/*
 * A TCP port on IPv4 that refuses connections for as long as a test
 * needs it: tests/loop_io.c, tests/loop_backend_io.c, tests/net_tcp.c.
 *
 * A port freed by closing its listener refuses only until some other
 * socket listens there, and bind to port 0, in this test or in another
 * process running beside it, may pick a freed port at once.  A socket
 * bound to the port that does not listen holds it instead: a SYN finds no
 * listener and is answered with a reset (ECONNREFUSED), and without
 * SO_REUSEADDR on the holder no other socket can be bound there.
 */
#ifndef EDDY_TESTS_REFUSED_PORT_H
#define EDDY_TESTS_REFUSED_PORT_H

#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include "check.h"

/* A socket bound to ip:port (host order; port 0: a free one), not
 * listening; *addr gets where.  The caller closes it after the test. */
static inline int hold_port(uint32_t ip, uint16_t port,
			    struct sockaddr_in *addr)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(fd, 0);
	*addr = (struct sockaddr_in){ .sin_family = AF_INET,
				      .sin_port = htons(port),
				      .sin_addr.s_addr = htonl(ip) };
	socklen_t len = sizeof *addr;
	cr_assert_eq(bind(fd, (struct sockaddr *)addr, len), 0,
		     "port %u: %s", port, strerror(errno));
	cr_assert_eq(getsockname(fd, (struct sockaddr *)addr, &len), 0);
	return fd;
}

/* The holder of a free port on 127.0.0.1, which *addr gets. */
static inline int refused_port(struct sockaddr_in *addr)
{
	return hold_port(INADDR_LOOPBACK, 0, addr);
}

#endif
