/*
 * The io_uring backend: every operation is one SQE (a close two),
 * and the kernel's CQE carries the result back.
 *
 * Submission.  start() only fills SQEs; poll() hands every SQE queued in
 * the round to the kernel with one io_uring_enter, which also reaps or
 * waits for completions.  When the SQ fills up mid-round, start() submits
 * what is queued and takes the slot it needed (a full SQ never fails a
 * caller).
 *
 * user_data is the struct io_op of the waiting task, or a tag for the
 * SQEs whose completion nobody waits for: the cancel requests of
 * eddy_cancel, of an operation's timeout and of a close.  A cancelled operation still
 * ends with its own CQE (-ECANCELED, or its result if it completed first),
 * and only that CQE wakes the task: until then the kernel may write into
 * the task's buffer and stack.
 *
 * Closing.  eddy_close ends the other operations waiting on its fd with
 * -EBADF, as under epoll: each pending request holds its own reference to
 * the file, so the close alone would end none of them.  The close's SQE
 * follows a cancel of every request on the fd (IORING_ASYNC_CANCEL_FD |
 * CANCEL_ALL), hard-linked to it: the link makes the kernel run the cancel
 * before the close (after the close, the fd names no file to match), and
 * "hard" keeps the close running when the cancel found nothing (-ENOENT,
 * the usual answer).  IO_DRAIN would order them too, but waits for every
 * request in flight, on any fd.  An operation the cancel ends completes
 * with -ECANCELED though eddy never asked for it (op->cancelling is
 * false): that is how io.c tells it from eddy_cancel and a timeout, and
 * turns it into -EBADF, with no record per fd or per close.  One whose
 * result the kernel posted before the cancel keeps it.  The cancel matches
 * the file, not the number: operations on a dup of the fd end too.
 * The close itself is never cancelled (io.c gives its wait no end hook):
 * the close of a file with a flush method goes to a worker, and the fd
 * leaves the table only when the worker runs it, so a cancel could end it
 * unrun, the fd still open, and the task could not tell.  (Nor does the
 * cancel by fd match it: a close's request holds no file.)
 * Before Linux 5.19 the kernel knows no cancel by fd; init asks it once
 * (a cancel on the ring's own fd is -EINVAL there), and such a loop closes
 * as before, leaving the waiters to their timeouts.  It is asked at setup,
 * not learnt from a first close's cancel: the kernel fails a link whose
 * head it refuses to prepare, hard or not, and the close would not run.  The price is one SQE
 * and one CQE more per close, none per other operation.
 *
 * Timeouts are the loop's timers, as under epoll, not linked timeouts: a
 * linked timeout is one more SQE and one more CQE for every operation,
 * and a kernel timer armed and cancelled, though almost every operation
 * completes first.  The loop's timer costs a heap insert and removal, and
 * only a timeout that fires costs a cancel request.  (Measured on an HTTP
 * server whose every receive and send carries a timeout: 0.3 to 1.1 us
 * less CPU per request; docs/loop.md.)
 *
 * Setup flags, tried in order until the kernel accepts one set: 
 * SINGLE_ISSUER|DEFER_TASKRUN (completion work runs only when the loop
 * asks for events, on its own thread: no interrupting task work),
 * COOP_TASKRUN, then none; the first two with TASKRUN_FLAG, so that a
 * round with nothing to submit reads the ring's flags and skips the system
 * call when the kernel holds no completion back.  The CQ is four times the
 * SQ (at most the kernel's limit, 65536), and with IORING_FEAT_NODROP (every kernel since 5.5) an overflowing
 * CQ is kept by the kernel rather than dropped; submit's -EBUSY then means
 * "reap first".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <liburing.h>
#include <string.h>

#include "ctx/alloc.h"
#include "io.h"

#define TAG_CANCEL 1u

/*
 * The backend's state: liburing's ring, and what the kernel can do beyond
 * what every kernel with io_uring can.
 */
struct uring {
	struct io_uring ring;
	bool cancel_by_fd; /* IORING_ASYNC_CANCEL_FD (Linux 5.19) */
};

/* The kernel's IORING_MAX_CQ_ENTRIES: a larger CQ is -EINVAL. */
#define CQ_ENTRIES_MAX 65536u

#if defined(__SANITIZE_THREAD__)
#define EDDY_URING_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define EDDY_URING_TSAN 1
#endif
#endif

/*
 * liburing maps and unmaps the rings with raw system calls, which
 * ThreadSanitizer does not see: when a new loop's rings land where a loop
 * freed on another thread had its own, it takes the new loop's first SQE
 * writes for a race with the old loop's last.  The kernel orders them
 * (munmap, then mmap); a release before the unmap and an acquire after
 * the map tell ThreadSanitizer so.  (AnnotateNewMemory would say it more
 * directly, but is a no-op in the runtimes of GCC 12 and Clang 14.)
 */
#ifdef EDDY_URING_TSAN
#include <sanitizer/tsan_interface.h>
static char rings_reused;
static void rings_unmapping(void)
{
	__tsan_release(&rings_reused);
}
static void rings_mapped(void)
{
	__tsan_acquire(&rings_reused);
}
#else
static void rings_unmapping(void)
{
}
static void rings_mapped(void)
{
}
#endif

static struct uring *uring_of(eddy_loop *loop)
{
	return loop->be_state;
}

static struct io_uring *ring_of(eddy_loop *loop)
{
	return &uring_of(loop)->ring;
}

/* Whether the kernel cancels by fd: a cancel of every request on the
 * ring's own fd finds none (-ENOENT) where it does, and is -EINVAL where
 * the flag is unknown.  Runs before the ring holds any other request. */
static bool kernel_cancels_by_fd(struct io_uring *ring)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
	io_uring_prep_cancel_fd(sqe, ring->ring_fd, IORING_ASYNC_CANCEL_ALL);
	struct io_uring_cqe *cqe;
	if (io_uring_submit_and_wait(ring, 1) < 0 ||
	    io_uring_peek_cqe(ring, &cqe))
		return false;
	int res = cqe->res;
	io_uring_cqe_seen(ring, cqe);
	return res != -EINVAL;
}

static int uring_init(eddy_loop *loop)
{
	static const unsigned flag_sets[] = {
		IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
			IORING_SETUP_TASKRUN_FLAG,
		IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
		0,
	};
	struct uring *u = eddy_alloc(sizeof *u);
	if (!u)
		return -ENOMEM;
	struct io_uring *ring = &u->ring;
	int err = -ENOSYS;
	for (size_t i = 0; i < sizeof flag_sets / sizeof *flag_sets; i++) {
		struct io_uring_params p;
		memset(&p, 0, sizeof p);
		p.flags = flag_sets[i] | IORING_SETUP_CQSIZE;
		p.cq_entries = loop->cfg.ring_entries * 4;
		if (p.cq_entries > CQ_ENTRIES_MAX)
			p.cq_entries = CQ_ENTRIES_MAX;
		err = io_uring_queue_init_params(loop->cfg.ring_entries, ring,
						 &p);
		if (err != -EINVAL)
			break;
	}
	if (err) {
		eddy_free(u);
		return err;
	}
	rings_mapped();
	u->cancel_by_fd = kernel_cancels_by_fd(ring);
	loop->be_state = u;
	return 0;
}

static void uring_fini(eddy_loop *loop)
{
	rings_unmapping();
	io_uring_queue_exit(ring_of(loop));
	eddy_free(loop->be_state);
	loop->be_state = NULL;
}

/*
 * The kernel's own codes for "interrupted, restart the call", which
 * programs never see from a system call (ERESTARTSYS 512, ERESTARTNOINTR
 * 513, ERESTARTNOHAND 514, ERESTART_RESTARTBLOCK 516), but which a CQE can
 * carry: an open waiting on one of the ring's workers (a FIFO's, with
 * O_CREAT) and interrupted by a cancel ends with -512.  They mean -EINTR,
 * which io_complete reads as a cancel.
 */
static int interrupted_is_eintr(int res)
{
	return res <= -512 && res >= -516 && res != -515 ? -EINTR : res;
}

/*
 * Each CQE is consumed before it is handled: handling it may start an
 * operation, and a full SQ then submits and reaps again, which must not
 * see this CQE a second time.
 */
static void reap(eddy_loop *loop)
{
	struct io_uring *ring = ring_of(loop);
	struct io_uring_cqe *cqe;
	while (io_uring_peek_cqe(ring, &cqe) == 0) {
		uintptr_t tag = (uintptr_t)io_uring_cqe_get_data(cqe);
		int res = interrupted_is_eintr(cqe->res);
		io_uring_cqe_seen(ring, cqe);
		if (tag != TAG_CANCEL)
			io_complete(loop, (struct io_op *)tag, res);
		else /* io_complete counts the others */
			loop->counters.io_completed++;
	}
}

/* Hand queued SQEs to the kernel, reaping first when it pushes back. */
static void submit(eddy_loop *loop)
{
	struct io_uring *ring = ring_of(loop);
	int r;
	while ((r = io_uring_submit(ring)) == -EBUSY || r == -EINTR ||
	       r == -EAGAIN)
		reap(loop);
	loop->counters.io_submit_calls++;
}

/* A free SQE, submitting what is queued when there is none. */
static struct io_uring_sqe *free_sqe(eddy_loop *loop)
{
	struct io_uring *ring = ring_of(loop);
	while (!io_uring_sq_space_left(ring))
		submit(loop);
	return io_uring_get_sqe(ring);
}

static void prep(struct io_uring_sqe *sqe, struct io_op *op)
{
	switch (op->kind) {
	case IO_READ:
		io_uring_prep_read(sqe, op->fd, op->buf, op->len, -1);
		break;
	case IO_WRITE:
		io_uring_prep_write(sqe, op->fd, op->cbuf, op->len, -1);
		break;
	case IO_PREAD:
		io_uring_prep_read(sqe, op->fd, op->buf, op->len, op->off);
		break;
	case IO_PWRITE:
		io_uring_prep_write(sqe, op->fd, op->cbuf, op->len, op->off);
		break;
	case IO_READV:
		io_uring_prep_readv(sqe, op->fd, op->iov, op->len, -1);
		break;
	case IO_WRITEV:
		io_uring_prep_writev(sqe, op->fd, op->iov, op->len, -1);
		break;
	case IO_RECV:
		io_uring_prep_recv(sqe, op->fd, op->buf, op->len, op->flags);
		break;
	case IO_SEND:
		io_uring_prep_send(sqe, op->fd, op->cbuf, op->len, op->flags);
		break;
	case IO_ACCEPT:
		io_uring_prep_accept(sqe, op->fd, op->addr, op->addrlen,
				     op->flags);
		break;
	case IO_CONNECT:
		io_uring_prep_connect(sqe, op->fd, op->caddr,
				      (socklen_t)op->len);
		break;
	case IO_CLOSE:
		io_uring_prep_close(sqe, op->fd);
		break;
	case IO_POLL:
		io_uring_prep_poll_add(sqe, op->fd, (unsigned)op->flags);
		break;
	case IO_FSYNC:
		io_uring_prep_fsync(sqe, op->fd, 0);
		break;
	case IO_OPENAT:
		io_uring_prep_openat(sqe, op->fd, op->path, op->flags,
				     op->mode);
		break;
	}
	io_uring_sqe_set_data(sqe, op);
}

/*
 * Queue a cancel of every request on fd, to run before the SQE queued next
 * (the close).  The two go to the kernel in one submission, so the link
 * holds; a ring of one entry cannot hold both, and submits the cancel at
 * once instead: the kernel runs it before it sees the close.
 */
static void cancel_requests_on(eddy_loop *loop, int fd)
{
	struct io_uring *ring = ring_of(loop);
	bool link = ring->sq.ring_entries > 1;
	while (link && io_uring_sq_space_left(ring) < 2)
		submit(loop);
	struct io_uring_sqe *sqe = free_sqe(loop);
	io_uring_prep_cancel_fd(sqe, fd, IORING_ASYNC_CANCEL_ALL);
	io_uring_sqe_set_data(sqe, (void *)(uintptr_t)TAG_CANCEL);
	loop->counters.io_submitted++;
	if (link)
		sqe->flags |= IOSQE_IO_HARDLINK;
	else
		submit(loop);
}

static void uring_start(eddy_loop *loop, struct io_op *op)
{
	if (op->kind == IO_CLOSE && uring_of(loop)->cancel_by_fd)
		cancel_requests_on(loop, op->fd);
	prep(free_sqe(loop), op);
	loop->counters.io_submitted++;
}

static void uring_cancel(eddy_loop *loop, struct io_op *op)
{
	struct io_uring_sqe *sqe = free_sqe(loop);
	io_uring_prep_cancel(sqe, op, 0);
	loop->counters.io_submitted++;
	io_uring_sqe_set_data(sqe, (void *)(uintptr_t)TAG_CANCEL);
}

/*
 * Completions the kernel posts only when the loop enters it: task work it
 * flagged (IORING_SQ_TASKRUN, which TASKRUN_FLAG asks for; without
 * COOP_TASKRUN the kernel interrupts the thread to run it instead), or
 * CQEs held back from a full CQ.
 */
static bool kernel_holds_completions(const struct io_uring *ring)
{
	return IO_URING_READ_ONCE(*ring->sq.kflags) &
	       (IORING_SQ_TASKRUN | IORING_SQ_CQ_OVERFLOW);
}

static void uring_poll(eddy_loop *loop, bool block, uint64_t deadline)
{
	struct io_uring *ring = ring_of(loop);
	if (!block) {
		/* Nothing to submit and nothing held in the kernel: what
		 * completed is in the CQ already, no system call needed. */
		if (io_uring_sq_ready(ring) || kernel_holds_completions(ring)) {
			int r = io_uring_submit_and_get_events(ring);
			loop->counters.io_submit_calls++;
			if (r == -EBUSY)
				reap(loop);
		}
		reap(loop);
		return;
	}
	struct __kernel_timespec ts, *tsp = NULL;
	if (deadline) {
		uint64_t now = loop_now_ns();
		uint64_t left = deadline > now ? deadline - now : 0;
		ts.tv_sec = (long long)(left / 1000000000u);
		ts.tv_nsec = (long long)(left % 1000000000u);
		tsp = &ts;
	}
	struct io_uring_cqe *cqe;
	int r = io_uring_submit_and_wait_timeout(ring, &cqe, 1, tsp, NULL);
	loop->counters.io_submit_calls++;
	(void)r; /* -ETIME, -EINTR: nothing to do but reap what came */
	reap(loop);
}

static bool uring_quiet(eddy_loop *loop)
{
	struct io_uring *ring = ring_of(loop);
	return !io_uring_sq_ready(ring) && !io_uring_cq_ready(ring) &&
	       !kernel_holds_completions(ring);
}

const struct backend eddy_backend_uring = {
	.kind = EDDY_BACKEND_URING,
	.init = uring_init,
	.fini = uring_fini,
	.start = uring_start,
	.cancel = uring_cancel,
	.poll = uring_poll,
	.quiet = uring_quiet,
};
