/*
 * Semaphores: a count of free permits and the tasks waiting for one.
 * Release hands its permit to the first waiter rather than counting it,
 * so tasks wait only while the count is 0, and one that calls acquire in
 * the meantime queues behind them instead of taking the permit.
 */
#include "sync.h"

#include <errno.h>
#include <limits.h>

#include "ctx/alloc.h"
#include "waitq.h"

struct eddy_sem {
	unsigned count;       /* 0 while tasks wait */
	struct waitq waiters;
};

eddy_sem *eddy_sem_new(unsigned count)
{
	eddy_sem *s = eddy_alloc(sizeof *s);
	if (!s) {
		errno = ENOMEM;
		return NULL;
	}
	*s = (eddy_sem){ .count = count };
	return s;
}

int eddy_sem_free(eddy_sem *s)
{
	if (!s)
		return 0;
	if (!waitq_empty(&s->waiters))
		return -EBUSY;
	eddy_free(s);
	return 0;
}

int eddy_sem_try_acquire(eddy_sem *s)
{
	if (!s)
		return -EINVAL;
	if (!s->count)
		return -EAGAIN;
	s->count--;
	return 0;
}

int eddy_sem_acquire_timeout(eddy_sem *s, uint64_t timeout_ns)
{
	if (!s)
		return -EINVAL;
	eddy_loop *loop;
	int err = loop_enter_wait(&loop);
	if (err)
		return err;
	if (!eddy_sem_try_acquire(s))
		return 0;
	struct waiter w = { .wait.kind = WAIT_SYNC, .wait.what = "semaphore" };
	return (int)waitq_wait(&s->waiters, &w, timeout_ns);
}

int eddy_sem_acquire(eddy_sem *s)
{
	return eddy_sem_acquire_timeout(s, 0);
}

int eddy_sem_release(eddy_sem *s)
{
	if (!s)
		return -EINVAL;
	struct waiter *next = waitq_first(&s->waiters);
	if (next) {
		waitq_wake(next, 0);
		return 0;
	}
	if (s->count == UINT_MAX)
		return -EOVERFLOW;
	s->count++;
	return 0;
}

unsigned eddy_sem_value(const eddy_sem *s)
{
	return s ? s->count : 0;
}
