/*
 * eddy_server: one loop per thread, each with its own listener, one task
 * per connection.
 *
 * Why a listener per thread.  With SO_REUSEPORT, several sockets bind the
 * same port and the kernel hashes each new connection to one of them, so
 * the threads never contend for one accept queue and a connection lives
 * on the loop that accepted it, start to end, with no hand-off between
 * threads.  (nginx's "reuseport" and Seastar's shards do the same.)
 *
 * The structures.  A server holds an array of struct srv_thread, one per
 * thread; index 0 runs on the thread that calls eddy_server_run.  Each
 * thread's loop runs a main task (thread_main) which spawns the acceptor
 * and then waits for its stop event.  The acceptor spawns a detached task
 * per connection and links its struct conn into its thread's list, so that
 * a stop can find the connections still running and cancel them:
 *
 *   srv_thread[i] ── loop ── main task: waits for `stop`
 *        │                   acceptor:  eddy_tcp_accept ─▶ spawn conn task
 *        └── conns: conn ⇄ conn ⇄ conn    (each unlinks itself at its end;
 *                                          `idle` is set when none is left)
 *
 * Stopping.  eddy_server_stop may run on any thread, so it only sets the
 * server's stopping flag and wakes each running loop through an eventfd
 * of its own (`notice_fd`, made by run), which a task on that loop (the
 * notice watcher) reads; the watcher then looks at the server's flags and
 * sets its loop's stop event.  A write to an eventfd needs no memory, so
 * a stop cannot fail to reach a loop: an earlier version posted a task
 * with eddy_loop_call_soon, whose allocation could fail, and a loop that
 * missed its post accepted until someone called stop again.  The loop's
 * pointer is published under the server's lock while its main task runs;
 * a main task that starts after the stop sees the flag instead.  Then each
 * main task, on its own thread: cancels the acceptor (no new
 * connections), cancels the connections that said they are idle
 * (eddy_server_idle: a kept-alive connection waiting for its next request
 * has nothing to finish), waits up to grace_ns for `idle`, cancels the
 * connections still running, and waits for them to unwind (a cancelled
 * task still closes its descriptor).  eddy_server_run returns when every
 * thread's loop has finished.  (eddy_server_idle finds a connection's
 * struct conn by its descriptor in the thread's byfd table, in O(1), and
 * lets only the connection's own task mark it.)
 *
 * Forcing.  A force (the second signal) ends the grace period early on
 * every loop by the same road: it sets the server's forced flag and wakes
 * each running loop; its notice watcher, seeing the flag, cancels the
 * connections still running there, which is what the end of grace_ns
 * does.  Their ends set `idle`, so a grace wait under way returns; a loop
 * that has not begun its grace wait sees the flag and does not begin it.
 * The watcher runs until its loop has drained, so a force reaches a loop
 * whose grace period is under way.
 *
 * Signals.  With handle_signals, each loop runs a watcher task that reads
 * SIGINT and SIGTERM from the server's one signalfd (whichever watcher
 * reads a signal first takes it), from before the loop accepts until its
 * connections are all gone.  The server counts them: the first stops it,
 * every later one forces.  A watcher on each loop, not on one, is what
 * lets a second signal reach a loop that still waits for its connections
 * after the others have ended.  Once every loop has drained, nobody
 * reads; what came meanwhile is read and dropped before the mask is put
 * back (run, free), so that a signal meant for a server already stopping
 * does not kill the process with its default action.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "ctx/alloc.h"
#include "loop/sync.h"
#include "net.h"
#include "signals.h"
#include "tcp.h"

/* How long a finished connection waits for its peer's EOF (eddy_tcp_close). */
#define CLOSE_LINGER_NS 1000000000ull
/* A pause after an accept error that is neither exhaustion nor a stop,
 * so that a listener in a bad state cannot spin its thread. */
#define ACCEPT_ERROR_PAUSE_NS 10000000ull
#define THREADS_MAX 1024
/* The acceptor lets the other tasks run after this many connections in a
 * row: the new ones start their first reads, and the ones already served
 * are not held up for a whole backlog's accepts. */
#define ACCEPT_BATCH 64

struct conn {
	struct conn *prev, *next;
	struct srv_thread *th;
	eddy_task *task;
	int fd;
	bool idle;             /* waiting for its peer: a stop ends it at once */
	bool ended_idle;       /* the stop cancelled it while idle */
	struct sockaddr_storage peer;
};

struct srv_thread {
	eddy_server *srv;
	unsigned index;
	int lfd;
	pthread_t tid;
	bool started;          /* tid is a thread to join */
	eddy_loop *loop;       /* while thread_main runs; under srv->lock */
	int notice_fd;         /* eventfd: a stop or a force wakes the loop */
	eddy_event *stop;      /* set on this loop when the server stops */
	eddy_event *idle;      /* set while no connection runs */
	struct conn *conns;    /* the connections running on this loop */
	size_t nconns;
	struct conn **byfd;    /* the same by descriptor, for eddy_server_idle */
	size_t nbyfd;
	int err;               /* this thread's failure, for run's result */
};

struct eddy_server {
	eddy_conn_fn on_conn;
	int (*on_loop)(eddy_loop *loop, unsigned index, void *arg);
	void *arg;
	uint64_t grace_ns;
	bool has_loop_cfg;
	eddy_loop_config loop_cfg;
	int port;
	int sfd;               /* signalfd, or -1 */
	sigset_t old_mask;     /* to put back when sfd is closed */
	pthread_mutex_t lock;
	atomic_bool stopping;
	atomic_bool forced;    /* connections are cancelled without grace */
	atomic_uint signals;   /* SIGINT and SIGTERM read so far */
	atomic_bool ran;
	unsigned nthreads;
	struct srv_thread th[];
};

/* The server thread this OS thread runs, for eddy_server_stopping. */
static _Thread_local struct srv_thread *current_thread;

/* ---- one connection ------------------------------------------------ */

static void conn_unlink(struct conn *c)
{
	struct srv_thread *th = c->th;
	if (c->prev)
		c->prev->next = c->next;
	else
		th->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	/* fd was closed: a connection accepted since may have its number */
	if (th->byfd[c->fd] == c)
		th->byfd[c->fd] = NULL;
	if (--th->nconns == 0)
		eddy_event_set(th->idle);
}

/* Room in th->byfd for fd: descriptors are small and reused, so the
 * table stays as long as the highest descriptor the thread has served. */
static int byfd_reserve(struct srv_thread *th, int fd)
{
	if ((size_t)fd < th->nbyfd)
		return 0;
	size_t n = th->nbyfd ? th->nbyfd : 64;
	while (n <= (size_t)fd)
		n *= 2;
	struct conn **t = eddy_alloc(n * sizeof *t);
	if (!t)
		return -ENOMEM;
	memset(t, 0, n * sizeof *t);
	if (th->nbyfd)
		memcpy(t, th->byfd, th->nbyfd * sizeof *t);
	eddy_free(th->byfd);
	th->byfd = t;
	th->nbyfd = n;
	return 0;
}

static void *conn_run(void *arg)
{
	struct conn *c = arg;
	eddy_server *srv = c->th->srv;
	srv->on_conn(c->fd, (const struct sockaddr *)&c->peer, srv->arg);
	eddy_tcp_close(c->fd, CLOSE_LINGER_NS);
	conn_unlink(c);
	eddy_free(c);
	return NULL;
}

/* Run a task for the connection fd; on failure fd is closed. */
static void conn_start(struct srv_thread *th, int fd,
		       const struct sockaddr_storage *peer)
{
	struct conn *c = byfd_reserve(th, fd) ? NULL : eddy_alloc(sizeof *c);
	if (!c) {
		net_close(fd);
		return;
	}
	*c = (struct conn){ .th = th, .fd = fd, .peer = *peer };
	c->task = eddy_spawn(conn_run, c);
	if (!c->task) {
		eddy_free(c);
		net_close(fd);
		return;
	}
	eddy_detach(c->task);
	c->next = th->conns;
	if (th->conns)
		th->conns->prev = c;
	th->conns = c;
	th->byfd[fd] = c;
	th->nconns++;
	eddy_event_clear(th->idle);
}

/* ---- a thread's loop ----------------------------------------------- */

/*
 * The acceptor waits for a connection, then takes every other one the
 * backlog holds with accept4 on the non-blocking listener, until it is
 * empty (-EAGAIN) or accept fails.  Taking one per trip through the loop
 * left a burst (wrk opening 1000 connections at once) queued for as many
 * rounds, each as long as all the ready connections' work.  Every
 * ACCEPT_BATCH connections it yields, so that draining 4096 does not
 * stall the running ones.  A failure of the drain (EMFILE ...) is met
 * again by eddy_tcp_accept, which backs off.
 */
static void *accept_loop(void *arg)
{
	struct srv_thread *th = arg;
	for (;;) {
		struct sockaddr_storage peer;
		socklen_t len;
		int fd = eddy_tcp_accept(th->lfd, &peer, &len);
		if (fd >= 0) {
			unsigned n = 0;
			do {
				conn_start(th, fd, &peer);
				if (++n % ACCEPT_BATCH == 0 && eddy_yield())
					return NULL;
			} while ((fd = net_tcp_accept_now(th->lfd, &peer,
							  &len)) >= 0);
			continue;
		}
		if (fd == -ECANCELED)
			return NULL;
		/* EPERM (a firewall), EPROTO ...: this connection failed;
		 * the listener still works */
		if (eddy_sleep(ACCEPT_ERROR_PAUSE_NS))
			return NULL;
	}
}

/* Cut the grace period short on every loop: a stop whose connections are
 * cancelled at once. */
static void server_force(eddy_server *srv)
{
	atomic_store(&srv->forced, true);
	eddy_server_stop(srv);
}

/* Until cancelled: the first signal of the server stops it, the next ones
 * force (the block comment at the top). */
static void *signal_watch(void *arg)
{
	eddy_server *srv = arg;
	while (net_signals_wait(srv->sfd) > 0) {
		if (atomic_fetch_add(&srv->signals, 1))
			server_force(srv);
		else
			eddy_server_stop(srv);
	}
	return NULL;
}

/* The end of the grace period, on time or forced. */
static void cancel_running(struct srv_thread *th)
{
	for (struct conn *c = th->conns; c; c = c->next)
		eddy_cancel(c->task);
}

/* What a stop or a force asks of this loop, from the server's flags. */
static void take_notice(struct srv_thread *th)
{
	eddy_server *srv = th->srv;
	if (atomic_load(&srv->forced))
		cancel_running(th);
	if (atomic_load(&srv->stopping))
		eddy_event_set(th->stop);
}

/* How long the notice watcher waits before it reads again after a read
 * that failed at once (the epoll backend short of memory for its table). */
#define NOTICE_RETRY_NS 10000000ull

/* Until cancelled: each wake of th->notice_fd (eddy_server_stop, a force)
 * is taken on this loop.  The flags are read after every read, failed or
 * not, so no stop is lost to an error; a pause that cannot be armed
 * either is a yield, so the loop never spins without serving. */
static void *notice_watch(void *arg)
{
	struct srv_thread *th = arg;
	for (;;) {
		uint64_t wakes;
		ssize_t r = eddy_read(th->notice_fd, &wakes, sizeof wakes);
		if (r == -ECANCELED)
			return NULL;
		take_notice(th);
		/* cancelled, the sleep and the yield both say so */
		if (r < 0 && eddy_sleep(NOTICE_RETRY_NS) && eddy_yield())
			return NULL;
	}
}

/* Wake each running loop's notice watcher.  A write to an eventfd takes
 * no memory and cannot fail here (its count would have to reach 2^64 - 1
 * between two reads), so every running loop hears every call.  A loop not
 * running yet sees the server's flags when it starts. */
static void tell_loops(eddy_server *srv)
{
	pthread_mutex_lock(&srv->lock);
	for (unsigned i = 0; i < srv->nthreads; i++)
		if (srv->th[i].loop)
			eventfd_write(srv->th[i].notice_fd, 1);
	pthread_mutex_unlock(&srv->lock);
}

static void publish_loop(struct srv_thread *th, eddy_loop *loop)
{
	pthread_mutex_lock(&th->srv->lock);
	th->loop = loop;
	pthread_mutex_unlock(&th->srv->lock);
}

/* Let the connections finish within the grace period (a force ends it
 * early: take_notice), then cancel them; return when none is left. */
static void drain(struct srv_thread *th)
{
	eddy_server *srv = th->srv;
	if (th->nconns && srv->grace_ns && !atomic_load(&srv->forced))
		eddy_event_wait_timeout(th->idle, srv->grace_ns);
	cancel_running(th);
	/* Cancelled ourselves (the loop found every task stuck), we cannot
	 * wait: the loop still runs the connections to their end. */
	while (th->nconns && eddy_event_wait(th->idle) == 0)
		;
}

static void *thread_main(void *arg)
{
	struct srv_thread *th = arg;
	eddy_server *srv = th->srv;
	current_thread = th;
	publish_loop(th, eddy_loop_current());
	if (atomic_load(&srv->stopping))
		eddy_event_set(th->stop);
	eddy_task *acceptor = NULL, *notices = NULL, *watcher = NULL;
	int err = srv->on_loop ? srv->on_loop(eddy_loop_current(), th->index,
					      srv->arg)
			       : 0;
	if (err < 0)
		th->err = err;
	else if (!(acceptor = eddy_spawn(accept_loop, th)) ||
		 !(notices = eddy_spawn(notice_watch, th)))
		th->err = -ENOMEM;
	if (notices && srv->sfd >= 0 &&
	    !(watcher = eddy_spawn(signal_watch, srv)))
		th->err = -ENOMEM;
	if (th->err) {
		eddy_server_stop(srv);
		eddy_event_set(th->stop); /* even if the post failed */
	}
	eddy_event_wait(th->stop);
	if (acceptor) {
		eddy_cancel(acceptor);
		eddy_join(acceptor, NULL);
	}
	/* New connections are refused from here, rather than queued in a
	 * backlog nobody accepts from. */
	net_close(th->lfd);
	th->lfd = -1;
	/* Idle connections have no request to finish: end them now. */
	for (struct conn *c = th->conns; c; c = c->next)
		if (c->idle) {
			c->ended_idle = true;
			eddy_cancel(c->task);
		}
	drain(th);
	/* Read signals and notices until here, so that a second signal
	 * forces the loops that still drain. */
	if (watcher) {
		eddy_cancel(watcher);
		eddy_join(watcher, NULL);
	}
	if (notices) {
		eddy_cancel(notices);
		eddy_join(notices, NULL);
	}
	eddy_free(th->byfd);
	th->byfd = NULL;
	th->nbyfd = 0;
	publish_loop(th, NULL);
	return NULL;
}

static void *run_thread(void *arg)
{
	struct srv_thread *th = arg;
	eddy_server *srv = th->srv;
	eddy_loop *loop = eddy_loop_new(srv->has_loop_cfg ? &srv->loop_cfg
							  : NULL);
	int err = loop ? 0 : -errno;
	if (loop)
		err = eddy_loop_run(loop, thread_main, th, NULL);
	current_thread = NULL;
	eddy_loop_free(loop);
	if (err && !th->err)
		th->err = err;
	if (th->err)
		eddy_server_stop(srv);
	return NULL;
}

/* ---- the server ------------------------------------------------------ */

static int server_listen(eddy_server *srv, const eddy_server_opts *o)
{
	eddy_tcp_listen_opts lo = { .backlog = o->backlog,
				    .reuseport = srv->nthreads > 1 };
	const char *port = o->port;
	char chosen[12];
	for (unsigned i = 0; i < srv->nthreads; i++) {
		int fd = eddy_tcp_listen(o->host, port, &lo);
		if (fd < 0)
			return fd;
		srv->th[i].lfd = fd;
		/* the acceptor drains the backlog without waiting */
		int fl = fcntl(fd, F_GETFL);
		if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
			return -errno;
		if (i == 0) {
			/* the others bind the port the first one got */
			if ((srv->port = eddy_tcp_local_port(fd)) < 0)
				return srv->port;
			snprintf(chosen, sizeof chosen, "%d", srv->port);
			port = chosen;
		}
	}
	return 0;
}

eddy_server *eddy_server_new(const eddy_server_opts *opts)
{
	if (!opts || !opts->on_conn || !opts->port || opts->backlog < 0 ||
	    opts->threads > THREADS_MAX) {
		errno = EINVAL;
		return NULL;
	}
	unsigned n = opts->threads ? opts->threads : 1;
	eddy_server *srv = eddy_alloc(sizeof *srv + n * sizeof srv->th[0]);
	if (!srv) {
		errno = ENOMEM;
		return NULL;
	}
	*srv = (eddy_server){ .on_conn = opts->on_conn, .arg = opts->arg,
			      .on_loop = opts->on_loop,
			      .grace_ns = opts->grace_ns, .sfd = -1,
			      .nthreads = n, .has_loop_cfg = opts->loop };
	if (opts->loop)
		srv->loop_cfg = *opts->loop;
	pthread_mutex_init(&srv->lock, NULL);
	for (unsigned i = 0; i < n; i++)
		srv->th[i] = (struct srv_thread){ .srv = srv, .index = i,
						  .lfd = -1, .notice_fd = -1 };
	int err = server_listen(srv, opts);
	if (!err && opts->handle_signals &&
	    (srv->sfd = net_signals_open(&srv->old_mask)) < 0)
		err = srv->sfd;
	if (err) {
		eddy_server_free(srv);
		errno = -err;
		return NULL;
	}
	return srv;
}

int eddy_server_port(const eddy_server *srv)
{
	return srv ? srv->port : -EINVAL;
}

static void thread_events_free(struct srv_thread *th)
{
	eddy_event_free(th->stop);
	eddy_event_free(th->idle);
	th->stop = th->idle = NULL;
	if (th->notice_fd >= 0)
		close(th->notice_fd);
	th->notice_fd = -1;
}

/* The events a thread's main task waits on and the eventfd that wakes its
 * loop, made here so that a loop never starts without them.  The eventfd
 * stays open until free: a stop from another thread may write it up to
 * the moment the loop's main task ends. */
static int thread_events(struct srv_thread *th)
{
	th->stop = eddy_event_new();
	th->idle = eddy_event_new();
	if (!th->stop || !th->idle)
		return -ENOMEM;
	eddy_event_set(th->idle);
	th->notice_fd = eventfd(0, EFD_CLOEXEC);
	return th->notice_fd < 0 ? -errno : 0;
}

int eddy_server_run(eddy_server *srv)
{
	if (!srv)
		return -EINVAL;
	if (atomic_exchange(&srv->ran, true))
		return -EALREADY;
	/* This thread may not be the one eddy_server_new blocked the
	 * signals in: block them here too, before any thread starts, so
	 * that no thread of the server lets one kill the process. */
	sigset_t old_mask;
	int err = srv->sfd >= 0 ? net_signals_block(&old_mask) : 0;
	if (err) {
		atomic_store(&srv->ran, false);
		return err;
	}
	for (unsigned i = 0; i < srv->nthreads && !err; i++)
		err = thread_events(&srv->th[i]);
	if (err) {
		/* nothing has started: leave the server as it was, so that
		 * run may be called again */
		for (unsigned i = 0; i < srv->nthreads; i++)
			thread_events_free(&srv->th[i]);
		atomic_store(&srv->ran, false);
	}
	for (unsigned i = 1; i < srv->nthreads && !err; i++) {
		struct srv_thread *th = &srv->th[i];
		err = -pthread_create(&th->tid, NULL, run_thread, th);
		if (err) {
			err = -EAGAIN;
			eddy_server_stop(srv);
		}
		th->started = !err;
	}
	if (!err)
		run_thread(&srv->th[0]);
	for (unsigned i = 0; i < srv->nthreads; i++) {
		struct srv_thread *th = &srv->th[i];
		if (th->started)
			pthread_join(th->tid, NULL);
		if (!err)
			err = th->err;
	}
	if (srv->sfd >= 0) {
		/* No watcher reads any more; the server stopped (for a signal,
		 * perhaps for one of these): they must not kill the process.
		 * A run that started nothing leaves them, as free does. */
		if (atomic_load(&srv->ran))
			net_signals_drop(srv->sfd);
		pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
	}
	return err;
}

int eddy_server_stop(eddy_server *srv)
{
	if (!srv)
		return -EINVAL;
	atomic_store(&srv->stopping, true);
	tell_loops(srv);
	return 0;
}

int eddy_server_idle(int fd, int idle)
{
	struct srv_thread *th = current_thread;
	struct conn *c = th && fd >= 0 && (size_t)fd < th->nbyfd ? th->byfd[fd]
								 : NULL;
	if (!c || c->task != eddy_task_current())
		return -EPERM;
	if (!idle) {
		c->idle = false;
		return c->ended_idle ? -ECANCELED : 0;
	}
	if (atomic_load(&th->srv->stopping))
		return -ECANCELED;
	c->idle = true;
	return 0;
}

int eddy_server_stopping(void)
{
	struct srv_thread *th = current_thread;
	return th && atomic_load(&th->srv->stopping);
}

void eddy_server_free(eddy_server *srv)
{
	if (!srv)
		return;
	for (unsigned i = 0; i < srv->nthreads; i++) {
		struct srv_thread *th = &srv->th[i];
		if (th->lfd >= 0)
			close(th->lfd);
		thread_events_free(th);
	}
	if (srv->sfd >= 0) {
		/* After a run, what came since is for the stopped server, as
		 * at run's end; a server that never ran leaves them to the
		 * process, as if it had not been made. */
		if (atomic_load(&srv->ran))
			net_signals_drop(srv->sfd);
		net_signals_close(srv->sfd, &srv->old_mask);
	}
	pthread_mutex_destroy(&srv->lock);
	eddy_free(srv);
}
