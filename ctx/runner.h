/*
 * The code running on this thread, internal: who owns an enter.
 *
 * eddy_ctx_enter records the runner in the context it enters, and
 * eddy_ctx_leave refuses the leave unless the same runner asks.  A task
 * runtime names its running task here on every switch; plain thread code
 * is NULL.  ctx never dereferences it: it is only compared.  So a task
 * that runs in its parent's context object (SHARE) cannot undo an enter
 * its parent made there, which would take the parent's current context
 * away from under it.
 *
 * task/ keeps its current task in this very variable (it is task.c's
 * current_task), so a switch pays nothing for it.  Its own header, as
 * crossing.h, because the switch writes it inline.
 */
#ifndef EDDY_CTX_RUNNER_H
#define EDDY_CTX_RUNNER_H

extern _Thread_local void *eddy_ctx_runner
	__attribute__((tls_model("initial-exec")));

#endif
