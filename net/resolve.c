/*
 * Name resolution.  getaddrinfo blocks its thread for as long as DNS
 * takes, so a name is looked up on the loop's worker pool while the task
 * waits; a numeric address, which needs no lookup, is answered at once.
 *
 * The lookup outlives its task when the task is cancelled: eddy_to_thread
 * returns at once and the worker finishes getaddrinfo regardless.  So the lookup's state is on the heap, not on
 * the task's stack, with two owners, the task and the worker; whichever
 * leaves last frees it (and a result nobody will read).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "ctx/alloc.h"
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

int net_resolve(const char *host, const char *port, int passive, int offload,
		struct addrinfo **res)
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
	struct lookup *l = lookup_new(host, port, passive);
	if (!l)
		return -ENOMEM;
	/* eddy_to_thread's -ECANCELED is ambiguous: cancelled before the
	 * job reached a worker (then no worker will leave the lookup), or
	 * while it ran.  A task that passes this checkpoint is not cancelled
	 * when eddy_to_thread starts (nothing runs in between), so there
	 * -ECANCELED means a worker has the lookup; any other error, that
	 * none ever had it. */
	int err = eddy_yield();
	if (err) {
		eddy_free(l);
		return err;
	}
	err = eddy_to_thread(lookup_run, l, EDDY_COPY, NULL);
	if (err && err != -ECANCELED) {
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
