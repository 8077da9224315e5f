/*
 * The loop's counters (eddy_loop_stats), the slow-task report, and the
 * dump on SIGQUIT.  dump.c writes the dump itself, trace*.c the trace.
 *
 * Counters are plain increments where the work happens (loop.c, io.c,
 * the backends), one add each on paths that cost far more: the loop runs
 * on one thread, so they need no atomics.
 *
 * The slow-task report reads the clock around each resume only while it
 * is on; off, it costs the test of loop->slow_ns.
 *
 * SIGQUIT.  A signal handler may call almost nothing (not fprintf, not
 * malloc), and a wedged task could hold whatever lock it would need.  So
 * the signal is blocked and read from a signalfd, with a read the loop
 * keeps armed in its backend like the wake-up's eventfd (wake.c): the
 * dump runs on the loop's thread, between two tasks, as a completion.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "ctx/alloc.h"
#include "io.h"
#include "observe.h"
#include "observe_hooks.h"
#include "pool.h"
#include "task/stack.h"
#include "trace.h"

#define SLOW_DEFAULT_NS (100 * 1000000ull)

/* ---- counters ------------------------------------------------------------ */

int eddy_loop_stats(eddy_loop *loop, eddy_stats *out)
{
	if (!loop || !out)
		return -EINVAL;
	const struct loop_counters *c = &loop->counters;
	*out = (eddy_stats){
		.tasks_alive = loop->unfinished,
		.tasks_finished = c->finished,
		.switches = c->switches,
		.io_submitted = c->io_submitted,
		.io_completed = c->io_completed,
		.io_submit_calls = c->io_submit_calls,
		.timers_armed = loop->timers.n,
		.timers_fired = c->timers_fired,
	};
	struct eddy_stack_stats st;
	eddy_stack_stats(&st);
	out->stacks_mapped = st.mapped;
	out->stacks_pooled = st.pooled;
	out->stacks_mprotected = st.mprotected;
	out->stacks_unguarded = st.unguarded;
	if (loop->pool) {
		unsigned busy, idle;
		pool_counts(loop->pool, &busy, &idle);
		out->workers_busy = busy;
		out->workers_idle = idle;
	}
	return 0;
}

/* ---- slow tasks ------------------------------------------------------------ */

atomic_int eddy_switch_watchers;

int eddy_loop_report_slow_tasks(eddy_loop *loop, uint64_t threshold_ns)
{
	if (!loop)
		return -EINVAL;
	uint64_t was = loop->slow_ns;
	loop->slow_ns = threshold_ns == UINT64_MAX ? 0
			: threshold_ns	     ? threshold_ns
					     : SLOW_DEFAULT_NS;
	if (!was != !loop->slow_ns)
		atomic_fetch_add(&eddy_switch_watchers, was ? -1 : 1);
	return 0;
}

/* t ran since began without suspending: say so once if that was long. */
static void slow_task_check(eddy_loop *loop, eddy_task *t, uint64_t began)
{
	uint64_t ran = loop_now_ns() - began;
	struct sched *s = sched_of(t);
	if (ran < loop->slow_ns || s->slow_reported)
		return;
	s->slow_reported = true;
	const char *name = eddy_task_name(t);
	fprintf(stderr,
		"eddy: task #%" PRIu64 "%s%s ran %.1f ms without yielding "
		"(the report's threshold is %.1f ms)\n",
		eddy_task_id(t), name ? " " : "", name ? name : "",
		(double)ran / 1e6, (double)loop->slow_ns / 1e6);
}

uint64_t switch_resuming(eddy_loop *loop, eddy_task *t)
{
	TRACE(run_begin, t);
	return loop->slow_ns ? loop_now_ns() : 0;
}

void switch_suspended(eddy_loop *loop, eddy_task *t, bool finished,
		      uint64_t began)
{
	TRACE(run_end, t, finished);
	if (began && loop->slow_ns)
		slow_task_check(loop, t, began);
}

/* ---- SIGQUIT ------------------------------------------------------------------ */

struct sigquit {
	int fd;
	FILE *out;      /* NULL: off */
	bool unblock;   /* SIGQUIT was not blocked before: unblock it after */
	struct signalfd_siginfo info;
	struct io_op read;
};

static void arm(eddy_loop *loop);

static void got_signal(eddy_loop *loop, struct io_op *op, long res)
{
	(void)op;
	if (res < 0 && res != -EINTR && res != -EAGAIN)
		return; /* the fd broke: stop rather than spin */
	if (res == (long)sizeof loop->sigquit->info && loop->sigquit->out)
		eddy_loop_dump(loop, loop->sigquit->out);
	arm(loop);
}

static void arm(eddy_loop *loop)
{
	struct sigquit *q = loop->sigquit;
	q->read = (struct io_op){ .kind = IO_READ, .fd = q->fd,
				  .buf = &q->info, .len = sizeof q->info,
				  .done = got_signal };
	loop->be->start(loop, &q->read);
}

static int sigquit_start(eddy_loop *loop)
{
	struct sigquit *q = eddy_alloc(sizeof *q);
	if (!q)
		return -ENOMEM;
	sigset_t set, old;
	sigemptyset(&set);
	sigaddset(&set, SIGQUIT);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	*q = (struct sigquit){ .unblock = !sigismember(&old, SIGQUIT) };
	q->fd = signalfd(-1, &set, SFD_CLOEXEC);
	if (q->fd < 0) {
		int err = -errno;
		if (q->unblock)
			pthread_sigmask(SIG_UNBLOCK, &set, NULL);
		eddy_free(q);
		return err;
	}
	loop->sigquit = q;
	arm(loop);
	return 0;
}

int eddy_loop_dump_on_sigquit(eddy_loop *loop, FILE *out)
{
	if (!loop)
		return -EINVAL;
	if (!loop->sigquit && !out)
		return 0;
	if (!loop->sigquit) {
		int err = sigquit_start(loop);
		if (err)
			return err;
	}
	loop->sigquit->out = out;
	return 0;
}

void observe_loop_free(eddy_loop *loop)
{
	eddy_loop_report_slow_tasks(loop, UINT64_MAX);
	struct sigquit *q = loop->sigquit;
	if (!q)
		return;
	close(q->fd);
	if (q->unblock) {
		sigset_t set;
		sigemptyset(&set);
		sigaddset(&set, SIGQUIT);
		pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	}
	eddy_free(q);
	loop->sigquit = NULL;
}
