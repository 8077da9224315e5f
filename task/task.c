/*
 * Tasks: a coroutine, its stack, its context, and its result.
 *
 * A task allocates nothing of its own.  Its control block sits at the top
 * of its stack, followed by the scheduler's bytes and the task's name; the
 * coroutine's frames grow down from just below it:
 *
 *   stack->lo                                           stack->lo + size
 *   | guard | ... frames grow down <-- | eddy_task | sched | name |
 *
 * So a spawn with a pooled stack costs no malloc and no system call, and an
 * idle task touches one page for its control block and first frames.
 *
 * Contexts.  A task holds one reference to the context it runs in (a copy
 * of its parent's, or under SHARE the parent's own) and, under MERGE, one
 * to the snapshot it started from, for the diff at collect time.  The
 * first resume claims the context for this thread (eddy_ctx_claim), and
 * the task keeps that claim until it finishes, so that no other thread
 * enters a context in which a task may still run; switching in and out is
 * then only a store of the thread's current context.  An enter inside a
 * task belongs to it (ctx/runner.h): a SHARE child cannot leave the
 * context its parent entered, though it runs in it.
 *
 * Crossings.  A child crosses a task boundary (plus whatever its parent
 * crossed): its copy leaves task-local variables behind, and its merge
 * does not bring them back (eddy_ctx_copy_crossing, _merge_crossing).  A
 * SHARE child cannot have them left out of the object it shares, so it
 * runs hiding them (`hide`, set as the thread's crossing while it runs).
 *
 * Handoffs.  A task may pass the thread straight to another task
 * (eddy_task_handoff), which then stands in for it towards their resumer:
 * whoever switches in sets up the thread for the task arriving (current
 * task, current context, crossing, states), so the resumer's
 * eddy_task_resume, when the thread comes back, finishes the bookkeeping
 * of the task that came back (running() then), whichever that is.
 */
#include "task.h"

#include <assert.h>
#include <errno.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "coro.h"
#include "ctx/crossing.h"
#include "ctx/runner.h"
#include "stack.h"

enum task_state { TASK_SUSPENDED, TASK_RUNNING, TASK_FINISHED, TASK_COLLECTED };

struct eddy_task {
	struct eddy_coro coro;
	struct eddy_stack *stack; /* holds this very struct */
	eddy_ctx *ctx;            /* the context the task runs in */
	eddy_ctx *now;            /* current inside the task when it suspended */
	eddy_ctx *base;           /* MERGE: the snapshot ctx started as */
	void *result;
	uint64_t id;
	const char *name;
	enum eddy_policy policy;
	unsigned crossing;        /* what the child left behind at spawn */
	unsigned hide;            /* the thread's crossing while it runs */
	enum task_state state;
	bool claimed;
	alignas(max_align_t) unsigned char sched[];
};

static_assert(offsetof(struct eddy_task, sched) == EDDY_TASK_SCHED_OFFSET,
	      "task.h's inline eddy_task_sched must find the sched bytes");

/* Room a task must leave for its own frames below the control block. */
#define TASK_MIN_FRAMES 4096

/* The task running on this thread is ctx's runner (ctx/runner.h), which
 * names the owner of each eddy_ctx_enter: one store per switch serves
 * both. */
static inline eddy_task *running(void)
{
	return eddy_ctx_runner;
}

static inline void set_running(eddy_task *t)
{
	eddy_ctx_runner = t;
}

static _Thread_local eddy_task *last_task
	__attribute__((tls_model("initial-exec")));
static atomic_uint_fast64_t next_id = 1;

static int take_context(eddy_task *t)
{
	eddy_ctx *parent = eddy_ctx_current();
	if (!parent)
		return -ENOMEM;
	t->crossing = EDDY_CROSS_TASK | eddy_ctx_hiding;
	if (t->policy == EDDY_SHARE) {
		t->ctx = eddy_ctx_ref(parent);
		t->hide = t->crossing;
		return 0;
	}
	eddy_ctx *from = parent;
	if (t->policy == EDDY_MERGE &&
	    !(from = t->base = eddy_ctx_copy_crossing(parent, t->crossing)))
		return -ENOMEM;
	t->ctx = eddy_ctx_copy_crossing(from, t->crossing);
	return t->ctx ? 0 : -ENOMEM; /* eddy_task_new unrefs t->base */
}

static size_t align_up(size_t n, size_t to)
{
	return (n + to - 1) & ~(to - 1);
}

eddy_task *eddy_task_new(eddy_fn fn, void *arg, const eddy_spawn_opts *opts,
			 size_t sched_size)
{
	static const eddy_spawn_opts defaults;
	if (!opts)
		opts = &defaults;
	enum eddy_policy policy = opts->policy ? opts->policy : EDDY_COPY;
	/* no stack holds more than EDDY_STACK_SIZE_MAX: a larger sched_size
	 * is refused before it can wrap the block's size around */
	if (!fn || policy < EDDY_COPY || policy > EDDY_MERGE ||
	    sched_size > EDDY_STACK_SIZE_MAX) {
		errno = EINVAL;
		return NULL;
	}
	size_t name_len = opts->name ? strlen(opts->name) + 1 : 0;
	size_t block = align_up(sizeof(eddy_task) + sched_size + name_len, 64);

	struct eddy_stack *stack;
	int err = eddy_stack_acquire(opts->stack_size, &stack);
	if (err) {
		errno = -err;
		return NULL;
	}
	if (stack->size < block + TASK_MIN_FRAMES) {
		eddy_stack_release(stack);
		errno = EINVAL;
		return NULL;
	}
	char *top = (char *)stack->lo + stack->size;
	eddy_task *t = (eddy_task *)(top - block);
	memset(t, 0, sizeof *t + sched_size);
	t->stack = stack;
	t->policy = policy;
	if (opts->name) {
		t->name = memcpy(t->sched + sched_size, opts->name, name_len);
		stack->owner = t->name;
	}
	if ((err = take_context(t)) ||
	    (err = eddy_coro_init(&t->coro, stack->lo,
				  (size_t)((char *)t - (char *)stack->lo), fn,
				  arg))) {
		eddy_ctx_unref(t->ctx);
		eddy_ctx_unref(t->base);
		eddy_stack_release(stack);
		errno = -err;
		return NULL;
	}
	t->now = t->ctx;
	t->id = atomic_fetch_add_explicit(&next_id, 1, memory_order_relaxed);
	return t;
}

/* 0 when t may run on this thread now, else -EINVAL or -EBUSY; its first
 * run claims its context. */
static int runnable(eddy_task *t)
{
	if (!t || t->state >= TASK_FINISHED)
		return -EINVAL;
	if (t->state == TASK_RUNNING)
		return -EBUSY;
	if (!t->claimed) {
		int err = eddy_ctx_claim(t->ctx);
		if (err)
			return err;
		t->claimed = true;
	}
	return 0;
}

int eddy_task_resume(eddy_task *t)
{
	int err = runnable(t);
	if (err)
		return err;
	eddy_task *resumer = running();
	eddy_ctx *outside = eddy_ctx_swap_current(t->now);
	/* Either side hiding anything: the context being made current may
	 * have cached what that side hides (set_crossing drops it). */
	unsigned outside_hide = eddy_ctx_hiding;
	if (t->hide || outside_hide)
		eddy_ctx_set_crossing(t->hide);
	set_running(t);
	t->state = TASK_RUNNING;

	int r = eddy_coro_resume(&t->coro);

	t = last_task = running(); /* t, or where its handoffs led */
	set_running(resumer);
	t->now = eddy_ctx_swap_current(outside);
	/* the crossing is that of the task that came back, after handoffs */
	if (eddy_ctx_hiding || outside_hide)
		eddy_ctx_set_crossing(outside_hide);
	if (!eddy_stack_canary_ok(t->stack))
		eddy_stack_overflowed(t->stack);
	if (r == 0) {
		t->state = TASK_SUSPENDED;
		return 0;
	}
	t->state = TASK_FINISHED;
	t->result = t->coro.result;
	eddy_ctx_release(t->ctx);
	t->claimed = false;
	return 1;
}

int eddy_task_handoff(eddy_task *to)
{
	eddy_task *from = running();
	if (!from)
		return -EPERM;
	int err = runnable(to);
	if (err)
		return err;
	/* before from's switch frame, where resume checks after it: an
	 * overflow by that frame alone shows at from's next switch */
	if (!eddy_stack_canary_ok(from->stack))
		eddy_stack_overflowed(from->stack);
	from->state = TASK_SUSPENDED;
	from->now = eddy_ctx_swap_current(to->now);
	/* as resume does: the thread hides what the arriving task hides, and
	 * a context that either side's crossing cached is dropped */
	if (from->hide || to->hide)
		eddy_ctx_set_crossing(to->hide);
	to->state = TASK_RUNNING;
	set_running(to);
	eddy_coro_handoff(&to->coro);
	return 0;
}

int eddy_task_suspend(void)
{
	if (!running())
		return -EPERM;
	eddy_coro_yield();
	return 0;
}

int eddy_task_collect(eddy_task *t, void **result)
{
	if (!t)
		return -EINVAL;
	if (t->state == TASK_COLLECTED)
		return -EALREADY;
	if (t->state != TASK_FINISHED)
		return -EBUSY;
	int merged = 0;
	if (t->policy == EDDY_MERGE) {
		eddy_ctx *into = eddy_ctx_current();
		if (!into)
			return -ENOMEM;
		merged = eddy_ctx_merge_crossing(into, t->ctx, t->base,
						 t->crossing);
		if (merged == -ENOMEM)
			return merged;
	}
	/* A failed rule fails the same way again: the task is collected. */
	t->state = TASK_COLLECTED;
	if (result)
		*result = t->result;
	return merged < 0 ? merged : 0;
}

int eddy_task_free(eddy_task *t)
{
	if (!t)
		return 0;
	if (t->state == TASK_RUNNING)
		return -EBUSY;
	eddy_coro_destroy(&t->coro);
	if (t->claimed)
		eddy_ctx_release(t->ctx);
	eddy_ctx_unref(t->ctx);
	eddy_ctx_unref(t->base);
	eddy_stack_release(t->stack); /* last: t lives on this stack */
	return 0;
}

eddy_task *eddy_task_current(void)
{
	return running();
}

eddy_task *eddy_task_last(void)
{
	return last_task;
}

uint64_t eddy_task_id(const eddy_task *t)
{
	return t ? t->id : 0;
}

const char *eddy_task_name(const eddy_task *t)
{
	return t ? t->name : NULL;
}

enum eddy_policy eddy_task_policy(const eddy_task *t)
{
	return t ? t->policy : 0;
}

int eddy_task_set_crossing(eddy_task *t, unsigned crossing)
{
	if (!t)
		return -EINVAL;
	if (t->state != TASK_SUSPENDED || t->claimed)
		return -EBUSY;
	t->hide = crossing;
	return 0;
}

eddy_ctx *eddy_task_ctx(const eddy_task *t)
{
	return t ? t->ctx : NULL;
}

int eddy_task_stack_usage(const eddy_task *t, size_t *used, size_t *size)
{
	if (!t || !used || !size)
		return -EINVAL;
	*used = eddy_stack_touched(t->stack);
	*size = t->stack->size;
	return 0;
}
