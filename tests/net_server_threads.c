/*
 * eddy_server: serving on one and several threads, stopping with
 * connections in flight (they finish within the grace period, or are
 * cancelled after it; idle ones end at once), SIGINT and SIGTERM (a
 * second one cancels at once; one that no loop reads any more is
 * dropped, not delivered), and the calls' errors.
 *
 * The server runs on a thread of its own (eddy_server_run blocks); the
 * test's thread is the client, with plain blocking sockets whose reads
 * and writes time out after a minute so that a broken server fails the
 * test instead of hanging it.  Handlers tell the client where they are
 * by writing to it, so no step depends on timing.
 */
#define _GNU_SOURCE
#include "check.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "ctx/alloc.h"
#include "eddy.h"

EDDY_SUITE(net_server);

/* ---- the server on its thread, the client here -------------------------- */

struct running {
	eddy_server *srv;
	pthread_t thread;
	int rc;
};

static void *serve(void *arg)
{
	struct running *r = arg;
	r->rc = eddy_server_run(r->srv);
	return NULL;
}

static void start(struct running *r, eddy_server_opts o)
{
	o.host = o.host ? o.host : "127.0.0.1";
	o.port = o.port ? o.port : "0";
	r->srv = eddy_server_new(&o);
	cr_assert_not_null(r->srv, "%s", strerror(errno));
	cr_assert_gt(eddy_server_port(r->srv), 0);
	r->rc = 1;
	cr_assert_eq(pthread_create(&r->thread, NULL, serve, r), 0);
}

/* Wait for eddy_server_run's result, and free the server. */
static int finish(struct running *r)
{
	cr_assert_eq(pthread_join(r->thread, NULL), 0);
	eddy_server_free(r->srv);
	return r->rc;
}

/* As finish, for a run that must return within ten seconds (a bound
 * against hanging, not a measure). */
static int finish_soon(struct running *r, const char *what)
{
	struct timespec limit;
	clock_gettime(CLOCK_REALTIME, &limit);
	limit.tv_sec += 10;
	cr_assert_eq(pthread_timedjoin_np(r->thread, NULL, &limit), 0, "%s",
		     what);
	eddy_server_free(r->srv);
	return r->rc;
}

static int client(const struct running *r)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_geq(fd, 0);
	struct timeval minute = { .tv_sec = 60 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &minute, sizeof minute);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &minute, sizeof minute);
	struct sockaddr_in a = {
		.sin_family = AF_INET,
		.sin_port = htons((uint16_t)eddy_server_port(r->srv)),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
	return fd;
}

static void send_str(int fd, const char *s)
{
	size_t n = strlen(s);
	cr_assert_eq(send(fd, s, n, MSG_NOSIGNAL), (ssize_t)n);
}

/* Receive exactly strlen(want) bytes and compare. */
static void expect(int fd, const char *want)
{
	char got[256] = { 0 };
	size_t n = strlen(want), have = 0;
	while (have < n) {
		ssize_t k = recv(fd, got + have, n - have, 0);
		cr_assert_gt(k, 0, "waiting for \"%s\": %zd (%s)", want, k,
			     strerror(errno));
		have += (size_t)k;
	}
	cr_assert_str_eq(got, want);
}

static void expect_eof(int fd)
{
	char b;
	ssize_t k = recv(fd, &b, 1, 0);
	cr_assert(k == 0 || (k < 0 && errno == ECONNRESET), "%zd %s", k,
		  strerror(errno));
}

/* ---- handlers ----------------------------------------------------------- */

static int echo(int fd, const struct sockaddr *peer, void *arg)
{
	(void)peer;
	(void)arg;
	char buf[4096];
	ssize_t n;
	while ((n = eddy_recv(fd, buf, sizeof buf, 0)) > 0)
		if ((n = eddy_write_all(fd, buf, (size_t)n, 0)) < 0)
			break;
	return n < 0 ? (int)n : 0;
}

/* Says "s" to the client once the handler runs, then waits for a byte:
 * 0, or -EIO. */
static int started_then_byte(int fd)
{
	char b;
	if (eddy_write_all(fd, "s", 1, 0) != 1 || eddy_recv(fd, &b, 1, 0) != 1)
		return -EIO;
	return 0;
}

static int answer_stopping(int fd)
{
	const char *answer = eddy_server_stopping() ? "1" : "0";
	return eddy_write_all(fd, answer, 1, 0) == 1 ? 0 : -EIO;
}

/* After "s" and a byte, answers whether the server is stopping. */
static int gate(int fd, const struct sockaddr *peer, void *arg)
{
	(void)peer;
	(void)arg;
	int err = started_then_byte(fd);
	return err ? err : answer_stopping(fd);
}

/* As gate, but first waits for the server to be stopping: the stop a
 * signal starts arrives on its own time. */
static int gate_until_stop(int fd, const struct sockaddr *peer, void *arg)
{
	(void)peer;
	(void)arg;
	int err = started_then_byte(fd);
	if (err)
		return err;
	for (int i = 0; i < 60000 && !eddy_server_stopping(); i++)
		eddy_sleep(1000000);
	return answer_stopping(fd);
}

static atomic_long stuck_result;

/* Says "s", then waits for a byte that never comes. */
static int stuck(int fd, const struct sockaddr *peer, void *arg)
{
	(void)peer;
	(void)arg;
	char b;
	eddy_write_all(fd, "s", 1, 0);
	atomic_store(&stuck_result, eddy_recv(fd, &b, 1, 0));
	return 0;
}

static atomic_long idle_results[4];

/* Idle from the start: says "s", then waits for a byte that never comes,
 * and records what each step returned. */
static int idler(int fd, const struct sockaddr *peer, void *arg)
{
	(void)peer;
	(void)arg;
	char b;
	atomic_store(&idle_results[0], eddy_server_idle(fd, 1));
	eddy_write_all(fd, "s", 1, 0);
	atomic_store(&idle_results[1], eddy_recv(fd, &b, 1, 0));
	atomic_store(&idle_results[2], eddy_server_idle(fd, 0));
	atomic_store(&idle_results[3], eddy_server_idle(fd, 1));
	return 0;
}

/* Busy: says "s", then answers each byte with whether the server is
 * stopping, until a read fails, and records how (in stuck_result). */
static int answering(int fd)
{
	char b;
	ssize_t n;
	eddy_write_all(fd, "s", 1, 0);
	while ((n = eddy_recv(fd, &b, 1, 0)) == 1 && answer_stopping(fd) == 0)
		;
	atomic_store(&stuck_result, n);
	return 0;
}

/* The client's first byte chooses: "i" idler, anything else answering. */
static int idle_or_answering(int fd, const struct sockaddr *peer, void *arg)
{
	char b;
	if (eddy_recv(fd, &b, 1, 0) != 1)
		return -EIO;
	return b == 'i' ? idler(fd, peer, arg) : answering(fd);
}

/* ---- serving ------------------------------------------------------------ */

Test(net_server, one_thread_serves_and_closes_after_the_handler)
{
	struct running r;
	start(&r, (eddy_server_opts){ .on_conn = echo });
	int fd = client(&r);
	send_str(fd, "hello");
	expect(fd, "hello");
	shutdown(fd, SHUT_WR); /* echo returns; the server closes */
	expect_eof(fd);
	close(fd);
	cr_assert_eq(eddy_server_stop(r.srv), 0);
	cr_assert_eq(finish(&r), 0);
}

#define CLIENTS 40

Test(net_server, several_threads_serve_many_connections)
{
	struct running r;
	start(&r, (eddy_server_opts){ .threads = 4, .on_conn = echo });
	int fds[CLIENTS];
	for (int i = 0; i < CLIENTS; i++)
		fds[i] = client(&r);
	for (int i = 0; i < CLIENTS; i++) {
		char msg[16];
		snprintf(msg, sizeof msg, "c%d", i);
		send_str(fds[i], msg);
	}
	for (int i = 0; i < CLIENTS; i++) {
		char msg[16];
		snprintf(msg, sizeof msg, "c%d", i);
		expect(fds[i], msg);
		close(fds[i]);
	}
	cr_assert_eq(eddy_server_stop(r.srv), 0);
	cr_assert_eq(finish(&r), 0);
}

/* What on_loop saw, per loop index; and each connection whether its
 * thread's on_loop had run. */
static struct {
	atomic_int calls[3];
	atomic_bool on_its_loop[3], in_a_task[3];
	atomic_bool served_before_setup;
} setup;
static _Thread_local bool loop_set_up;

static int records_setup(eddy_loop *loop, unsigned index, void *arg)
{
	(void)arg;
	if (index >= 3)
		return -EINVAL;
	atomic_fetch_add(&setup.calls[index], 1);
	atomic_store(&setup.on_its_loop[index], eddy_loop_current() == loop);
	atomic_store(&setup.in_a_task[index], eddy_self() != NULL);
	loop_set_up = true;
	return 0;
}

static int echo_after_setup(int fd, const struct sockaddr *peer, void *arg)
{
	if (!loop_set_up)
		atomic_store(&setup.served_before_setup, true);
	return echo(fd, peer, arg);
}

Test(net_server, on_loop_runs_once_on_each_loop_before_it_accepts)
{
	struct running r;
	start(&r, (eddy_server_opts){ .threads = 3, .on_conn = echo_after_setup,
				      .on_loop = records_setup });
	int fds[CLIENTS];
	for (int i = 0; i < CLIENTS; i++) {
		fds[i] = client(&r);
		send_str(fds[i], "x");
	}
	for (int i = 0; i < CLIENTS; i++) {
		expect(fds[i], "x");
		close(fds[i]);
	}
	cr_assert_eq(eddy_server_stop(r.srv), 0);
	cr_assert_eq(finish(&r), 0);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(atomic_load(&setup.calls[i]), 1, "loop %d", i);
		cr_assert(atomic_load(&setup.on_its_loop[i]), "loop %d", i);
		cr_assert(atomic_load(&setup.in_a_task[i]), "loop %d", i);
	}
	cr_assert_not(atomic_load(&setup.served_before_setup));
}

static int second_loop_fails(eddy_loop *loop, unsigned index, void *arg)
{
	(void)loop, (void)arg;
	return index == 1 ? -EOVERFLOW : 0;
}

Test(net_server, on_loop_failing_stops_the_server_with_its_error)
{
	struct running r;
	start(&r, (eddy_server_opts){ .threads = 2, .on_conn = echo,
				      .on_loop = second_loop_fails });
	cr_assert_eq(finish(&r), -EOVERFLOW);
}

Test(net_server, listeners_of_several_threads_share_the_port)
{
	eddy_server *a = eddy_server_new(&(eddy_server_opts){
		.host = "127.0.0.1", .port = "0", .threads = 3, .on_conn = echo });
	cr_assert_not_null(a);
	/* a fresh listener without SO_REUSEPORT cannot join them */
	char port[12];
	snprintf(port, sizeof port, "%d", eddy_server_port(a));
	cr_assert_eq(eddy_tcp_listen("127.0.0.1", port, NULL), -EADDRINUSE);
	eddy_server_free(a);
}

/* ---- stopping ----------------------------------------------------------- */

Test(net_server, stop_lets_connections_in_flight_finish_within_grace)
{
	struct running r;
	start(&r, (eddy_server_opts){ .on_conn = gate,
				      .grace_ns = 60000000000ull });
	int fd = client(&r);
	expect(fd, "s");
	cr_assert_eq(eddy_server_stop(r.srv), 0);
	cr_assert_eq(eddy_server_stop(r.srv), 0); /* harmless twice */
	send_str(fd, "b");
	expect(fd, "1"); /* it finished, and saw the stop */
	expect_eof(fd);
	close(fd);
	cr_assert_eq(finish(&r), 0);
}

Test(net_server, stop_cancels_connections_still_running_after_grace)
{
	struct running r;
	atomic_store(&stuck_result, 1);
	start(&r, (eddy_server_opts){ .threads = 2, .on_conn = stuck,
				      .grace_ns = 20000000 });
	int fd = client(&r);
	expect(fd, "s");
	cr_assert_eq(eddy_server_stop(r.srv), 0);
	cr_assert_eq(finish(&r), 0);
	cr_assert_eq(atomic_load(&stuck_result), -ECANCELED);
	expect_eof(fd);
	close(fd);
}

Test(net_server, stop_ends_idle_connections_without_waiting_for_grace)
{
	struct running r;
	/* an hour: the client's minute-long read fails the test first */
	start(&r, (eddy_server_opts){ .threads = 2, .on_conn = idler,
				      .grace_ns = 3600000000000ull });
	int fd = client(&r);
	expect(fd, "s");
	cr_assert_eq(eddy_server_stop(r.srv), 0);
	expect_eof(fd);
	close(fd);
	cr_assert_eq(finish(&r), 0);
	cr_expect_eq(atomic_load(&idle_results[0]), 0);
	cr_expect_eq(atomic_load(&idle_results[1]), -ECANCELED);
	/* back from idle: the stop ended it meanwhile */
	cr_expect_eq(atomic_load(&idle_results[2]), -ECANCELED);
	/* idle again once stopping: close rather than wait */
	cr_expect_eq(atomic_load(&idle_results[3]), -ECANCELED);
}

Test(net_server, stop_with_no_grace_cancels_at_once)
{
	struct running r;
	atomic_store(&stuck_result, 1);
	start(&r, (eddy_server_opts){ .on_conn = stuck });
	int fd = client(&r);
	expect(fd, "s");
	cr_assert_eq(eddy_server_stop(r.srv), 0);
	cr_assert_eq(finish(&r), 0);
	cr_assert_eq(atomic_load(&stuck_result), -ECANCELED);
	close(fd);
}

/* Tells the test (through the pipe in arg) that this loop runs. */
static int says_it_runs(eddy_loop *loop, unsigned index, void *arg)
{
	(void)loop, (void)index;
	return write(*(int *)arg, "r", 1) == 1 ? 0 : -EIO;
}

/*
 * A stop allocates nothing, so it cannot run out of memory and leave a
 * loop untold: with this thread's next allocation set to fail, one call
 * stops both running loops, and nobody has to call it again.
 */
Test(net_server, stop_needs_no_memory_and_one_call_stops_every_loop)
{
	int runs[2];
	cr_assert_eq(pipe(runs), 0);
	struct running r;
	start(&r, (eddy_server_opts){ .threads = 2, .on_conn = echo,
				      .on_loop = says_it_runs,
				      .arg = &runs[1] });
	char got[2];
	for (size_t have = 0; have < sizeof got;) {
		ssize_t k = read(runs[0], got + have, sizeof got - have);
		cr_assert_gt(k, 0);
		have += (size_t)k;
	}
	/* both loops run: a stop has to reach them, not wait for them */
	eddy_alloc_fail_nth(1);
	cr_assert_eq(eddy_server_stop(r.srv), 0);
	cr_assert_not(eddy_alloc_failed(), "the stop allocated");
	eddy_alloc_fail_nth(0);
	cr_assert_eq(finish_soon(&r, "a loop did not hear the one stop"), 0);
	close(runs[0]);
	close(runs[1]);
}

/* A run that could not allocate started nothing and can be made again. */
Test(net_server, run_out_of_memory_can_be_called_again)
{
	eddy_server *srv = eddy_server_new(&(eddy_server_opts){
		.host = "127.0.0.1", .port = "0", .threads = 2, .on_conn = echo });
	cr_assert_not_null(srv);
	eddy_alloc_fail_nth(2);
	cr_assert_eq(eddy_server_run(srv), -ENOMEM);
	cr_assert(eddy_alloc_failed());
	eddy_alloc_fail_nth(0);
	cr_assert_eq(eddy_server_stop(srv), 0);
	cr_assert_eq(eddy_server_run(srv), 0);
	eddy_server_free(srv);
}

Test(net_server, stop_before_run_makes_run_return_at_once)
{
	eddy_server *srv = eddy_server_new(&(eddy_server_opts){
		.host = "127.0.0.1", .port = "0", .threads = 2, .on_conn = echo });
	cr_assert_not_null(srv);
	cr_assert_eq(eddy_server_stop(srv), 0);
	cr_assert_eq(eddy_server_run(srv), 0);
	cr_assert_eq(eddy_server_run(srv), -EALREADY);
	eddy_server_free(srv);
}

/* ---- signals ------------------------------------------------------------ */

/* Block (how SIG_BLOCK) or open (SIG_UNBLOCK) SIGINT and SIGTERM in this
 * thread; the mask before. */
static sigset_t stop_signals_mask(int how)
{
	sigset_t set, old;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	cr_assert_eq(pthread_sigmask(how, &set, &old), 0);
	return old;
}

/*
 * The signal must be blocked in every thread, or the kernel may deliver
 * it to one that lets it kill the process: this thread blocks it before
 * any other starts (eddy_server_new would too), and they inherit it.
 */
static void signal_stops(int sig)
{
	sigset_t old = stop_signals_mask(SIG_BLOCK);
	struct running r;
	start(&r, (eddy_server_opts){ .threads = 2, .handle_signals = 1,
				      .grace_ns = 60000000000ull,
				      .on_conn = gate_until_stop });
	int fd = client(&r);
	expect(fd, "s"); /* serving: the signal's watcher is up */
	cr_assert_eq(kill(getpid(), sig), 0);
	send_str(fd, "b");
	expect(fd, "1"); /* in flight: finished, after the stop began */
	close(fd);
	cr_assert_eq(finish(&r), 0);
	cr_assert_eq(pthread_sigmask(SIG_SETMASK, &old, NULL), 0);
}

Test(net_server, sigterm_stops_the_server_cleanly)
{
	signal_stops(SIGTERM);
}

Test(net_server, sigint_stops_the_server_cleanly)
{
	signal_stops(SIGINT);
}

/* Neither signal waits for this thread or the process. */
static void assert_no_stop_signal_pending(void)
{
	sigset_t pending;
	cr_assert_eq(sigpending(&pending), 0);
	cr_assert_not(sigismember(&pending, SIGINT), "SIGINT pending");
	cr_assert_not(sigismember(&pending, SIGTERM), "SIGTERM pending");
}

/*
 * In a task: wait until it is the only task of its loop alive, checking
 * every millisecond for a minute at most; the tasks alive then.  It polls
 * because nothing marks a task's end but joining it, and the task to
 * outlive here is the loop's main one, eddy_loop_run's to join.
 */
static long wait_until_alone(void)
{
	eddy_stats st = { .tasks_alive = 0 };
	for (int i = 0; i < 60000; i++)
		if (eddy_loop_stats(eddy_loop_current(), &st) ||
		    st.tasks_alive == 1 || eddy_sleep(1000000))
			break;
	return (long)st.tasks_alive;
}

/* With the server stopping for a first signal: busy, an answering
 * connection, still runs; sig cancels it, and run returns 0 with no
 * signal left pending.  busy is closed. */
static void second_signal_cancels(struct running *r, int busy, int sig)
{
	send_str(busy, "b");
	expect(busy, "1"); /* still served, knowing it is stopping */
	cr_assert_eq(kill(getpid(), sig), 0);
	expect_eof(busy);
	cr_assert_eq(finish_soon(r, "the second signal did not end the run"),
		     0);
	cr_assert_eq(atomic_load(&stuck_result), -ECANCELED);
	assert_no_stop_signal_pending();
	close(busy);
}

/*
 * The first signal stops the server: the idle connection ends at once,
 * the busy one goes on in its grace period (an hour).  The second cuts
 * the grace short: the busy one is cancelled, run returns 0, and no
 * signal is left to kill the process.
 */
static void second_signal_forces(int first, int second)
{
	sigset_t old = stop_signals_mask(SIG_BLOCK);
	atomic_store(&stuck_result, 1);
	struct running r;
	start(&r, (eddy_server_opts){ .threads = 2, .handle_signals = 1,
				      .grace_ns = 3600000000000ull,
				      .on_conn = idle_or_answering });
	int busy = client(&r), idle = client(&r);
	send_str(busy, "w");
	expect(busy, "s");
	send_str(idle, "i");
	expect(idle, "s");
	cr_assert_eq(kill(getpid(), first), 0);
	expect_eof(idle); /* the stop has begun */
	second_signal_cancels(&r, busy, second);
	close(idle);
	cr_assert_eq(pthread_sigmask(SIG_SETMASK, &old, NULL), 0);
}

Test(net_server, second_sigint_cancels_connections_in_their_grace_period)
{
	second_signal_forces(SIGINT, SIGINT);
}

Test(net_server, sigint_after_sigterm_cancels_connections_in_their_grace)
{
	second_signal_forces(SIGTERM, SIGINT);
}

/*
 * Each loop reads the signals while it drains: the second signal reaches
 * loop 1, still in its grace period, after loop 0 (run's own thread) has
 * ended its drain and its watcher.  A task on loop 0 tells the client
 * when it is the last one there; connections tell the client their loop.
 */
static _Thread_local int loop_index = -1;
static int loop_ended[2];

static void *tell_when_alone(void *arg)
{
	(void)arg;
	char n = (char)wait_until_alone();
	ssize_t w = write(loop_ended[1], &n, 1); /* the test reads it */
	(void)w;
	return NULL;
}

static int note_loop(eddy_loop *loop, unsigned index, void *arg)
{
	(void)loop, (void)arg;
	loop_index = (int)index;
	eddy_task *t = index == 0 ? eddy_spawn(tell_when_alone, NULL) : NULL;
	if (t)
		eddy_detach(t);
	return index == 0 && !t ? -ENOMEM : 0;
}

/* Says its loop; on loop 1 then answering, on loop 0 done. */
static int says_loop(int fd, const struct sockaddr *peer, void *arg)
{
	(void)peer, (void)arg;
	char c = (char)('0' + loop_index);
	if (eddy_write_all(fd, &c, 1, 0) != 1)
		return -EIO;
	return loop_index == 1 ? answering(fd) : 0;
}

Test(net_server, second_signal_reaches_a_loop_draining_after_the_first_ended)
{
	sigset_t old = stop_signals_mask(SIG_BLOCK);
	cr_assert_eq(pipe(loop_ended), 0);
	atomic_store(&stuck_result, 1);
	struct running r;
	start(&r, (eddy_server_opts){ .threads = 2, .handle_signals = 1,
				      .grace_ns = 3600000000000ull,
				      .on_conn = says_loop,
				      .on_loop = note_loop });
	/* the kernel hashes connections to the loops: 64 all on loop 0
	 * would be a chance of 2^-64 */
	int busy = -1;
	for (int i = 0; i < 64 && busy < 0; i++) {
		int fd = client(&r);
		char c = 0;
		cr_assert_eq(recv(fd, &c, 1, 0), 1);
		if (c == '1')
			busy = fd;
		else
			close(fd);
	}
	cr_assert_geq(busy, 0, "no connection reached loop 1");
	expect(busy, "s");
	cr_assert_eq(kill(getpid(), SIGTERM), 0);
	struct pollfd ended = { .fd = loop_ended[0], .events = POLLIN };
	cr_assert_eq(poll(&ended, 1, 60000), 1, "loop 0 did not end");
	char alive = 0;
	cr_assert_eq(read(loop_ended[0], &alive, 1), 1);
	cr_assert_eq(alive, 1, "loop 0 still has its watcher");
	second_signal_cancels(&r, busy, SIGINT);
	close(loop_ended[0]);
	close(loop_ended[1]);
	cr_assert_eq(pthread_sigmask(SIG_SETMASK, &old, NULL), 0);
}

/* eddy_server_run on a thread that was started before eddy_server_new
 * blocked the signals, its mask open: run blocks them there and in the
 * threads it starts, or the kernel hands the signal to one of them and
 * the process dies of it. */
static void *run_handed_server(void *arg)
{
	int *p = arg;
	eddy_server *srv;
	if (read(p[0], &srv, sizeof srv) != (ssize_t)sizeof srv)
		return (void *)(intptr_t)-EIO;
	return (void *)(intptr_t)eddy_server_run(srv);
}

Test(net_server, signal_stops_a_server_run_on_a_thread_started_before_new)
{
	int p[2];
	cr_assert_eq(pipe(p), 0);
	pthread_t t;
	cr_assert_eq(pthread_create(&t, NULL, run_handed_server, p), 0);
	struct running r = { 0 };
	r.srv = eddy_server_new(&(eddy_server_opts){
		.host = "127.0.0.1", .port = "0", .threads = 2,
		.handle_signals = 1, .grace_ns = 60000000000ull,
		.on_conn = gate_until_stop });
	cr_assert_not_null(r.srv, "%s", strerror(errno));
	cr_assert_eq(write(p[1], &r.srv, sizeof r.srv),
		     (ssize_t)sizeof r.srv);
	int fd = client(&r);
	expect(fd, "s");
	cr_assert_eq(kill(getpid(), SIGTERM), 0);
	send_str(fd, "b");
	expect(fd, "1");
	close(fd);
	void *rc;
	cr_assert_eq(pthread_join(t, &rc), 0);
	cr_assert_eq((intptr_t)rc, 0);
	eddy_server_free(r.srv);
	close(p[0]);
	close(p[1]);
}

/*
 * A signal that no watcher reads any more, because the server stopped and
 * its loop is ending, is dropped by run: run's thread here had the signals
 * open before run, so putting its mask back would let the signal kill the
 * process.  The moment: on_loop stops the server and leaves a task that
 * waits until it is the loop's last task alive, after the server's main
 * task and its watcher returned (wait_until_alone); then it sends the
 * signal.
 */
static eddy_server *late_srv;
static atomic_long late_alive, late_kill;

static void *signal_once_alone(void *arg)
{
	(void)arg;
	atomic_store(&late_alive, wait_until_alone());
	atomic_store(&late_kill, kill(getpid(), SIGTERM) ? -errno : 0);
	return NULL;
}

static int stop_and_signal_late(eddy_loop *loop, unsigned index, void *arg)
{
	(void)loop, (void)index, (void)arg;
	eddy_task *t = eddy_spawn(signal_once_alone, NULL);
	if (!t)
		return -ENOMEM;
	eddy_detach(t);
	return eddy_server_stop(late_srv);
}

Test(net_server, signal_after_the_watcher_ended_is_dropped_by_run)
{
	sigset_t old = stop_signals_mask(SIG_UNBLOCK);
	int p[2];
	cr_assert_eq(pipe(p), 0);
	pthread_t t; /* its mask is open: the signals would kill */
	cr_assert_eq(pthread_create(&t, NULL, run_handed_server, p), 0);
	atomic_store(&late_alive, 0);
	atomic_store(&late_kill, 1);
	late_srv = eddy_server_new(&(eddy_server_opts){
		.host = "127.0.0.1", .port = "0", .handle_signals = 1,
		.on_conn = echo, .on_loop = stop_and_signal_late });
	cr_assert_not_null(late_srv, "%s", strerror(errno));
	cr_assert_eq(write(p[1], &late_srv, sizeof late_srv),
		     (ssize_t)sizeof late_srv);
	void *rc;
	cr_assert_eq(pthread_join(t, &rc), 0);
	cr_assert_eq((intptr_t)rc, 0);
	cr_assert_eq(atomic_load(&late_alive), 1); /* only itself */
	cr_assert_eq(atomic_load(&late_kill), 0);
	assert_no_stop_signal_pending();
	eddy_server_free(late_srv);
	close(p[0]);
	close(p[1]);
	cr_assert_eq(pthread_sigmask(SIG_SETMASK, &old, NULL), 0);
}

/* An echo server on one thread that handles the signals. */
static eddy_server *signal_server(void)
{
	eddy_server *srv = eddy_server_new(&(eddy_server_opts){
		.host = "127.0.0.1", .port = "0", .handle_signals = 1,
		.on_conn = echo });
	cr_assert_not_null(srv, "%s", strerror(errno));
	return srv;
}

/* eddy_server_new's thread keeps the signals blocked after run, until
 * free puts its mask back: one that comes in between is dropped too. */
Test(net_server, signal_between_run_and_free_is_dropped_by_free)
{
	sigset_t old = stop_signals_mask(SIG_UNBLOCK);
	eddy_server *srv = signal_server();
	cr_assert_eq(eddy_server_stop(srv), 0);
	cr_assert_eq(eddy_server_run(srv), 0);
	cr_assert_eq(kill(getpid(), SIGINT), 0);
	sigset_t pending;
	cr_assert_eq(sigpending(&pending), 0);
	cr_assert(sigismember(&pending, SIGINT), "blocked until free");
	eddy_server_free(srv);
	assert_no_stop_signal_pending();
	cr_assert_eq(pthread_sigmask(SIG_SETMASK, &old, NULL), 0);
}

/* A server that never ran took no signal on: free leaves one that came
 * to the process, as if there had been no server. */
Test(net_server, signal_to_a_server_that_never_ran_stays_pending)
{
	sigset_t old = stop_signals_mask(SIG_BLOCK);
	eddy_server *srv = signal_server();
	cr_assert_eq(kill(getpid(), SIGTERM), 0);
	eddy_server_free(srv);
	sigset_t term;
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	struct timespec now = { 0 };
	cr_assert_eq(sigtimedwait(&term, NULL, &now), SIGTERM);
	cr_assert_eq(pthread_sigmask(SIG_SETMASK, &old, NULL), 0);
}

/* ---- errors ------------------------------------------------------------- */

Test(net_server, bad_options_are_einval)
{
	errno = 0;
	cr_assert_null(eddy_server_new(NULL));
	cr_assert_eq(errno, EINVAL);
	errno = 0;
	cr_assert_null(eddy_server_new(&(eddy_server_opts){ .port = "0" }));
	cr_assert_eq(errno, EINVAL);
	cr_assert_eq(eddy_server_run(NULL), -EINVAL);
	cr_assert_eq(eddy_server_stop(NULL), -EINVAL);
	eddy_server_free(NULL);
}

Test(net_server, a_port_in_use_fails_the_server)
{
	int lfd = eddy_tcp_listen("127.0.0.1", "0", NULL);
	cr_assert_geq(lfd, 0);
	char port[12];
	snprintf(port, sizeof port, "%d", eddy_tcp_local_port(lfd));
	errno = 0;
	cr_assert_null(eddy_server_new(&(eddy_server_opts){
		.host = "127.0.0.1", .port = port, .on_conn = echo }));
	cr_assert_eq(errno, EADDRINUSE);
	close(lfd);
}

Test(net_server, stopping_is_0_outside_a_server)
{
	cr_assert_eq(eddy_server_stopping(), 0);
}

Test(net_server, idle_outside_a_connection_task_is_eperm)
{
	cr_assert_eq(eddy_server_idle(0, 1), -EPERM);
	cr_assert_eq(eddy_server_idle(-1, 0), -EPERM);
}
