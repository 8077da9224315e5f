/*
 * I/O operations and the backend interface, internal to loop/.
 *
 * Every I/O call of loop.h describes its operation in a struct io_op on
 * the calling task's stack and hands it to the loop's backend, which
 * performs it however its kernel interface does (io_uring submits it;
 * epoll waits for readiness, then makes the system call, or has a worker
 * thread make a call that may sleep on a disk) and calls io_complete with
 * the result.  The op stays valid until then because its task is
 * suspended on it.
 */
#ifndef EDDY_LOOP_IO_H
#define EDDY_LOOP_IO_H

#include <linux/time_types.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "sched.h"

enum io_kind {
	IO_READ, IO_WRITE, IO_PREAD, IO_PWRITE, IO_READV, IO_WRITEV,
	IO_RECV, IO_SEND, IO_ACCEPT, IO_CONNECT, IO_CLOSE, IO_POLL,
	IO_FSYNC, IO_OPENAT,
};

struct io_op {
	struct eddy_wait wait; /* first: the backend's completion finds it */
	enum io_kind kind;
	int fd;                /* dirfd for IO_OPENAT */
	union {
		void *buf;
		const void *cbuf;
		const struct iovec *iov;
		struct sockaddr *addr;
		const struct sockaddr *caddr;
		const char *path;
	};
	size_t len;            /* bytes, iovcnt, or addrlen for connect */
	off_t off;
	int flags;             /* recv/send/accept/openat flags, poll events */
	socklen_t *addrlen;    /* accept */
	mode_t mode;           /* openat */
	uint64_t timeout_ns;   /* 0: none; a loop timer enforces it */
	/* epoll: room for the worker-pool job that makes a call which may
	 * sleep on a disk (backend_epoll.c), so that start() needs no
	 * allocation */
	void *job[10];
	struct io_op *next;    /* a backend's list (epoll: an fd's waiters) */
	bool cancelling;       /* the wait was ended early, for end_reason */
	long end_reason;       /* -ECANCELED, or -ETIMEDOUT from a loop timer */
	/* Set for the loop's own operations (no task waits on them): called
	 * with the result instead of waking a task; not counted as pending. */
	void (*done)(eddy_loop *loop, struct io_op *op, long res);
};

/* A kernel interface: one file each, backend_uring.c and backend_epoll.c. */
struct backend {
	enum eddy_backend kind;
	/* 0, or a negative errno saying why this kernel interface is unusable. */
	int (*init)(eddy_loop *loop);
	void (*fini)(eddy_loop *loop);
	/* Queue op; it completes through io_complete.  Never fails. */
	void (*start)(eddy_loop *loop, struct io_op *op);
	/* Ask for op to end early; it still completes through io_complete. */
	void (*cancel)(eddy_loop *loop, struct io_op *op);
	/*
	 * Hand queued work to the kernel and deliver completions: without
	 * blocking when block is false, else waiting for at least one
	 * completion or until deadline (monotonic ns; 0: no deadline).
	 */
	void (*poll)(eddy_loop *loop, bool block, uint64_t deadline);
	/*
	 * Whether poll without blocking would do nothing: no work queued for
	 * the kernel, no completion in or held back.  NULL when the backend
	 * cannot tell without a system call.  Lets a task start the next
	 * round itself (loop.c's switch_away).
	 */
	bool (*quiet)(eddy_loop *loop);
};

extern const struct backend eddy_backend_uring;
extern const struct backend eddy_backend_epoll;

/* A backend's report of op's result (a count, or -errno). */
void io_complete(eddy_loop *loop, struct io_op *op, long res);

#endif
