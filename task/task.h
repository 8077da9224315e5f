/*
 * eddy task: stackful coroutine tasks, each running in a PEP 567 context
 * chosen by a spawn policy.
 *
 * This is the layer under the loop: tasks that are created, resumed until
 * they finish, and collected, with no scheduler.  The loop (loop/) builds
 * eddy_spawn and eddy_join on it; programs that want coroutines without a
 * loop can use it directly.
 */
#ifndef EDDY_TASK_H
#define EDDY_TASK_H

#pragma GCC visibility push(default)

#include <stddef.h>
#include <stdint.h>

#include "ctx/ctx.h"

/*
 * How a child's context relates to its parent's (DESIGN.md):
 *   COPY   the child runs in a snapshot; nothing it sets comes back
 *          (asyncio.create_task, asyncio.to_thread);
 *   SHARE  the child runs in the parent's context object itself;
 *   MERGE  the child runs in a snapshot, and what it changed relative to
 *          that snapshot is applied to the joiner's context at join.
 * 0 where a policy is asked for means the default: the loop's, else COPY.
 */
enum eddy_policy { EDDY_COPY = 1, EDDY_SHARE, EDDY_MERGE };

/* Options of a spawn; zeroed fields mean the defaults. */
typedef struct eddy_spawn_opts {
	enum eddy_policy policy;
	const char *name;  /* for diagnostics; copied */
	size_t stack_size; /* usable bytes, rounded up to pages */
} eddy_spawn_opts;

typedef struct eddy_task eddy_task;

/* The stack size of a task whose options leave it 0. */
#define EDDY_STACK_DEFAULT (256 * 1024)

/*
 * A new task that will run fn(arg) in a context made from the current one
 * by opts->policy (opts may be NULL).  It starts suspended: the first
 * eddy_task_resume runs it.  sched_size bytes (zeroed) are reserved in the
 * task for its scheduler, reachable with eddy_task_sched.  The caller owns
 * the task (eddy_task_free).  NULL with errno ENOMEM, or EINVAL for no fn,
 * an unknown policy, or a stack_size above 1 GiB (the largest eddy gives) or
 * too small to hold the task's own block (its control block, sched_size
 * and name) and 4 KiB of frames, which a sched_size above 1 GiB always
 * is.  Costs no system call when a pooled
 * stack is at hand.
 */
eddy_task *eddy_task_new(eddy_fn fn, void *arg, const eddy_spawn_opts *opts,
			 size_t sched_size);

/*
 * Run the task on this thread until it suspends or finishes, with its
 * context as the thread's current one; the caller's context is current
 * again afterwards.  0: it suspended; 1: it finished.  -EINVAL when it had
 * finished already (a finished task never runs again), -EBUSY when it is
 * running (resumed by itself or one of its resumers), or when another
 * thread has its context entered.
 *
 * When the task hands the thread to another (eddy_task_handoff), the call
 * returns when the last task of that chain suspends or finishes, and 0 or
 * 1 says which of the two that one did; eddy_task_last names it.
 */
int eddy_task_resume(eddy_task *task);

/* From inside a task: back to whoever resumed it.  -EPERM outside a task. */
int eddy_task_suspend(void);

/*
 * From inside a task: suspend it and run `to` in its place, straight from
 * this task's stack to to's, without passing through their resumer, which
 * to then returns to.  A scheduler's tasks pass the thread along this way
 * and come back to the scheduler only when it has work of its own.
 * Returns 0 when the caller is resumed again (by either way); at once
 * -EPERM outside a task, or as eddy_task_resume for `to` (-EINVAL,
 * -EBUSY), and then the caller runs on.
 */
int eddy_task_handoff(eddy_task *to);

/* The task whose suspend or return ended this thread's last
 * eddy_task_resume: the task resumed, or where its handoffs led. */
eddy_task *eddy_task_last(void);

/*
 * A finished task's result, with its policy applied: under MERGE, the
 * variables the task changed are merged into the calling thread's current
 * context, by their rules (eddy_ctx_merge_crossing).  0, -EBUSY when the
 * task has not finished, -EALREADY when it was collected before, -ENOMEM
 * with nothing merged (the task can be collected again).  A merge rule
 * that fails (-EDDY_ECONFLICT, a reducer's error) merges nothing either,
 * but collects the task: *result is set and that error returned.  result
 * may be NULL.
 */
int eddy_task_collect(eddy_task *task, void **result);

/*
 * Frees the task, its stack and its references; a task that has not
 * finished is abandoned where it suspended (nothing on its stack is
 * unwound).  -EBUSY for a running task.  NULL is ignored.
 */
int eddy_task_free(eddy_task *task);

/* The task running on this thread, or NULL. */
eddy_task *eddy_task_current(void);

/* A number unique among the process's tasks, counting from 1. */
uint64_t eddy_task_id(const eddy_task *task);
/* The name given at spawn, or NULL. */
const char *eddy_task_name(const eddy_task *task);
enum eddy_policy eddy_task_policy(const eddy_task *task);
/*
 * For runtimes that hand a task a context they prepared (a call from
 * another thread): the crossing the task's code runs behind, which hides
 * variables of its context (eddy_ctx_set_crossing).  A spawn decides it
 * from the policy: a SHARE child hides task-local variables, and whatever
 * its parent hid.  Before the first resume only: -EBUSY after.
 */
int eddy_task_set_crossing(eddy_task *task, unsigned crossing);
/* The context the task runs in, borrowed from the task. */
eddy_ctx *eddy_task_ctx(const eddy_task *task);
/*
 * The task's stack for diagnostics: *size its usable bytes, *used the
 * deepest it has been used (eddy_loop_dump explains how it is measured).
 * 0, or -EINVAL.
 */
int eddy_task_stack_usage(const eddy_task *task, size_t *used, size_t *size);
/*
 * The scheduler's bytes reserved by eddy_task_new, or NULL for NULL.
 * Inline, because a scheduler reaches them at every switch: they sit at
 * this fixed offset from the task's handle (task.c asserts it), aligned
 * for any type.
 */
#define EDDY_TASK_SCHED_OFFSET 208
static inline void *eddy_task_sched(eddy_task *task)
{
	return task ? (char *)task + EDDY_TASK_SCHED_OFFSET : (void *)0;
}

#pragma GCC visibility pop

#endif
