/*
 * The stack pool: the hot path of acquiring and releasing a stack.
 *
 * Why.  A new stack costs system calls (a guard page, and now and then a
 * mapping) and page faults as its frames first touch memory, microseconds
 * in all; a task spawn should cost tens of nanoseconds.  Finished tasks
 * therefore leave their stacks, still mapped, guarded and with their top
 * pages committed, for the next spawn.
 *
 * What.  Each thread keeps its own pool, in thread-local storage, so the
 * hot path takes no lock and no atomic read-modify-write:
 *
 *   pool   bin[0] 256 KiB: st -> st -> st      bytes = sum of the sizes
 *          bin[1]  64 KiB: st                  count (for statistics)
 *          bin[2], bin[3]: empty
 *
 * A bin is a LIFO list of stacks of one size, linked through the stacks'
 * own descriptors, so the most recently used stack, whose pages are most
 * likely still committed and cached, goes out first.  POOL_BINS sizes fit
 * at once; an empty bin takes whatever size comes next.
 *
 * The bound.  A pooled stack keeps the memory its last task touched, up to
 * its whole size, so a pool holds at most EDDY_STACK_POOL_BYTES of stacks
 * (16 MiB, 64 default stacks) per thread.  A stack that does not fit, or
 * finds no bin, goes to the depot (stack_depot.c), shared by all threads,
 * which gives its memory back to the kernel with MADV_DONTNEED, in
 * batches of adjacent stacks, and keeps the address range and its guard
 * for reuse.  A pool that has no stack of the size asked takes one from
 * the depot, under the depot's lock.
 *
 * Threads.  A stack may be released on another thread than the one that
 * acquired it: it simply joins the releasing thread's pool.  When a thread
 * exits, a thread-specific-data destructor moves its pool into the depot,
 * where any thread can reuse it.  The pools are listed, under pools_lock,
 * only so that statistics can sum their counts.
 */
#include "stack.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "stack_depot.h"
#include "task.h"

#define POOL_BINS 4

struct pool_bin {
	size_t size;
	struct eddy_stack *head;
};

struct pool {
	struct pool_bin bin[POOL_BINS];
	size_t bytes;               /* sizes of the stacks held */
	atomic_size_t count;        /* stacks held; read by other threads */
	bool ready;                 /* listed, with its exit destructor set */
	struct pool *next, **pprev; /* the list of pools */
};

static _Thread_local struct pool pool
	__attribute__((tls_model("initial-exec")));

static pthread_mutex_t pools_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pool *pools;
static pthread_key_t exit_key;
static bool exit_key_made;

/* The owning thread is the only writer: no read-modify-write needed. */
static void count_add(struct pool *p, size_t n)
{
	atomic_store_explicit(
		&p->count,
		atomic_load_explicit(&p->count, memory_order_relaxed) + n,
		memory_order_relaxed);
}

static struct eddy_stack *pool_take(struct pool *p, size_t size)
{
	for (int i = 0; i < POOL_BINS; i++) {
		struct pool_bin *b = &p->bin[i];
		if (b->size == size && b->head) {
			struct eddy_stack *st = b->head;
			b->head = st->next;
			p->bytes -= size;
			count_add(p, (size_t)-1);
			return st;
		}
	}
	return NULL;
}

/* The bin for stacks of this size: the one holding them, or an empty one. */
static struct pool_bin *pool_bin_for(struct pool *p, size_t size)
{
	struct pool_bin *empty = NULL;
	for (int i = 0; i < POOL_BINS; i++) {
		struct pool_bin *b = &p->bin[i];
		if (b->size == size)
			return b;
		if (!b->head && !empty)
			empty = b;
	}
	return empty;
}

static void pool_flush(struct pool *p)
{
	for (int i = 0; i < POOL_BINS; i++) {
		struct pool_bin *b = &p->bin[i];
		while (b->head) {
			struct eddy_stack *st = b->head;
			b->head = st->next;
			p->bytes -= st->size;
			count_add(p, (size_t)-1);
			eddy_stack_depot_put(st);
		}
	}
}

static void pool_exit(void *arg)
{
	struct pool *p = arg;
	pool_flush(p);
	pthread_mutex_lock(&pools_lock);
	*p->pprev = p->next;
	if (p->next)
		p->next->pprev = p->pprev;
	pthread_mutex_unlock(&pools_lock);
	p->ready = false;
	eddy_stack_guard_thread_fini();
}

static void lock_pools(void)
{
	pthread_mutex_lock(&pools_lock);
}

static void unlock_pools(void)
{
	pthread_mutex_unlock(&pools_lock);
}

/* At load, not on a thread's first stack: a fork while another thread is
 * inside pthread_once, or just registering the fork handlers, leaves the
 * child a lock held by a thread it lacks (the depot's handler hung a child
 * that way).  A child of fork must not inherit pools_lock held either. */
__attribute__((constructor)) static void make_exit_key(void)
{
	exit_key_made = pthread_key_create(&exit_key, pool_exit) == 0;
	pthread_atfork(lock_pools, unlock_pools, unlock_pools);
}

/* Readies this thread's pool; false when the thread cannot have one (its
 * exit would not be noticed), and then it works from the depot alone. */
static bool pool_init(struct pool *p)
{
	eddy_stack_guard_thread_init();
	if (!exit_key_made || pthread_setspecific(exit_key, p))
		return false;
	pthread_mutex_lock(&pools_lock);
	p->next = pools;
	p->pprev = &pools;
	if (pools)
		pools->pprev = &p->next;
	pools = p;
	pthread_mutex_unlock(&pools_lock);
	p->ready = true;
	return true;
}

static bool pool_put(struct pool *p, struct eddy_stack *st)
{
	if (p->bytes + st->size > EDDY_STACK_POOL_BYTES)
		return false;
	if (!p->ready && !pool_init(p))
		return false;
	struct pool_bin *b = pool_bin_for(p, st->size);
	if (!b)
		return false;
	b->size = st->size;
	st->next = b->head;
	b->head = st;
	p->bytes += st->size;
	count_add(p, 1);
	return true;
}

/* The thread's signal stack is made before the thread runs on a stack of
 * ours, and goes with its pool's exit destructor: so the pool is readied
 * here, even if no stack ever enters it (all too large for it, or all
 * released by other threads), or the signal stack would outlive the
 * thread. */
static int acquire_from_depot(size_t size, struct eddy_stack **out)
{
	if (!pool.ready)
		pool_init(&pool); /* false: guard readied, exit unnoticed */
	return eddy_stack_depot_take(size, out);
}

int eddy_stack_acquire(size_t size, struct eddy_stack **out)
{
	if (!out || size > EDDY_STACK_SIZE_MAX)
		return -EINVAL;
	size_t page = eddy_stack_page_size();
	size = ((size ? size : EDDY_STACK_DEFAULT) + page - 1) & ~(page - 1);

	struct eddy_stack *st = pool_take(&pool, size);
	if (!st) {
		int err = acquire_from_depot(size, &st);
		if (err)
			return err;
	}
	st->owner = NULL;
	if (st->canary) /* anew: the depot may have zeroed the page */
		memcpy(st->lo, &st->canary, sizeof st->canary);
	*out = st;
	return 0;
}

void eddy_stack_release(struct eddy_stack *st)
{
	if (st && !pool_put(&pool, st))
		eddy_stack_depot_put(st);
}

void eddy_stack_pool_drain(void)
{
	pool_flush(&pool);
	eddy_stack_depot_reclaim();
}

void eddy_stack_stats(struct eddy_stack_stats *out)
{
	memset(out, 0, sizeof *out);
	eddy_stack_depot_stats(out);
	pthread_mutex_lock(&pools_lock);
	for (struct pool *p = pools; p; p = p->next)
		out->pooled += atomic_load_explicit(&p->count,
						    memory_order_relaxed);
	pthread_mutex_unlock(&pools_lock);
}
