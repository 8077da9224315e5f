/*
 * Mutexes: an owner and the tasks waiting for the lock.  Unlock hands the
 * lock to the first waiter rather than freeing it, so a task that calls
 * lock in the meantime queues behind the waiters instead of overtaking
 * them.
 */
#include "sync.h"

#include <errno.h>

#include "ctx/alloc.h"
#include "waitq.h"

struct eddy_mutex {
	eddy_task *owner;     /* NULL: unlocked, and no task waits */
	struct waitq waiters;
};

eddy_mutex *eddy_mutex_new(void)
{
	eddy_mutex *m = eddy_alloc(sizeof *m);
	if (!m) {
		errno = ENOMEM;
		return NULL;
	}
	*m = (eddy_mutex){ 0 };
	return m;
}

int eddy_mutex_free(eddy_mutex *m)
{
	if (!m)
		return 0;
	if (m->owner)
		return -EBUSY;
	eddy_free(m);
	return 0;
}

int eddy_mutex_lock_timeout(eddy_mutex *m, uint64_t timeout_ns)
{
	if (!m)
		return -EINVAL;
	eddy_loop *loop;
	int err = loop_enter_wait(&loop);
	if (err)
		return err;
	eddy_task *self = eddy_self();
	if (m->owner == self)
		return -EDEADLK;
	if (!m->owner) {
		m->owner = self;
		return 0;
	}
	struct waiter w = { .wait.kind = WAIT_SYNC, .wait.what = "mutex" };
	return (int)waitq_wait(&m->waiters, &w, timeout_ns);
}

int eddy_mutex_lock(eddy_mutex *m)
{
	return eddy_mutex_lock_timeout(m, 0);
}

int eddy_mutex_trylock(eddy_mutex *m)
{
	if (!m)
		return -EINVAL;
	eddy_task *self = eddy_self();
	if (!self)
		return -EPERM;
	if (m->owner)
		return -EBUSY;
	m->owner = self;
	return 0;
}

int eddy_mutex_unlock(eddy_mutex *m)
{
	if (!m)
		return -EINVAL;
	eddy_task *self = eddy_self();
	if (!self || m->owner != self)
		return -EPERM;
	struct waiter *next = waitq_first(&m->waiters);
	m->owner = next ? next->wait.task : NULL;
	if (next)
		waitq_wake(next, 0);
	return 0;
}
