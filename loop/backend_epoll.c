/*
 * The epoll backend, for machines where io_uring is missing or forbidden
 * (old kernels, kernel.io_uring_disabled, container seccomp profiles).
 *
 * Readiness, not completion.  io_uring performs an operation and reports
 * its result; epoll only says that an fd has become readable or writable.
 * So this backend makes each system call itself, in a form that cannot
 * block the loop, and reports the result through io_complete from poll()
 * (never from start(): the task is not suspended yet when start runs).
 *
 * Not blocking without touching the user's fd.  The fd's O_NONBLOCK flag
 * belongs to the user and is left as it is.  Instead:
 *   read, write, readv, writev  preadv2/pwritev2 at offset -1 with
 *                               RWF_NOWAIT: pipes, sockets, eventfds;
 *   recv, send                  MSG_DONTWAIT added to the user's flags.
 * Each is tried at once, and waits for readiness only on -EAGAIN.  A
 * file that refuses RWF_NOWAIT (a tty; a pipe on an older kernel) is
 * remembered in its fd's record; its reads and writes wait for readiness
 * first and then make the plain call, which does not block once epoll
 * said the fd is ready, as long as nothing else drained it meanwhile:
 * so only one such call per direction is made per readiness event, and a
 * write offers PIPE_BUF bytes at most, which a pipe with room takes
 * whole.  (A tty may still hold a write until it has room for all of
 * it: the loop waits with it.)
 * accept waits for readiness first for the same reason (there is no
 * MSG_DONTWAIT for it).  connect sets O_NONBLOCK for the length of the
 * connect(2) call only, so that it returns EINPROGRESS rather than
 * blocking for a handshake, then waits for EPOLLOUT and calls connect(2)
 * again, which says how the handshake ended (0, or its error) and, as
 * io_uring's connect does, leaves the socket connected in the kernel's
 * eyes: a later connect is -EISCONN, as after a blocking connect(2).
 * (SO_ERROR says the same error but leaves the socket "connecting": a
 * later connect(2) then says 0.)
 * poll waits for readiness and reports the events epoll saw.
 *
 * The per-fd record.  epoll holds one registration per fd, so the ops
 * waiting on an fd are kept together in a struct fd_watch (an array
 * indexed by fd, as Redis's ae.c keeps its events): a FIFO list of the
 * waiting ops, whatever their direction, and the events the registration
 * is armed for.  Registrations are level-triggered with EPOLLONESHOT: an
 * event disarms the fd, the backend tries every op the event concerns,
 * and if some still wait, rearms the fd (EPOLL_CTL_MOD) for the union of
 * their interests.  A worked example, one socket fd 7:
 *
 *   task A: eddy_recv(7)   EAGAIN: 7's list [A]; 7 is dirty
 *   task B: eddy_send(7)   buffer full, EAGAIN: list [A, B]
 *   poll():                7 is dirty: arm it for IN|OUT (one epoll_ctl)
 *   epoll_wait -> 7: OUT   disarmed; B's send succeeds, B is woken;
 *                          list [A]: 7 is dirty, rearmed for IN next poll
 *
 * Arming is deferred to poll() (the dirty list) so that every op the
 * tasks of a round start on one fd costs one epoll_ctl.  A new op does not
 * try first when older ops wait on the same fd in its direction: the
 * older ones go first, and two tasks' writes keep the order of the calls.
 * Two kinds always try at once (waits_behind): a connect, whose readiness
 * means something only once connect(2) was made, and a recv or send with
 * MSG_DONTWAIT, which must not wait.
 *
 * Calls that may sleep on a disk go to the worker pool.  Regular files,
 * directories and the other fds epoll refuses (EPERM) are always "ready",
 * and their calls may still sleep on the disk; openat may sleep on a path
 * (a FIFO's open waits for the other end).  So pread, pwrite, fsync,
 * openat and close, and any op on an fd that arming finds unpollable (a
 * read of a file not in the page cache: RWF_NOWAIT said EAGAIN), are made
 * by a worker thread of the loop's pool (pool.c) as plain blocking calls,
 * and the loop goes on with its other tasks:
 *
 *   start() or arm() ─▶ pool_submit(job in the op) ─▶ worker: the call
 *                                                           │
 *   task resumes ◀─ io_complete ◀─ loop: worker_call_done ◀─ wake_post
 *
 * The job lives in the op itself (io_op's job room), so start() neither
 * allocates nor fails, and the result comes back through the loop's
 * wake-up (wake.c), delivered on the loop's thread.  The op's ctx is NULL:
 * the worker makes the call in no context.  A close of an fd that epoll
 * held (a socket, a pipe) is made at once instead: no disk is behind it.
 * Where the pool cannot be had (no memory for it, no thread can be
 * started), the call is made synchronously, as before the pool existed:
 * the loop waits with it, but the result is the same.  Ops on one file go
 * to the workers side by side, in no order, as io_uring's may.
 *
 * Cancellation.  An op waiting for readiness has no system call in
 * flight, so eddy_cancel or a loop timer ends it at once: cancel() takes
 * it off its fd's list and completes it with -ECANCELED (io.c turns that
 * into -ETIMEDOUT for a timeout).  An op on a worker cannot be stopped (a
 * thread's blocking call cannot be interrupted safely) and its buffer or
 * path is in use until the call returns: cancel() leaves it, the task
 * resumes only when the job is back, and it gets the call's result, as
 * from an io_uring op that finished before its cancel (an fd openat made
 * is the task's to close, not leaked).  (A close is never cancelled at
 * all: io.c.)  The same goes for a timeout: the
 * op ends late, with its result.  An op whose synchronous call is already
 * made completes with that call's result too.
 *
 * Closing.  eddy_close takes the fd out of epoll and fails the ops still
 * waiting on it with -EBADF (the fd they wait on is gone; backend_uring.c
 * does the same with a cancel by fd).  An fd closed
 * with close(2) behind the backend's back is noticed when it is next
 * armed (EPOLL_CTL_MOD says ENOENT, and it is added again).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "ctx/alloc.h"
#include "io.h"
#include "pool.h"

struct fd_watch {
	struct io_op *head, *tail; /* ops waiting for readiness, oldest first */
	uint32_t armed;  /* the registration's events while armed, else 0 */
	bool added;      /* epoll holds a registration for this fd */
	bool no_nowait;  /* RWF_NOWAIT refused: read/write after readiness */
	bool dirty;      /* on the list of fds to arm at the next poll */
	int next_dirty;
};

struct epoll_state {
	int epfd;
	struct fd_watch *fds;          /* indexed by fd */
	size_t nfds;
	int dirty;                     /* first fd to arm, or -1 */
	struct io_op *done, *done_tail; /* results made, to deliver */
	struct epoll_event *events;
	int max_events;
	bool no_pwait2;                /* epoll_pwait2 missing or forbidden */
};

/* The events a poll op may ask for; ERR and HUP are always reported. */
#define POLL_EVENTS                                                       \
	(EPOLLIN | EPOLLPRI | EPOLLOUT | EPOLLRDNORM | EPOLLRDBAND |      \
	 EPOLLWRNORM | EPOLLWRBAND | EPOLLRDHUP)

static struct epoll_state *state_of(eddy_loop *loop)
{
	return loop->be_state;
}

static long result_of(long r)
{
	return r < 0 ? -errno : r;
}

/* ---- the system calls ---------------------------------------------------- */

/* The readiness an op waits for. */
static uint32_t interest(const struct io_op *op)
{
	switch (op->kind) {
	case IO_READ:
	case IO_READV:
	case IO_RECV:
	case IO_ACCEPT:
		return EPOLLIN;
	case IO_POLL:
		return (uint32_t)(unsigned short)op->flags & POLL_EVENTS;
	default:
		return EPOLLOUT;
	}
}

/* Ops that take data (or a connection) that another op might want. */
static bool consumes(enum io_kind kind)
{
	return kind != IO_POLL && kind != IO_CONNECT;
}

/* Ops whose call after readiness is the plain, blocking one. */
static bool blocks_after_ready(const struct fd_watch *w,
			       const struct io_op *op)
{
	switch (op->kind) {
	case IO_ACCEPT:
		return true;
	case IO_READ:
	case IO_READV:
	case IO_WRITE:
	case IO_WRITEV:
		return w->no_nowait;
	default:
		return false;
	}
}

/* The op's plain system call, once. */
static long call_once(const struct io_op *op)
{
	int fd = op->fd;
	switch (op->kind) {
	case IO_READ:
		return read(fd, op->buf, op->len);
	case IO_WRITE:
		return write(fd, op->cbuf, op->len);
	case IO_PREAD:
		return pread(fd, op->buf, op->len, op->off);
	case IO_PWRITE:
		return pwrite(fd, op->cbuf, op->len, op->off);
	case IO_READV:
		return readv(fd, op->iov, (int)op->len);
	case IO_WRITEV:
		return writev(fd, op->iov, (int)op->len);
	case IO_RECV:
		return recv(fd, op->buf, op->len, op->flags);
	case IO_SEND:
		return send(fd, op->cbuf, op->len, op->flags);
	case IO_ACCEPT:
		return accept4(fd, op->addr, op->addrlen, op->flags);
	case IO_CONNECT:
		return connect(fd, op->caddr, (socklen_t)op->len);
	case IO_CLOSE:
		return close(fd);
	case IO_POLL: {
		struct pollfd p = { .fd = fd, .events = (short)op->flags };
		int n = poll(&p, 1, 0);
		return n < 0 ? n : p.revents;
	}
	case IO_FSYNC:
		return fsync(fd);
	case IO_OPENAT:
		return openat(fd, op->path, op->flags, op->mode);
	}
	errno = EINVAL;
	return -1;
}

/* The op's plain system call, which may block; -errno on failure. */
static long call_blocking(const struct io_op *op)
{
	long r;
	while ((r = result_of(call_once(op))) == -EINTR) {
		/* Linux frees the fd even when close says EINTR: calling it
		 * again could close an fd another thread just opened. */
		if (op->kind == IO_CLOSE)
			return 0;
	}
	return r;
}

/* The call in a form that cannot block: -EAGAIN when it would, -EOPNOTSUPP
 * when the file refuses RWF_NOWAIT (and -ENOSYS before Linux 4.6). */
static long call_nowait(const struct io_op *op)
{
	struct iovec one = { .iov_base = op->buf, .iov_len = op->len };
	long r;
	do {
		switch (op->kind) {
		case IO_READ:
			r = preadv2(op->fd, &one, 1, -1, RWF_NOWAIT);
			break;
		case IO_WRITE:
			r = pwritev2(op->fd, &one, 1, -1, RWF_NOWAIT);
			break;
		case IO_READV:
			r = preadv2(op->fd, op->iov, (int)op->len, -1,
				    RWF_NOWAIT);
			break;
		case IO_WRITEV:
			r = pwritev2(op->fd, op->iov, (int)op->len, -1,
				     RWF_NOWAIT);
			break;
		case IO_RECV:
			r = recv(op->fd, op->buf, op->len,
				 op->flags | MSG_DONTWAIT);
			break;
		case IO_SEND:
			r = send(op->fd, op->cbuf, op->len,
				 op->flags | MSG_DONTWAIT);
			break;
		default:
			return -EOPNOTSUPP;
		}
		r = result_of(r);
	} while (r == -EINTR);
	return r;
}

/*
 * A write to a file that refuses RWF_NOWAIT, after EPOLLOUT: PIPE_BUF
 * bytes at most, from the first buffer that has any.  A pipe that has
 * room takes that much without blocking, where a larger write would wait
 * for the reader; the short write is the caller's to finish, as always.
 */
static long write_after_ready(const struct io_op *op)
{
	struct io_op w = *op;
	if (op->kind == IO_WRITEV) {
		w.kind = IO_WRITE;
		w.len = 0;
		for (size_t i = 0; i < op->len && !w.len; i++) {
			w.cbuf = op->iov[i].iov_base;
			w.len = op->iov[i].iov_len;
		}
	}
	if (w.len > PIPE_BUF)
		w.len = PIPE_BUF;
	return call_blocking(&w);
}

/*
 * connect(2) with O_NONBLOCK set for the call only, when the user's fd is
 * blocking: the handshake goes on in the kernel whatever the flag is
 * afterwards.  -EINPROGRESS: wait for EPOLLOUT, then call it again.
 */
static long connect_start(const struct io_op *op)
{
	int fl = fcntl(op->fd, F_GETFL);
	if (fl < 0)
		return -errno;
	bool blocking = !(fl & O_NONBLOCK);
	if (blocking && fcntl(op->fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	long r = result_of(connect(op->fd, op->caddr, (socklen_t)op->len));
	if (blocking)
		fcntl(op->fd, F_SETFL, fl);
	/* A Unix socket whose listener's backlog is full says EAGAIN, and no
	 * readiness event says when to try again: connect as the user's fd
	 * asked, blocking the loop until the listener accepts. */
	if (r == -EAGAIN && blocking)
		r = call_blocking(op);
	return r;
}

/* recv or send with MSG_DONTWAIT from the user: -EAGAIN is its result. */
static bool must_not_wait(const struct io_op *op)
{
	return (op->kind == IO_RECV || op->kind == IO_SEND) &&
	       (op->flags & MSG_DONTWAIT);
}

/*
 * Try op: true with *res when it is done, false when it must wait for
 * readiness.  revents: the events epoll just reported for the fd, or 0
 * when nothing is known yet (the first try, in start).
 */
static bool attempt(struct fd_watch *w, struct io_op *op, uint32_t revents,
		    long *res)
{
	long r;
	switch (op->kind) {
	case IO_READ:
	case IO_READV:
	case IO_WRITE:
	case IO_WRITEV:
		if (!w->no_nowait) {
			r = call_nowait(op);
			if (r != -EOPNOTSUPP && r != -ENOSYS)
				break;
			w->no_nowait = true;
		}
		if (!revents)
			return false;
		if (op->kind == IO_WRITE || op->kind == IO_WRITEV)
			r = write_after_ready(op);
		else
			r = call_blocking(op);
		break;
	case IO_RECV:
	case IO_SEND:
		r = call_nowait(op);
		break;
	case IO_ACCEPT:
		if (!revents)
			return false;
		r = call_blocking(op); /* -EAGAIN: a non-blocking listener,
					  raced by another process */
		break;
	case IO_CONNECT:
		/* First its connect(2) (never queued untried: waits_behind),
		 * and after readiness the same call, whose answer is how the
		 * handshake ended: -EALREADY then is "not yet", and -EISCONN
		 * "through, and another connect(2) said so first" (io_uring
		 * reads both the same way).  -EALREADY on the first call:
		 * another connect is under way, the result, as io_uring's. */
		r = connect_start(op);
		if (r == -EINPROGRESS || (revents && r == -EALREADY))
			return false;
		if (revents && r == -EISCONN)
			r = 0;
		*res = r; /* -EAGAIN too: the user's fd is non-blocking */
		return true;
	case IO_POLL:
		r = revents & (interest(op) | EPOLLERR | EPOLLHUP);
		if (!r)
			return false;
		break;
	default: /* pread, pwrite, fsync, openat, close: never wait */
		r = call_blocking(op);
		break;
	}
	if (r == -EAGAIN && !must_not_wait(op))
		return false;
	*res = r;
	return true;
}

/* ---- the per-fd records -------------------------------------------------- */

/* fd's record, made on first use.  -EBADF for an fd that is not open. */
static int watch_of(struct epoll_state *st, int fd, struct fd_watch **w)
{
	if (fd < 0)
		return -EBADF;
	if ((size_t)fd >= st->nfds) {
		/* Only a valid fd is worth an array that long. */
		if (fcntl(fd, F_GETFD) < 0)
			return -errno;
		size_t n = st->nfds ? st->nfds : 64;
		while (n <= (size_t)fd)
			n *= 2;
		struct fd_watch *fds = eddy_alloc(n * sizeof *fds);
		if (!fds)
			return -ENOMEM;
		if (st->nfds)
			memcpy(fds, st->fds, st->nfds * sizeof *fds);
		memset(fds + st->nfds, 0, (n - st->nfds) * sizeof *fds);
		eddy_free(st->fds);
		st->fds = fds;
		st->nfds = n;
	}
	*w = &st->fds[fd];
	return 0;
}

static uint32_t waiting_for(const struct fd_watch *w)
{
	uint32_t events = 0;
	for (const struct io_op *op = w->head; op; op = op->next)
		events |= interest(op);
	return events;
}

/*
 * Whether a new op waits behind the older ops on its fd without a first
 * try (see the top of this file).  Not a connect: its first call is what
 * starts the handshake, and an op on the list is tried by readiness only,
 * so a connect queued untried behind another op waiting for EPOLLOUT on
 * an unconnected socket (which is writable at once) would be finished by
 * that event as if connect(2) had been made: SO_ERROR is 0, "connected".
 * Not a MSG_DONTWAIT recv or send either: it would wait for the older op's
 * readiness, where its caller asked for -EAGAIN now.  Both are made at
 * once, as io_uring makes them when they are submitted, whatever else
 * waits on the fd.
 */
static bool waits_behind(const struct fd_watch *w, const struct io_op *op)
{
	if (op->kind == IO_CONNECT || must_not_wait(op))
		return false;
	return waiting_for(w) & interest(op);
}

static void mark_dirty(struct epoll_state *st, int fd)
{
	struct fd_watch *w = &st->fds[fd];
	if (w->dirty)
		return;
	w->dirty = true;
	w->next_dirty = st->dirty;
	st->dirty = fd;
}

static void enqueue(struct epoll_state *st, struct fd_watch *w,
		    struct io_op *op)
{
	op->next = NULL;
	if (w->tail)
		w->tail->next = op;
	else
		w->head = op;
	w->tail = op;
	mark_dirty(st, op->fd);
}

/* Take op off w's list; false when it is not there. */
static bool unlink_op(struct fd_watch *w, struct io_op *op)
{
	struct io_op *prev = NULL;
	for (struct io_op **link = &w->head; *link; link = &(*link)->next) {
		if (*link != op) {
			prev = *link;
			continue;
		}
		*link = op->next;
		if (w->tail == op)
			w->tail = prev;
		return true;
	}
	return false;
}

/* Keep op's result for the end of poll(), which delivers it. */
static void finish_later(struct epoll_state *st, struct io_op *op, long res)
{
	op->wait.result = res;
	op->next = NULL;
	if (st->done_tail)
		st->done_tail->next = op;
	else
		st->done = op;
	st->done_tail = op;
}

static void deliver_finished(eddy_loop *loop)
{
	struct epoll_state *st = state_of(loop);
	struct io_op *op = st->done;
	st->done = st->done_tail = NULL;
	while (op) {
		struct io_op *next = op->next;
		io_complete(loop, op, op->wait.result);
		op = next;
	}
}

/* ---- calls on a worker thread -------------------------------------------- */

static struct job *job_of(struct io_op *op)
{
	_Static_assert(sizeof(struct job) <= sizeof op->job,
		       "io_op's job room is too small for a struct job");
	_Static_assert(_Alignof(struct job) <= _Alignof(void *),
		       "io_op's job room is not aligned for a struct job");
	return (struct job *)op->job;
}

/* On a worker thread: the op's call.  Its result waits in the op, which
 * the loop reads once the job is back. */
static void *call_on_worker(void *arg)
{
	struct io_op *op = arg;
	op->wait.result = call_blocking(op);
	return NULL;
}

/* On the loop's thread: the worker is done with the op and its buffer. */
static void worker_call_done(eddy_loop *loop, struct wake_msg *msg)
{
	struct io_op *op = ((struct job *)msg)->arg;
	io_complete(loop, op, op->wait.result);
}

/* Have a worker make op's blocking call; without a worker, make it here. */
static void call_off_loop(eddy_loop *loop, struct io_op *op)
{
	struct job *job = job_of(op);
	*job = (struct job){ .msg.deliver = worker_call_done,
			     .fn = call_on_worker, .arg = op };
	if (loop_pool_start(loop) || pool_submit(loop->pool, job))
		finish_later(state_of(loop), op, call_blocking(op));
}

/* ---- arming -------------------------------------------------------------- */

static int ctl(struct epoll_state *st, int how, int fd, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.fd = fd };
	return epoll_ctl(st->epfd, how, fd, &ev) < 0 ? -errno : 0;
}

/*
 * Arm fd's registration for what its ops wait for.  When epoll refuses the
 * fd (EPERM: a regular file, a directory, /dev/null), it never waits: its
 * ops go to the worker pool.
 */
static void arm(eddy_loop *loop, int fd)
{
	struct epoll_state *st = state_of(loop);
	struct fd_watch *w = &st->fds[fd];
	if (!w->head)
		return;
	uint32_t want = waiting_for(w) | EPOLLONESHOT;
	if (w->armed && !(want & ~w->armed))
		return;
	int err = ctl(st, w->added ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, want);
	if (err == -ENOENT) /* closed and reopened behind our back */
		err = ctl(st, EPOLL_CTL_ADD, fd, want);
	else if (err == -EEXIST)
		err = ctl(st, EPOLL_CTL_MOD, fd, want);
	if (!err) {
		w->added = true;
		w->armed = want;
		return;
	}
	struct io_op *op = w->head;
	w->head = w->tail = NULL;
	while (op) {
		struct io_op *next = op->next;
		if (err == -EPERM)
			call_off_loop(loop, op);
		else
			finish_later(st, op, err);
		op = next;
	}
}

static void arm_dirty(eddy_loop *loop)
{
	struct epoll_state *st = state_of(loop);
	while (st->dirty >= 0) {
		int fd = st->dirty;
		st->dirty = st->fds[fd].next_dirty;
		st->fds[fd].dirty = false;
		arm(loop, fd);
	}
}

/*
 * fd is ready for revents (and disarmed).  Try each op it concerns, oldest
 * first; an op whose call would block after readiness goes only when no
 * op before it took from that direction in this event.  Results wait on
 * the done list: delivering one may start another op, which must not
 * meet this list half walked (or the fd array moved by a new fd).
 */
static void fd_ready(struct epoll_state *st, int fd, uint32_t revents)
{
	struct fd_watch *w = &st->fds[fd];
	uint32_t taken = 0;
	struct io_op *prev = NULL, **link = &w->head;
	w->armed = 0;
	while (*link) {
		struct io_op *op = *link;
		uint32_t want = interest(op);
		bool ready = (want & revents) ||
			     (revents & (EPOLLERR | EPOLLHUP));
		if (ready && blocks_after_ready(w, op) && (taken & want))
			ready = false;
		if (ready && consumes(op->kind))
			taken |= want;
		long res;
		if (ready && attempt(w, op, revents, &res)) {
			*link = op->next;
			if (w->tail == op)
				w->tail = prev;
			finish_later(st, op, res);
			continue;
		}
		prev = op;
		link = &op->next;
	}
	if (w->head)
		mark_dirty(st, fd);
}

/* ---- waiting ------------------------------------------------------------- */

/* epoll_wait until deadline (monotonic ns; 0: none); -errno on failure. */
static int wait_until(struct epoll_state *st, uint64_t deadline)
{
	if (!deadline)
		return epoll_wait(st->epfd, st->events, st->max_events, -1);
	uint64_t now = loop_now_ns();
	uint64_t left = deadline > now ? deadline - now : 0;
#if defined(__GLIBC__) && __GLIBC_PREREQ(2, 35)
	if (!st->no_pwait2) {
		struct timespec ts = { .tv_sec = (time_t)(left / 1000000000u),
				       .tv_nsec = (long)(left % 1000000000u) };
		int n = epoll_pwait2(st->epfd, st->events, st->max_events,
				     &ts, NULL);
		/* ENOSYS before Linux 5.11; EPERM from seccomp profiles
		 * older than the call. */
		if (n >= 0 || (errno != ENOSYS && errno != EPERM))
			return n;
		st->no_pwait2 = true;
	}
#endif
	/* Milliseconds, rounded up: waking early would spin until the
	 * deadline. */
	uint64_t ms = (left + 999999) / 1000000;
	return epoll_wait(st->epfd, st->events, st->max_events,
			  ms > INT_MAX ? INT_MAX : (int)ms);
}

static void epoll_backend_poll(eddy_loop *loop, bool block, uint64_t deadline)
{
	struct epoll_state *st = state_of(loop);
	arm_dirty(loop);
	block = block && !st->done;
	int n;
	do {
		n = block ? wait_until(st, deadline)
			  : epoll_wait(st->epfd, st->events, st->max_events,
				       0);
		loop->counters.io_submit_calls++;
	} while (n < 0 && errno == EINTR);
	for (int i = 0; i < n; i++) {
		int fd = st->events[i].data.fd;
		if ((size_t)fd < st->nfds)
			fd_ready(st, fd, st->events[i].events);
	}
	deliver_finished(loop);
}

/* ---- the backend --------------------------------------------------------- */

/* A close through the loop: forget fd, and fail the ops still waiting.
 * true when epoll held fd (it is pollable). */
static bool forget_fd(struct epoll_state *st, int fd)
{
	if (fd < 0 || (size_t)fd >= st->nfds)
		return false;
	struct fd_watch *w = &st->fds[fd];
	bool held = w->added;
	if (held)
		ctl(st, EPOLL_CTL_DEL, fd, 0);
	for (struct io_op *op = w->head, *next; op; op = next) {
		next = op->next;
		finish_later(st, op, -EBADF);
	}
	w->head = w->tail = NULL;
	w->armed = 0;
	w->added = false;
	w->no_nowait = false;
	return held;
}

static void epoll_backend_start(eddy_loop *loop, struct io_op *op)
{
	struct epoll_state *st = state_of(loop);
	loop->counters.io_submitted++;
	switch (op->kind) {
	case IO_CLOSE:
		/* An fd epoll held is a socket, a pipe or the like: its close
		 * waits for no disk. */
		if (forget_fd(st, op->fd)) {
			finish_later(st, op, call_blocking(op));
			return;
		}
		/* fall through */
	case IO_PREAD:
	case IO_PWRITE:
	case IO_FSYNC:
	case IO_OPENAT:
		call_off_loop(loop, op);
		return;
	default:
		break;
	}
	struct fd_watch *w = NULL;
	long res;
	int err = watch_of(st, op->fd, &w);
	if (err)
		finish_later(st, op, err);
	else if (waits_behind(w, op))
		enqueue(st, w, op);
	else if (attempt(w, op, 0, &res))
		finish_later(st, op, res);
	else
		enqueue(st, w, op);
}

static void epoll_backend_cancel(eddy_loop *loop, struct io_op *op)
{
	struct epoll_state *st = state_of(loop);
	if (op->fd < 0 || (size_t)op->fd >= st->nfds)
		return; /* on a worker, or finished: it completes as it is */
	struct fd_watch *w = &st->fds[op->fd];
	if (!unlink_op(w, op))
		return; /* likewise */
	/* The registration may stay armed in the kernel; forgetting that
	 * makes the next op rearm it, even on an fd reopened meanwhile.  A
	 * stray event finds no op and costs nothing. */
	if (!w->head)
		w->armed = 0;
	io_complete(loop, op, -ECANCELED);
}

static int epoll_backend_init(eddy_loop *loop)
{
	struct epoll_state *st = eddy_alloc(sizeof *st);
	if (!st)
		return -ENOMEM;
	memset(st, 0, sizeof *st);
	st->dirty = -1;
	st->max_events = (int)loop->cfg.ring_entries;
	st->events = eddy_alloc((size_t)st->max_events * sizeof *st->events);
	st->epfd = epoll_create1(EPOLL_CLOEXEC);
	int err = st->epfd < 0 ? -errno : st->events ? 0 : -ENOMEM;
	if (err) {
		if (st->epfd >= 0)
			close(st->epfd);
		eddy_free(st->events);
		eddy_free(st);
		return err;
	}
	loop->be_state = st;
	return 0;
}

static void epoll_backend_fini(eddy_loop *loop)
{
	struct epoll_state *st = state_of(loop);
	close(st->epfd);
	eddy_free(st->fds);
	eddy_free(st->events);
	eddy_free(st);
	loop->be_state = NULL;
}

const struct backend eddy_backend_epoll = {
	.kind = EDDY_BACKEND_EPOLL,
	.init = epoll_backend_init,
	.fini = epoll_backend_fini,
	.start = epoll_backend_start,
	.cancel = epoll_backend_cancel,
	.poll = epoll_backend_poll,
};
