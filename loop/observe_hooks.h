/*
 * What the loop calls of observe.c (the slow-task report, SIGQUIT dumps),
 * internal to loop/.
 */
#ifndef EDDY_LOOP_OBSERVE_HOOKS_H
#define EDDY_LOOP_OBSERVE_HOOKS_H

#include "sched.h"

/* The time a task is resumed at, while the slow-task report is on; else
 * 0, for the cost of one predictable branch. */
#define SLOW_TASK_CLOCK(loop)                                            \
	(__builtin_expect((loop)->slow_ns != 0, 0) ? loop_now_ns() : 0)

/* t suspended or finished after running since began: report it once if
 * that took longer than loop->slow_ns. */
void slow_task_check(eddy_loop *loop, eddy_task *t, uint64_t began);

/* Undo eddy_loop_dump_on_sigquit, as the loop is freed, after its backend
 * let go of the signalfd's read. */
void observe_loop_free(eddy_loop *loop);

#endif
