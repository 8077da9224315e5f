/*
 * The HTTP examples run as real servers and asked by curl.
 *
 * examples/webapp, the forum thread's web app: each test starts the built
 * binary on a free loopback
 * port under one policy, reads its "listening on" line, sends each route
 * a request with "X-User: alice", and checks the logging middleware's
 * line for it:
 *
 *   COPY   /async keeps the user; /sync and /async-in-task lose it (what
 *          asyncio does, and what the thread complains about)
 *   SHARE  all three keep it
 *   MERGE  all three keep it
 *
 * Then SIGTERM, and the server must exit 0.
 *
 * examples/hello: answers "Hello, World!", and prints its counters on
 * SIGUSR1.
 *
 * The Makefile builds the examples first and says where they are
 * (WEBAPP_BIN, HELLO_BIN).
 */
#define _GNU_SOURCE
#include "check.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

EDDY_SUITE(net_examples);

#if !defined(WEBAPP_BIN) || !defined(HELLO_BIN)
#error "the Makefile defines WEBAPP_BIN and HELLO_BIN: the built examples"
#endif

#define WAIT_MS 10000

struct app {
	pid_t pid;
	int out; /* the app's standard output and error */
	int port;
};

/* One line of the app's output, without its newline; fails the test
 * when none comes within WAIT_MS. */
static void read_line(struct app *a, char *line, size_t size)
{
	size_t len = 0;
	for (;;) {
		struct pollfd p = { .fd = a->out, .events = POLLIN };
		cr_assert_eq(poll(&p, 1, WAIT_MS), 1, "the app said nothing");
		char ch;
		ssize_t n = read(a->out, &ch, 1);
		cr_assert_eq(n, 1, "the app's output ended");
		if (ch == '\n')
			break;
		cr_assert_lt(len + 1, size);
		line[len++] = ch;
	}
	line[len] = '\0';
}

/* Runs argv[0] with argv, and reads its listening line. */
static void start(struct app *a, const char *const argv[])
{
	int fds[2];
	cr_assert_eq(pipe(fds), 0);
	a->pid = fork();
	cr_assert_geq(a->pid, 0);
	if (a->pid == 0) {
		dup2(fds[1], STDOUT_FILENO);
		dup2(fds[1], STDERR_FILENO);
		close(fds[0]);
		close(fds[1]);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(fds[1]);
	a->out = fds[0];
	char line[128];
	read_line(a, line, sizeof line);
	cr_assert_eq(sscanf(line, "listening on 127.0.0.1:%d", &a->port), 1,
		     "not a listening line: %s", line);
}

static void start_webapp(struct app *a, const char *policy)
{
	start(a, (const char *[]){ WEBAPP_BIN, "--port", "0", "--policy",
				   policy, NULL });
}

/* GET route with curl (user NULL: no X-User), then the app's log line
 * for it. */
static void get(struct app *a, const char *route, const char *user,
		const char *want_log)
{
	char cmd[256], line[256];
	snprintf(cmd, sizeof cmd,
		 "curl -sf -m 10 -o /dev/null %s%s%s http://127.0.0.1:%d%s",
		 user ? "-H 'X-User: " : "", user ? user : "", user ? "'" : "",
		 a->port, route);
	int status = system(cmd);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "%s failed (status %#x)", cmd, status);
	read_line(a, line, sizeof line);
	cr_expect_str_eq(line, want_log);
}

static void stop(struct app *a)
{
	cr_assert_eq(kill(a->pid, SIGTERM), 0);
	int status;
	cr_assert_eq(waitpid(a->pid, &status, 0), a->pid);
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "the app ended with status %#x", status);
	close(a->out);
}

/* The three routes with "X-User: alice" under policy: what the logging
 * middleware says of /sync and /async-in-task is logged_user. */
static void routes_log(const char *policy, const char *logged_user)
{
	struct app a;
	char want[128];
	start_webapp(&a, policy);
	get(&a, "/async", "alice", "GET /async 200 user=alice");
	snprintf(want, sizeof want, "GET /sync 200 user=%s", logged_user);
	get(&a, "/sync", "alice", want);
	snprintf(want, sizeof want, "GET /async-in-task 200 user=%s",
		 logged_user);
	get(&a, "/async-in-task", "alice", want);
	stop(&a);
}

Test(net_examples, webapp_copy_loses_the_user_on_sync_and_in_task)
{
	routes_log("copy", "<unset>");
}

Test(net_examples, webapp_share_keeps_the_user_everywhere)
{
	routes_log("share", "alice");
}

Test(net_examples, webapp_merge_keeps_the_user_everywhere)
{
	routes_log("merge", "alice");
}

/* Each request starts from the server's context: the previous request's
 * user is not there, on any route. */
Test(net_examples, webapp_a_request_without_x_user_logs_unset)
{
	struct app a;
	start_webapp(&a, "share");
	get(&a, "/sync", "bob", "GET /sync 200 user=bob");
	get(&a, "/sync", NULL, "GET /sync 200 user=<unset>");
	get(&a, "/async", NULL, "GET /async 200 user=<unset>");
	stop(&a);
}

Test(net_examples, hello_answers_and_prints_its_counters_on_sigusr1)
{
	struct app a;
	char cmd[128], line[512];
	start(&a, (const char *[]){ HELLO_BIN, "--port", "0", NULL });
	snprintf(cmd, sizeof cmd,
		 "curl -sf -m 10 http://127.0.0.1:%d/ | grep -qx 'Hello, World!'",
		 a.port);
	int status = system(cmd);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s", cmd);
	cr_assert_eq(kill(a.pid, SIGUSR1), 0);
	read_line(&a, line, sizeof line);
	cr_assert(!strncmp(line, "eddy stats: tasks ", 18), "%s", line);
	cr_assert_not_null(strstr(line, "completed"), "%s", line);
	stop(&a);
}
