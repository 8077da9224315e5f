/*
 * Accepting when the process is out of descriptors (EMFILE) or the system
 * is (ENFILE): the server's acceptor backs off instead of spinning, the
 * connections it has are still served meanwhile, and the waiting
 * connection is accepted once descriptors are free again.
 *
 * The server runs in a forked child with a low RLIMIT_NOFILE, so that
 * using up its descriptors disturbs nothing else.  The system's file
 * table cannot be used up without failing every other process on the
 * machine, so ENFILE comes from the test hook eddy_net_accept_error,
 * which fails accept at once as the kernel does with a full table; from
 * there on both take the same code.  The test's process is the client.
 * Its first connection is a control line to the child:
 *   F  use up every descriptor ("f")
 *   N  make every accept fail with ENFILE ("n")
 *   W  wait 100 ms, then report "<accept calls> <connections accepted>"
 *      counted since F or N
 *   R  close the descriptors F took, end N's failures ("r")
 *   Q  stop the server ("q"); the child exits with run's result
 * Every other connection is an echo.
 */
#define _GNU_SOURCE
#include "check.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "eddy.h"
#include "net/tcp.h"

EDDY_SUITE(net_emfile);

#define CHILD_NOFILE 64

/* ---- the child: a server with a control line --------------------------- */

static eddy_server *server;
static int ballast[CHILD_NOFILE];
static int nballast;
static unsigned long calls_at_fill, conns, conns_at_fill;

/* W counts from here. */
static void start_counting(void)
{
	calls_at_fill = eddy_net_accept_calls;
	conns_at_fill = conns;
}

static void use_up_descriptors(void)
{
	int fd;
	while (nballast < CHILD_NOFILE &&
	       (fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0)
		ballast[nballast++] = fd;
	start_counting();
}

/*
 * N: every accept fails with ENFILE from here.  The acceptor already
 * waits in an accept made before, which the hook cannot reach (the
 * kernel would fail it as a connection comes), so a connection of our own
 * ends that wait first; the count starts once it was taken.  0, or -1.
 */
static int fail_accepts_with_enfile(void)
{
	unsigned long before = conns;
	char port[12];
	snprintf(port, sizeof port, "%d", eddy_server_port(server));
	eddy_net_accept_error = -ENFILE;
	int fd = eddy_tcp_connect("127.0.0.1", port, 0);
	if (fd < 0)
		return -1;
	/* a minute at most, a millisecond at a time */
	for (int i = 0; i < 60000 && conns == before; i++)
		eddy_sleep(1000000);
	close(fd);
	start_counting();
	return conns == before ? -1 : 0;
}

static int control(int fd)
{
	char cmd, line[64];
	while (eddy_recv(fd, &cmd, 1, 0) == 1) {
		int n = 0;
		switch (cmd) {
		case 'F':
			use_up_descriptors();
			n = snprintf(line, sizeof line, "f");
			break;
		case 'N':
			n = snprintf(line, sizeof line, "%s",
				     fail_accepts_with_enfile() ? "?" : "n");
			break;
		case 'W':
			eddy_sleep(100000000);
			n = snprintf(line, sizeof line, "%lu %lu\n",
				     eddy_net_accept_calls - calls_at_fill,
				     conns - conns_at_fill);
			break;
		case 'R':
			while (nballast)
				close(ballast[--nballast]);
			eddy_net_accept_error = 0;
			n = snprintf(line, sizeof line, "r");
			break;
		case 'Q':
			eddy_server_stop(server);
			n = snprintf(line, sizeof line, "q");
			break;
		}
		if (eddy_write_all(fd, line, (size_t)n, 0) < 0)
			return -EIO;
	}
	return 0;
}

static int on_conn(int fd, const struct sockaddr *peer, void *arg)
{
	(void)peer;
	(void)arg;
	conns++;
	char buf[256];
	ssize_t n = eddy_recv(fd, buf, sizeof buf, 0);
	if (n == 1 && buf[0] == 'C')
		return control(fd);
	for (; n > 0; n = eddy_recv(fd, buf, sizeof buf, 0))
		if (eddy_write_all(fd, buf, (size_t)n, 0) < 0)
			break;
	return 0;
}

static void child(int port_pipe)
{
	/* a test that fails leaves no server behind */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL))
		_exit(9);
	struct rlimit rl = { CHILD_NOFILE, CHILD_NOFILE };
	if (setrlimit(RLIMIT_NOFILE, &rl))
		_exit(10);
	server = eddy_server_new(&(eddy_server_opts){
		.host = "127.0.0.1", .port = "0", .on_conn = on_conn });
	if (!server)
		_exit(11);
	int port = eddy_server_port(server);
	if (write(port_pipe, &port, sizeof port) != sizeof port)
		_exit(12);
	close(port_pipe);
	int rc = eddy_server_run(server);
	eddy_server_free(server);
	_exit(rc ? 13 : 0);
}

/* ---- the client -------------------------------------------------------- */

static int connect_to(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_geq(fd, 0);
	struct timeval minute = { .tv_sec = 60 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &minute, sizeof minute);
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
	return fd;
}

/* Send s, and expect want back (up to its length, or a line). */
static void ask(int fd, const char *s, const char *want, char *got, size_t cap)
{
	cr_assert_eq(send(fd, s, strlen(s), MSG_NOSIGNAL), (ssize_t)strlen(s));
	size_t have = 0;
	while (have < cap - 1) {
		ssize_t k = recv(fd, got + have, 1, 0);
		cr_assert_eq(k, 1, "waiting for an answer to %s", s);
		have++;
		if (want ? have == strlen(want) : got[have - 1] == '\n')
			break;
	}
	got[have] = 0;
	if (want)
		cr_assert_str_eq(got, want);
}

/*
 * The whole story, with exhaust (F or N, answered by ack) running
 * descriptors out: a connection that comes meanwhile waits in the
 * backlog, the acceptor backs off rather than spins, an existing
 * connection is served, and the waiting one is served once they are back.
 */
static void exhausted_accept_backs_off_and_recovers(const char *exhaust,
						   const char *ack)
{
	int p[2];
	cr_assert_eq(pipe(p), 0);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		close(p[0]);
		child(p[1]);
	}
	close(p[1]);
	int port = 0;
	cr_assert_eq(read(p[0], &port, sizeof port), (ssize_t)sizeof port);
	close(p[0]);

	char got[64];
	int ctl = connect_to(port);
	cr_assert_eq(send(ctl, "C", 1, 0), 1);
	int a = connect_to(port);
	ask(a, "a", "a", got, sizeof got);

	ask(ctl, exhaust, ack, got, sizeof got);
	/* b's handshake completes in the backlog; its accept fails */
	int b = connect_to(port);
	cr_assert_eq(send(b, "b", 1, 0), 1);
	ask(a, "ping", "ping", got, sizeof got); /* a is still served */

	ask(ctl, "W", NULL, got, sizeof got);
	unsigned long calls, accepted;
	cr_assert_eq(sscanf(got, "%lu %lu", &calls, &accepted), 2);
	cr_assert_eq(accepted, 0, "b was accepted without descriptors");
	/* 100 ms of backoff from 1 ms, doubling: about 8 tries; a spinning
	 * accept would make thousands */
	cr_assert(calls >= 1 && calls <= 20, "%lu accept calls", calls);

	ask(ctl, "R", "r", got, sizeof got);
	char echo;
	cr_assert_eq(recv(b, &echo, 1, 0), 1); /* b is accepted and served */
	cr_assert_eq(echo, 'b');

	ask(ctl, "Q", "q", got, sizeof got);
	close(a);
	close(b);
	close(ctl);
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "child status %d", status);
}

Test(net_emfile, accept_backs_off_serves_the_others_and_recovers)
{
	exhausted_accept_backs_off_and_recovers("F", "f");
}

Test(net_emfile, enfile_accept_backs_off_serves_the_others_and_recovers)
{
	exhausted_accept_backs_off_and_recovers("N", "n");
}
