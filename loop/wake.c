/*
 * The loop's door for other threads: worker threads hand back finished
 * jobs through it, and foreign threads hand in calls.
 *
 * Messages go on a lock-free stack (a CAS to push, one exchange to take
 * them all), so a thread never waits for the loop.  The loop learns of
 * them from an eventfd, on which it keeps one read armed in its backend,
 * like any task's I/O: a finished job reaches the loop through the ring
 * (or epoll), never by polling, and no other thread touches the ring.
 * A thread writes the eventfd only when it pushes onto an empty stack; a
 * loop that is busy with earlier messages will take the new one with them.
 *
 *   worker:  push(msg) --(stack was empty)--> write(efd, 1)
 *   loop:    read(efd) completes -> take all -> arm the read again ->
 *            deliver each, oldest first
 *
 * Messages posted while the loop is not running wait in the stack: the
 * next eddy_loop_run delivers them as it starts, and eddy_loop_free drops
 * them (a waiting caller learns that its call was never served).
 */
#define _GNU_SOURCE
#include "wake.h"

#include <errno.h>
#include <sys/eventfd.h>
#include <unistd.h>

static void delivered(eddy_loop *loop, struct io_op *op, long res);

/* Take every message posted so far, oldest first. */
static struct wake_msg *take_all(struct wake *w)
{
	struct wake_msg *msg = atomic_exchange_explicit(&w->inbox, NULL,
							memory_order_acquire);
	struct wake_msg *oldest = NULL;
	while (msg) { /* reverse: the stack holds the newest first */
		struct wake_msg *next = msg->next;
		msg->next = oldest;
		oldest = msg;
		msg = next;
	}
	return oldest;
}

static void deliver_all(eddy_loop *loop, struct wake_msg *msg)
{
	while (msg) {
		struct wake_msg *next = msg->next;
		msg->deliver(loop, msg);
		msg = next;
	}
}

static void arm_read(eddy_loop *loop)
{
	struct wake *w = loop->wake;
	w->armed = true;
	w->read = (struct io_op){ .kind = IO_READ, .fd = w->efd,
				  .buf = &w->count, .len = sizeof w->count,
				  .done = delivered };
	loop->be->start(loop, &w->read);
}

static void delivered(eddy_loop *loop, struct io_op *op, long res)
{
	(void)op;
	(void)res;
	struct wake_msg *msg = take_all(loop->wake);
	arm_read(loop); /* before delivering: a post meanwhile wakes it */
	deliver_all(loop, msg);
}

void wake_arm(eddy_loop *loop)
{
	struct wake *w = loop->wake;
	/* Messages posted before the loop ran, or after its last run ended,
	 * wrote the eventfd already; the read then completes soon, empty.
	 * A read armed in an earlier run is still in the backend. */
	deliver_all(loop, take_all(w));
	if (!w->armed)
		arm_read(loop);
}

int wake_init(struct wake *w)
{
	w->efd = eventfd(0, EFD_CLOEXEC);
	if (w->efd < 0)
		return -errno;
	w->armed = false;
	atomic_init(&w->inbox, NULL);
	atomic_init(&w->called_in, false);
	return 0;
}

void wake_post(struct wake *w, struct wake_msg *msg)
{
	struct wake_msg *top = atomic_load_explicit(&w->inbox,
						    memory_order_relaxed);
	do
		msg->next = top;
	while (!atomic_compare_exchange_weak_explicit(&w->inbox, &top, msg,
						      memory_order_release,
						      memory_order_relaxed));
	if (!top) {
		uint64_t one = 1;
		while (write(w->efd, &one, sizeof one) < 0 && errno == EINTR)
			;
	}
}

void wake_fini(struct wake *w)
{
	for (struct wake_msg *msg = take_all(w), *next; msg; msg = next) {
		next = msg->next;
		if (msg->drop)
			msg->drop(msg);
	}
	close(w->efd);
}
