/*
 * Coroutine stacks, internal to task/: mapped lazily, guarded, pooled.
 *
 * A stack is address space from mmap with a guard page below it, so that
 * memory is committed only as frames touch it, and an overflow faults
 * instead of writing over whatever lies below:
 *
 *   guard page | lo ........................................ lo + size
 *   (faults)     lowest usable byte         frames grow down <- top
 *
 * Stacks are acquired and released through a per-thread pool, so a spawn
 * with a pooled stack costs neither a lock nor a system call.  stack.c
 * explains the pool, stack_depot.c where stacks come from and go back to,
 * stack_map.c how they are guarded (and what happens where they cannot
 * be), guard.c how an overflow is reported.
 *
 * Build code that runs on these stacks with -fstack-clash-protection:
 * without it a frame larger than the guard page can step over the guard
 * into the stack below and corrupt it silently.
 */
#ifndef EDDY_TASK_STACK_H
#define EDDY_TASK_STACK_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct eddy_stack_region;

struct eddy_stack {
	void *lo;          /* lowest usable byte, just above the guard page */
	size_t size;       /* usable bytes, a multiple of the page size */
	const char *owner; /* the task's name for the overflow report, or NULL:
	                      set by the task layer after acquire, which
	                      clears it; the string must outlive the task */

	/* Private to the stack files. */
	uint64_t canary;   /* the word kept at lo when unguarded; 0 if guarded */
	struct eddy_stack *next;          /* link in a pool while idle */
	struct eddy_stack_region *region; /* the mapping it was carved from */
};

/* The most stack bytes one thread keeps pooled before giving memory back. */
#define EDDY_STACK_POOL_BYTES ((size_t)16 << 20)

/* Past the pools, memory goes back to the kernel in batches: when this
 * many stacks, or stack bytes, wait in the depot (see stack_depot.c). */
#define EDDY_STACK_BATCH_STACKS 1024
#define EDDY_STACK_BATCH_BYTES ((size_t)32 << 20)

/* The largest stack eddy hands out, as Go caps a goroutine's stack. */
#define EDDY_STACK_SIZE_MAX ((size_t)1 << 30)

/*
 * A stack of at least size usable bytes (0: EDDY_STACK_DEFAULT), rounded
 * up to whole pages.  The caller owns it until eddy_stack_release, and may
 * release it on any thread.  0; -EINVAL for a NULL out or a size above
 * EDDY_STACK_SIZE_MAX; -ENOMEM when no stack can be had, with nothing
 * changed.  Costs no lock and no system call when this thread's pool holds
 * a stack of that size.
 */
int eddy_stack_acquire(size_t size, struct eddy_stack **out);

/*
 * Gives a stack back: to this thread's pool, or past EDDY_STACK_POOL_BYTES
 * to the depot, which gives its memory to the kernel with the next batch.
 * Nothing may run on it any more.  NULL is ignored.
 */
void eddy_stack_release(struct eddy_stack *st);

/*
 * Whether nothing wrote over the bottom of the stack: a stack without a
 * guard page (see stack_map.c) keeps a canary word at lo, and a frame that
 * ran past the bottom changed it.  Always 1 for a guarded stack.  Cheap
 * enough for every switch.
 */
static inline int eddy_stack_canary_ok(const struct eddy_stack *st)
{
	uint64_t word;
	if (!st->canary)
		return 1;
	memcpy(&word, st->lo, sizeof word);
	return word == st->canary;
}

/*
 * The deepest st has been used, in bytes from its top: from the lowest
 * page of it the kernel holds in memory (mincore(2)), since its memory
 * was last given back, by its task or by earlier tasks on the same pooled
 * stack.  Takes no lock.
 */
size_t eddy_stack_touched(const struct eddy_stack *st);

/*
 * Reports that the task on st overflowed its stack (one line on stderr
 * naming st->owner and the size) and aborts.  For the task layer when
 * eddy_stack_canary_ok says 0; a guard page hit is reported the same way
 * by a SIGSEGV handler.
 */
_Noreturn void eddy_stack_overflowed(const struct eddy_stack *st);

/*
 * Empties this thread's pool and unmaps every mapping none of whose stacks
 * is in use or pooled by another thread.  For tests and a clean exit; a
 * thread's pool is emptied by itself when the thread exits.
 */
void eddy_stack_pool_drain(void);

/*
 * What the stacks cost now, for tests and statistics.  Gives back the
 * memory of the stacks waiting for a batch first, so that cold counts all
 * the depot holds but a batch another thread is giving back right then.
 */
struct eddy_stack_stats {
	size_t mapped;      /* stacks eddy holds: in use, or idle in a pool */
	size_t pooled;      /* of those, idle: in a thread's pool or the depot */
	size_t cold;        /* of the idle, those whose memory went back */
	size_t guarded;     /* of mapped: guard made by MADV_GUARD_INSTALL */
	size_t mprotected;  /* of mapped: a mapping each, guard by mprotect */
	size_t unguarded;   /* of mapped: no guard page, a canary instead */
	size_t regions;     /* mappings held for stacks */
	size_t map_entries; /* kernel map entries they cost (at most) */
	uint64_t mmaps;     /* mappings made for stacks, ever */
	uint64_t dontneeds; /* stacks given back with MADV_DONTNEED, ever */
	uint64_t madvises;  /* MADV_DONTNEED calls made for them, ever */
};
void eddy_stack_stats(struct eddy_stack_stats *out);

#ifdef EDDY_TEST_HOOKS
/* Behave as on a kernel without MADV_GUARD_INSTALL (before Linux 6.13). */
void eddy_stack_test_no_guard_madvise(void);
/* Let stacks cost at most this many map entries before going unguarded. */
void eddy_stack_test_map_budget(long entries);
#endif

#endif
