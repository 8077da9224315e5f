/*
 * Events: a flag and the tasks waiting for it to be set.
 */
#include "sync.h"

#include <errno.h>

#include "ctx/alloc.h"
#include "waitq.h"

struct eddy_event {
	struct waitq waiters; /* empty while set */
	bool set;
};

eddy_event *eddy_event_new(void)
{
	eddy_event *ev = eddy_alloc(sizeof *ev);
	if (!ev) {
		errno = ENOMEM;
		return NULL;
	}
	*ev = (eddy_event){ 0 };
	return ev;
}

int eddy_event_free(eddy_event *ev)
{
	if (!ev)
		return 0;
	if (!waitq_empty(&ev->waiters))
		return -EBUSY;
	eddy_free(ev);
	return 0;
}

int eddy_event_set(eddy_event *ev)
{
	if (!ev)
		return -EINVAL;
	ev->set = true;
	waitq_wake_all(&ev->waiters, 0);
	return 0;
}

int eddy_event_clear(eddy_event *ev)
{
	if (!ev)
		return -EINVAL;
	ev->set = false;
	return 0;
}

bool eddy_event_is_set(const eddy_event *ev)
{
	return ev && ev->set;
}

int eddy_event_wait_timeout(eddy_event *ev, uint64_t timeout_ns)
{
	if (!ev)
		return -EINVAL;
	eddy_loop *loop;
	int err = loop_enter_wait(&loop);
	if (err)
		return err;
	if (ev->set)
		return 0;
	struct waiter w = { .wait.kind = WAIT_SYNC, .wait.what = "event" };
	return (int)waitq_wait(&ev->waiters, &w, timeout_ns);
}

int eddy_event_wait(eddy_event *ev)
{
	return eddy_event_wait_timeout(ev, 0);
}
