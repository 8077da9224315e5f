/*
 * eddy: what every module shares: the function type that runs user code,
 * and the explanation of an error code.
 *
 * Errors: every fallible eddy call returns 0 (or a non-negative count) on
 * success and a negative errno on failure, like liburing.  Constructors
 * return a handle, or NULL with errno set.
 */
#ifndef EDDY_COMMON_H
#define EDDY_COMMON_H

#include <errno.h> /* callers compare results with -ENOENT, -EBUSY, ... */

#pragma GCC visibility push(default)

#define EDDY_VERSION_MAJOR 0
#define EDDY_VERSION_MINOR 1

/* One type runs user code everywhere: context run, spawn, worker threads. */
typedef void *(*eddy_fn)(void *arg);

/*
 * A sentence explaining err, an error code returned by an eddy call
 * (negative, as returned; a positive errno is accepted too).  The string is
 * static: never free it.
 */
const char *eddy_strerror(int err);

#pragma GCC visibility pop

#endif
