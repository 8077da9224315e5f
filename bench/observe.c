/*
 * bench/observe: what tracing costs.  The loop's yield and spawn+join,
 * timed three ways in one run:
 *
 *   compiled out  the same code against a library built with
 *                 -DEDDY_NO_TRACE (build/bench/observe_notrace, run as a
 *                 child with --raw), which has no event sites at all;
 *   off           this library, tracing compiled in but not running: one
 *                 predictable branch per event site;
 *   on            tracing into /dev/null, so the cost is making the
 *                 events, not the disk.
 *
 * Off must stay within 3% of compiled out (issue #10).  Rounds alternate
 * between the three so that the machine's noise falls on all of them
 * alike; each figure is the best of every round.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/loop_ops.h"

enum { ROUNDS = 15, REPS = 3 };

struct times {
	double spawn_join, yield;
};

/* which: "spawn", "yield", or NULL for both */
static struct times best_of(int reps, const char *which)
{
	struct times t = { 1e30, 1e30 };
	double ns;
	for (int r = 0; r < reps; r++) {
		if (!which || !strcmp(which, "spawn")) {
			if (eddy_run(spawns_and_joins, &ns, NULL))
				fail("eddy_run");
			t.spawn_join = min_of(t.spawn_join, ns);
		}
		if (!which || !strcmp(which, "yield")) {
			if (eddy_run(two_yielders, &ns, NULL))
				fail("eddy_run");
			t.yield = min_of(t.yield, ns);
		}
	}
	return t;
}

/* A build run once in a child of its own, so that the two builds are
 * timed alike: this binary, or with suffix "_notrace" the one beside it. */
static struct times child(const char *self, const char *suffix)
{
	char cmd[4200];
	snprintf(cmd, sizeof cmd, "'%s%s' --raw", self, suffix);
	FILE *p = popen(cmd, "r");
	struct times t;
	if (!p || fscanf(p, "%lf %lf", &t.spawn_join, &t.yield) != 2)
		fail("bench/observe: a child");
	if (pclose(p))
		fail("bench/observe: a child failed");
	return t;
}

static void keep_best(struct times *best, struct times t)
{
	best->spawn_join = min_of(best->spawn_join, t.spawn_join);
	best->yield = min_of(best->yield, t.yield);
}

static void row(const char *what, double out, double off, double on)
{
	printf("  %-24s %9.1f %9.1f %9.1f   %6.3f x  %6.1f x   %s\n", what,
	       out, off, on, off / out, on / out,
	       off / out <= 1.03 ? "ok (<= 1.03)" : "OVER 1.03");
}

int main(int argc, char **argv)
{
	struct times out = { 1e30, 1e30 }, off = out, on = out;
	/* --raw [spawn|yield]: one build's figures, for the parent (or for
	 * valgrind --tool=callgrind, which counts instructions where the
	 * machine is too noisy to time them) */
	if (argc >= 2 && !strcmp(argv[1], "--raw")) {
		out = best_of(argc == 3 ? 1 : REPS, argv[2]);
		printf("%.3f %.3f\n", out.spawn_join, out.yield);
		return 0;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("bench/observe: ns per operation, best of %d rounds x %d runs\n",
	       ROUNDS, REPS);
	for (int r = 0; r < ROUNDS; r++) {
		keep_best(&out, child(argv[0], "_notrace"));
		keep_best(&off, child(argv[0], ""));
		if (eddy_trace_start("/dev/null"))
			fail("eddy_trace_start");
		keep_best(&on, best_of(1, NULL));
		if (eddy_trace_stop())
			fail("eddy_trace_stop");
	}
	printf("  %-24s %9s %9s %9s   %8s  %8s\n", "", "compiled", "off",
	       "on", "off/out", "on/out");
	printf("  %-24s %9s\n", "", "out");
	row("spawn+join of a task", out.spawn_join, off.spawn_join,
	    on.spawn_join);
	row("yield between two tasks", out.yield, off.yield, on.yield);
	return 0;
}
