/*
 * What the loop calls of observe.c (the slow-task report, SIGQUIT dumps),
 * internal to loop/.
 */
#ifndef EDDY_LOOP_OBSERVE_HOOKS_H
#define EDDY_LOOP_OBSERVE_HOOKS_H

#include <stdatomic.h>

#include "sched.h"

/*
 * The switch is watched by the tracer and by the slow-task report.  One
 * count says whether anyone watches: 1 while a trace runs, plus 1 per
 * loop whose slow-task report is on.  So the switch tests one predictable
 * branch before a resume and one after, whoever watches; -DEDDY_NO_TRACE
 * removes both (and the report with them).
 */
extern atomic_int eddy_switch_watchers __attribute__((visibility("hidden")));

#ifdef EDDY_NO_TRACE
#define SWITCH_WATCHED() false
#else
#define SWITCH_WATCHED()                                                 \
	__builtin_expect(atomic_load_explicit(&eddy_switch_watchers,      \
					      memory_order_relaxed), 0)
#endif

/* For the watchers, out of line and cold, so that the switch they watch
 * stays small enough to inline: t is about to run; t stopped running;
 * from hands the thread to to. */
void switch_resuming(eddy_loop *loop, eddy_task *t) __attribute__((cold));
void switch_suspended(eddy_loop *loop, eddy_task *t, bool finished)
	__attribute__((cold));
void switch_handing(eddy_loop *loop, eddy_task *from, eddy_task *to)
	__attribute__((cold));

/*
 * Every place that switches the thread to a task calls switch_in just
 * before, and every place where a task stops running (it suspended or
 * returned) calls switch_out; a task handing the thread straight to
 * another calls switch_across, both at once.  The counters and the dump's
 * stamp always, the watchers behind one branch.
 */
static inline void switch_count(eddy_loop *loop, eddy_task *t)
{
	loop->counters.switches++;
	sched_of(t)->last_ran = loop->round_ns;
}

static inline void switch_in(eddy_loop *loop, eddy_task *t)
{
	switch_count(loop, t);
	if (SWITCH_WATCHED())
		switch_resuming(loop, t);
}

static inline void switch_out(eddy_loop *loop, eddy_task *t, bool finished)
{
	if (SWITCH_WATCHED())
		switch_suspended(loop, t, finished);
}

static inline void switch_across(eddy_loop *loop, eddy_task *from,
				 eddy_task *to)
{
	switch_count(loop, to);
	if (SWITCH_WATCHED())
		switch_handing(loop, from, to);
}

/* Undo eddy_loop_dump_on_sigquit, as the loop is freed, after its backend
 * let go of the signalfd's read. */
void observe_loop_free(eddy_loop *loop);

#endif
