/*
 * The loop's two backends: how one is chosen (automatically, by the
 * config, by EDDY_BACKEND), and the fall back to epoll when io_uring is
 * forbidden (a seccomp filter in a child process, as container runtimes
 * install: no root needed).  loop_backend_io.c checks that I/O behaves
 * alike on both.
 *
 * Nothing sleeps, nothing is timed, every loop is bounded.
 */
#define _GNU_SOURCE
#include "check.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "eddy.h"

EDDY_SUITE(loop_backend);

/* A bug here tends to hang the loop rather than crash: fail instead. */
#define BACKEND_TEST(name) Test(loop_backend, name, .timeout = 60)

/* ---- choosing a backend -------------------------------------------------- */

static bool uring_allowed_here(void)
{
	eddy_loop_config cfg = { .backend = EDDY_BACKEND_URING };
	eddy_loop *loop = eddy_loop_new(&cfg);
	eddy_loop_free(loop);
	return loop != NULL;
}

/* The backend a new loop gets under EDDY_BACKEND=env (NULL: unset) and
 * cfg.backend = asked; AUTO when the loop cannot be made (errno says). */
static enum eddy_backend backend_chosen(const char *env,
					enum eddy_backend asked)
{
	if (env)
		setenv("EDDY_BACKEND", env, 1);
	else
		unsetenv("EDDY_BACKEND");
	eddy_loop_config cfg = { .backend = asked };
	eddy_loop *loop = eddy_loop_new(&cfg);
	enum eddy_backend b = eddy_loop_backend(loop);
	int err = errno;
	eddy_loop_free(loop);
	errno = err;
	return b;
}

BACKEND_TEST(config_asks_for_epoll)
{
	cr_assert_eq(backend_chosen(NULL, EDDY_BACKEND_EPOLL),
		     EDDY_BACKEND_EPOLL);
}

BACKEND_TEST(automatic_choice_is_io_uring_where_allowed)
{
	unsetenv("EDDY_BACKEND");
	if (!uring_allowed_here())
		cr_skip_test("io_uring is not allowed on this machine");
	cr_assert_eq(backend_chosen(NULL, EDDY_BACKEND_AUTO),
		     EDDY_BACKEND_URING);
}

/* Every ring size the config allows is io_uring where io_uring is (the
 * largest SQs once asked the kernel for a CQ past its limit, and the
 * automatic choice fell back to epoll without a word). */
BACKEND_TEST(the_largest_ring_the_config_allows_is_io_uring_where_allowed)
{
	unsetenv("EDDY_BACKEND");
	if (!uring_allowed_here())
		cr_skip_test("io_uring is not allowed on this machine");
	eddy_loop_config cfg = { .ring_entries = 32768 };
	eddy_loop *loop = eddy_loop_new(&cfg);
	cr_assert_not_null(loop);
	cr_assert_eq(eddy_loop_backend(loop), EDDY_BACKEND_URING);
	eddy_loop_free(loop);
}

BACKEND_TEST(env_epoll_forces_epoll_over_the_config)
{
	cr_assert_eq(backend_chosen("epoll", EDDY_BACKEND_AUTO),
		     EDDY_BACKEND_EPOLL);
	cr_assert_eq(backend_chosen("epoll", EDDY_BACKEND_URING),
		     EDDY_BACKEND_EPOLL);
}

BACKEND_TEST(env_uring_forces_io_uring_over_the_config)
{
	unsetenv("EDDY_BACKEND");
	if (!uring_allowed_here())
		cr_skip_test("io_uring is not allowed on this machine");
	cr_assert_eq(backend_chosen("uring", EDDY_BACKEND_EPOLL),
		     EDDY_BACKEND_URING);
}

BACKEND_TEST(env_with_another_value_is_einval)
{
	cr_assert_eq(backend_chosen("kqueue", EDDY_BACKEND_AUTO),
		     EDDY_BACKEND_AUTO);
	cr_assert_eq(errno, EINVAL);
	cr_assert_eq(backend_chosen("EPOLL", EDDY_BACKEND_AUTO),
		     EDDY_BACKEND_AUTO);
	cr_assert_eq(errno, EINVAL);
}

BACKEND_TEST(config_with_an_unknown_backend_is_einval)
{
	unsetenv("EDDY_BACKEND");
	eddy_loop_config cfg = { .backend = EDDY_BACKEND_EPOLL + 1 };
	cr_assert_null(eddy_loop_new(&cfg));
	cr_assert_eq(errno, EINVAL);
}

/* ---- io_uring forbidden by seccomp, in a child process ------------------- */

#if defined(__x86_64__)
#define AUDIT_ARCH_HERE AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define AUDIT_ARCH_HERE AUDIT_ARCH_AARCH64
#endif

/*
 * What Docker's and Podman's default profiles do: io_uring_setup fails
 * with EPERM, everything else is allowed.  No privilege is needed once
 * the process gives up gaining any (PR_SET_NO_NEW_PRIVS).
 */
static int forbid_io_uring(void)
{
	struct sock_filter code[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_HERE, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof code / sizeof code[0],
				   .filter = code };
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return -errno;
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog))
		return -errno;
	return 0;
}

/* In the child, a failed check prints itself and ends the child; the
 * parent's assertion then fails and the log shows why. */
#define CHILD_CHECK(cond)                                                 \
	do {                                                              \
		if (!(cond)) {                                            \
			fprintf(stderr, "%s:%d: in the child: %s\n",      \
				__FILE__, __LINE__, #cond);               \
			_exit(1);                                         \
		}                                                         \
	} while (0)

/* Runs check() in a child process in which io_uring is forbidden. */
static void without_io_uring(void (*check)(void))
{
	fflush(NULL);
	pid_t pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		unsetenv("EDDY_BACKEND");
		CHILD_CHECK(forbid_io_uring() == 0);
		errno = 0;
		CHILD_CHECK(syscall(__NR_io_uring_setup, 1, NULL) == -1 &&
			    errno == EPERM);
		check();
		_exit(0);
	}
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "the child failed (its message is above)");
}

static void *pipe_round_trip(void *arg)
{
	int *fds = arg;
	char c = 0;
	if (eddy_write(fds[1], "x", 1) != 1 || eddy_read(fds[0], &c, 1) != 1)
		return (void *)0;
	return (void *)(intptr_t)(c == 'x');
}

static void falls_back_to_epoll_and_runs_io(void)
{
	eddy_loop *loop = eddy_loop_new(NULL);
	CHILD_CHECK(loop != NULL);
	CHILD_CHECK(eddy_loop_backend(loop) == EDDY_BACKEND_EPOLL);
	int fds[2];
	CHILD_CHECK(pipe(fds) == 0);
	void *ok = NULL;
	CHILD_CHECK(eddy_loop_run(loop, pipe_round_trip, fds, &ok) == 0);
	CHILD_CHECK(ok == (void *)1);
	eddy_loop_free(loop);
}

BACKEND_TEST(automatic_choice_falls_back_to_epoll_when_io_uring_is_forbidden)
{
	without_io_uring(falls_back_to_epoll_and_runs_io);
}

static void check_clear_eperm(void)
{
	CHILD_CHECK(errno == EPERM);
	const char *why = eddy_strerror(-EPERM);
	CHILD_CHECK(strstr(why, "io_uring") != NULL);
	CHILD_CHECK(strstr(why, "EDDY_BACKEND=epoll") != NULL);
}

static void asking_for_io_uring_fails_with_eperm(void)
{
	eddy_loop_config cfg = { .backend = EDDY_BACKEND_URING };
	CHILD_CHECK(eddy_loop_new(&cfg) == NULL);
	check_clear_eperm();
}

BACKEND_TEST(config_asking_for_io_uring_where_forbidden_is_a_clear_eperm)
{
	without_io_uring(asking_for_io_uring_fails_with_eperm);
}

static void env_uring_fails_with_eperm(void)
{
	setenv("EDDY_BACKEND", "uring", 1);
	CHILD_CHECK(eddy_loop_new(NULL) == NULL);
	check_clear_eperm();
}

BACKEND_TEST(env_uring_where_io_uring_is_forbidden_is_a_clear_eperm)
{
	without_io_uring(env_uring_fails_with_eperm);
}
