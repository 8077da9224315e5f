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
 * Signals.  A signal handler may call almost nothing (not fprintf, not
 * malloc), and a wedged task could hold whatever lock it would need.  So
 * SIGQUIT (the dump) and the program's choice of signal for the counters
 * are blocked and read from one signalfd, with a read the loop keeps
 * armed in its backend like the wake-up's eventfd (wake.c): the dump runs
 * on the loop's thread, between two tasks, as a completion.
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

int eddy_loop_print_stats(eddy_loop *loop, FILE *out)
{
	eddy_stats st;
	int err = eddy_loop_stats(loop, &st);
	if (err || !out)
		return err ? err : -EINVAL;
	fprintf(out,
		"eddy stats: tasks %" PRIu64 " alive, %" PRIu64 " finished, "
		"%" PRIu64 " switches; io %" PRIu64 " submitted, %" PRIu64
		" completed, %" PRIu64 " submit calls; timers %" PRIu64
		" armed, %" PRIu64 " fired; stacks %" PRIu64 " mapped, %" PRIu64
		" pooled, %" PRIu64 " mprotected, %" PRIu64 " unguarded; "
		"workers %" PRIu64 " busy, %" PRIu64 " idle\n",
		st.tasks_alive, st.tasks_finished, st.switches,
		st.io_submitted, st.io_completed, st.io_submit_calls,
		st.timers_armed, st.timers_fired, st.stacks_mapped,
		st.stacks_pooled, st.stacks_mprotected, st.stacks_unguarded,
		st.workers_busy, st.workers_idle);
	fflush(out);
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

void switch_resuming(eddy_loop *loop, eddy_task *t)
{
	TRACE(run_begin, t);
	sched_of(t)->began = loop->slow_ns ? loop_now_ns() : 0;
}

void switch_handing(eddy_loop *loop, eddy_task *from, eddy_task *to)
{
	switch_suspended(loop, from, false);
	switch_resuming(loop, to);
}

void switch_suspended(eddy_loop *loop, eddy_task *t, bool finished)
{
	TRACE(run_end, t, finished);
	uint64_t began = sched_of(t)->began;
	if (began && loop->slow_ns)
		slow_task_check(loop, t, began);
}

/* ---- signals: a dump on SIGQUIT, the counters on another ------------------- */

struct signals {
	int fd;
	sigset_t set;     /* the signals the fd reads */
	sigset_t blocked; /* of those, the ones this code blocked */
	FILE *dump_out;   /* SIGQUIT: eddy_loop_dump, or NULL */
	int stats_signo;  /* eddy_loop_stats_on_signal's, or 0 */
	FILE *stats_out;
	struct signalfd_siginfo info;
	struct io_op read;
};

static void arm(eddy_loop *loop);

static void got_signal(eddy_loop *loop, struct io_op *op, long res)
{
	(void)op;
	struct signals *g = loop->signals;
	if (res < 0 && res != -EINTR && res != -EAGAIN)
		return; /* the fd broke: stop rather than spin */
	if (res == (long)sizeof g->info) {
		int signo = (int)g->info.ssi_signo;
		if (signo == SIGQUIT && g->dump_out)
			eddy_loop_dump(loop, g->dump_out);
		else if (signo == g->stats_signo && g->stats_out)
			eddy_loop_print_stats(loop, g->stats_out);
	}
	arm(loop);
}

static void arm(eddy_loop *loop)
{
	struct signals *g = loop->signals;
	g->read = (struct io_op){ .kind = IO_READ, .fd = g->fd,
				  .buf = &g->info, .len = sizeof g->info,
				  .done = got_signal };
	loop->be->start(loop, &g->read);
}

/* Read signo through the loop's signalfd (on), or no longer (off): 0 or
 * the errno of signalfd, with nothing changed. */
static int watch_signal(eddy_loop *loop, int signo, bool on)
{
	struct signals *g = loop->signals;
	bool fresh = !g;
	if (fresh && !on)
		return 0;
	if (fresh) {
		if (!(g = eddy_alloc(sizeof *g)))
			return -ENOMEM;
		*g = (struct signals){ .fd = -1 };
		sigemptyset(&g->set);
		sigemptyset(&g->blocked);
	}
	sigset_t one, old;
	sigemptyset(&one);
	sigaddset(&one, signo);
	if (on) {
		pthread_sigmask(SIG_BLOCK, &one, &old);
		if (!sigismember(&old, signo))
			sigaddset(&g->blocked, signo);
		sigaddset(&g->set, signo);
	} else {
		sigdelset(&g->set, signo);
	}
	int fd = signalfd(g->fd, &g->set, SFD_CLOEXEC);
	int err = fd < 0 ? -errno : 0;
	if (err && on)
		sigdelset(&g->set, signo);
	if ((err || !on) && sigismember(&g->blocked, signo)) {
		sigdelset(&g->blocked, signo);
		pthread_sigmask(SIG_UNBLOCK, &one, NULL);
	}
	if (fresh && err)
		eddy_free(g);
	if (fresh && !err) {
		g->fd = fd;
		loop->signals = g;
		arm(loop);
	}
	return err;
}

int eddy_loop_dump_on_sigquit(eddy_loop *loop, FILE *out)
{
	if (!loop)
		return -EINVAL;
	int err = watch_signal(loop, SIGQUIT, out != NULL);
	if (!err && loop->signals)
		loop->signals->dump_out = out;
	return err;
}

int eddy_loop_stats_on_signal(eddy_loop *loop, int signo, FILE *out)
{
	if (!loop || signo <= 0 || signo >= NSIG || signo == SIGQUIT ||
	    signo == SIGKILL || signo == SIGSTOP)
		return -EINVAL;
	struct signals *g = loop->signals;
	if (g && g->stats_signo && g->stats_signo != signo) {
		watch_signal(loop, g->stats_signo, false);
		g->stats_signo = 0;
	}
	int err = watch_signal(loop, signo, out != NULL);
	if (!err && (g = loop->signals)) {
		g->stats_signo = out ? signo : 0;
		g->stats_out = out;
	}
	return err;
}

void observe_loop_free(eddy_loop *loop)
{
	eddy_loop_report_slow_tasks(loop, UINT64_MAX);
	struct signals *g = loop->signals;
	if (!g)
		return;
	close(g->fd);
	pthread_sigmask(SIG_UNBLOCK, &g->blocked, NULL);
	eddy_free(g);
	loop->signals = NULL;
}
