/*
 * eddy observe: seeing inside a running program.  A timeline trace of
 * tasks, worker threads and context variables that Perfetto opens; a dump
 * of every task of a loop and what it waits for; a report of tasks that
 * run too long without yielding; the loop's counters.  docs/observe.md
 * shows each.
 *
 *   eddy_trace_format_var(user, eddy_trace_format_string);
 *   eddy_trace_start("run.json");      // or EDDY_TRACE=run.json
 *   eddy_run(main_task, NULL, NULL);
 *   eddy_trace_stop();                 // https://ui.perfetto.dev opens it
 */
#ifndef EDDY_LOOP_OBSERVE_H
#define EDDY_LOOP_OBSERVE_H

#pragma GCC visibility push(default)

#include <stdint.h>
#include <stdio.h>

#include "loop.h"

/* ---- The timeline trace ------------------------------------------------
 *
 * One trace at a time per process, of every loop and worker thread, in the
 * Trace Event JSON format: a track per task and per thread, a slice per
 * stretch a task runs, and events for spawn, join, detach, cancel, each
 * I/O wait and sleep, every variable set, reset and merged, and calls on
 * worker threads.  Events are kept in per-thread buffers and written in
 * batches.  A write error (a full disk) stops the trace with one line on
 * stderr and never disturbs the program; the file is then incomplete.
 *
 * EDDY_TRACE=path in the environment starts a trace when the process's
 * first loop is made, and ends it at exit.
 */

/*
 * Start tracing into path (created, or truncated).  0; -EBUSY while a
 * trace runs; -ENOMEM; or the errno of open(2) or of writing the header
 * (-ENOSPC on a full disk).
 */
int eddy_trace_start(const char *path);

/*
 * Write what is buffered, end the file and close it.  0; -EINVAL when no
 * trace runs; or the write error that stopped the trace earlier, or stops
 * it now (the file is then cut short).  Events other threads make at the
 * very moment may be left out.
 */
int eddy_trace_stop(void);

/*
 * How to show a variable's value in traces: fmt writes at most size bytes
 * (NUL included) describing value into buf and returns how many it wanted,
 * as snprintf does; a negative return shows nothing.  Without a formatter
 * a set is traced without its value, as eddy never dereferences values.
 * fmt runs on the thread that sets the variable, while a trace runs.  0,
 * -EINVAL, -ENOSPC when 64 variables have formatters already.  A second
 * call for a variable replaces its formatter; fmt NULL removes it.
 */
typedef int (*eddy_trace_formatter)(void *value, char *buf, size_t size);
int eddy_trace_format_var(const eddy_var *var, eddy_trace_formatter fmt);

/* A formatter for values that are NUL-terminated strings. */
int eddy_trace_format_string(void *value, char *buf, size_t size);

/* ---- The task dump -----------------------------------------------------
 *
 * Every task of the loop, as a tree by who spawned whom: id and name,
 * state (running, runnable, finished, or what it waits for: an I/O
 * operation and its fd, a timer and the time left, the task it joins, a
 * sync object, a worker thread), its context's id and size, its policy,
 * how long since it last ran, and the deepest its stack has been used.
 * It reads the loop without taking any lock, so it works on a wedged
 * loop; call it on the loop's thread (from a task, or between runs).
 */
int eddy_loop_dump(eddy_loop *loop, FILE *out);

/*
 * Dump the loop to out whenever the process gets SIGQUIT while the loop
 * runs, as Go's runtime does.  The signal is blocked on the calling
 * thread (and on threads it starts later, such as the loop's workers)
 * and read through the loop's ring from a signalfd, so the dump runs on
 * the loop's thread between tasks, never in a signal handler.  Make the
 * call before the program starts threads of its own, or block SIGQUIT in
 * them.  out NULL turns it off (and unblocks SIGQUIT).  0, -EINVAL, or
 * the errno of signalfd.
 */
int eddy_loop_dump_on_sigquit(eddy_loop *loop, FILE *out);

/*
 * Report on stderr, once per task, every task that runs for longer than
 * threshold_ns without suspending (0: 100 ms), with its name and how long
 * it ran, when it suspends, as asyncio's debug mode does for slow
 * callbacks.  UINT64_MAX turns it off (the default).  0, or -EINVAL.
 */
int eddy_loop_report_slow_tasks(eddy_loop *loop, uint64_t threshold_ns);

/* ---- Counters ----------------------------------------------------------- */

typedef struct eddy_stats {
	/* tasks of this loop */
	uint64_t tasks_alive;     /* spawned and not yet returned */
	uint64_t tasks_finished;  /* returned, ever */
	uint64_t switches;        /* times a task was switched to */
	/* the kernel interface */
	uint64_t io_submitted;    /* io_uring: SQEs queued; epoll: ops begun */
	uint64_t io_completed;    /* io_uring: CQEs reaped; epoll: ops ended */
	uint64_t io_submit_calls; /* system calls that handed work over or
				     waited (io_uring_enter, epoll_wait):
				     io_submitted / io_submit_calls is the
				     batch size */
	uint64_t timers_armed;    /* now */
	uint64_t timers_fired;    /* ever */
	/* stacks, for the whole process */
	uint64_t stacks_mapped;     /* in use or pooled */
	uint64_t stacks_pooled;     /* of those, idle */
	uint64_t stacks_mprotected; /* guard-page fallback: a mapping each */
	uint64_t stacks_unguarded;  /* last fallback: a canary, no guard */
	/* the loop's worker threads */
	uint64_t workers_busy;
	uint64_t workers_idle;
} eddy_stats;

/* Fill *out, on the loop's thread.  0, or -EINVAL. */
int eddy_loop_stats(eddy_loop *loop, eddy_stats *out);

/* The counters on one line of out ("eddy stats: tasks 3 alive, ..."). */
int eddy_loop_print_stats(eddy_loop *loop, FILE *out);

/*
 * Print the counters to out whenever the process gets signo (SIGUSR1, say)
 * while the loop runs, read through the ring as for
 * eddy_loop_dump_on_sigquit (and with the same caveats).  One signal per
 * loop: a second call replaces the first; out NULL turns it off and
 * unblocks the signal.  0; -EINVAL (SIGQUIT, SIGKILL, SIGSTOP, or not a
 * signal); or the errno of signalfd.
 */
int eddy_loop_stats_on_signal(eddy_loop *loop, int signo, FILE *out);

#pragma GCC visibility pop

#endif
