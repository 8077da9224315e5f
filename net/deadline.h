/*
 * Deadlines, internal to net/: a call whose timeout covers several I/O
 * operations (write everything, read exactly n, connect to each address)
 * turns timeout_ns into an absolute time on the monotonic clock once, and
 * gives each operation what is left of it.
 */
#ifndef EDDY_NET_DEADLINE_H
#define EDDY_NET_DEADLINE_H

#include <errno.h>
#include <stdint.h>
#include <time.h>

static inline uint64_t net_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The deadline timeout_ns from now; 0 (none) stays 0. */
static inline uint64_t net_deadline(uint64_t timeout_ns)
{
	if (!timeout_ns)
		return 0;
	uint64_t now = net_now_ns();
	return timeout_ns > UINT64_MAX - now ? UINT64_MAX : now + timeout_ns;
}

/* The time left before deadline into *left (0 for no deadline), or
 * -ETIMEDOUT once it has passed. */
static inline int net_time_left(uint64_t deadline, uint64_t *left)
{
	*left = 0;
	if (!deadline)
		return 0;
	uint64_t now = net_now_ns();
	if (now >= deadline)
		return -ETIMEDOUT;
	*left = deadline - now;
	return 0;
}

#endif
