/*
 * eddy loop: the io_uring event loop that schedules tasks.
 *
 *   static void *main_task(void *arg)
 *   {
 *       eddy_task *t = eddy_spawn(worker, arg);
 *       eddy_sleep(1000000);          // 1 ms; other tasks run meanwhile
 *       void *r;
 *       eddy_join(t, &r);             // MERGE applies here
 *       return r;
 *   }
 *   ...
 *   eddy_run(main_task, NULL, &result);
 *
 * Suspending calls (sleep, I/O, join, yield, waits on sync objects) suspend
 * only the calling task and let the loop run others.  Outside a task they
 * return -EPERM.  A cancelled task's current and later suspending calls
 * return -ECANCELED, but for eddy_close, which still closes.  docs/loop.md
 * explains a round of the loop.
 */
#ifndef EDDY_LOOP_H
#define EDDY_LOOP_H

#pragma GCC visibility push(default)

#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "task/task.h"

typedef struct eddy_loop eddy_loop;

/* The loop's interface to the kernel. */
enum eddy_backend {
	EDDY_BACKEND_AUTO = 0, /* io_uring, else epoll; EDDY_BACKEND=uring|epoll overrides */
	EDDY_BACKEND_URING,
	EDDY_BACKEND_EPOLL,
};

/* Zeroed fields mean the defaults. */
typedef struct eddy_loop_config {
	unsigned ring_entries;           /* submission queue size, at
					    most 32768; 256 */
	enum eddy_policy default_policy; /* for eddy_spawn; EDDY_COPY */
	size_t stack_size;               /* for tasks; EDDY_STACK_DEFAULT */
	unsigned workers;                /* worker threads at most; 4 */
	enum eddy_backend backend;       /* EDDY_BACKEND_AUTO */
} eddy_loop_config;

/*
 * A loop for this thread (cfg may be NULL).  The caller owns it
 * (eddy_loop_free).  NULL with errno: ENOMEM; EINVAL for a bad config;
 * or the backend's error (eddy_strerror names the cause and the setting
 * to check) when neither io_uring nor epoll can be set up.
 */
eddy_loop *eddy_loop_new(const eddy_loop_config *cfg);

/*
 * Runs main(arg) as a task, and the loop until that task and every task
 * still running have finished; *result (if non-NULL) gets main's return
 * value.  On the thread that made the loop, not from inside a task.
 * When every remaining task waits for something no task or kernel event
 * can bring, the loop cancels them all so they unwind.  0; -EINVAL for a
 * NULL loop or main; -EPERM on another thread than the loop's; -EBUSY
 * when a loop is running on this thread;
 * -ENOMEM; -EDEADLK when tasks were left suspended outside
 * any loop wait (they are freed unfinished).
 */
int eddy_loop_run(eddy_loop *loop, eddy_fn main, void *arg, void **result);

/* Frees a loop that is not running.  NULL is ignored. */
void eddy_loop_free(eddy_loop *loop);

/* The backend the loop uses: EDDY_BACKEND_URING or EDDY_BACKEND_EPOLL. */
enum eddy_backend eddy_loop_backend(const eddy_loop *loop);

/* The loop running on this thread, or NULL. */
eddy_loop *eddy_loop_current(void);

/* eddy_loop_new(NULL), eddy_loop_run, eddy_loop_free. */
int eddy_run(eddy_fn main, void *arg, void **result);

/* ---- Tasks ----------------------------------------------------------- */

/*
 * Spawn fn(arg) as a task of the current loop, with the loop's default
 * policy or opts.  It runs after the tasks already runnable (FIFO).  The
 * handle is valid until eddy_join returns or, after eddy_detach, until the
 * task finishes.  NULL with errno EPERM outside a task of a loop, ENOMEM.
 */
eddy_task *eddy_spawn(eddy_fn fn, void *arg);
eddy_task *eddy_spawn_with(eddy_fn fn, void *arg, const eddy_spawn_opts *opts);

/*
 * Wait for task to finish, apply its policy (MERGE merges its changes into
 * the caller's context), hand back its result, and free it.  0;
 * -EDEADLK for the caller itself; -EINVAL for a task already being joined
 * or detached; -ECANCELED when the caller is cancelled while waiting (the
 * task stays joinable); -EPERM outside a task; -ENOMEM when the merge
 * could not be made (the task stays joinable).  A merge rule that fails
 * (-EDDY_ECONFLICT, or a reducer's error: ctx.h) merges nothing but joins
 * the task all the same: *result is set and the task freed.
 */
int eddy_join(eddy_task *task, void **result);

/* The task frees itself when it finishes; nobody joins it.  -EINVAL when
 * it is joined or detached already. */
int eddy_detach(eddy_task *task);

/*
 * Ask task to stop: its current suspending call (if any) and every later
 * one return -ECANCELED.  An I/O operation in flight is cancelled in the
 * kernel, and the task resumes only when the kernel's own completion of
 * that operation has arrived.  Harmless on a finished task.  0, or -EINVAL.
 */
int eddy_cancel(eddy_task *task);

/* Let every other runnable task run once.  0, -ECANCELED, -EPERM. */
int eddy_yield(void);

/* Suspend the calling task for ns nanoseconds (monotonic clock). */
int eddy_sleep(uint64_t ns);

/* The calling task, or NULL outside one. */
eddy_task *eddy_self(void);

/* ---- Threads ------------------------------------------------------------
 *
 * docs/threads.md explains the pool, the wake-up path and the policies.
 */

/*
 * Run fn(arg) on one of the loop's worker threads and suspend only the
 * calling task until it returns; *result gets its return value.  policy (0:
 * the loop's default) decides the worker's context: COPY a snapshot of the
 * caller's, SHARE the caller's context object itself (the loop runs no task
 * in it meanwhile), MERGE a snapshot whose changes are merged into the
 * caller's context on return.  0; -ECANCELED when the task is cancelled
 * while it waits (at once, or under SHARE once the worker has left the
 * context; the worker finishes fn regardless and its result is dropped);
 * -EPERM outside a task; -EINVAL; -ENOMEM; -EAGAIN when no
 * worker thread can be started; under MERGE, a merge rule's failure
 * (-EDDY_ECONFLICT, a reducer's error) or -ENOMEM with nothing merged, and
 * *result set all the same: fn ran, and what it returned is the caller's
 * to free.  The worker is
 * across a thread: task-local and loop-only variables never reach it (it
 * sees them unset; under SHARE it cannot set them, -EPERM) and never come
 * back from it.
 */
int eddy_to_thread(eddy_fn fn, void *arg, enum eddy_policy policy,
		   void **result);

/*
 * From a thread that is not loop's (a worker, or any other): run fn(arg)
 * as a new task on loop and wait for it, as asgiref's AsyncToSync does.
 * policy (0: the loop's default) decides the task's context, relative to
 * the calling thread's current one: COPY a snapshot, SHARE the thread's
 * context object itself (the thread waits meanwhile), MERGE a snapshot
 * whose changes are merged back into the thread's context.  The call is
 * served while eddy_loop_run runs.  0; -EDEADLK from the thread that made
 * the loop (it would wait for itself);
 * -EINVAL; -ENOMEM; -ECANCELED when the loop is freed before serving it;
 * under MERGE, a merge rule's failure or -ENOMEM with nothing merged and
 * *result set (fn ran, as for eddy_to_thread).  Task-local and
 * loop-only variables stay on the calling thread's side, as for
 * eddy_to_thread's worker.
 */
int eddy_loop_call(eddy_loop *loop, eddy_fn fn, void *arg,
		   enum eddy_policy policy, void **result);

/*
 * Fire and forget, from any thread (call_soon_threadsafe): run fn(arg) as
 * a new task on loop, in a snapshot of the calling thread's context.
 * 0, -EINVAL, -ENOMEM.  The task is made when the loop takes the call: if
 * that runs out of memory, the call is dropped unrun, as nobody waits
 * (docs/threads.md).
 */
int eddy_loop_call_soon(eddy_loop *loop, eddy_fn fn, void *arg);

/* ---- I/O ---------------------------------------------------------------
 *
 * Each suspends the calling task until the kernel completes the operation
 * and returns its result: a count or 0, or a negative errno.  Short reads
 * and writes are returned as they are.  The _timeout variants give up
 * after timeout_ns with -ETIMEDOUT (0 means no timeout); -ENOMEM, with
 * nothing done, when the loop cannot arm the timeout.  Buffers must
 * stay valid until the call returns, which it does only after the kernel
 * is done with them, even when cancelled.
 *
 * A close is the exception: nothing cuts it short, neither a timeout (it
 * has no _timeout variant) nor eddy_cancel, and a cancelled task still
 * closes, so that when it returns the fd is released, whatever the result
 * (close(2)'s rule).  Only -EPERM (not in a task of a loop) means that
 * nothing was done and the fd is still open.
 */
ssize_t eddy_read(int fd, void *buf, size_t len);
ssize_t eddy_write(int fd, const void *buf, size_t len);
ssize_t eddy_pread(int fd, void *buf, size_t len, off_t off);
ssize_t eddy_pwrite(int fd, const void *buf, size_t len, off_t off);
ssize_t eddy_readv(int fd, const struct iovec *iov, int iovcnt);
ssize_t eddy_writev(int fd, const struct iovec *iov, int iovcnt);
ssize_t eddy_recv(int fd, void *buf, size_t len, int flags);
ssize_t eddy_send(int fd, const void *buf, size_t len, int flags);
int eddy_accept(int fd, struct sockaddr *addr, socklen_t *addrlen, int flags);
int eddy_connect(int fd, const struct sockaddr *addr, socklen_t addrlen);
int eddy_close(int fd);
/* poll(2)-style readiness: the events that are ready (POLLIN, ...). */
int eddy_poll(int fd, short events);
int eddy_fsync(int fd);
int eddy_openat(int dirfd, const char *path, int flags, mode_t mode);

ssize_t eddy_read_timeout(int fd, void *buf, size_t len, uint64_t timeout_ns);
ssize_t eddy_write_timeout(int fd, const void *buf, size_t len,
			   uint64_t timeout_ns);
ssize_t eddy_pread_timeout(int fd, void *buf, size_t len, off_t off,
			   uint64_t timeout_ns);
ssize_t eddy_pwrite_timeout(int fd, const void *buf, size_t len, off_t off,
			    uint64_t timeout_ns);
ssize_t eddy_readv_timeout(int fd, const struct iovec *iov, int iovcnt,
			   uint64_t timeout_ns);
ssize_t eddy_writev_timeout(int fd, const struct iovec *iov, int iovcnt,
			    uint64_t timeout_ns);
ssize_t eddy_recv_timeout(int fd, void *buf, size_t len, int flags,
			  uint64_t timeout_ns);
ssize_t eddy_send_timeout(int fd, const void *buf, size_t len, int flags,
			  uint64_t timeout_ns);
int eddy_accept_timeout(int fd, struct sockaddr *addr, socklen_t *addrlen,
			int flags, uint64_t timeout_ns);
int eddy_connect_timeout(int fd, const struct sockaddr *addr,
			 socklen_t addrlen, uint64_t timeout_ns);
int eddy_poll_timeout(int fd, short events, uint64_t timeout_ns);
int eddy_fsync_timeout(int fd, uint64_t timeout_ns);
int eddy_openat_timeout(int dirfd, const char *path, int flags, mode_t mode,
			uint64_t timeout_ns);

#pragma GCC visibility pop

#endif
