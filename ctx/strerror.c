/*
 * eddy_strerror: each error code, in the words of what eddy was doing.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "context.h"
#include "ctx.h"

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
		 "task of a running loop, a set of a task-local or loop-only "
		 "variable from code that shares its parent's context (SHARE), "
		 "or io_uring forbidden by kernel.io_uring_disabled or a "
		 "seccomp filter (a container's: set EDDY_BACKEND=epoll)" },
	{ ECANCELED, "the task was cancelled (eddy_cancel); its suspending "
		     "calls return this until it returns" },
	{ ETIMEDOUT, "the timeout expired before the operation completed" },
	{ EDEADLK, "that would wait forever: a task joining itself, a thread "
		   "calling into its own loop, or tasks that all wait on each "
		   "other" },
	{ EPIPE, "the channel is closed, or the peer closed the connection" },
	{ EAGAIN, "it would have to wait (a try_ call), or no worker thread "
		  "could be started" },
	{ ENOBUFS, "the reader's buffer is full of unconsumed bytes: consume "
		   "some, or give the reader a larger buffer" },
	{ EMSGSIZE, "no delimiter within the limit: the line or record is "
		    "longer than the reader may take; or an HTTP request "
		    "body is larger than the server's body_max" },
	{ EPROTO, "the peer broke the protocol: a malformed HTTP chunked "
		  "request body" },
	{ EOVERFLOW, "a count would overflow (a semaphore released past its "
		     "maximum)" },
	{ ENOSPC, "no space left on the device: the trace file could not be "
		  "written (the disk is full)" },
};

#define CONFLICT_TEXT(what)                                                 \
	"a merge conflict: the child and its joiner both changed " what      \
	" since the fork, and its merge rule is EDDY_MERGE_CONFLICT_ERROR; " \
	"the joiner's context kept all its values"

/* The sentence names the variable of this thread's last failed merge
 * (eddy_ctx_conflict_var), so it is built per thread; it stays valid
 * until that thread asks for it again.  The name is the merge's copy:
 * the variable itself may have been freed since. */
static const char *conflict_text(void)
{
	static _Thread_local char
		text[sizeof CONFLICT_TEXT("") + CTX_CONFLICT_NAME_MAX + 1];
	const char *name = ctx_conflict_name();
	if (!name)
		return CONFLICT_TEXT("a variable");
	snprintf(text, sizeof text, CONFLICT_TEXT("the variable \"%s\""),
		 name);
	return text;
}

const char *eddy_strerror(int err)
{
	if (err == INT_MIN) /* no errno: and -INT_MIN would overflow */
		return "unknown error code";
	if (err < 0)
		err = -err;
	if (err == 0)
		return "success";
	if (err == EDDY_ECONFLICT)
		return conflict_text();
	for (size_t i = 0; i < sizeof sentences / sizeof sentences[0]; i++)
		if (sentences[i].code == err)
			return sentences[i].text;
	const char *text = strerrordesc_np(err);
	return text ? text : "unknown error code";
}
