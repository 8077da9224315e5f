/*
 * The loop's two micro operations as the benchmarks time them: spawn+join
 * of an empty task, and a yield between two tasks.  Each is a task body
 * for eddy_run that stores ns per operation in *(double *)arg.
 */
#ifndef EDDY_BENCH_LOOP_OPS_H
#define EDDY_BENCH_LOOP_OPS_H

#include <stdint.h>

#include "bench/common.h"
#include "eddy.h"

enum { SPAWNS = 200000, YIELDS = 1000000 };

static void *empty(void *arg)
{
	return arg;
}

static void *spawns_and_joins(void *arg)
{
	double *ns = arg, t0 = now_ns();
	for (int i = 0; i < SPAWNS; i++) {
		eddy_task *t = eddy_spawn(empty, NULL);
		if (!t || eddy_join(t, NULL))
			fail("spawn+join");
	}
	*ns = (now_ns() - t0) / SPAWNS;
	return NULL;
}

static void *yields(void *arg)
{
	long n = (long)(intptr_t)arg;
	for (long i = 0; i < n; i++)
		eddy_yield();
	return NULL;
}

static void *two_yielders(void *arg)
{
	double *ns = arg, t0 = now_ns();
	void *half = (void *)(intptr_t)(YIELDS / 2);
	eddy_task *a = eddy_spawn(yields, half), *b = eddy_spawn(yields, half);
	if (!a || !b || eddy_join(a, NULL) || eddy_join(b, NULL))
		fail("yield");
	*ns = (now_ns() - t0) / YIELDS;
	return NULL;
}

#endif
