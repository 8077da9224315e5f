/*
 * The stack depot: where a thread's pool gets a stack it does not hold,
 * and where a stack goes when a pool is full.  Shared by every thread,
 * behind one lock that the hot path (stack.c) never takes.
 *
 * Regions.  Each mapping made for stacks is a region, cut into slots of
 * one size, each slot a guard page with its stack above it:
 *
 *   base                                                   base + len
 *   | guard | stack 0 | guard | stack 1 | ...  | guard | stack n-1 |
 *   <----- slot ----->
 *
 * A chunk is a region of many slots (about CHUNK_BYTES of address space),
 * guarded by MADV_GUARD_INSTALL or, as the last resort, not at all (then
 * the guard page is a gap that keeps a small overflow off the stack below,
 * and a canary watches the bottom).  An mprotect-guarded stack is a region
 * of one slot (so is, unguarded, one whose mprotect the kernel refused).
 * stack_map.c decides which guard each new stack gets.  A chunk is carved
 * lazily, slot after slot, and a slot's guard is installed when it is
 * carved (or a batch ahead, below), so a chunk costs one map entry and,
 * until used, only address space; the kernel even merges neighbouring
 * chunks into one entry (here a million guarded stacks showed as a single
 * line of /proc/self/maps).
 * A MADV_GUARD_INSTALL chunk readies its slots a batch ahead of carving
 * (EDDY_STACK_PREPARE_BATCH): the guards in one system call, and each
 * stack's top page committed in another, which a burst of spawns would
 * otherwise pay one system call and one page fault per stack for.
 * The stack descriptors (struct eddy_stack) live in an array at the end of
 * the region's record, one per slot.
 *
 * Size classes.  Stacks of one size form a class, which holds
 *   - warm: stacks given back whose memory is still there, waiting for the
 *     next batch to give it back; reused first, as they cost no fault;
 *   - cold: stacks whose memory went back to the kernel with MADV_DONTNEED
 *     (the address range and the guard stay), reused before anything new
 *     is carved;
 *   - open: per guard kind, the chunk being carved.
 * A class lives while it has regions.
 *
 * Giving back.  A chunk's slot is never unmapped alone: its memory goes
 * back, its address range stays in the class.  It goes back in batches,
 * because each madvise call costs far more than the pages it frees (a TLB
 * shootdown: 66-77 us per call on a VM, where one call over 20,000
 * adjacent stacks cost 1 us a stack).  A stack given back joins its
 * class's warm list; when all warm lists together hold
 * EDDY_STACK_BATCH_STACKS stacks or EDDY_STACK_BATCH_BYTES bytes, the
 * thread that made them full takes them all, sorts them by address
 * outside the lock, and gives each run of adjacent stacks back with one
 * MADV_DONTNEED.  Stacks carved one after another from a chunk are
 * adjacent; the guard page between two is the upper one's own slot, and a
 * guard made by MADV_GUARD_INSTALL survives MADV_DONTNEED (tested), so a
 * run is one range:
 *
 *   | guard | stack 3 | guard | stack 4 | guard | stack 5 |
 *           <------------ one MADV_DONTNEED ------------->
 *
 * While a batch is being given back its stacks are "cooling": on no list,
 * and not idle, so that no reclaim unmaps their chunk under the madvise.
 * Statistics and reclaim give back whatever is warm first, so that cold
 * always means the memory went back.  An mprotect-guarded stack
 * is unmapped whole, which also returns its two map entries.  Chunks are
 * unmapped only by eddy_stack_depot_reclaim, when every stack carved from
 * them is back in the depot: a stack in use or in another thread's pool
 * keeps its chunk.  Which thread carved a stack does not matter: a stack
 * belongs to whoever holds it, and chunks are only changed under the lock.
 *
 * The registry.  The SIGSEGV handler (guard.c) must find out whether a
 * fault address lies in a guard page without taking a lock.  Every region
 * sits on a list whose links are atomic pointers: a region is published at
 * the head with its fields already set, and unlinked by one store, so a
 * walker always sees a well-formed list.  A walker counts itself in
 * `finders`; a region's memory and record are freed only after it was
 * unlinked and no walker is left that could still be looking at it.
 */
#define _GNU_SOURCE
#include "stack_depot.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>

#include "ctx/alloc.h"

/* Address space of one chunk: 252 default stacks.  Only touched pages
 * cost memory; a refused mapping is retried at half the size. */
#define CHUNK_BYTES ((size_t)64 << 20)

struct stack_class;

struct eddy_stack_region {
	_Atomic(struct eddy_stack_region *) next;  /* registry */
	_Atomic(struct eddy_stack_region *) *pprev; /* the link to this one */
	char *base;
	size_t len;
	size_t slot;                  /* guard page + stack */
	enum eddy_stack_guard guard;
	unsigned nslots;
	unsigned carved;              /* slots handed out, from the bottom */
	unsigned ready;               /* slots guarded in advance (MADVISE) */
	unsigned idle;                /* carved stacks now cold in the depot */
	struct stack_class *cls;
	struct eddy_stack_region *dead; /* reclaim's list */
	struct eddy_stack stacks[];
};

struct stack_class {
	size_t size;
	struct eddy_stack *warm;
	struct eddy_stack *cold;
	struct eddy_stack_region *open[EDDY_GUARD_NONE + 1];
	size_t regions;
	struct stack_class *next;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct stack_class *classes;
static _Atomic(struct eddy_stack_region *) registry;
static atomic_int finders;

/* Under the lock. */
static size_t live[EDDY_GUARD_NONE + 1]; /* stacks carved, per guard */
static size_t cold_count, region_count;
static size_t warm_count, warm_bytes, cooling_count;
static uint64_t dontneeds, madvises;

/* A child of fork must not inherit the lock held by a thread it lacks. */
static void lock_for_fork(void)
{
	pthread_mutex_lock(&lock);
}

static void unlock_after_fork(void)
{
	pthread_mutex_unlock(&lock);
}

/* At load, not at the first lock: a fork racing a lazy registration could
 * read the handler list without it, then copy the lock held by the thread
 * that had just registered (seen: a child of the fork test hung here). */
__attribute__((constructor)) static void make_fork_safe(void)
{
	pthread_atfork(lock_for_fork, unlock_after_fork, unlock_after_fork);
}

static void depot_lock(void)
{
	pthread_mutex_lock(&lock);
}

/* ---- Classes --------------------------------------------------------- */

static struct stack_class *class_get(size_t size)
{
	struct stack_class *c;
	for (c = classes; c; c = c->next)
		if (c->size == size)
			return c;
	if (!(c = eddy_alloc(sizeof *c)))
		return NULL;
	*c = (struct stack_class){ .size = size, .next = classes };
	classes = c;
	return c;
}

static void class_free_if_empty(struct stack_class *c)
{
	if (c->regions)
		return;
	struct stack_class **link = &classes;
	while (*link != c)
		link = &(*link)->next;
	*link = c->next;
	eddy_free(c);
}

/* ---- Regions --------------------------------------------------------- */

static void registry_add(struct eddy_stack_region *r)
{
	struct eddy_stack_region *head = atomic_load(&registry);
	atomic_store(&r->next, head);
	r->pprev = &registry;
	if (head)
		head->pprev = &r->next;
	atomic_store(&registry, r); /* publishes r with its fields set */
}

static void registry_remove(struct eddy_stack_region *r)
{
	struct eddy_stack_region *next = atomic_load(&r->next);
	atomic_store(r->pprev, next);
	if (next)
		next->pprev = r->pprev;
}

/* A new region of (up to) nslots slots for cls, published, with the guard
 * asked if the kernel allows it; the mapping is retried at half the slots
 * while the kernel refuses it.  NULL when it cannot be had. */
static struct eddy_stack_region *region_new(struct stack_class *cls,
					    enum eddy_stack_guard guard,
					    size_t nslots)
{
	size_t slot = eddy_stack_page_size() + cls->size;
	struct eddy_stack_region *r =
		eddy_alloc(sizeof *r + nslots * sizeof r->stacks[0]);
	if (!r)
		return NULL;
	void *base;
	while (!(base = eddy_stack_map(nslots * slot, &guard))) {
		if (nslots == 1) {
			eddy_free(r);
			return NULL;
		}
		nslots /= 2;
	}
	*r = (struct eddy_stack_region){
		.base = base, .len = nslots * slot, .slot = slot,
		.guard = guard, .nslots = (unsigned)nslots, .cls = cls,
	};
	registry_add(r);
	cls->regions++;
	region_count++;
	return r;
}

/* Takes r out of every list and count; its slots must not be in the cold
 * list.  The caller frees it with regions_free, and its class when that
 * became empty. */
static void region_unlink(struct eddy_stack_region *r)
{
	struct stack_class *cls = r->cls;
	registry_remove(r);
	if (cls->open[r->guard] == r)
		cls->open[r->guard] = NULL;
	live[r->guard] -= r->carved;
	region_count--;
	cls->regions--;
}

/* Unmaps and frees a list of unlinked regions (linked by `dead`), once no
 * signal handler can be reading them any more.  With or without the lock:
 * the handler never takes it. */
static void regions_free(struct eddy_stack_region *dead)
{
	while (atomic_load(&finders))
		sched_yield();
	while (dead) {
		struct eddy_stack_region *r = dead;
		dead = r->dead;
		eddy_stack_unmap(r->base, r->len, r->guard);
		eddy_free(r);
	}
}

/* ---- Carving new stacks ---------------------------------------------- */

static size_t slots_per_region(const struct stack_class *cls,
			       enum eddy_stack_guard guard)
{
	if (guard == EDDY_GUARD_MPROTECT)
		return 1;
	size_t n = CHUNK_BYTES / (eddy_stack_page_size() + cls->size);
	return n ? n : 1;
}

/* The next slot of cls's open region for guard (a new region if need be),
 * as a stack.  -EAGAIN when that guard turned out unavailable. */
static int carve(struct stack_class *cls, enum eddy_stack_guard guard,
		 struct eddy_stack **out)
{
	struct eddy_stack_region *r = cls->open[guard];
	if (!r) {
		r = region_new(cls, guard, slots_per_region(cls, guard));
		if (!r)
			return -ENOMEM;
		if (r->nslots > 1)
			cls->open[r->guard] = r;
	}
	char *slot = r->base + (size_t)r->carved * r->slot;
	if (r->guard == EDDY_GUARD_MADVISE && r->carved == r->ready) {
		int n = eddy_stack_map_prepare(slot, r->slot,
					       r->nslots - r->carved);
		if (n < 0) {
			if (!r->carved) { /* leave nothing behind */
				region_unlink(r);
				regions_free(r);
			}
			return n == -EAGAIN ? n : -ENOMEM;
		}
		r->ready += (unsigned)n;
	}
	struct eddy_stack *st = &r->stacks[r->carved];
	void *lo = slot + eddy_stack_page_size();
	*st = (struct eddy_stack){
		.lo = lo, .size = cls->size, .region = r,
		.canary = r->guard == EDDY_GUARD_NONE ? eddy_stack_map_canary(lo)
						      : 0,
	};
	if (++r->carved == r->nslots && cls->open[r->guard] == r)
		cls->open[r->guard] = NULL;
	live[r->guard]++;
	*out = st;
	return 0;
}

static int new_stack(struct stack_class *cls, struct eddy_stack **out)
{
	int err;
	do /* -EAGAIN: a step down the guard ladder, which ends */
		err = carve(cls, eddy_stack_map_guard_for_next(), out);
	while (err == -EAGAIN);
	return err;
}

/* ---- Giving memory back in batches ----------------------------------- */

/* Under the lock: every class's warm stacks, as one list, now cooling. */
static struct eddy_stack *take_all_warm(void)
{
	struct eddy_stack *all = NULL;
	for (struct stack_class *c = classes; c; c = c->next) {
		while (c->warm) {
			struct eddy_stack *st = c->warm;
			c->warm = st->next;
			st->next = all;
			all = st;
		}
	}
	cooling_count += warm_count;
	warm_count = 0;
	warm_bytes = 0;
	return all;
}

static bool below(const struct eddy_stack *a, const struct eddy_stack *b)
{
	return (uintptr_t)a->lo < (uintptr_t)b->lo;
}

static struct eddy_stack *merge_by_address(struct eddy_stack *a,
					   struct eddy_stack *b)
{
	struct eddy_stack *head = NULL, **tail = &head;
	while (a && b) {
		struct eddy_stack **least = below(a, b) ? &a : &b;
		*tail = *least;
		tail = &(*least)->next;
		*least = (*least)->next;
	}
	*tail = a ? a : b;
	return head;
}

/* A merge sort of the list itself: no allocation, depth log2 of a batch. */
static struct eddy_stack *sort_by_address(struct eddy_stack *list)
{
	if (!list || !list->next)
		return list;
	struct eddy_stack *mid = list, *fast = list->next;
	while (fast && fast->next) {
		mid = mid->next;
		fast = fast->next->next;
	}
	struct eddy_stack *upper = mid->next;
	mid->next = NULL;
	return merge_by_address(sort_by_address(list), sort_by_address(upper));
}

/* Gives back the memory of a list sorted by address, one call per run of
 * adjacent stacks (the guard page below each is inside the run); returns
 * the calls made. */
static uint64_t give_back_runs(struct eddy_stack *sorted)
{
	size_t page = eddy_stack_page_size();
	uint64_t calls = 0;
	for (struct eddy_stack *first = sorted, *last; first;
	     first = last->next) {
		last = first;
		while (last->next &&
		       (char *)last->next->lo == (char *)last->lo + last->size + page)
			last = last->next;
		char *end = (char *)last->lo + last->size;
		eddy_stack_map_dontneed(first->lo, (size_t)(end - (char *)first->lo));
		calls++;
	}
	return calls;
}

/* Gives back the memory of a batch of cooling stacks, without the lock,
 * then makes them cold. */
static void cool(struct eddy_stack *batch)
{
	batch = sort_by_address(batch);
	uint64_t calls = give_back_runs(batch);
	size_t n = 0;
	depot_lock();
	while (batch) {
		struct eddy_stack *st = batch;
		batch = st->next;
		st->next = st->region->cls->cold;
		st->region->cls->cold = st;
		st->region->idle++;
		n++;
	}
	cooling_count -= n;
	cold_count += n;
	dontneeds += n;
	madvises += calls;
	pthread_mutex_unlock(&lock);
}

static void cool_all_warm(void)
{
	depot_lock();
	struct eddy_stack *batch = take_all_warm();
	pthread_mutex_unlock(&lock);
	if (batch)
		cool(batch);
}

/* ---- The depot's interface ------------------------------------------- */

int eddy_stack_depot_take(size_t size, struct eddy_stack **out)
{
	int err = 0;
	depot_lock();
	struct stack_class *cls = class_get(size);
	if (!cls) {
		err = -ENOMEM;
	} else if (cls->warm) {
		struct eddy_stack *st = cls->warm;
		cls->warm = st->next;
		warm_count--;
		warm_bytes -= size;
		*out = st;
	} else if (cls->cold) {
		struct eddy_stack *st = cls->cold;
		cls->cold = st->next;
		st->region->idle--;
		cold_count--;
		*out = st;
	} else if ((err = new_stack(cls, out))) {
		class_free_if_empty(cls); /* made for nothing: it goes again */
	}
	pthread_mutex_unlock(&lock);
	return err;
}

void eddy_stack_depot_put(struct eddy_stack *st)
{
	struct eddy_stack_region *r = st->region;
	if (r->guard == EDDY_GUARD_MPROTECT) { /* it owns its mapping */
		depot_lock();
		region_unlink(r);
		class_free_if_empty(r->cls);
		pthread_mutex_unlock(&lock);
		regions_free(r);
		return;
	}
	struct eddy_stack *batch = NULL;
	depot_lock();
	st->next = r->cls->warm;
	r->cls->warm = st;
	warm_count++;
	warm_bytes += st->size;
	if (warm_count >= EDDY_STACK_BATCH_STACKS ||
	    warm_bytes >= EDDY_STACK_BATCH_BYTES)
		batch = take_all_warm();
	pthread_mutex_unlock(&lock);
	if (batch)
		cool(batch);
}

void eddy_stack_depot_reclaim(void)
{
	struct eddy_stack_region *dead = NULL;
	cool_all_warm();
	depot_lock();
	for (struct eddy_stack_region *r = atomic_load(&registry); r;
	     r = atomic_load(&r->next)) {
		if (r->idle == r->carved) {
			r->dead = dead;
			dead = r;
		}
	}
	/* A dead region's stacks are all cold: take them off the lists. */
	for (struct stack_class *c = classes; c; c = c->next) {
		struct eddy_stack **link = &c->cold;
		while (*link) {
			if ((*link)->region->idle == (*link)->region->carved) {
				*link = (*link)->next;
				cold_count--;
			} else {
				link = &(*link)->next;
			}
		}
	}
	for (struct eddy_stack_region *r = dead; r; r = r->dead)
		region_unlink(r);
	for (struct stack_class *c = classes, *next; c; c = next) {
		next = c->next;
		class_free_if_empty(c);
	}
	pthread_mutex_unlock(&lock);
	regions_free(dead);
}

void eddy_stack_depot_stats(struct eddy_stack_stats *out)
{
	cool_all_warm();
	depot_lock();
	out->guarded = live[EDDY_GUARD_MADVISE];
	out->mprotected = live[EDDY_GUARD_MPROTECT];
	out->unguarded = live[EDDY_GUARD_NONE];
	out->mapped = out->guarded + out->mprotected + out->unguarded;
	out->cold = cold_count;
	out->pooled = warm_count + cooling_count + cold_count;
	out->regions = region_count;
	out->dontneeds = dontneeds;
	out->madvises = madvises;
	pthread_mutex_unlock(&lock);
	eddy_stack_map_stats(out);
}

bool eddy_stack_depot_find_guard(uintptr_t addr, size_t *size,
				 const char **owner)
{
	/* Known since the first region was made; no sysconf in a handler. */
	size_t page = atomic_load(&eddy_stack_page_cache);
	bool found = false;
	atomic_fetch_add(&finders, 1);
	for (struct eddy_stack_region *r = atomic_load(&registry); r;
	     r = atomic_load(&r->next)) {
		uintptr_t off = addr - (uintptr_t)r->base;
		if (off >= r->len)
			continue;
		if (r->guard != EDDY_GUARD_NONE && off % r->slot < page) {
			const struct eddy_stack *st = &r->stacks[off / r->slot];
			*size = st->size;
			*owner = st->owner;
			found = true;
		}
		break;
	}
	atomic_fetch_sub(&finders, 1);
	return found;
}
