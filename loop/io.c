/*
 * The I/O calls: each describes its operation, hands it to the backend,
 * and suspends the calling task until the completion.
 */
#include "io.h"

#include <errno.h>

#include "trace.h"

/* The wait was ended early (eddy_cancel, or a loop timer): ask the kernel
 * to stop.  The task wakes on the operation's own completion. */
static void io_end(eddy_loop *loop, struct eddy_wait *w, long why)
{
	struct io_op *op = (struct io_op *)w;
	op->cancelling = true;
	op->end_reason = why;
	loop->be->cancel(loop, op);
}

void io_complete(eddy_loop *loop, struct io_op *op, long res)
{
	loop->counters.io_completed++;
	if (op->done) {
		op->done(loop, op, res);
		return;
	}
	loop->io_pending--;
	/* A close is never cancelled (io_run): its result is the kernel's
	 * close's as it is, after which the fd is released, -EINTR too. */
	if (op->kind == IO_CLOSE) {
		loop_wake(loop, &op->wait, res);
		return;
	}
	/* the kernel cancelled it: for eddy_cancel or its timeout, whose
	 * reason was kept, or else because eddy_close closed its fd (the
	 * io_uring backend cancels the requests on a closing fd; epoll never
	 * says -ECANCELED unasked).  -EINTR says the same: a call blocked on
	 * one of io_uring's workers (a Unix connect to a full backlog) is
	 * interrupted by the cancel, as those workers take no other signal,
	 * and epoll's calls retry their own -EINTR.  It is never made again:
	 * after a close, its fd number may name another file already. */
	if (res == -ECANCELED || res == -EINTR)
		res = op->cancelling ? op->end_reason : -EBADF;
	loop_wake(loop, &op->wait, res);
}

static long io_run(struct io_op *op)
{
	eddy_loop *loop;
	int err = op->kind == IO_CLOSE ? loop_enter_uncancellable_wait(&loop)
				       : loop_enter_wait(&loop);
	if (err)
		return err;
	/*
	 * A close cannot be cut short: not by a timeout, not by eddy_cancel,
	 * and a cancelled task still closes: cleanup code runs precisely
	 * after a cancel, and a close refused there would leak the fd.
	 * io_uring hands the close of a file with a flush method (overlayfs,
	 * NFS, FUSE) to a worker, and the fd stays in the table until that
	 * worker takes it; a cancel that reaches it still queued ends it
	 * with -ECANCELED, unrun, the fd still open, and one that reaches it
	 * running only interrupts the flush, the fd released.  The caller
	 * could not tell which; close(2)'s rule is that the fd is released
	 * whatever the result.  So the wait has no end hook: the task
	 * resumes when the kernel released the fd (epoll's worker cannot be
	 * stopped either).
	 */
	op->wait.end = op->kind == IO_CLOSE ? NULL : io_end;
	op->wait.kind = WAIT_IO;
	/* The timeout's timer is armed before the operation starts: a
	 * started operation cannot be taken back, and -ENOMEM after it would
	 * leave the backend holding op. */
	struct eddy_timer timer;
	if (loop_timer_arm(&timer, &op->wait, op->timeout_ns))
		return -ENOMEM;
	loop->io_pending++;
	loop->be->start(loop, op);
	long r = loop_suspend(&op->wait);
	loop_timer_disarm(&timer);
	TRACE(io, op, r);
	return r;
}

ssize_t eddy_read_timeout(int fd, void *buf, size_t len, uint64_t timeout_ns)
{
	struct io_op op = { .kind = IO_READ, .fd = fd, .buf = buf,
			    .len = len, .timeout_ns = timeout_ns };
	return io_run(&op);
}

ssize_t eddy_write_timeout(int fd, const void *buf, size_t len,
			   uint64_t timeout_ns)
{
	struct io_op op = { .kind = IO_WRITE, .fd = fd, .cbuf = buf,
			    .len = len, .timeout_ns = timeout_ns };
	return io_run(&op);
}

ssize_t eddy_pread_timeout(int fd, void *buf, size_t len, off_t off,
			   uint64_t timeout_ns)
{
	struct io_op op = { .kind = IO_PREAD, .fd = fd, .buf = buf, .len = len,
			    .off = off, .timeout_ns = timeout_ns };
	return io_run(&op);
}

ssize_t eddy_pwrite_timeout(int fd, const void *buf, size_t len, off_t off,
			    uint64_t timeout_ns)
{
	struct io_op op = { .kind = IO_PWRITE, .fd = fd, .cbuf = buf,
			    .len = len, .off = off, .timeout_ns = timeout_ns };
	return io_run(&op);
}

ssize_t eddy_readv_timeout(int fd, const struct iovec *iov, int iovcnt,
			   uint64_t timeout_ns)
{
	if (iovcnt < 0)
		return -EINVAL;
	struct io_op op = { .kind = IO_READV, .fd = fd, .iov = iov,
			    .len = (size_t)iovcnt, .timeout_ns = timeout_ns };
	return io_run(&op);
}

ssize_t eddy_writev_timeout(int fd, const struct iovec *iov, int iovcnt,
			    uint64_t timeout_ns)
{
	if (iovcnt < 0)
		return -EINVAL;
	struct io_op op = { .kind = IO_WRITEV, .fd = fd, .iov = iov,
			    .len = (size_t)iovcnt, .timeout_ns = timeout_ns };
	return io_run(&op);
}

ssize_t eddy_recv_timeout(int fd, void *buf, size_t len, int flags,
			  uint64_t timeout_ns)
{
	struct io_op op = { .kind = IO_RECV, .fd = fd, .buf = buf, .len = len,
			    .flags = flags, .timeout_ns = timeout_ns };
	return io_run(&op);
}

ssize_t eddy_send_timeout(int fd, const void *buf, size_t len, int flags,
			  uint64_t timeout_ns)
{
	struct io_op op = { .kind = IO_SEND, .fd = fd, .cbuf = buf, .len = len,
			    .flags = flags, .timeout_ns = timeout_ns };
	return io_run(&op);
}

int eddy_accept_timeout(int fd, struct sockaddr *addr, socklen_t *addrlen,
			int flags, uint64_t timeout_ns)
{
	struct io_op op = { .kind = IO_ACCEPT, .fd = fd, .addr = addr,
			    .addrlen = addrlen, .flags = flags,
			    .timeout_ns = timeout_ns };
	return (int)io_run(&op);
}

int eddy_connect_timeout(int fd, const struct sockaddr *addr,
			 socklen_t addrlen, uint64_t timeout_ns)
{
	struct io_op op = { .kind = IO_CONNECT, .fd = fd, .caddr = addr,
			    .len = addrlen, .timeout_ns = timeout_ns };
	return (int)io_run(&op);
}

int eddy_poll_timeout(int fd, short events, uint64_t timeout_ns)
{
	struct io_op op = { .kind = IO_POLL, .fd = fd, .flags = events,
			    .timeout_ns = timeout_ns };
	return (int)io_run(&op);
}

int eddy_fsync_timeout(int fd, uint64_t timeout_ns)
{
	struct io_op op = { .kind = IO_FSYNC, .fd = fd,
			    .timeout_ns = timeout_ns };
	return (int)io_run(&op);
}

int eddy_openat_timeout(int dirfd, const char *path, int flags, mode_t mode,
			uint64_t timeout_ns)
{
	struct io_op op = { .kind = IO_OPENAT, .fd = dirfd, .path = path,
			    .flags = flags, .mode = mode,
			    .timeout_ns = timeout_ns };
	return (int)io_run(&op);
}

ssize_t eddy_read(int fd, void *buf, size_t len)
{
	return eddy_read_timeout(fd, buf, len, 0);
}

ssize_t eddy_write(int fd, const void *buf, size_t len)
{
	return eddy_write_timeout(fd, buf, len, 0);
}

ssize_t eddy_pread(int fd, void *buf, size_t len, off_t off)
{
	return eddy_pread_timeout(fd, buf, len, off, 0);
}

ssize_t eddy_pwrite(int fd, const void *buf, size_t len, off_t off)
{
	return eddy_pwrite_timeout(fd, buf, len, off, 0);
}

ssize_t eddy_readv(int fd, const struct iovec *iov, int iovcnt)
{
	return eddy_readv_timeout(fd, iov, iovcnt, 0);
}

ssize_t eddy_writev(int fd, const struct iovec *iov, int iovcnt)
{
	return eddy_writev_timeout(fd, iov, iovcnt, 0);
}

ssize_t eddy_recv(int fd, void *buf, size_t len, int flags)
{
	return eddy_recv_timeout(fd, buf, len, flags, 0);
}

ssize_t eddy_send(int fd, const void *buf, size_t len, int flags)
{
	return eddy_send_timeout(fd, buf, len, flags, 0);
}

int eddy_accept(int fd, struct sockaddr *addr, socklen_t *addrlen, int flags)
{
	return eddy_accept_timeout(fd, addr, addrlen, flags, 0);
}

int eddy_connect(int fd, const struct sockaddr *addr, socklen_t addrlen)
{
	return eddy_connect_timeout(fd, addr, addrlen, 0);
}

/* No _timeout twin: nothing cuts a close short (io_run). */
int eddy_close(int fd)
{
	struct io_op op = { .kind = IO_CLOSE, .fd = fd };
	return (int)io_run(&op);
}

int eddy_poll(int fd, short events)
{
	return eddy_poll_timeout(fd, events, 0);
}

int eddy_fsync(int fd)
{
	return eddy_fsync_timeout(fd, 0);
}

int eddy_openat(int dirfd, const char *path, int flags, mode_t mode)
{
	return eddy_openat_timeout(dirfd, path, flags, mode, 0);
}
