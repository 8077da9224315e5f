/*
 * What the files of net/ share about sockets, internal to net/.
 */
#ifndef EDDY_NET_TCP_H
#define EDDY_NET_TCP_H

#include <netdb.h>
#include <stdint.h>
#include <sys/socket.h>

/*
 * Close fd through the loop, or with close(2) outside a task (eddy_close
 * is -EPERM there): every path out of net/ that owns a descriptor closes
 * it, in a task or not.
 */
int net_close(int fd);

/*
 * getaddrinfo for host:port, SOCK_STREAM, into *res (freeaddrinfo).
 * Numeric hosts are answered at once; a name is looked up on the worker
 * pool (eddy_to_thread) when offload is set, giving up at deadline (as
 * net_deadline makes it; 0: none), else right here.  host NULL with
 * passive: the wildcard address.  0 or -errno: -ENOENT for a name that
 * does not resolve, -EINVAL for a bad port, -EAGAIN when DNS failed for
 * now, -ETIMEDOUT, -ECANCELED.
 */
int net_resolve(const char *host, const char *port, int passive, int offload,
		uint64_t deadline, struct addrinfo **res);

/*
 * accept4 on a non-blocking listener, right here, without the loop: a
 * connection (close-on-exec), or -EAGAIN when the backlog is empty, or
 * accept's error (EMFILE ...).  A connection reset in the backlog is
 * skipped.  The server's acceptor drains its backlog with it.
 */
int net_tcp_accept_now(int lfd, struct sockaddr_storage *peer,
		       socklen_t *peerlen);

#ifdef EDDY_TEST_HOOKS
/* Calls of accept made by eddy_tcp_accept and net_tcp_accept_now, for
 * the EMFILE tests. */
extern _Atomic unsigned long eddy_net_accept_calls;
/*
 * While non-zero (a negative errno), every accept of eddy_tcp_accept and
 * net_tcp_accept_now fails at once with it, counted as a call, without
 * taking a connection: what the kernel's accept does when it cannot make
 * the new file (ENFILE: the system's table is full), which it finds out
 * before it looks at the backlog.  For the ENFILE test: that limit is the
 * whole machine's, and cannot be run out of safely.
 */
extern _Atomic int eddy_net_accept_error;
#endif

#endif
