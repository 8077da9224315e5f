/*
 * Cancellation: a cancelled task's current and later suspending calls
 * return -ECANCELED, a finished task shrugs a cancel off, and a task whose
 * read was in flight wakes only on the kernel's own completion of it, so
 * the kernel never writes into a stack that another task reuses.
 *
 * The last is what makes cancellation safe: a reader's buffer lives in its
 * frame, and its stack goes back to the pool when the task is joined.
 * The proof reuses those stacks for tasks that fill their frames with a
 * canary, then writes into every pipe the cancelled readers waited on:
 * the canaries stay whole and the bytes stay in the pipes.
 */
#define _GNU_SOURCE
#include "check.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "eddy.h"

EDDY_SUITE(loop_cancel);

#define V(n) ((void *)(intptr_t)(n))
#define N(p) ((long)(intptr_t)(p))

#define HOUR_NS (3600ull * 1000000000ull)

static void *sleeps_an_hour(void *arg)
{
	(void)arg;
	return V(eddy_sleep(HOUR_NS));
}

static void *cancels_a_sleeper(void *arg)
{
	(void)arg;
	eddy_task *t = eddy_spawn(sleeps_an_hour, NULL);
	eddy_yield(); /* t sleeps */
	cr_assert_eq(eddy_cancel(t), 0);
	void *r;
	cr_assert_eq(eddy_join(t, &r), 0);
	return r;
}

/* Promptly: the run would take an hour otherwise. */
Test(loop_cancel, cancel_of_a_sleeping_task_ends_its_sleep_with_ecanceled)
{
	void *r;
	cr_assert_eq(eddy_run(cancels_a_sleeper, NULL, &r), 0);
	cr_assert_eq(N(r), -ECANCELED);
}

struct later {
	long sleep, yield, read, join, spawn_errno, io;
};

static void *returns_arg(void *arg)
{
	return arg;
}

static void *every_call_after_cancel(void *arg)
{
	struct later *l = arg;
	int p[2];
	char c;
	cr_assert_eq(pipe(p), 0);
	eddy_sleep(HOUR_NS); /* cancelled here */
	l->sleep = eddy_sleep(1);
	l->yield = eddy_yield();
	l->read = eddy_read(p[0], &c, 1);
	l->io = eddy_write(p[1], "x", 1);
	/* spawning is not a suspending call: the child runs, and joining
	 * it is */
	eddy_task *child = eddy_spawn(returns_arg, NULL);
	cr_assert_not_null(child);
	l->join = eddy_join(child, NULL);
	cr_assert_eq(eddy_detach(child), 0);
	close(p[0]);
	close(p[1]);
	return NULL;
}

static void *cancels_and_waits(void *arg)
{
	eddy_task *t = eddy_spawn(every_call_after_cancel, arg);
	eddy_yield();
	cr_assert_eq(eddy_cancel(t), 0);
	cr_assert_eq(eddy_cancel(t), 0); /* twice is the same as once */
	cr_assert_eq(eddy_join(t, NULL), 0);
	return NULL;
}

Test(loop_cancel, later_suspending_calls_of_a_cancelled_task_are_ecanceled)
{
	struct later l = { 0 };
	cr_assert_eq(eddy_run(cancels_and_waits, &l, NULL), 0);
	cr_assert_eq(l.sleep, -ECANCELED);
	cr_assert_eq(l.yield, -ECANCELED);
	cr_assert_eq(l.read, -ECANCELED);
	cr_assert_eq(l.io, -ECANCELED);
	cr_assert_eq(l.join, -ECANCELED);
}

static void *cancels_a_finished_task(void *arg)
{
	(void)arg;
	eddy_task *t = eddy_spawn(returns_arg, "done");
	eddy_yield(); /* t finishes */
	cr_assert_eq(eddy_cancel(t), 0);
	void *r;
	cr_assert_eq(eddy_join(t, &r), 0);
	cr_assert_str_eq(r, "done");
	return NULL;
}

Test(loop_cancel, cancel_of_a_finished_task_is_harmless)
{
	cr_assert_eq(eddy_run(cancels_a_finished_task, NULL, NULL), 0);
}

static void *counts_then_sleeps(void *arg)
{
	long *ran = arg;
	(*ran)++;
	return V(eddy_sleep(HOUR_NS));
}

static void *cancels_before_it_runs(void *arg)
{
	eddy_task *t = eddy_spawn(counts_then_sleeps, arg);
	cr_assert_eq(eddy_cancel(t), 0); /* runnable, not started */
	void *r;
	cr_assert_eq(eddy_join(t, &r), 0);
	return r;
}

Test(loop_cancel, cancel_of_a_task_not_yet_started_ends_its_first_wait)
{
	long ran = 0;
	void *r;
	cr_assert_eq(eddy_run(cancels_before_it_runs, &ran, &r), 0);
	cr_assert_eq(ran, 1); /* it still runs, up to its first wait */
	cr_assert_eq(N(r), -ECANCELED);
}

static eddy_task *sleeper;

static void *joins_the_sleeper(void *arg)
{
	(void)arg;
	return V(eddy_join(sleeper, NULL));
}

static void *cancels_a_joiner(void *arg)
{
	(void)arg;
	sleeper = eddy_spawn(sleeps_an_hour, NULL);
	eddy_task *joiner = eddy_spawn(joins_the_sleeper, NULL);
	eddy_yield(); /* the join is pending */
	cr_assert_eq(eddy_cancel(joiner), 0);
	void *r;
	cr_assert_eq(eddy_join(joiner, &r), 0);
	cr_assert_eq(N(r), -ECANCELED);
	/* the sleeper is still joinable, by someone else */
	cr_assert_eq(eddy_cancel(sleeper), 0);
	cr_assert_eq(eddy_join(sleeper, &r), 0);
	cr_assert_eq(N(r), -ECANCELED);
	return NULL;
}

Test(loop_cancel, cancelled_join_leaves_its_task_joinable)
{
	cr_assert_eq(eddy_run(cancels_a_joiner, NULL, NULL), 0);
}

static void *reads_with_a_timeout(void *fd)
{
	char c;
	return V(eddy_read_timeout((int)N(fd), &c, 1, HOUR_NS));
}

static void *cancels_a_timed_read(void *arg)
{
	(void)arg;
	int p[2];
	cr_assert_eq(pipe(p), 0);
	eddy_task *t = eddy_spawn(reads_with_a_timeout, V(p[0]));
	eddy_yield();
	eddy_yield(); /* the read is in the kernel */
	cr_assert_eq(eddy_cancel(t), 0);
	void *r;
	cr_assert_eq(eddy_join(t, &r), 0);
	close(p[0]);
	close(p[1]);
	return r;
}

Test(loop_cancel, cancel_of_a_read_with_a_timeout_is_ecanceled_not_etimedout)
{
	void *r;
	cr_assert_eq(eddy_run(cancels_a_timed_read, NULL, &r), 0);
	cr_assert_eq(N(r), -ECANCELED);
}

/* ---- cancelled reads and reused stacks ------------------------------------ */

enum {
	READERS = 200,
	STACK = 16 * 1024,
	BUF = 64,            /* what a reader reads, and what is written */
	FRAME = 2048,        /* a reader's frame, its buffer at the bottom */
	CANARY_BYTES = 8192, /* a canary's frame: covers where buffers were */
	DATA = 0x5a,         /* the byte written into the pipes */
	CANARY = 0xa5,
};

static const eddy_spawn_opts small = { .stack_size = STACK };

struct reader {
	int fds[2];
	uintptr_t buf;  /* where the reader's buffer was */
	long result;
};

/* Reads into the deepest bytes of a buffer in its own frame: well inside
 * where a canary task's frame will lie, whatever the compiler's layout. */
static void *reads_into_its_frame(void *arg)
{
	struct reader *r = arg;
	unsigned char frame[FRAME];
	memset(frame, 0, sizeof frame);
	r->buf = (uintptr_t)frame;
	r->result = eddy_read(r->fds[0], frame, BUF);
	if (r->result > 0 && frame[0] != DATA)
		r->result = -EIO; /* the data did not land where it was asked */
	return NULL;
}

struct canary {
	uintptr_t lo, hi;  /* the canary's bytes */
	size_t spoiled;    /* bytes that changed */
};

/* Fills most of its stack with the canary, lets the loop run a few
 * rounds, and counts the bytes that changed meanwhile. */
static void *fills_its_frame(void *arg)
{
	struct canary *c = arg;
	volatile unsigned char frame[CANARY_BYTES];
	for (size_t i = 0; i < sizeof frame; i++)
		frame[i] = CANARY;
	c->lo = (uintptr_t)frame;
	c->hi = c->lo + sizeof frame;
	for (int i = 0; i < 4; i++)
		eddy_yield();
	for (size_t i = 0; i < sizeof frame; i++)
		c->spoiled += frame[i] != CANARY;
	return NULL;
}

static size_t pipe_bytes(int fd)
{
	int n = -1;
	cr_assert_eq(ioctl(fd, FIONREAD, &n), 0);
	return (size_t)n;
}

static void *cancel_many_reads_then_reuse_their_stacks(void *arg)
{
	(void)arg;
	static struct reader r[READERS];
	static struct canary c[READERS];
	eddy_task *t[READERS];
	for (int i = 0; i < READERS; i++) {
		cr_assert_eq(pipe(r[i].fds), 0);
		t[i] = eddy_spawn_with(reads_into_its_frame, &r[i], &small);
		cr_assert_not_null(t[i]);
	}
	eddy_yield();
	eddy_yield(); /* every read is in the kernel */
	for (int i = 0; i < READERS; i++)
		cr_assert_eq(eddy_cancel(t[i]), 0);
	for (int i = 0; i < READERS; i++) {
		cr_assert_eq(eddy_join(t[i], NULL), 0);
		cr_assert_eq(r[i].result, -ECANCELED);
	}

	/* Their stacks, now pooled, go to new tasks. */
	memset(c, 0, sizeof c);
	for (int i = 0; i < READERS; i++)
		t[i] = eddy_spawn_with(fills_its_frame, &c[i], &small);
	eddy_yield(); /* the canaries are in place */
	unsigned char data[BUF];
	memset(data, DATA, sizeof data);
	for (int i = 0; i < READERS; i++)
		cr_assert_eq(write(r[i].fds[1], data, sizeof data), BUF);

	size_t reused = 0;
	for (int i = 0; i < READERS; i++) {
		cr_assert_eq(eddy_join(t[i], NULL), 0);
		cr_assert_eq(c[i].spoiled, 0);
	}
	for (int i = 0; i < READERS; i++) {
		cr_assert_eq(pipe_bytes(r[i].fds[0]), BUF); /* nobody read */
		for (int j = 0; j < READERS; j++)
			reused += r[i].buf >= c[j].lo &&
				  r[i].buf + BUF <= c[j].hi;
		close(r[i].fds[0]);
		close(r[i].fds[1]);
	}
	/* the test proves something only where a buffer was reused */
	cr_assert_geq(reused, READERS / 2);
	return NULL;
}

Test(loop_cancel, cancelled_reads_never_write_into_reused_stacks)
{
	cr_assert_eq(
		eddy_run(cancel_many_reads_then_reuse_their_stacks, NULL, NULL),
		0);
}

/*
 * The race itself: the pipe is written right after the cancel, before the
 * loop hands the cancel to the kernel, at different points of the read's
 * life (not yet submitted, submitted, waiting).  Either the read won, and
 * its data is in the reader's buffer, or the cancel did, and the data is
 * still in the pipe: never both, never neither, and never anywhere else.
 */
enum { RACES = 60 };

static void *cancel_races_a_write(void *arg)
{
	(void)arg;
	static struct reader r;
	static struct canary c;
	unsigned char data[BUF];
	memset(data, DATA, sizeof data);
	int outcomes[2] = { 0, 0 };
	for (int i = 0; i < RACES; i++) {
		memset(&r, 0, sizeof r);
		cr_assert_eq(pipe(r.fds), 0);
		eddy_task *t = eddy_spawn_with(reads_into_its_frame, &r, &small);
		for (int y = 0; y < i % 3; y++)
			eddy_yield();
		cr_assert_eq(eddy_cancel(t), 0);
		cr_assert_eq(write(r.fds[1], data, sizeof data), BUF);
		cr_assert_eq(eddy_join(t, NULL), 0);

		memset(&c, 0, sizeof c);
		t = eddy_spawn_with(fills_its_frame, &c, &small);
		cr_assert_eq(eddy_join(t, NULL), 0);
		cr_assert_eq(c.spoiled, 0);
		cr_assert(r.buf >= c.lo && r.buf + BUF <= c.hi); /* reused */
		if (r.result == -ECANCELED) {
			cr_assert_eq(pipe_bytes(r.fds[0]), BUF);
			outcomes[0]++;
		} else {
			cr_assert_eq(r.result, BUF);
			cr_assert_eq(pipe_bytes(r.fds[0]), 0);
			outcomes[1]++;
		}
		close(r.fds[0]);
		close(r.fds[1]);
	}
	cr_assert_eq(outcomes[0] + outcomes[1], RACES);
	return NULL;
}

Test(loop_cancel, read_cancelled_in_flight_ends_with_the_kernels_completion)
{
	cr_assert_eq(eddy_run(cancel_races_a_write, NULL, NULL), 0);
}
