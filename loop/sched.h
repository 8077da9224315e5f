/*
 * The loop's internals shared by its files: the loop object, what the loop
 * keeps in each task, and how a task waits.
 *
 * Waiting.  A task that must wait for something (a completion, a timer, a
 * join) fills a struct eddy_wait on its own stack and suspends in
 * loop_suspend.  Whoever finishes the wait calls loop_wake with a result,
 * which puts the task at the tail of the run queue; the task's
 * loop_suspend then returns that result.  A wait may offer a cancel hook:
 * eddy_cancel calls it so that the wait ends early with -ECANCELED (a
 * timer is removed at once; an I/O operation is cancelled in the kernel and
 * ends when the kernel's completion arrives).
 *
 * The run queue is a FIFO list threaded through the tasks (sched.next):
 * spawn and wake append, each round runs the tasks that were queued when
 * it began (up to round_end).  No allocation, O(1) both ends.  A task that
 * suspends hands the thread straight to the next one (loop.c's
 * switch_away), so the round goes on wherever the thread is.
 */
#ifndef EDDY_LOOP_SCHED_H
#define EDDY_LOOP_SCHED_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "loop.h"
#include "timer.h"

struct eddy_wait;
typedef void (*wait_end_fn)(eddy_loop *loop, struct eddy_wait *w, long why);

/* What a task waits for, for eddy_loop_dump. */
enum wait_kind {
	WAIT_OTHER,  /* 0: a wait that did not say */
	WAIT_IO,     /* the wait is the first member of a struct io_op */
	WAIT_JOIN,   /* sched.joining names the task */
	WAIT_SLEEP,  /* its timer is in the loop's heap */
	WAIT_WORKER, /* a call on a worker thread */
	WAIT_SYNC,   /* what names the sync object */
};

struct eddy_wait {
	eddy_task *task;
	long result;
	wait_end_fn end; /* NULL: the wait cannot be cut short */
	enum wait_kind kind;
	const char *what; /* WAIT_SYNC: "mutex", "channel send", ... */
};

/* What the loop keeps in every task (eddy_task_sched). */
struct sched {
	eddy_loop *loop;
	eddy_task *next;            /* run queue link */
	eddy_task *all_prev, *all_next; /* every task of the loop */
	struct eddy_wait *wait;     /* what the task waits for, or NULL */
	struct eddy_wait *joiner;   /* a join waiting for this task */
	eddy_task *joining;         /* the task this one waits to join */
	/* Called when the task returns, before a detached task is freed. */
	void (*on_finish)(eddy_loop *loop, eddy_task *t, void *arg);
	void *finish_arg;
	bool finished, cancelled, detached;
	/* for eddy_loop_dump, the slow-task report and the tracer */
	uint64_t parent;            /* the spawning task's id, or 0 */
	uint64_t last_ran;          /* loop->round_ns when it last ran */
	uint64_t began;             /* when it was resumed, for the slow-task
				       report while that is on, else 0 */
	unsigned trace_gen;         /* the trace its track is named in */
	bool trace_spawned;         /* its spawn's arrow awaits its first run */
	bool slow_reported;
};

/* The loop's counters behind eddy_loop_stats (observe.c). */
struct loop_counters {
	uint64_t finished, switches, timers_fired;
	uint64_t io_submitted, io_completed, io_submit_calls;
};

/* A context a task lent to a worker thread (SHARE): the loop runs no task
 * in it until it is back, nor the task that lent it, which may be waiting
 * in a context it entered itself (eddy_ctx_run) rather than its own.  The
 * one exception is the borrower: the task of a SHARE call the worker made
 * back into the loop (eddy_loop_call), which runs in the context for the
 * worker while the worker waits. */
struct lent {
	eddy_ctx *ctx;
	eddy_task *lender;
	eddy_task *borrower;
	int holds;
	struct lent *next;
};

struct backend;
struct wake;
struct pool;

struct eddy_loop {
	eddy_loop_config cfg;
	const struct backend *be;
	void *be_state;
	struct timer_heap timers;
	eddy_task *run_head, *run_tail;
	eddy_task *round_end;    /* the running round's last task, or NULL */
	eddy_task *all;          /* every task not yet freed */
	size_t unfinished;       /* tasks that have not returned */
	size_t io_pending;       /* operations the kernel has not completed */
	size_t jobs_pending;     /* calls out on worker threads */
	struct wake *wake;       /* how other threads reach the loop */
	struct pool *pool;       /* worker threads, from the first offload */
	struct lent *lent;       /* contexts out on worker threads */
	eddy_task *held_head, *held_tail; /* tasks waiting for those */
	pthread_t thread;        /* the thread that made it: the one to run it */
	bool running;
	struct loop_counters counters;
	uint64_t round_ns;       /* coarse time, of this round or a recent one */
	unsigned unstamped;      /* rounds until round_ns is read again */
	uint64_t slow_ns;        /* the slow-task report's threshold, or 0 */
	struct signals *signals; /* signals read through the ring, or NULL */
};

static inline struct sched *sched_of(eddy_task *t)
{
	return eddy_task_sched(t);
}

/* The loop of this thread while it runs, or NULL. */
extern _Thread_local eddy_loop *eddy_loop_now
	__attribute__((tls_model("initial-exec")));

/* Suspend the calling task on w; returns the result given to loop_wake. */
long loop_suspend(struct eddy_wait *w);

/* The same, with w ended by -ETIMEDOUT (through w->end) after timeout_ns
 * (0: never).  -ENOMEM when the timer cannot be armed. */
long loop_suspend_timed(struct eddy_wait *w, uint64_t timeout_ns);

/*
 * The two halves of loop_suspend_timed, for a wait that must not begin
 * unless its timeout is armed (an I/O operation, once started, cannot be
 * taken back): arm timer, in the caller's frame, to end w with -ETIMEDOUT
 * after timeout_ns (0: nothing is armed); 0, or -ENOMEM with nothing
 * armed.  Disarm it when the wait is over, whether or not it fired.
 */
int loop_timer_arm(struct eddy_timer *timer, struct eddy_wait *w,
		   uint64_t timeout_ns);
void loop_timer_disarm(struct eddy_timer *timer);

/* End w's wait with result: its task becomes runnable. */
void loop_wake(eddy_loop *loop, struct eddy_wait *w, long result);

/*
 * The checks every suspending call starts with: 0, -EPERM outside a task
 * of a loop, -ECANCELED for a cancelled task.  *loop gets the loop.
 */
int loop_enter_wait(eddy_loop **loop);
/* The same for a wait that no cancel ends, which a cancelled task makes
 * too (a close, io.c): 0 or -EPERM. */
int loop_enter_uncancellable_wait(eddy_loop **loop);

/* Monotonic time in nanoseconds. */
uint64_t loop_now_ns(void);
/* The same, to the kernel's tick (a few ms), for a few nanoseconds. */
uint64_t loop_coarse_ns(void);
/* The deadline timeout_ns from now; UINT64_MAX, which never comes, for a
 * timeout past the clock's range (it must not wrap into the past). */
uint64_t loop_deadline(uint64_t timeout_ns);

/* The loop's worker pool, started on first use: 0 or -errno. */
int loop_pool_start(eddy_loop *loop);

/* Lend ctx, which this thread holds, to a worker: 0 or -EINVAL.  Until
 * loop_unlend, tasks running in ctx are held back. */
int loop_lend(eddy_loop *loop, struct lent *l, eddy_ctx *ctx);
void loop_unlend(eddy_loop *loop, struct lent *l);

/* t runs in ctx for the thread ctx is lent to (a SHARE call from a worker):
 * the newest lend of ctx, whose borrower t becomes, or NULL when ctx is not
 * lent.  The caller clears l->borrower when t is done. */
struct lent *loop_lent_to(eddy_loop *loop, eddy_ctx *ctx, eddy_task *t);

/* Spawn on loop from anywhere on its thread (inside a task or not). */
eddy_task *loop_spawn(eddy_loop *loop, eddy_fn fn, void *arg,
		      const eddy_spawn_opts *opts);

#endif
