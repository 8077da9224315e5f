/*
 * Wait queues, internal to loop/: the tasks waiting on one sync object,
 * first come first served.  Every primitive of sync.h keeps its waiters in
 * one of these (a channel in two: senders and receivers).
 *
 * A waiter lives in the waiting task's frame, for as long as the task is
 * suspended on it, and is linked both ways so that it can leave from the
 * middle of the queue in O(1):
 *
 *   q->head -> [A] <-> [B] <-> [C] <- q->tail       (A came first)
 *
 * There are exactly two ways out, and each first unlinks the waiter:
 *
 *   - hand-off: whoever frees what the waiter wants (an unlock, a release,
 *     a send) gives it to the waiter directly (the mutex's owner becomes
 *     that task, the item goes into w->item) and then calls waitq_wake.
 *     The wait is over from that moment: a timeout or eddy_cancel arriving
 *     before the task runs again finds nothing to end, and the task
 *     returns success with what it was given.
 *   - giving up: a timeout or eddy_cancel calls the wait's end hook, which
 *     unlinks the waiter and wakes the task with -ETIMEDOUT or -ECANCELED.
 *     Nothing was handed to it, and later hand-offs go to the waiters
 *     behind it.
 *
 * So a permit, a slot or an item is never handed to a task that has given
 * up, and no wake-up is lost.  The queue belongs to one loop: a waiter is
 * woken through its task's loop.
 */
#ifndef EDDY_LOOP_WAITQ_H
#define EDDY_LOOP_WAITQ_H

#include <stdbool.h>
#include <stdint.h>

#include "sched.h"

struct waitq;

struct waiter {
	struct eddy_wait wait;      /* first: the end hook finds the waiter */
	struct waitq *q;            /* NULL once out of the queue */
	struct waiter *prev, *next;
	void *item;                 /* a channel's item, sent or received */
};

struct waitq {
	struct waiter *head, *tail;
};

static inline bool waitq_empty(const struct waitq *q)
{
	return !q->head;
}

/* The waiter that came first, or NULL. */
static inline struct waiter *waitq_first(const struct waitq *q)
{
	return q->head;
}

/*
 * Suspend the calling task at the tail of q until a hand-off wakes it
 * (the result given to waitq_wake), timeout_ns passes (-ETIMEDOUT; 0 means
 * no timeout) or the task is cancelled (-ECANCELED); -ENOMEM when the
 * timeout cannot be armed.  w is out of q whenever this returns.  The
 * caller has passed loop_enter_wait.
 */
long waitq_wait(struct waitq *q, struct waiter *w, uint64_t timeout_ns);

/* Take w out of its queue and make its task runnable with result. */
void waitq_wake(struct waiter *w, long result);

/* waitq_wake every waiter of q, in order. */
void waitq_wake_all(struct waitq *q, long result);

#endif
