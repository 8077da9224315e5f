/*
 * Wait queues: the FIFO of waiting tasks that every sync primitive shares.
 * waitq.h explains hand-off and giving up.
 */
#include "waitq.h"

#include <assert.h>
#include <stddef.h>

static void waitq_push(struct waitq *q, struct waiter *w)
{
	w->q = q;
	w->next = NULL;
	w->prev = q->tail;
	if (q->tail)
		q->tail->next = w;
	else
		q->head = w;
	q->tail = w;
}

static void waitq_unlink(struct waiter *w)
{
	struct waitq *q = w->q;
	assert(q);
	if (w->prev)
		w->prev->next = w->next;
	else
		q->head = w->next;
	if (w->next)
		w->next->prev = w->prev;
	else
		q->tail = w->prev;
	w->q = NULL;
}

/* A timeout or eddy_cancel: the waiter gives up and leaves the queue. */
static void waiter_end(eddy_loop *loop, struct eddy_wait *wait, long why)
{
	struct waiter *w = (struct waiter *)wait;
	waitq_unlink(w);
	loop_wake(loop, wait, why);
}

long waitq_wait(struct waitq *q, struct waiter *w, uint64_t timeout_ns)
{
	w->wait.end = waiter_end;
	waitq_push(q, w);
	long r = loop_suspend_timed(&w->wait, timeout_ns);
	if (w->q) /* the timer could not be armed: never suspended */
		waitq_unlink(w);
	return r;
}

void waitq_wake(struct waiter *w, long result)
{
	waitq_unlink(w);
	loop_wake(sched_of(w->wait.task)->loop, &w->wait, result);
}

void waitq_wake_all(struct waitq *q, long result)
{
	while (q->head)
		waitq_wake(q->head, result);
}
