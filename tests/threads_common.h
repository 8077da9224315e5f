/*
 * What the worker-thread tests share: the variable they watch (the forum
 * thread's current user), and what a worker or a task may do to it.
 * The gates and run_loop: how a test orders a worker thread against the
 * loop without sleeping.  Included by tests/threads_*.c, each its own
 * program.
 */
#ifndef EDDY_TESTS_THREADS_COMMON_H
#define EDDY_TESTS_THREADS_COMMON_H

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

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

/*
 * Run main(arg) on a new loop with this backend and pool size (0: the
 * defaults).  The loop must use the backend asked for unless EDDY_BACKEND
 * overrides it for the whole run.
 */
static inline void run_loop(enum eddy_backend backend, unsigned workers,
		     eddy_fn main, void *arg)
{
	if (!user)
		cr_assert_not_null(user = eddy_var_new("user"));
	eddy_loop_config cfg = { .backend = backend, .workers = workers };
	eddy_loop *loop = eddy_loop_new(&cfg);
	cr_assert_not_null(loop);
	if (backend && !getenv("EDDY_BACKEND"))
		cr_assert_eq(eddy_loop_backend(loop), backend);
	cr_assert_eq(eddy_loop_run(loop, main, arg, NULL), 0);
	eddy_loop_free(loop);
}

/*
 * A one-shot pipe between a worker thread and a task.  Threads block in
 * read(2) and write(2); tasks use eddy_read and eddy_write, so that only
 * the task waits.
 */
struct gate {
	int fd[2];
};

static inline void gate_init(struct gate *g)
{
	cr_assert_eq(pipe2(g->fd, O_CLOEXEC), 0);
}

static inline void gate_fini(struct gate *g)
{
	close(g->fd[0]);
	close(g->fd[1]);
}

static inline void thread_opens(struct gate *g)
{
	while (write(g->fd[1], "x", 1) < 0 && errno == EINTR)
		;
}

static inline void thread_passes(struct gate *g)
{
	char c;
	while (read(g->fd[0], &c, 1) < 0 && errno == EINTR)
		;
}

static inline long task_opens(struct gate *g)
{
	return eddy_write(g->fd[1], "x", 1);
}

static inline long task_passes(struct gate *g)
{
	char c;
	return eddy_read(g->fd[0], &c, 1);
}


#endif
