/*
 * What the worker-thread tests share: the variable they watch (the forum
 * thread's current user), and what a worker or a task may do to it.
 * Included by tests/threads_*.c, each its own program.
 */
#ifndef EDDY_TESTS_THREADS_COMMON_H
#define EDDY_TESTS_THREADS_COMMON_H

#include <stdint.h>

#include "eddy.h"

#define V(n) ((void *)(intptr_t)(n))
#define N(p) ((long)(intptr_t)(p))

static eddy_var *user;

/* user in the current context, or -ENOENT when it is unset. */
static inline long seen(void)
{
	void *v;
	int err = eddy_var_get(user, &v);
	return err ? err : N(v);
}

static inline void set_user(long v)
{
	eddy_var_set(user, V(v), NULL);
}

/* What a worker (or a task) may do to user, the caller having set it to 1. */
static inline void sets(void)
{
	set_user(2);
}

static inline void sets_and_resets(void)
{
	eddy_token *tok = NULL;
	eddy_var_set(user, V(2), &tok);
	eddy_var_reset(user, tok);
	eddy_token_free(tok);
}

static inline void changes_nothing(void)
{
}

static inline void *noop(void *arg)
{
	return arg;
}

#endif
