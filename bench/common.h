/*
 * What the benchmarks share: a clock, and small helpers.  switch.h holds
 * the two context switches eddy's are measured against.
 */
#ifndef EDDY_BENCH_COMMON_H
#define EDDY_BENCH_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

enum { STACK_SIZE = 64 * 1024 };

static inline double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static inline void fail(const char *what)
{
	perror(what);
	exit(1);
}

static inline double min_of(double a, double b)
{
	return a < b ? a : b;
}

static inline void *stack_alloc(void)
{
	void *stack = malloc(STACK_SIZE);
	if (!stack)
		fail("bench: stack");
	return stack;
}

#endif
