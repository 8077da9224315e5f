/*
 * What the stack files share behind stack.h: the depot that stands behind
 * the per-thread pools (stack_depot.c), and the kernel side of a stack's
 * memory (stack_map.c).  Internal to task/.
 */
#ifndef EDDY_TASK_STACK_DEPOT_H
#define EDDY_TASK_STACK_DEPOT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stack.h"

/* ---- The depot (stack_depot.c) --------------------------------------- */

/*
 * A stack of exactly size bytes (a page multiple) that no pool holds: a
 * cold one, or a new one.  0 or -ENOMEM, with nothing changed.  Takes the
 * depot's lock.
 */
int eddy_stack_depot_take(size_t size, struct eddy_stack **out);

/* Keeps st for any thread, and gives its memory back to the kernel with
 * the next batch (at once for a stack with a mapping of its own). */
void eddy_stack_depot_put(struct eddy_stack *st);

/* Gives back what waits for a batch, then unmaps every mapping all of
 * whose stacks are in the depot. */
void eddy_stack_depot_reclaim(void);

/* Fills the depot's share of *out (everything but the pools' counts),
 * after giving back what waits for a batch. */
void eddy_stack_depot_stats(struct eddy_stack_stats *out);

/*
 * Whether addr lies in the guard page of a stack eddy made, and if so that
 * stack's size and owner.  Async-signal-safe: takes no lock, allocates
 * nothing, touches no thread-local storage.
 */
bool eddy_stack_depot_find_guard(uintptr_t addr, size_t *size,
				 const char **owner);

/* ---- The kernel side (stack_map.c) ----------------------------------- */

/* How a new stack is protected, from the best to the last resort. */
enum eddy_stack_guard {
	EDDY_GUARD_MADVISE,  /* MADV_GUARD_INSTALL inside a shared chunk */
	EDDY_GUARD_MPROTECT, /* a mapping of its own, guard page by mprotect */
	EDDY_GUARD_NONE,     /* carved from a chunk, a canary at the bottom */
};

extern atomic_size_t eddy_stack_page_cache;
size_t eddy_stack_page_size_slow(void);

static inline size_t eddy_stack_page_size(void)
{
	size_t page = atomic_load_explicit(&eddy_stack_page_cache,
					   memory_order_relaxed);
	return page ? page : eddy_stack_page_size_slow();
}

/* The guard the next new stack can have, given eddy's map entries now. */
enum eddy_stack_guard eddy_stack_map_guard_for_next(void);

/*
 * A fresh mapping of len bytes for stacks, NULL when the kernel refuses.
 * With *guard EDDY_GUARD_MPROTECT its lowest page becomes the guard, or,
 * when that split costs a map entry too many, *guard becomes
 * EDDY_GUARD_NONE.  Other guards are the caller's to make.
 */
void *eddy_stack_map(size_t len, enum eddy_stack_guard *guard);
void eddy_stack_unmap(void *base, size_t len, enum eddy_stack_guard guard);

/*
 * Readies up to n slots of a MADV_GUARD_INSTALL chunk, stride bytes apart
 * from first: the guard page at the bottom of each, and its stack's top
 * page committed, where a task's control block and first frames go.  In
 * one system call for each when the kernel allows (process_madvise), so a
 * burst of spawns pays neither a system call for each guard nor a page
 * fault for each top page.  The slots readied (at least 1), or a negative
 * errno for the first guard: -EAGAIN when the kernel has no such guards.
 */
#define EDDY_STACK_PREPARE_BATCH 32
int eddy_stack_map_prepare(char *first, size_t stride, unsigned n);

/* Gives the memory of [p, p + len) back; the range stays mapped, zeroed. */
void eddy_stack_map_dontneed(void *p, size_t len);

/* The canary word for a stack whose lowest usable byte is lo; never 0. */
uint64_t eddy_stack_map_canary(const void *lo);

/* The kernel side's counters: map entries held, mappings made ever. */
void eddy_stack_map_stats(struct eddy_stack_stats *out);

/* ---- The overflow reporter (guard.c) --------------------------------- */

/*
 * Called by each thread before it first uses a stack: installs the SIGSEGV
 * handler once per process, and an alternate signal stack for the thread
 * unless it has one.  fini undoes the thread's part at thread exit.
 */
void eddy_stack_guard_thread_init(void);
void eddy_stack_guard_thread_fini(void);

/* Says once on stderr that stacks past the guarded ones go unguarded. */
void eddy_stack_warn_unguarded(size_t guarded);

#endif
