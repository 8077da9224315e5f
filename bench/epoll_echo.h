/*
 * The peer of bench/echo: a minimal echo server on epoll, the way one is
 * written by hand in C: one thread, non-blocking sockets, level-triggered
 * readiness, read then write back.  It writes what it read at once and
 * only waits for writability when the socket's buffer is full, which a
 * small ping-pong never fills.  No framework, nothing to switch to: the
 * floor an event loop in C can reach on this kernel.
 */
#ifndef EDDY_BENCH_EPOLL_ECHO_H
#define EDDY_BENCH_EPOLL_ECHO_H

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"

/* Echo on every connection lfd (non-blocking, listening) brings, forever. */
static void epoll_echo_serve(int lfd)
{
	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		fail("epoll_create1");
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = lfd };
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	struct epoll_event evs[256];
	static char buf[16384];
	for (;;) {
		int n = epoll_wait(ep, evs, 256, -1);
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			if (fd == lfd) {
				int c;
				while ((c = accept4(lfd, NULL, NULL,
						    SOCK_NONBLOCK)) >= 0) {
					int one = 1;
					setsockopt(c, IPPROTO_TCP, TCP_NODELAY,
						   &one, sizeof one);
					ev = (struct epoll_event){
						.events = EPOLLIN, .data.fd = c };
					epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
				}
				continue;
			}
			ssize_t r = read(fd, buf, sizeof buf);
			if (r <= 0) {
				if (r < 0 && errno == EAGAIN)
					continue;
				close(fd);
				continue;
			}
			for (ssize_t off = 0; off < r;) {
				ssize_t w = write(fd, buf + off, (size_t)(r - off));
				if (w > 0) {
					off += w;
				} else if (w < 0 && errno == EAGAIN) {
					struct pollfd p = { fd, POLLOUT, 0 };
					poll(&p, 1, -1);
				} else {
					break;
				}
			}
		}
	}
}

#endif
