/*
 * Task groups: children waited for together, the first failure cancelling
 * the rest (Trio's nursery, asyncio.TaskGroup).
 *
 * The group keeps its children in a list in spawn order, which is the
 * order eddy_group_wait joins them in:
 *
 *   g->head -> [child 0] -> [child 1] -> [child 2] <- g->tail
 *                 task         task         task
 *
 * Each child task runs child_main, a trampoline on the child's own stack
 * that calls the user's function and, before returning, reports to the
 * group (child_returned): one fewer running; a failure, if it is the
 * first, is recorded and every other child cancelled at once (even while
 * nobody waits on the group yet); and when none is left running, the task
 * in eddy_group_wait is woken.  That task runs only after the last child
 * has returned from its trampoline, so every child is finished by then and
 * can be joined without suspending: eddy_task_collect applies its policy
 * (MERGE) to the waiter's context, and eddy_detach frees the finished task.
 * Joining that way, rather than with eddy_join, also works in a cancelled
 * waiter, which must still collect its children.
 */
#include "sync.h"

#include <errno.h>

#include "ctx/alloc.h"
#include "sched.h"

struct child {
	struct child *next;
	eddy_group *group;
	eddy_task *task;
	eddy_fn fn;
	void *arg;
	bool returned;
};

struct group_wait {
	struct eddy_wait wait; /* first: the end hook finds the group */
	eddy_group *group;
};

struct eddy_group {
	struct child *head, *tail;  /* not yet joined, in spawn order */
	size_t running;             /* children that have not returned */
	int failure;                /* the first child's failure, or 0 */
	int merge_failure;          /* the first failed merge's error, kept
				     * over a wait that ran out of memory */
	void *failed_arg;           /* that child's arg */
	bool cancelling;            /* the children were cancelled */
	eddy_task *waiter;          /* the task in eddy_group_wait */
	struct group_wait *asleep;  /* its wait, while suspended */
};

/* A child's failure: its err, or 0 for a result that is not one. */
static int failure_of(void *result)
{
	intptr_t v = (intptr_t)result;
	return v < 0 && v >= -4095 ? (int)v : 0;
}

eddy_group *eddy_group_new(void)
{
	eddy_group *g = eddy_alloc(sizeof *g);
	if (!g) {
		errno = ENOMEM;
		return NULL;
	}
	*g = (eddy_group){ 0 };
	return g;
}

int eddy_group_free(eddy_group *g)
{
	if (!g)
		return 0;
	if (g->head || g->waiter)
		return -EBUSY;
	eddy_free(g);
	return 0;
}

static void cancel_children(eddy_group *g)
{
	g->cancelling = true;
	for (struct child *c = g->head; c; c = c->next)
		if (!c->returned)
			eddy_cancel(c->task);
}

static void wake_waiter(eddy_group *g, long result)
{
	struct group_wait *gw = g->asleep;
	g->asleep = NULL;
	loop_wake(sched_of(gw->wait.task)->loop, &gw->wait, result);
}

/* The waiter was cancelled while suspended. */
static void waiter_end(eddy_loop *loop, struct eddy_wait *w, long why)
{
	(void)loop;
	wake_waiter(((struct group_wait *)w)->group, why);
}

static void child_returned(struct child *c, void *result)
{
	eddy_group *g = c->group;
	c->returned = true;
	g->running--;
	int err = failure_of(result);
	if (err && !g->failure) {
		g->failure = err;
		g->failed_arg = c->arg;
		cancel_children(g);
	}
	if (!g->running && g->asleep)
		wake_waiter(g, 0);
}

static void *child_main(void *arg)
{
	struct child *c = arg;
	void *result = c->fn(c->arg);
	child_returned(c, result);
	return result;
}

int eddy_group_spawn(eddy_group *g, eddy_fn fn, void *arg,
		     const eddy_spawn_opts *opts)
{
	if (!g || !fn)
		return -EINVAL;
	if (!eddy_self())
		return -EPERM;
	if (g->cancelling)
		return -ECANCELED;
	struct child *c = eddy_alloc(sizeof *c);
	if (!c)
		return -ENOMEM;
	*c = (struct child){ .group = g, .fn = fn, .arg = arg };
	/* The child runs no sooner than the caller suspends: c is complete
	 * and linked by then. */
	c->task = eddy_spawn_with(child_main, c, opts);
	if (!c->task) {
		int err = -errno;
		eddy_free(c);
		return err;
	}
	if (g->tail)
		g->tail->next = c;
	else
		g->head = c;
	g->tail = c;
	g->running++;
	return 0;
}

static bool is_child(const eddy_group *g, const eddy_task *t)
{
	for (const struct child *c = g->head; c; c = c->next)
		if (c->task == t)
			return true;
	return false;
}

/* Suspend until no child is running, cancelling them all as soon as the
 * caller is cancelled.  Cancellation does not end this wait.  Once the
 * children are cancelled, a cancel has nothing left to do here, and the
 * wait takes none (the loop's deadlock breaker would otherwise wake it
 * over and over while a child it cannot wake never returns). */
static void wait_children(eddy_group *g, eddy_task *self)
{
	while (g->running) {
		if (sched_of(self)->cancelled && !g->cancelling)
			cancel_children(g);
		struct group_wait gw = { .wait.end = g->cancelling ? NULL
								   : waiter_end,
					 .wait.kind = WAIT_SYNC,
					 .wait.what = "task group",
					 .group = g };
		g->asleep = &gw;
		loop_suspend(&gw.wait);
	}
}

/* Join every child in spawn order: 0, or -ENOMEM with the children not
 * yet joined left in the group.  The first merge rule's failure goes to
 * g->merge_failure (each child's merge is all or nothing; the others are
 * still merged), where a wait retried after -ENOMEM still finds it. */
static int join_children(eddy_group *g)
{
	struct child *c;
	while ((c = g->head)) {
		int err = eddy_task_collect(c->task, NULL);
		if (err == -ENOMEM)
			return err;
		if (err && !g->merge_failure)
			g->merge_failure = err;
		eddy_detach(c->task);
		if (!(g->head = c->next))
			g->tail = NULL;
		eddy_free(c);
	}
	return 0;
}

int eddy_group_wait(eddy_group *g, void **first_failed_arg)
{
	if (!g)
		return -EINVAL;
	eddy_task *self = eddy_self();
	if (!self)
		return -EPERM;
	if (is_child(g, self))
		return -EDEADLK;
	if (g->waiter)
		return -EBUSY;
	g->waiter = self;
	wait_children(g, self);
	int nomem = join_children(g);
	g->waiter = NULL;
	if (nomem)
		return nomem;
	if (first_failed_arg)
		*first_failed_arg = g->failed_arg;
	int err = sched_of(self)->cancelled ? -ECANCELED :
		  g->merge_failure          ? g->merge_failure :
					      g->failure;
	g->failure = 0;
	g->merge_failure = 0;
	g->failed_arg = NULL;
	g->cancelling = false;
	return err;
}
