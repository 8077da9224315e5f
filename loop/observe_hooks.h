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

/* t is about to be resumed: returns the time, when the slow-task report
 * needs it, else 0. */
uint64_t switch_resuming(eddy_loop *loop, eddy_task *t);

/* t suspended (finished: it returned), resumed at began (or 0). */
void switch_suspended(eddy_loop *loop, eddy_task *t, bool finished,
		      uint64_t began);

/* Undo eddy_loop_dump_on_sigquit, as the loop is freed, after its backend
 * let go of the signalfd's read. */
void observe_loop_free(eddy_loop *loop);

#endif
