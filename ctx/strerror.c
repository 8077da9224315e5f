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
	{ EALREADY, "the token was already used to reset its variable" },
	{ EINVAL, "an argument is invalid: NULL, out of range, or a token of "
		  "another variable or made in another context" },
	{ EBUSY, "the context is already entered, by this thread or another "
		 "(PEP 567's RuntimeError)" },
	{ ENOMEM, "out of memory; the objects involved were left as they were" },
	{ EPERM, "not permitted: io_uring is disabled or forbidden here "
		 "(kernel.io_uring_disabled, or a seccomp filter such as a "
		 "container's); set EDDY_BACKEND=epoll or use the epoll "
		 "backend.  (From a suspending call or a spawn: it was made "
		 "outside a task of a running loop.)" },
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
