/*
 * Many concurrent keep-alive connections, each making many requests: none
 * is lost, and the server's memory comes back.
 *
 * The server (examples/hello's handler on eddy_server, one loop) runs in
 * the test's process; the client runs in a child process of its own,
 * because both ends together need twice the connections' descriptors and
 * the hard limit here is 20,000.  The client opens every connection
 * first (at most CONNECTING at a time, so the listener's backlog never
 * overflows), waits until all are open and the server has accepted them
 * all, then each makes its requests one after the other; it reports how
 * many responses were right, and the slowest request.
 *
 * The load runs three times.  The first round warms the server up (its
 * stack pool, its buffers, malloc's arenas); after the later rounds, once
 * every connection has ended, the server's memory must come back:
 *   - the heap in use (mallinfo2, every arena) within 5% of its value
 *     after the first round, and no more task stacks in use: exact, so
 *     a leak of requests or connections shows at any size;
 *   - resident memory within 5% of its value after the first round
 *     (the lower of the two later readings counts).
 * Each reading waits until the server's loop has no more tasks than
 * when it was idle, and leaves out what the allocators keep to reuse.
 * (Not under the sanitizers: AddressSanitizer's quarantine holds freed
 * memory on purpose, and replaces malloc.)
 *
 * Counts: EDDY_LOAD_CONNS connections x EDDY_LOAD_REQS requests, by
 * default 1000 x 20 so that `make test` stays quick on two loaded cores;
 * `make soak` runs the 10,000 x 100.
 */
#define _GNU_SOURCE
#include "check.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <malloc.h>
#include <pthread.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "eddy.h"

EDDY_SUITE(net_http_load);

#define CONNECTING 256
/* A bound for each connect, write and read, only so that a lost response
 * fails the test instead of hanging it: on two cores shared with other
 * work, 10,000 connections can wait long for their turn. */
#define IO_TIMEOUT (300 * SEC)
#define SEC 1000000000ull

static long knob(const char *name, long dflt)
{
	const char *v = getenv(name);
	return v && *v ? strtol(v, NULL, 10) : dflt;
}

/* ---- the client, in its own process ---------------------------------------- */

struct load {
	struct sockaddr_in to;
	long conns, reqs;
	long ok, opened;
	double slowest;       /* the longest request, in seconds */
	long refused, broken; /* connections that failed to open, or later */
	int why;              /* the last failure's error */
	eddy_sem *connecting;
	eddy_event *all_open; /* every connect has returned */
	eddy_event *go;       /* the server has accepted them all */
	int cmd, res;         /* the pipes to and from the test's process */
};

static double seconds_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *one_connection(void *arg)
{
	struct load *l = arg;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return NULL;
	eddy_sem_acquire(l->connecting);
	int err = eddy_connect_timeout(fd, (struct sockaddr *)&l->to,
				       sizeof l->to, IO_TIMEOUT);
	eddy_sem_release(l->connecting);
	if (++l->opened == l->conns)
		eddy_event_set(l->all_open);
	if (err) {
		l->refused++;
		l->why = err;
	}
	else
		eddy_event_wait_timeout(l->go, IO_TIMEOUT);
	static const char req[] = "GET / HTTP/1.1\r\nHost: load\r\n\r\n";
	char buf[512], body[13];
	eddy_reader rd;
	eddy_reader_init(&rd, fd, buf, sizeof buf);
	for (long i = 0; !err && i < l->reqs; i++) {
		const char *head;
		double start = seconds_now();
		ssize_t n = eddy_write_all(fd, req, sizeof req - 1, IO_TIMEOUT);
		if (n > 0)
			n = eddy_reader_read_until(&rd, "\r\n\r\n", 4, 0, &head,
						   IO_TIMEOUT);
		if (n > 0 && strncmp(head, "HTTP/1.1 200 ", 13))
			n = -EBADMSG;
		if (n > 0)
			n = eddy_reader_read_exact(&rd, body, 13, IO_TIMEOUT);
		if (n > 0 && memcmp(body, "Hello, World!", 13))
			n = -EBADMSG;
		if (n <= 0) {
			l->broken++;
			l->why = n ? (int)n : -EPIPE;
			break;
		}
		l->ok++;
		double took = seconds_now() - start;
		l->slowest = took > l->slowest ? took : l->slowest;
	}
	eddy_close(fd);
	return NULL;
}

/*
 * Once every connection is open, the test's process is told, and says
 * when its server has accepted them all: the kernel completes a connect
 * before the server accepts it, and a first request must not count the
 * time its connection waited in the listen queue.
 */
static void *start_gun(void *arg)
{
	struct load *l = arg;
	char ready;
	if (!eddy_event_wait_timeout(l->all_open, IO_TIMEOUT) &&
	    write(l->res, "o", 1) == 1)
		eddy_read_timeout(l->cmd, &ready, 1, IO_TIMEOUT);
	eddy_event_set(l->go);
	return NULL;
}

static void *client_main(void *arg)
{
	struct load *l = arg;
	l->connecting = eddy_sem_new(CONNECTING);
	l->all_open = eddy_event_new();
	l->go = eddy_event_new();
	if (!l->connecting || !l->all_open || !l->go)
		return NULL;
	eddy_group *g = eddy_group_new();
	if (g)
		eddy_group_spawn(g, start_gun, l, NULL);
	for (long i = 0; g && i < l->conns; i++)
		eddy_group_spawn(g, one_connection, l,
				 &(eddy_spawn_opts){ .stack_size = 32768 });
	if (g)
		eddy_group_wait(g, NULL);
	eddy_group_free(g);
	eddy_sem_free(l->connecting);
	eddy_event_free(l->all_open);
	eddy_event_free(l->go);
	return NULL;
}

/* What a round brings back to the test's process. */
struct tally {
	long ok, refused, broken;
	int why;
	double slowest;
};

/* Runs one round against port. */
static struct tally client_round(int cmd, int res, int port, long conns,
				 long reqs)
{
	struct load l = { .conns = conns, .reqs = reqs, .cmd = cmd,
			  .res = res };
	l.to = (struct sockaddr_in){ .sin_family = AF_INET,
				     .sin_port = htons((uint16_t)port),
				     .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	if (eddy_run(client_main, &l, NULL))
		return (struct tally){ -1, -1, -1, 0, 0 };
	return (struct tally){ l.ok, l.refused, l.broken, l.why, l.slowest };
}

/* The child: a round for each byte "g" on cmd, its tally back on res. */
static void client_process(int cmd, int res, int port, long conns,
			   long reqs)
{
	char go;
	while (read(cmd, &go, 1) == 1) {
		struct tally t = client_round(cmd, res, port, conns, reqs);
		if (write(res, &t, sizeof t) != sizeof t)
			break;
	}
	_exit(0);
}

/* ---- the server, in the test's process ------------------------------------ */

static atomic_long live;    /* connections being served */
static long expected;       /* the client's connections */
static int all_accepted;    /* eventfd: live reached expected */
static int all_ended;       /* eventfd: live dropped to 0 */

static int hello(eddy_http_req *req, eddy_http_resp *resp, void *arg)
{
	(void)req;
	(void)arg;
	return eddy_http_resp_body(resp, "Hello, World!", 13);
}

static int counted_conn(int fd, const struct sockaddr *peer, void *http)
{
	uint64_t one = 1;
	if (atomic_fetch_add(&live, 1) + 1 == expected)
		cr_assert_eq(write(all_accepted, &one, sizeof one),
			     sizeof one);
	int err = eddy_http_serve_conn(fd, peer, http);
	if (atomic_fetch_sub(&live, 1) == 1) {
		cr_assert_eq(write(all_ended, &one, sizeof one), sizeof one);
	}
	return err;
}

static void *run_server(void *srv)
{
	return (void *)(intptr_t)eddy_server_run(srv);
}

/* Memory the server holds for what it serves, without what allocators
 * keep only to reuse later: free heap, idle stacks. */
struct memory {
	size_t heap;   /* bytes malloc has handed out and not had back */
	size_t stacks; /* task stacks in use */
};

static eddy_loop *server_loop; /* set by note_loop, before it accepts */
static int loop_ready;         /* eventfd: server_loop is set */

static int note_loop(eddy_loop *loop, unsigned index, void *arg)
{
	(void)index;
	(void)arg;
	server_loop = loop;
	uint64_t one = 1;
	cr_assert_eq(write(loop_ready, &one, sizeof one), sizeof one);
	return 0;
}

/* What the server's loop has, read on its own thread (in a task of its
 * own, which both counts include, every time alike). */
struct server_view {
	uint64_t tasks;
	struct memory mem;
};

static void *look_at_server(void *arg)
{
	struct server_view *v = arg;
	eddy_stats st;
	cr_assert_eq(eddy_loop_stats(eddy_loop_current(), &st), 0);
	struct mallinfo2 m = mallinfo2();
	*v = (struct server_view){
		.tasks = st.tasks_alive,
		.mem = { m.uordblks + m.hblkhd,
			 st.stacks_mapped - st.stacks_pooled } };
	return NULL;
}

static struct server_view server_view(void)
{
	struct server_view v;
	cr_assert_eq(eddy_loop_call(server_loop, look_at_server, &v,
				    EDDY_COPY, NULL), 0);
	return v;
}

/*
 * The server's memory once its connection tasks are gone: all_ended
 * fires when the last connection function returns, but eddy_server
 * still closes each descriptor gracefully in its task afterwards.  The
 * wait ends when the loop has no more tasks than when it was idle
 * (idle_tasks); bounded: 10 s, in 1 ms steps, then the reading is what
 * it is and the checks say so.
 */
static struct memory memory_once_idle(uint64_t idle_tasks)
{
	struct server_view v = server_view();
	for (int i = 0; i < 10000 && v.tasks > idle_tasks; i++) {
		usleep(1000);
		v = server_view();
	}
	cr_expect_eq(v.tasks, idle_tasks, "%" PRIu64 " tasks left on the "
		     "server's loop, %" PRIu64 " when idle", v.tasks,
		     idle_tasks);
	return v.mem;
}

/* Resident memory, once malloc has given back the free heap it can.  Idle
 * stacks still count: the stack depot gives them back in batches
 * (task/stack_depot.c), so a reading can be a batch high, and the check
 * takes the lower of two. */
static long rss_kib(void)
{
	malloc_trim(0);
	FILE *f = fopen("/proc/self/statm", "r");
	cr_assert_not_null(f);
	long pages = 0, resident = 0;
	cr_assert_eq(fscanf(f, "%ld %ld", &pages, &resident), 2);
	fclose(f);
	return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

/* One round: the client's count of right responses; *mem, the server's
 * memory once every connection task has ended. */
static long round_trip(int cmd, int res, uint64_t idle_tasks,
		       struct memory *mem)
{
	cr_assert_eq(write(cmd, "g", 1), 1);
	char open;
	cr_assert_eq(read(res, &open, 1), 1);
	/* a connection that failed to open never comes: then wait no more
	 * than the client's own bound */
	struct pollfd p = { .fd = all_accepted, .events = POLLIN };
	uint64_t n;
	if (poll(&p, 1, (int)(IO_TIMEOUT / 1000000)) == 1)
		cr_assert_eq(read(all_accepted, &n, sizeof n),
			     (ssize_t)sizeof n);
	cr_assert_eq(write(cmd, "r", 1), 1);
	struct tally t;
	cr_assert_eq(read(res, &t, sizeof t), (ssize_t)sizeof t);
	cr_assert_eq(read(all_ended, &n, sizeof n), (ssize_t)sizeof n);
	*mem = memory_once_idle(idle_tasks);
	cr_log_info("the slowest request took %.2f s", t.slowest);
	if (t.refused || t.broken)
		cr_log_error("%ld connections failed to open, %ld broke; "
			     "the last: %s", t.refused, t.broken,
			     eddy_strerror(t.why));
	return t.ok;
}

Test(net_http_load, concurrent_keep_alive_connections_lose_nothing_and_memory_returns,
     .timeout = 600)
{
	long conns = knob("EDDY_LOAD_CONNS", 1000);
	long reqs = knob("EDDY_LOAD_REQS", 20);
	struct rlimit lim;
	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &lim), 0);
	lim.rlim_cur = lim.rlim_max;
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &lim), 0);
	cr_assert_lt(conns + 64, (long)lim.rlim_cur,
		     "EDDY_LOAD_CONNS above the descriptor limit");

	/* a connection's first request waits for every connection to open,
	 * which takes longer than the default header timeout at full size */
	eddy_http_server *http = eddy_http_server_new(&(eddy_http_opts){
		.handler = hello, .header_timeout_ns = 300 * SEC });
	cr_assert_not_null(http);
	eddy_server *srv = eddy_server_new(&(eddy_server_opts){
		.host = "127.0.0.1", .port = "0", .grace_ns = SEC,
		.on_conn = counted_conn, .on_loop = note_loop, .arg = http });
	cr_assert_not_null(srv);
	all_ended = eventfd(0, EFD_CLOEXEC);
	all_accepted = eventfd(0, EFD_CLOEXEC);
	loop_ready = eventfd(0, EFD_CLOEXEC);
	cr_assert_geq(all_ended, 0);
	cr_assert_geq(all_accepted, 0);
	cr_assert_geq(loop_ready, 0);
	expected = conns;

	/* the child first, while this process has one thread */
	int cmd[2], res[2];
	cr_assert_eq(pipe(cmd), 0);
	cr_assert_eq(pipe(res), 0);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		close(cmd[1]);
		close(res[0]);
		client_process(cmd[0], res[1], eddy_server_port(srv), conns,
			       reqs);
	}
	close(cmd[0]);
	close(res[1]);
	pthread_t server_thread;
	cr_assert_eq(pthread_create(&server_thread, NULL, run_server, srv), 0);

	uint64_t one;
	cr_assert_eq(read(loop_ready, &one, sizeof one), (ssize_t)sizeof one);
	uint64_t idle_tasks = server_view().tasks;

	long want = conns * reqs;
	struct memory warm_mem, after_mem;
	long ok = round_trip(cmd[1], res[0], idle_tasks, &warm_mem);
	cr_expect_eq(ok, want, "warm-up round: %ld of %ld responses", ok, want);
	long warm = rss_kib(), after = LONG_MAX;
	for (int round = 2; round <= 3; round++) {
		ok = round_trip(cmd[1], res[0], idle_tasks, &after_mem);
		cr_expect_eq(ok, want, "round %d: %ld of %ld responses", round,
			     ok, want);
		long rss = rss_kib();
		after = rss < after ? rss : after;
	}
#ifndef EDDY_TEST_LSAN
	cr_expect_leq(after_mem.heap, warm_mem.heap + warm_mem.heap / 20,
		      "heap in use: %zu bytes after the rounds, %zu after "
		      "warm-up", after_mem.heap, warm_mem.heap);
	cr_expect_leq(after_mem.stacks, warm_mem.stacks,
		      "stacks in use: %zu after the rounds, %zu after warm-up",
		      after_mem.stacks, warm_mem.stacks);
	cr_expect_leq(after, warm + warm / 20,
		      "RSS %ld KiB after rounds 2 and 3, %ld after warm-up",
		      after, warm);
#endif
	cr_log_info("%ld connections x %ld requests, 3 rounds: RSS %ld KiB "
		    "after warm-up, %ld KiB after; heap in use %zu -> %zu "
		    "bytes", conns, reqs, warm, after, warm_mem.heap,
		    after_mem.heap);

	close(cmd[1]); /* the child ends */
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	close(res[0]);
	cr_assert_eq(eddy_server_stop(srv), 0);
	void *r;
	pthread_join(server_thread, &r);
	cr_expect_null(r);
	eddy_server_free(srv);
	eddy_http_server_free(http);
	close(all_ended);
	close(all_accepted);
	close(loop_ready);
}
