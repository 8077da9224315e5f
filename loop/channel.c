/*
 * Channels: a ring buffer of items and two wait queues.
 *
 *   items:  [ .  .  c  d  e  . ]    capacity 6, head 2, count 3
 *                   ^head           c is the oldest; the next send goes
 *                                   to (head + count) % capacity
 *
 * Between calls, at most one of the queues holds tasks:
 *   - receivers wait only while the buffer is empty and no sender waits;
 *   - senders wait only while the buffer is full (always, at capacity 0),
 *     each with its item in its waiter.
 * A send gives its item straight to the first waiting receiver, else
 * buffers it, else waits.  A receive takes the oldest buffered item and
 * at once refills the freed slot from the first waiting sender (whose
 * item is younger than every buffered one), or at capacity 0 takes that
 * sender's item directly.  Every hand-off thus happens in the call that
 * makes it possible, and a newcomer never finds room that a waiter is
 * owed.
 */
#include "sync.h"

#include <errno.h>

#include "ctx/alloc.h"
#include "waitq.h"

struct eddy_chan {
	struct waitq senders, receivers;
	size_t capacity, head, count;
	bool closed;
	void *items[];
};

eddy_chan *eddy_chan_new(size_t capacity)
{
	if (capacity > (SIZE_MAX - sizeof(eddy_chan)) / sizeof(void *)) {
		errno = EINVAL;
		return NULL;
	}
	eddy_chan *ch = eddy_alloc(sizeof *ch + capacity * sizeof(void *));
	if (!ch) {
		errno = ENOMEM;
		return NULL;
	}
	*ch = (eddy_chan){ .capacity = capacity };
	return ch;
}

int eddy_chan_free(eddy_chan *ch)
{
	if (!ch)
		return 0;
	if (!waitq_empty(&ch->senders) || !waitq_empty(&ch->receivers))
		return -EBUSY;
	eddy_free(ch);
	return 0;
}

static void buffer_put(eddy_chan *ch, void *item)
{
	ch->items[(ch->head + ch->count++) % ch->capacity] = item;
}

static void *buffer_take(eddy_chan *ch)
{
	void *item = ch->items[ch->head];
	ch->head = (ch->head + 1) % ch->capacity;
	ch->count--;
	return item;
}

/* A send that does not wait: 0, -EPIPE, or -EAGAIN when it would. */
static int chan_offer(eddy_chan *ch, void *item)
{
	if (ch->closed)
		return -EPIPE;
	struct waiter *r = waitq_first(&ch->receivers);
	if (r) {
		r->item = item;
		waitq_wake(r, 0);
		return 0;
	}
	if (ch->count == ch->capacity)
		return -EAGAIN;
	buffer_put(ch, item);
	return 0;
}

/* A receive that does not wait: 0, -EPIPE, or -EAGAIN when it would. */
static int chan_take(eddy_chan *ch, void **item)
{
	struct waiter *s = waitq_first(&ch->senders);
	void *got;
	if (ch->count) {
		got = buffer_take(ch);
		if (s) {
			buffer_put(ch, s->item);
			waitq_wake(s, 0);
		}
	} else if (s) {
		got = s->item;
		waitq_wake(s, 0);
	} else {
		return ch->closed ? -EPIPE : -EAGAIN;
	}
	if (item)
		*item = got;
	return 0;
}

int eddy_chan_send_timeout(eddy_chan *ch, void *item, uint64_t timeout_ns)
{
	if (!ch)
		return -EINVAL;
	eddy_loop *loop;
	int err = loop_enter_wait(&loop);
	if (err)
		return err;
	err = chan_offer(ch, item);
	if (err != -EAGAIN)
		return err;
	struct waiter w = { .item = item, .wait.kind = WAIT_SYNC,
			    .wait.what = "channel send" };
	return (int)waitq_wait(&ch->senders, &w, timeout_ns);
}

int eddy_chan_send(eddy_chan *ch, void *item)
{
	return eddy_chan_send_timeout(ch, item, 0);
}

int eddy_chan_try_send(eddy_chan *ch, void *item)
{
	return ch ? chan_offer(ch, item) : -EINVAL;
}

int eddy_chan_recv_timeout(eddy_chan *ch, void **item, uint64_t timeout_ns)
{
	if (!ch)
		return -EINVAL;
	eddy_loop *loop;
	int err = loop_enter_wait(&loop);
	if (err)
		return err;
	err = chan_take(ch, item);
	if (err != -EAGAIN)
		return err;
	struct waiter w = { .wait.kind = WAIT_SYNC,
			    .wait.what = "channel receive" };
	err = (int)waitq_wait(&ch->receivers, &w, timeout_ns);
	if (!err && item)
		*item = w.item;
	return err;
}

int eddy_chan_recv(eddy_chan *ch, void **item)
{
	return eddy_chan_recv_timeout(ch, item, 0);
}

int eddy_chan_try_recv(eddy_chan *ch, void **item)
{
	return ch ? chan_take(ch, item) : -EINVAL;
}

int eddy_chan_close(eddy_chan *ch)
{
	if (!ch)
		return -EINVAL;
	ch->closed = true;
	waitq_wake_all(&ch->senders, -EPIPE);
	waitq_wake_all(&ch->receivers, -EPIPE);
	return 0;
}
