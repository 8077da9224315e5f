/*
 * What the fork tests share (task_stack_threads, threads_rules_threads):
 * fork many times while another thread keeps a lock of eddy's busy, and
 * check that each child, which runs on alone, can take it.
 */
#ifndef EDDY_TESTS_FORK_COMMON_H
#define EDDY_TESTS_FORK_COMMON_H

#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

/* A fork under a sanitizer copies its shadow memory: far fewer of them
 * there, or a loaded machine runs past the timeout. */
#if defined(EDDY_TEST_LSAN) || defined(EDDY_TEST_TSAN)
#define FORKS 20
#else
#define FORKS 200
#endif

/* Fork FORKS times; each child exits with child()'s status, which must be
 * 0.  A child stuck on a lock it inherited held hangs the test, which
 * criterion's timeout then fails. */
static inline void fork_children(int (*child)(void))
{
	for (int i = 0; i < FORKS; i++) {
		pid_t pid = fork();
		cr_assert_neq(pid, -1);
		if (pid == 0)
			_exit(child());
		int status;
		cr_assert_eq(waitpid(pid, &status, 0), pid);
		cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
}

#endif
