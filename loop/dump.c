/*
 * eddy_loop_dump: every task of a loop, what it waits for, as a tree.
 *
 *   eddy loop dump: 3 tasks (io_uring)
 *   #1 main: waiting: join #2 | ctx 5, 1 var, copy; ran 4.0 ms ago; stack 8 of 256 KiB
 *     #2 reader: waiting: read fd 7 | ctx 6, 1 var, copy; ran 4.0 ms ago; ...
 *     #3 sleeper: waiting: timer | 9.9 ms left; ctx 7, 1 var, ...
 *
 * Each line: the task's id and name, then its state, then after " | "
 * what changes from run to run (the time left before a timeout, its
 * context, how long since it ran, its stack's deepest use).  A child is indented under the task that spawned
 * it while that one lives; orphans stand at the left.
 *
 * It must work on a wedged loop, so it takes no lock and allocates
 * nothing (malloc's locks could be held by the task that is stuck): it
 * reads the loop's own lists, on the loop's thread, and prints with
 * fprintf.  The tree is found by scanning the task list for each task's
 * children, O(tasks^2), which is nothing next to what a person reads.
 */
#include <inttypes.h>
#include <stdio.h>

#include "io.h"
#include "observe.h"
#include "trace.h"

static bool in_list(eddy_task *head, eddy_task *t)
{
	for (; head; head = sched_of(head)->next)
		if (head == t)
			return true;
	return false;
}

static bool ctx_lent(eddy_loop *loop, eddy_ctx *ctx)
{
	for (struct lent *l = loop->lent; l; l = l->next)
		if (l->ctx == ctx)
			return true;
	return false;
}

/* The deadline of the timer that ends w, or 0. */
static uint64_t deadline_of(eddy_loop *loop, struct eddy_wait *w)
{
	for (size_t i = 0; i < loop->timers.n; i++)
		if (loop->timers.v[i].timer->wait == w)
			return loop->timers.v[i].deadline;
	return 0;
}

/* What s waits for; the time left goes after the " | ". */
static void print_wait(FILE *out, struct sched *s)
{
	struct eddy_wait *w = s->wait;
	switch (w->kind) {
	case WAIT_IO: {
		struct io_op *op = (struct io_op *)w;
		fprintf(out, "waiting: %s fd %d", trace_io_name(op), op->fd);
		break;
	}
	case WAIT_JOIN:
		fprintf(out, "waiting: join #%" PRIu64,
			eddy_task_id(s->joining));
		break;
	case WAIT_SLEEP:
		fprintf(out, "waiting: timer");
		break;
	case WAIT_WORKER:
		fprintf(out, "waiting: a call on a worker thread");
		break;
	case WAIT_SYNC:
		fprintf(out, "waiting: %s", w->what);
		break;
	case WAIT_OTHER:
		fprintf(out, "waiting");
		break;
	}
}

static void print_task(eddy_loop *loop, FILE *out, eddy_task *t, int depth,
		       uint64_t now)
{
	static const char *const policies[] = { "?", "copy", "share", "merge" };
	struct sched *s = sched_of(t);
	const char *name = eddy_task_name(t);
	fprintf(out, "%*s#%" PRIu64 "%s%s: ", 2 * depth, "", eddy_task_id(t),
		name ? " " : "", name ? name : "");
	if (t == eddy_task_current())
		fprintf(out, "running");
	else if (s->finished)
		fprintf(out, "finished, not joined");
	else if (s->wait)
		print_wait(out, s);
	else if (in_list(loop->run_head, t))
		fprintf(out, "runnable");
	else if (in_list(loop->held_head, t))
		fprintf(out, "runnable, held while its context is on a worker");
	else
		fprintf(out, "suspended outside the loop");
	if (s->cancelled && !s->finished)
		fprintf(out, " (cancelled)");

	fprintf(out, " | ");
	uint64_t deadline = s->wait ? deadline_of(loop, s->wait) : 0;
	if (deadline) {
		uint64_t at = loop_now_ns(); /* timers keep the precise clock */
		fprintf(out, "%.1f ms left; ",
			deadline > at ? (double)(deadline - at) / 1e6 : 0.0);
	}
	eddy_ctx *ctx = eddy_task_ctx(t);
	fprintf(out, "ctx %" PRIu64, eddy_ctx_id(ctx));
	if (ctx_lent(loop, ctx)) {
		fprintf(out, ", on a worker");
	} else {
		size_t n = eddy_ctx_len(ctx);
		fprintf(out, ", %zu var%s", n, n == 1 ? "" : "s");
	}
	fprintf(out, ", %s", policies[eddy_task_policy(t)]);
	if (t == eddy_task_current())
		; /* it runs now */
	else if (!s->last_ran)
		fprintf(out, "; never ran");
	else
		fprintf(out, "; ran %.1f ms ago",
			now > s->last_ran ? (double)(now - s->last_ran) / 1e6
					  : 0.0);
	size_t used, size;
	if (!eddy_task_stack_usage(t, &used, &size))
		fprintf(out, "; stack %zu of %zu KiB", (used + 1023) / 1024,
			size / 1024);
	fputc('\n', out);
}

static bool alive(eddy_loop *loop, uint64_t id)
{
	for (eddy_task *t = loop->all; t; t = sched_of(t)->all_next)
		if (eddy_task_id(t) == id)
			return true;
	return false;
}

/* The task list's oldest task: the list is newest first. */
static eddy_task *oldest(eddy_loop *loop)
{
	eddy_task *t = loop->all;
	while (t && sched_of(t)->all_next)
		t = sched_of(t)->all_next;
	return t;
}

static void print_children(eddy_loop *loop, FILE *out, uint64_t parent,
			   int depth, uint64_t now)
{
	for (eddy_task *t = oldest(loop); t; t = sched_of(t)->all_prev) {
		if (sched_of(t)->parent != parent)
			continue;
		print_task(loop, out, t, depth, now);
		print_children(loop, out, eddy_task_id(t), depth + 1, now);
	}
}

int eddy_loop_dump(eddy_loop *loop, FILE *out)
{
	if (!loop || !out)
		return -EINVAL;
	size_t n = 0;
	for (eddy_task *t = loop->all; t; t = sched_of(t)->all_next)
		n++;
	uint64_t now = loop_coarse_ns();
	fprintf(out, "eddy loop dump: %zu task%s (%s)\n", n, n == 1 ? "" : "s",
		loop->be->kind == EDDY_BACKEND_URING ? "io_uring" : "epoll");
	for (eddy_task *t = oldest(loop); t; t = sched_of(t)->all_prev) {
		struct sched *s = sched_of(t);
		if (s->parent && alive(loop, s->parent))
			continue;
		print_task(loop, out, t, 0, now);
		print_children(loop, out, eddy_task_id(t), 1, now);
	}
	fflush(out);
	return 0;
}
