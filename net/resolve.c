/*
 * Name resolution.  getaddrinfo blocks its thread for as long as DNS
 * takes, so a name is looked up on the loop's worker pool while the task
 * waits; a numeric address, which needs no lookup, is answered at once.
 *
 * The lookup outlives its task when the task stops waiting (cancelled, or
 * past its deadline): eddy_to_thread returns at once and the worker
 * finishes getaddrinfo regardless.  So the lookup's state is on the heap,
 * not on the task's stack, with two owners, the task and the worker;
 * whichever leaves last frees it (and a result nobody will read).
 *
 * A deadline.  eddy_to_thread has no timeout, so the wait is a race in a
 * task group: one child waits for the worker, the other sleeps until the
 * deadline, and each ends by "failing" with its outcome, so that the
 * first to end makes the group cancel the other.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "ctx/alloc.h"
#include "deadline.h"
#include "loop/sync.h"
#include "net.h"
#include "tcp.h"

struct lookup {
	atomic_int owners;     /* 2, then 1 once the task or worker left */
	struct addrinfo hints;
	struct addrinfo *res;
	int rc;                /* getaddrinfo's */
	int sys_errno;         /* the worker's errno, for EAI_SYSTEM */
	char *host, *port;     /* copies, in the same allocation */
	char names[];
};

/* getaddrinfo's EAI_ code as a negative errno (sys_errno is errno after
 * the call, for EAI_SYSTEM). */
static int net_gai_error(int eai, int sys_errno)
{
	switch (eai) {
	case 0:
		return 0;
	case EAI_SYSTEM:
		return sys_errno ? -sys_errno : -EIO;
	case EAI_MEMORY:
		return -ENOMEM;
	case EAI_AGAIN:
		return -EAGAIN;
	case EAI_NONAME:
	case EAI_NODATA:
	case EAI_ADDRFAMILY:
		return -ENOENT;
	default: /* EAI_SERVICE, EAI_FAMILY, EAI_BADFLAGS, EAI_FAIL ... */
		return -EINVAL;
	}
}

static void lookup_leave(struct lookup *l)
{
	if (atomic_fetch_sub(&l->owners, 1) != 1)
		return;
	if (l->res)
		freeaddrinfo(l->res);
	eddy_free(l);
}

/* On a worker. */
static void *lookup_run(void *arg)
{
	struct lookup *l = arg;
	l->rc = getaddrinfo(l->host, l->port, &l->hints, &l->res);
	l->sys_errno = errno; /* the worker's: read it here */
	lookup_leave(l);
	return NULL;
}

static struct lookup *lookup_new(const char *host, const char *port,
				 int passive)
{
	size_t hl = host ? strlen(host) + 1 : 0, pl = strlen(port) + 1;
	struct lookup *l = eddy_alloc(sizeof *l + hl + pl);
	if (!l)
		return NULL;
	*l = (struct lookup){ .hints = { .ai_socktype = SOCK_STREAM,
					 .ai_flags = passive ? AI_PASSIVE : 0 } };
	atomic_init(&l->owners, 2);
	l->port = memcpy(l->names, port, pl);
	l->host = host ? memcpy(l->names + pl, host, hl) : NULL;
	return l;
}

/*
 * Hand l to a worker and wait: 0 with l's result ready, or -errno.
 * *handed says whether a worker got l (it then owns a share of it).
 *
 * eddy_to_thread's -ECANCELED alone would be ambiguous: cancelled before
 * the job reached a worker, or while it ran.  A task that passes the
 * checkpoint here is not cancelled when eddy_to_thread starts (nothing
 * runs in between), so there -ECANCELED means a worker has l, and any
 * other error that none ever had it.
 */
static int lookup_from_task(struct lookup *l, bool *handed)
{
	*handed = false;
	int err = eddy_yield();
	if (err)
		return err;
	err = eddy_to_thread(lookup_run, l, EDDY_COPY, NULL);
	*handed = !err || err == -ECANCELED;
	return err;
}

/* The race of lookup_within (a pseudo-error: the lookup ended first). */
#define LOOKUP_ENDED (-EALREADY)

struct race {
	struct lookup *l;
	uint64_t timeout_ns;
	bool handed;
	int err; /* lookup_from_task's */
};

static void *race_lookup(void *arg)
{
	struct race *r = arg;
	r->err = lookup_from_task(r->l, &r->handed);
	return EDDY_GROUP_FAILED(LOOKUP_ENDED);
}

static void *race_timer(void *arg)
{
	struct race *r = arg;
	if (eddy_sleep(r->timeout_ns) == 0)
		return EDDY_GROUP_FAILED(-ETIMEDOUT);
	return NULL; /* cancelled: the lookup ended first */
}

/* lookup_from_task, given up after timeout_ns with -ETIMEDOUT. */
static int lookup_within(struct lookup *l, uint64_t timeout_ns, bool *handed)
{
	struct race r = { .l = l, .timeout_ns = timeout_ns, .err = -ECANCELED };
	*handed = false;
	eddy_group *g = eddy_group_new();
	if (!g)
		return -ENOMEM;
	int err = eddy_group_spawn(g, race_lookup, &r, NULL);
	if (err) {
		eddy_group_free(g);
		return err;
	}
	/* without the timer the lookup just takes as long as it takes */
	eddy_group_spawn(g, race_timer, &r, NULL);
	int first = eddy_group_wait(g, NULL);
	eddy_group_free(g);
	*handed = r.handed;
	return r.err && first == -ETIMEDOUT ? -ETIMEDOUT : r.err;
}

int net_resolve(const char *host, const char *port, int passive, int offload,
		uint64_t deadline, struct addrinfo **res)
{
	struct addrinfo hints = {
		.ai_socktype = SOCK_STREAM,
		.ai_flags = AI_NUMERICHOST | (passive ? AI_PASSIVE : 0),
	};
	int rc = getaddrinfo(host, port, &hints, res);
	if (rc != EAI_NONAME || !host)
		return net_gai_error(rc, errno);
	if (!offload) {
		hints.ai_flags &= ~AI_NUMERICHOST;
		rc = getaddrinfo(host, port, &hints, res);
		return net_gai_error(rc, errno);
	}
	uint64_t left;
	int err = net_time_left(deadline, &left);
	if (err)
		return err;
	struct lookup *l = lookup_new(host, port, passive);
	if (!l)
		return -ENOMEM;
	bool handed;
	err = left ? lookup_within(l, left, &handed)
		   : lookup_from_task(l, &handed);
	if (!handed) {
		eddy_free(l);
		return err;
	}
	if (!err && !(err = net_gai_error(l->rc, l->sys_errno))) {
		*res = l->res;
		l->res = NULL;
	}
	lookup_leave(l);
	return err;
}
