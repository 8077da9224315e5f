/*
 * eddy net: TCP over the loop: listening, accepting, connecting, reading
 * through a buffer, writing everything, and a server that runs one loop
 * per core.
 *
 *   static int echo(int fd, const struct sockaddr *peer, void *arg)
 *   {
 *       char buf[4096];
 *       ssize_t n;
 *       while ((n = eddy_recv(fd, buf, sizeof buf, 0)) > 0)
 *           if ((n = eddy_write_all(fd, buf, (size_t)n, 0)) < 0)
 *               break;
 *       return n < 0 ? (int)n : 0;   // the server closes fd afterwards
 *   }
 *   ...
 *   eddy_server *srv = eddy_server_new(&(eddy_server_opts){
 *       .port = "8080", .threads = 2, .handle_signals = 1,
 *       .grace_ns = 5000000000, .on_conn = echo });
 *   int err = eddy_server_run(srv);   // until SIGINT/SIGTERM
 *   eddy_server_free(srv);
 *
 * Every call that waits suspends only its task (outside a task: -EPERM)
 * and returns 0 or a count, or a negative errno; a cancelled task gets
 * -ECANCELED.  Timeouts are in nanoseconds, 0 meaning none.  Descriptors
 * are made close-on-exec.  docs/net.md is the manual.
 */
#ifndef EDDY_NET_H
#define EDDY_NET_H

#pragma GCC visibility push(default)

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "loop/loop.h"

/* ---- TCP sockets ------------------------------------------------------- */

/* Options of a listener; zeroed fields mean the defaults. */
typedef struct eddy_tcp_listen_opts {
	int backlog;   /* 0: SOMAXCONN */
	int reuseport; /* SO_REUSEPORT: several listeners share the port */
	int v6only;    /* IPV6_V6ONLY on an IPv6 address (default: dual-stack) */
} eddy_tcp_listen_opts;

/*
 * A listening socket bound to host:port (SO_REUSEADDR always), or -errno.
 * host NULL or "" means every address: "::" dual-stack, or 0.0.0.0 where
 * the kernel has no IPv6.  host must be a numeric address or a name the
 * resolver answers at once ("localhost"): this call does not suspend.
 * port "0" picks a free port (eddy_tcp_local_port tells which).  opts may
 * be NULL.  The caller owns the descriptor.  -EINVAL for a missing or
 * unknown port or a negative backlog, -ENOENT for a host that does not
 * resolve, else the socket calls' errors (-EADDRINUSE, ...).
 */
int eddy_tcp_listen(const char *host, const char *port,
		    const eddy_tcp_listen_opts *opts);

/*
 * Accept a connection on lfd: its descriptor (close-on-exec, blocking
 * mode as the loop wants it), the peer's address in *peer and its length
 * in *peerlen when they are not NULL.  When the process or the system is out of
 * descriptors (EMFILE, ENFILE) or buffers (ENOBUFS, ENOMEM) it does not
 * return nor spin: it sleeps, 1 ms first and doubling up to 1 s, and
 * tries again, suspending only this task, so the loop keeps serving the
 * connections it has.  lfd may be blocking or non-blocking: it waits for
 * a connection either way.  -ECANCELED when the task is cancelled (while
 * waiting or backing off); other errors as accept(2).
 */
int eddy_tcp_accept(int lfd, struct sockaddr_storage *peer,
		    socklen_t *peerlen);

/*
 * A socket connected to host:port within timeout_ns (0: none), or -errno.
 * The name is resolved by getaddrinfo on a worker thread
 * (eddy_to_thread), then each address is tried in order until one
 * connects; the timeout covers the lookup and every attempt.  -ETIMEDOUT, -ECONNREFUSED
 * (the last address's error), -EHOSTUNREACH ..., -ENOENT for a name that
 * does not resolve, -EINVAL for a bad port.  The caller owns the
 * descriptor.
 */
int eddy_tcp_connect(const char *host, const char *port, uint64_t timeout_ns);

/* TCP_NODELAY on (on != 0) or off.  0 or -errno.  Never suspends. */
int eddy_tcp_nodelay(int fd, int on);

/* shutdown(2): SHUT_RD, SHUT_WR or SHUT_RDWR.  0 or -errno. */
int eddy_tcp_shutdown(int fd, int how);

/*
 * A graceful close: shut the sending side (the peer reads EOF after
 * everything sent), read and drop what the peer still sends until its EOF
 * or linger_ns (0: do not wait), then close.  Waiting for the peer's EOF
 * keeps the kernel from answering unread data with a reset that could
 * destroy the response the peer has not read yet.  fd is closed in every
 * case.  0, or the first error met (-ETIMEDOUT when the linger ran out).
 */
int eddy_tcp_close(int fd, uint64_t linger_ns);

/* The local port fd is bound to, or -errno. */
int eddy_tcp_local_port(int fd);

/* ---- Writing everything ------------------------------------------------ */

/*
 * Write all len bytes, looping over short writes, within timeout_ns for
 * the whole call (0: none).  len, or -errno (-ETIMEDOUT, -EPIPE,
 * -ECONNRESET, -ECANCELED): after an error an unknown prefix was sent.
 * Sockets are written with MSG_NOSIGNAL: a closed peer is -EPIPE, never
 * SIGPIPE.
 */
ssize_t eddy_write_all(int fd, const void *buf, size_t len,
		       uint64_t timeout_ns);

/*
 * As eddy_write_all for iovcnt buffers (up to IOV_MAX).  The iov array is
 * advanced in place past what was written, so the caller's copy is
 * garbage afterwards.  The total, or -errno; -EINVAL when the lengths
 * overflow ssize_t.
 */
ssize_t eddy_writev_all(int fd, struct iovec *iov, int iovcnt,
			uint64_t timeout_ns);

/* ---- Buffered reading --------------------------------------------------
 *
 * A reader owns no memory: it reads from fd into the caller's buffer,
 * whose bytes [start, end) are read but not consumed yet.  The struct is
 * public so that it lives on a task's stack or inside a connection
 * object; its fields are read-only to the user.  A line or record is
 * never longer than the buffer.
 */
typedef struct eddy_reader {
	int fd;
	char *buf;
	size_t cap, start, end;
} eddy_reader;

/* Read from fd into buf (cap bytes), which the caller keeps alive. */
void eddy_reader_init(eddy_reader *r, int fd, void *buf, size_t cap);

/*
 * Read more from fd after the buffered bytes, moving them to the front
 * first if the tail is full.  The count added, 0 at EOF, -ENOBUFS when
 * the buffer is full of unconsumed bytes, -ETIMEDOUT, or the read's error.
 */
ssize_t eddy_reader_fill(eddy_reader *r, uint64_t timeout_ns);

/* The buffered, unconsumed bytes (*len of them); valid until the next
 * reader call that reads. */
const char *eddy_reader_data(const eddy_reader *r, size_t *len);

/* Mark n buffered bytes consumed (at most what is buffered). */
void eddy_reader_consume(eddy_reader *r, size_t n);

/*
 * Copy exactly n bytes to dst, reading as needed (dst may be larger than
 * the buffer: the bytes go straight there).  n, or -EPIPE when the peer
 * closed before n bytes (what arrived is consumed and lost), -ETIMEDOUT
 * (timeout_ns for the whole call), or the read's error.
 */
ssize_t eddy_reader_read_exact(eddy_reader *r, void *dst, size_t n,
			       uint64_t timeout_ns);

/*
 * Find the delimiter delim (dlen bytes, dlen > 0), reading as needed;
 * *line points at the record's start in the buffer, valid until the next
 * reader call, and the record is consumed.  Its length including the
 * delimiter, or: -EMSGSIZE when no delimiter ends within the first limit
 * bytes (limit 0 or above the buffer's size: the buffer's size), with
 * nothing consumed (no read is started once limit bytes are buffered,
 * though one read may bring up to the buffer's free space); -EPIPE at EOF
 * before a delimiter; -ETIMEDOUT (for the whole call); the read's error.
 */
ssize_t eddy_reader_read_until(eddy_reader *r, const char *delim, size_t dlen,
			       size_t limit, const char **line,
			       uint64_t timeout_ns);

/* ---- A server on every core -------------------------------------------
 *
 * threads OS threads, each with its own loop and its own SO_REUSEPORT
 * listener on the same port (the kernel spreads connections among them),
 * each connection a task of the loop that accepted it.  With one thread
 * the caller's thread runs the loop; with more, the caller's thread is
 * one of them.
 */

/* Called in a new task for each connection, with the loop's default
 * policy; the server closes fd (eddy_tcp_close, a 1 s linger) after it
 * returns.  The result is the callback's own (0 or a negative errno, for
 * wrappers that call it themselves); the server does not use it. */
typedef int (*eddy_conn_fn)(int fd, const struct sockaddr *peer, void *arg);

typedef struct eddy_server eddy_server;

/* Options of a server; zeroed fields mean the defaults. */
typedef struct eddy_server_opts {
	const char *host, *port; /* as eddy_tcp_listen */
	unsigned threads;        /* loops on their own threads; 0: 1 */
	int backlog;             /* 0: SOMAXCONN */
	uint64_t grace_ns;       /* after a stop, how long connections may
				  * finish before they are cancelled; 0: cancel
				  * at once */
	int handle_signals;      /* SIGINT and SIGTERM stop the server; a
				  * second one cancels the connections at
				  * once (docs/net.md) */
	const eddy_loop_config *loop; /* for each thread's loop; NULL: defaults */
	eddy_conn_fn on_conn;
	void *arg;               /* on_conn's and on_loop's */
	/* NULL, or called on each loop's thread, in a task, before that loop
	 * accepts (index 0 is the thread of eddy_server_run): to set up what
	 * is per loop, e.g. eddy_loop_stats_on_signal.  A negative errno
	 * stops the server, and eddy_server_run returns it. */
	int (*on_loop)(eddy_loop *loop, unsigned index, void *arg);
} eddy_server_opts;

/*
 * A server bound now, so eddy_server_port knows the port; it accepts once
 * eddy_server_run runs.  With handle_signals, SIGINT and SIGTERM are
 * blocked in the calling thread (and the threads it starts after) until
 * eddy_server_free, in the thread that calls eddy_server_run and the
 * threads it starts while it runs, and read through a signalfd on the
 * loop, never in a handler: block them in the process's other threads
 * too.  The caller frees it
 * (eddy_server_free).  NULL with errno: EINVAL (no on_conn, bad address),
 * ENOMEM, or the listen's error.
 */
eddy_server *eddy_server_new(const eddy_server_opts *opts);

/* The port the server listens on. */
int eddy_server_port(const eddy_server *srv);

/*
 * Serve until stopped and every connection task has ended, on this thread
 * and threads - 1 new ones; not from inside a task.  0 after a stop;
 * -EALREADY when run before; -ENOMEM, or eventfd's -EMFILE or -ENFILE
 * (one per loop, for eddy_server_stop), with nothing started (run may be
 * called again); -EAGAIN when a thread cannot start; a loop's error.
 */
int eddy_server_run(eddy_server *srv);

/*
 * From any thread or task, even before run or a signal handler's thread
 * (not async-signal-safe): stop accepting, let connections finish within
 * grace_ns, then cancel them.  0 (-EINVAL for NULL); harmless when
 * stopping already.  It allocates nothing and cannot fail: every running
 * loop is woken through an eventfd of its own, and a loop that starts
 * later sees the stop as it starts.
 */
int eddy_server_stop(eddy_server *srv);

/*
 * Inside a connection task of a server: whether the connection is idle,
 * waiting for its peer to begin something new (a kept-alive HTTP
 * connection between requests).  A stop ends idle connections at once,
 * instead of after the grace period: it cancels their tasks, so the wait
 * returns -ECANCELED.  fd is the descriptor on_conn got.
 *   idle 1: 0; -ECANCELED when the server is stopping already: close
 *           rather than wait.
 *   idle 0: 0; -ECANCELED when a stop cancelled the task while it was
 *           idle: what arrived meanwhile cannot be served, close.
 * -EPERM outside a connection task of a running server (a connection
 * function run by a task of one's own): nothing to mark, go on.
 */
int eddy_server_idle(int fd, int idle);

/* Inside a connection task: 1 once its server is stopping (a keep-alive
 * connection closes after its current request), else 0. */
int eddy_server_stopping(void);

/* Frees a server that is not running.  NULL is ignored. */
void eddy_server_free(eddy_server *srv);

#pragma GCC visibility pop

#endif
