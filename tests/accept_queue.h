/*
 * A TCP listener's accept queue, for the tests that need it full (a
 * connect to a full queue waits for a SYN retransmission, a second away,
 * so a short timeout must fire): tests/loop_io.c and tests/net_tcp.c.
 *
 * A connect's return says nothing of the queue: a non-blocking connect on
 * loopback returns EINPROGRESS even when the queue has room, and the
 * client's end is connected once it has the SYN-ACK, before the listener
 * has taken the last ACK and queued the connection.  The listener itself
 * says: for a listening socket, TCP_INFO's tcpi_unacked is the number of
 * connections queued and tcpi_sacked the backlog, and Linux drops a SYN
 * while the queue holds more than the backlog (sk_acceptq_is_full).
 */
#ifndef EDDY_TESTS_ACCEPT_QUEUE_H
#define EDDY_TESTS_ACCEPT_QUEUE_H

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <sys/socket.h>

#include "check.h"
#include "eddy.h"

/* The connections queued on listener lfd; *full: whether a SYN is
 * dropped now. */
static inline unsigned accept_queue_len(int lfd, bool *full)
{
	struct tcp_info ti;
	socklen_t len = sizeof ti;
	cr_assert_eq(getsockopt(lfd, IPPROTO_TCP, TCP_INFO, &ti, &len), 0);
	*full = ti.tcpi_unacked > ti.tcpi_sacked;
	return ti.tcpi_unacked;
}

/*
 * In a task: wait until lfd has queued at least n connections (those
 * whose connect returned or was started), or is full; whether it is full.
 * Bounded, 10 s in 1 ms steps, against a hang only: on loopback the
 * listener takes the last ACK within the connect call itself, or at the
 * latest when the kernel next runs its softirqs.
 */
static inline bool accept_queue_wait(int lfd, unsigned n)
{
	bool full;
	for (int i = 0; i < 10000 && accept_queue_len(lfd, &full) < n && !full;
	     i++)
		cr_assert_eq(eddy_sleep(1000000), 0);
	return full;
}

#endif
