/*
 * eddy_strerror: each error code, in the words of what eddy was doing.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>

#include "common.h"

static const struct {
	int code;
	const char *text;
} sentences[] = {
	{ ENOENT, "the variable has no value in this context and no default "
		  "(PEP 567's LookupError)" },
	{ EALREADY, "already done: the token was already used to reset its "
		    "variable, or the task was already collected" },
	{ EINVAL, "an argument is invalid: NULL, out of range, or a token of "
		  "another variable or made in another context" },
	{ EBUSY, "busy: the context is already entered, by this thread or "
		 "another (PEP 567's RuntimeError), or the object is in use "
		 "(running, locked, or waited on), or a trace is already "
		 "being recorded" },
	{ ENOMEM, "out of memory; the objects involved were left as they were" },
	{ EPERM, "not permitted here: a suspending call or spawn outside a "
		 "task of a running loop, or io_uring forbidden by "
		 "kernel.io_uring_disabled or a seccomp filter (a container's: "
		 "set EDDY_BACKEND=epoll)" },
	{ ECANCELED, "the task was cancelled (eddy_cancel); its suspending "
		     "calls return this until it returns" },
	{ ETIMEDOUT, "the timeout expired before the operation completed" },
	{ EDEADLK, "that would wait forever: a task joining itself, a thread "
		   "calling into its own loop, or tasks that all wait on each "
		   "other" },
	{ EPIPE, "the channel is closed, or the peer closed the connection" },
	{ EAGAIN, "it would have to wait (a try_ call), or no worker thread "
		  "could be started" },
	{ EOVERFLOW, "a count would overflow (a semaphore released past its "
		     "maximum)" },
	{ ENOSPC, "no space left on the device: the trace file could not be "
		  "written (the disk is full)" },
};

const char *eddy_strerror(int err)
{
	if (err < 0)
		err = -err;
	if (err == 0)
		return "success";
	for (size_t i = 0; i < sizeof sentences / sizeof sentences[0]; i++)
		if (sentences[i].code == err)
			return sentences[i].text;
	const char *text = strerrordesc_np(err);
	return text ? text : "unknown error code";
}
