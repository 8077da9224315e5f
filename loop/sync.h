/*
 * eddy sync: what tasks of one loop use to wait for each other: events,
 * bounded channels, mutexes, semaphores, and task groups.
 *
 *   static void *fetch(void *url)
 *   {
 *       if (get(url) < 0)
 *           return EDDY_GROUP_FAILED(-EIO); // the group cancels the others
 *       return NULL;
 *   }
 *   ...
 *   eddy_group *g = eddy_group_new();
 *   for (int i = 0; i < n; i++)
 *       eddy_group_spawn(g, fetch, urls[i], NULL);
 *   void *failed_url;
 *   int err = eddy_group_wait(g, &failed_url); // 0, or the first failure
 *   eddy_group_free(g);
 *
 * Single loop.  An object is used by the tasks of one loop, on that loop's
 * thread; nothing here is thread-safe (a worker thread of eddy_to_thread
 * must not touch them).  The calls that never suspend and need no owning
 * task (set, clear, close, release, try_send, try_recv, try_acquire) may
 * also be made on the loop's thread outside a task; unlock and trylock
 * there are -EPERM.
 *
 * Waiting.  A call that may suspend returns -EPERM outside a task and
 * -ECANCELED in a cancelled task, even when it would not have had to wait
 * (as a Trio checkpoint does).  Waiters are served in the order they
 * arrived, and what is freed is handed to the first waiter directly, so
 * a newcomer never overtakes a waiter.  Each such call has a _timeout form
 * that gives up after timeout_ns with -ETIMEDOUT (0 means no timeout, as
 * for I/O); -ENOMEM when the timeout cannot be armed.  A waiter that times
 * out or is cancelled leaves no trace: it is out of the queue, and it was
 * handed nothing (a permit, a slot, an item, the lock), so what is freed
 * afterwards goes to the next waiter.
 *
 * Freeing.  The _free calls return -EBUSY, and free nothing, while a task
 * waits on the object (and for a mutex, while it is locked); NULL is
 * ignored.  Every call taking a handle returns -EINVAL for NULL.
 */
#ifndef EDDY_SYNC_H
#define EDDY_SYNC_H

#pragma GCC visibility push(default)

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "task/task.h"

typedef struct eddy_event eddy_event;
typedef struct eddy_chan eddy_chan;
typedef struct eddy_mutex eddy_mutex;
typedef struct eddy_sem eddy_sem;
typedef struct eddy_group eddy_group;

/* ---- Events (asyncio.Event, trio.Event) -------------------------------
 *
 * A flag that tasks wait for.  Set wakes every waiter and stays set, so
 * later waits return at once, until clear.  A waiter woken by set returns
 * 0 even if the event is cleared before it runs.
 */

/* A new event, not set.  The caller frees it (eddy_event_free).  NULL
 * with errno ENOMEM. */
eddy_event *eddy_event_new(void);
int eddy_event_free(eddy_event *ev);

int eddy_event_set(eddy_event *ev);
int eddy_event_clear(eddy_event *ev);
bool eddy_event_is_set(const eddy_event *ev); /* false for NULL */

/* 0 once the event is set. */
int eddy_event_wait(eddy_event *ev);
int eddy_event_wait_timeout(eddy_event *ev, uint64_t timeout_ns);

/* ---- Channels (Go's chan, trio.open_memory_channel) -------------------
 *
 * A bounded FIFO of void * items, which eddy passes along and never
 * dereferences or frees.  Send suspends while the channel is full, receive
 * while it is empty.  Capacity 0 makes a rendezvous channel: a send
 * completes only when a receiver takes the item.
 *
 * Close: senders, waiting or later, get -EPIPE (a waiting sender's item
 * was not sent and is still the sender's).  Receivers get the items still
 * buffered, then -EPIPE.  Closing twice is harmless.
 */

/* A new channel holding up to capacity items (0: rendezvous).  The caller
 * frees it (eddy_chan_free), which drops any items still buffered.  NULL
 * with errno ENOMEM, or EINVAL for a capacity too large to allocate. */
eddy_chan *eddy_chan_new(size_t capacity);
int eddy_chan_free(eddy_chan *ch);

/* 0 once item is in the channel (or, at capacity 0, taken by a
 * receiver); -EPIPE when closed. */
int eddy_chan_send(eddy_chan *ch, void *item);
int eddy_chan_send_timeout(eddy_chan *ch, void *item, uint64_t timeout_ns);
/* Never suspends: -EAGAIN when the send would have to wait. */
int eddy_chan_try_send(eddy_chan *ch, void *item);

/* 0 with the oldest item in *item (item may be NULL to drop it); -EPIPE
 * when the channel is closed and empty. */
int eddy_chan_recv(eddy_chan *ch, void **item);
int eddy_chan_recv_timeout(eddy_chan *ch, void **item, uint64_t timeout_ns);
/* Never suspends: -EAGAIN when the receive would have to wait. */
int eddy_chan_try_recv(eddy_chan *ch, void **item);

int eddy_chan_close(eddy_chan *ch);

/* ---- Mutexes (asyncio.Lock, trio.Lock) ---------------------------------
 *
 * Owned by the task that locked it.  Unlock hands the lock to the first
 * waiter, which then owns it.  A task that finishes while holding a lock
 * leaves it locked.
 */

/* A new unlocked mutex.  The caller frees it (eddy_mutex_free).  NULL with
 * errno ENOMEM. */
eddy_mutex *eddy_mutex_new(void);
int eddy_mutex_free(eddy_mutex *m);

/* 0 once the calling task owns m; -EDEADLK when it owns m already. */
int eddy_mutex_lock(eddy_mutex *m);
int eddy_mutex_lock_timeout(eddy_mutex *m, uint64_t timeout_ns);
/* Never suspends: -EBUSY when m is locked (by anyone, the caller too);
 * -EPERM outside a task (a lock needs an owner). */
int eddy_mutex_trylock(eddy_mutex *m);
/* -EPERM when the calling task is not the owner. */
int eddy_mutex_unlock(eddy_mutex *m);

/* ---- Semaphores (asyncio.Semaphore, trio.Semaphore) -------------------
 *
 * A count of permits.  Acquire takes one, suspending while there are
 * none; release gives one back, straight to the first waiter if there is
 * one.  Permits are not owned: any task may release.
 */

/* A new semaphore with count permits.  The caller frees it
 * (eddy_sem_free).  NULL with errno ENOMEM. */
eddy_sem *eddy_sem_new(unsigned count);
int eddy_sem_free(eddy_sem *s);

int eddy_sem_acquire(eddy_sem *s);
int eddy_sem_acquire_timeout(eddy_sem *s, uint64_t timeout_ns);
/* Never suspends: -EAGAIN when no permit is free. */
int eddy_sem_try_acquire(eddy_sem *s);
/* -EOVERFLOW when the count is at UINT_MAX. */
int eddy_sem_release(eddy_sem *s);
/* The permits free now (0 while tasks wait); 0 for NULL. */
unsigned eddy_sem_value(const eddy_sem *s);

/* ---- Task groups (Trio's nursery, asyncio.TaskGroup) ------------------
 *
 * Children spawned into a group are waited for together.  A child fails
 * when it returns EDDY_GROUP_FAILED(err), err a negative errno; any other
 * result is a success, and is dropped (children hand results back through
 * their arg).  The first failure cancels every other child (eddy_cancel:
 * their suspending calls return -ECANCELED); the group never cancels the
 * task that waits on it, which learns of the failure from eddy_group_wait.
 */

/* A result that marks a child as failed with err, in [-4095, -1]: the
 * Linux kernel's ERR_PTR, an address no object can have. */
#define EDDY_GROUP_FAILED(err) ((void *)(intptr_t)(err))

/* A new empty group.  The caller frees it (eddy_group_free) after
 * eddy_group_wait.  NULL with errno ENOMEM. */
eddy_group *eddy_group_new(void);

/*
 * Free an empty group: -EBUSY while it has children that eddy_group_wait
 * has not collected (the group owns them until then).
 */
int eddy_group_free(eddy_group *g);

/*
 * Spawn fn(arg) as a child of g, as eddy_spawn_with would (opts may be
 * NULL).  The group owns the task: there is no handle to join or detach.
 * Any task may spawn into the group, a child too, even while another task
 * waits on it.  0; -ECANCELED when the group is cancelling its children
 * (a child failed, or the waiting task was cancelled); -EPERM outside a
 * task; -ENOMEM; -EINVAL.
 */
int eddy_group_spawn(eddy_group *g, eddy_fn fn, void *arg,
		     const eddy_spawn_opts *opts);

/*
 * Wait until every child has returned, then join each one in spawn order
 * (so MERGE children's changes apply in that order: where two changed the
 * same variable, the later-spawned child's value wins), and leave the
 * group empty for reuse.  Returns 0 when every child succeeded, else the
 * first failure's err.  *first_failed_arg (if non-NULL) gets the arg of
 * the child that failed first, NULL when none failed.  A child whose merge
 * fails by a variable's rule (-EDDY_ECONFLICT, a reducer's error) merges
 * nothing; the children after it are still joined and merged, and that
 * error is returned in place of a child's failure.
 *
 * A cancelled caller (before or during the wait) cancels every child,
 * still waits for all of them and joins them, and returns -ECANCELED
 * (*first_failed_arg is set as above).
 * -EPERM outside a task; -EBUSY while another task waits on g; -EDEADLK
 * for a child of g; -ENOMEM when a merge could not be made (the children
 * not yet joined stay in the group: call again; a merge rule's failure
 * met before it is returned by the call that completes the wait).
 */
int eddy_group_wait(eddy_group *g, void **first_failed_arg);

#pragma GCC visibility pop

#endif
