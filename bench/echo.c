/*
 * bench/echo: TCP echo round trips over loopback, eddy_server against a
 * minimal hand-written epoll echo server (bench/epoll_echo.h).
 *
 * Each server runs in a child process of its own; the client, the same
 * for every server, runs here.  Two workloads:
 *   ping-pong    one connection, 64-byte messages, one in flight: the
 *                latency of a round trip through the server;
 *   concurrent   CONNS connections, each with one 64-byte message in
 *                flight, driven by an epoll client: throughput.
 * For each: round trips per second, and the server's CPU time per round
 * trip (its threads' run time from schedstat, over the measured window),
 * which separates servers when the client is the bottleneck, as it is
 * on a loaded 2-core machine.  Each measurement is the best of RUNS,
 * the servers taking turns so that noise falls on all alike.  Ratios
 * are eddy / epoll: above 1 for round trips/s is better, below 1 for CPU.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/wait.h>

#include "common.h"
#include "epoll_echo.h"
#include "eddy.h"

#define MSG 64
#define PINGS 20000
#define CONNS 50
#define ROUNDS_EACH 400 /* per connection: CONNS * ROUNDS_EACH round trips */
#define RUNS 3

struct server {
	const char *name;
	pid_t pid;
	int port;
};

/* ---- the servers, each in a child ----------------------------------------- */

static int eddy_echo(int fd, const struct sockaddr *peer, void *arg)
{
	(void)peer;
	(void)arg;
	char buf[16384];
	ssize_t n;
	eddy_tcp_nodelay(fd, 1);
	while ((n = eddy_recv(fd, buf, sizeof buf, 0)) > 0)
		if ((n = eddy_write_all(fd, buf, (size_t)n, 0)) < 0)
			break;
	return 0;
}

/* In the child: serve until killed. */
static void run_eddy(int port_pipe, const char *backend)
{
	setenv("EDDY_BACKEND", backend, 1);
	eddy_server *srv = eddy_server_new(&(eddy_server_opts){
		.host = "127.0.0.1", .port = "0", .on_conn = eddy_echo });
	if (!srv)
		fail("eddy_server_new");
	int port = eddy_server_port(srv);
	if (write(port_pipe, &port, sizeof port) != sizeof port)
		fail("write");
	eddy_server_run(srv);
	_exit(0);
}

static void run_epoll(int port_pipe)
{
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof a;
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, len) ||
	    listen(lfd, SOMAXCONN) || getsockname(lfd, (struct sockaddr *)&a, &len))
		fail("epoll listener");
	int port = ntohs(a.sin_port);
	if (write(port_pipe, &port, sizeof port) != sizeof port)
		fail("write");
	epoll_echo_serve(lfd);
}

static struct server start(const char *name, const char *backend)
{
	int p[2];
	if (pipe(p))
		fail("pipe");
	struct server s = { .name = name };
	s.pid = fork();
	if (s.pid < 0)
		fail("fork");
	if (s.pid == 0) {
		close(p[0]);
		if (backend)
			run_eddy(p[1], backend);
		else
			run_epoll(p[1]);
	}
	close(p[1]);
	if (read(p[0], &s.port, sizeof s.port) != sizeof s.port)
		fail("server start");
	close(p[0]);
	return s;
}

static void stop(struct server *s)
{
	kill(s->pid, SIGKILL);
	waitpid(s->pid, NULL, 0);
}

/* The server's CPU time so far, in ns: the sum over its threads of the
 * scheduler's run time (/proc/<pid>/task/<tid>/schedstat), which counts
 * in nanoseconds where /proc/<pid>/stat counts in 10 ms ticks. */
static double cpu_ns(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
	DIR *d = opendir(path);
	if (!d)
		fail(path);
	double sum = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char stat[400];
		snprintf(stat, sizeof stat, "%s/%s/schedstat", path, e->d_name);
		FILE *f = fopen(stat, "r");
		unsigned long long run = 0;
		if (f && fscanf(f, "%llu", &run) == 1)
			sum += (double)run;
		if (f)
			fclose(f);
	}
	closedir(d);
	return sum;
}

/* ---- the client -------------------------------------------------------- */

static int dial(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a))
		fail("connect");
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return fd;
}

static void recv_all(int fd, char *buf, size_t n)
{
	for (size_t got = 0; got < n;) {
		ssize_t r = recv(fd, buf + got, n - got, 0);
		if (r <= 0)
			fail("recv");
		got += (size_t)r;
	}
}

struct result {
	double per_s;      /* round trips per second */
	double cpu_per_rt; /* server CPU ns per round trip */
};

static struct result ping_pong(const struct server *s)
{
	int fd = dial(s->port);
	char msg[MSG] = { 1 }, back[MSG];
	for (int i = 0; i < 100; i++) { /* warm up */
		send(fd, msg, MSG, 0);
		recv_all(fd, back, MSG);
	}
	double c0 = cpu_ns(s->pid), t0 = now_ns();
	for (int i = 0; i < PINGS; i++) {
		if (send(fd, msg, MSG, 0) != MSG)
			fail("send");
		recv_all(fd, back, MSG);
	}
	double t1 = now_ns(), c1 = cpu_ns(s->pid);
	close(fd);
	return (struct result){ PINGS / ((t1 - t0) / 1e9), (c1 - c0) / PINGS };
}

static struct result concurrent(const struct server *s)
{
	int fds[CONNS], left[CONNS], got[CONNS];
	int ep = epoll_create1(0);
	char msg[MSG] = { 2 }, buf[MSG];
	for (int i = 0; i < CONNS; i++) {
		fds[i] = dial(s->port);
		fcntl(fds[i], F_SETFL, O_NONBLOCK);
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)i };
		epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev);
		left[i] = ROUNDS_EACH;
		got[i] = 0;
	}
	double c0 = cpu_ns(s->pid), t0 = now_ns();
	for (int i = 0; i < CONNS; i++)
		if (send(fds[i], msg, MSG, 0) != MSG)
			fail("send");
	int active = CONNS;
	struct epoll_event evs[CONNS];
	while (active) {
		int n = epoll_wait(ep, evs, CONNS, 10000);
		if (n <= 0)
			fail("epoll_wait (a server stalled?)");
		for (int k = 0; k < n; k++) {
			int i = (int)evs[k].data.u32;
			ssize_t r = recv(fds[i], buf, (size_t)(MSG - got[i]), 0);
			if (r < 0 && errno == EAGAIN)
				continue;
			if (r <= 0)
				fail("recv");
			if ((got[i] += (int)r) < MSG)
				continue;
			got[i] = 0;
			if (--left[i] == 0)
				active--;
			else if (send(fds[i], msg, MSG, 0) != MSG)
				fail("send");
		}
	}
	double t1 = now_ns(), c1 = cpu_ns(s->pid);
	for (int i = 0; i < CONNS; i++)
		close(fds[i]);
	close(ep);
	double total = (double)CONNS * ROUNDS_EACH;
	return (struct result){ total / ((t1 - t0) / 1e9), (c1 - c0) / total };
}

/* ---- the table ---------------------------------------------------------- */

static struct result best(struct result a, struct result b)
{
	return (struct result){ a.per_s > b.per_s ? a.per_s : b.per_s,
				min_of(a.cpu_per_rt, b.cpu_per_rt) };
}

static void row(const char *what, struct result e, struct result p)
{
	printf("  %-22s %10.0f %10.0f %7.2fx   %8.2f %8.2f %7.2fx\n", what,
	       e.per_s, p.per_s, e.per_s / p.per_s, e.cpu_per_rt / 1000,
	       p.cpu_per_rt / 1000, e.cpu_per_rt / p.cpu_per_rt);
}

int main(void)
{
	struct server sv[3] = { start("eddy (io_uring)", "uring"),
				start("eddy (epoll)", "epoll"),
				start("minimal epoll", NULL) };
	struct result pp[3] = { 0 }, cc[3] = { 0 };
	for (int i = 0; i < 3; i++)
		pp[i].cpu_per_rt = cc[i].cpu_per_rt = 1e18;
	for (int run = 0; run < RUNS; run++)
		for (int i = 0; i < 3; i++) {
			pp[i] = best(pp[i], ping_pong(&sv[i]));
			cc[i] = best(cc[i], concurrent(&sv[i]));
		}
	for (int i = 0; i < 3; i++)
		stop(&sv[i]);

	printf("bench/echo: %d-byte echo round trips on loopback, best of %d;"
	       " ratios are eddy / minimal epoll server\n\n", MSG, RUNS);
	printf("  %-22s %10s %10s %8s   %8s %8s %8s\n", "", "eddy rt/s",
	       "epoll rt/s", "ratio", "eddy us", "epoll us", "ratio");
	printf("  %-22s %10s %10s %8s   %8s %8s %8s\n", "", "", "", "",
	       "CPU/rt", "CPU/rt", "");
	for (int b = 0; b < 2; b++) {
		printf("%s\n", b ? "eddy on epoll" : "eddy on io_uring");
		char what[64];
		snprintf(what, sizeof what, "ping-pong, 1 conn");
		row(what, pp[b], pp[2]);
		snprintf(what, sizeof what, "concurrent, %d conns", CONNS);
		row(what, cc[b], cc[2]);
	}
	return 0;
}
