/*
 * The kernel side of coroutine stacks: mapping address space for them,
 * turning a page into a guard, giving memory back.  And the guard ladder:
 * what eddy does where a guard page cannot be had.
 *
 * Mappings.  Every mapping is private, anonymous and MAP_NORESERVE, so the
 * kernel commits a page only when a frame first touches it, and swap is not
 * reserved for stacks that will mostly stay untouched.  Transparent huge
 * pages are turned off for them: with THP set to "always", the first touch
 * of a stack's top could otherwise commit 2 MiB at once.
 *
 * The guard ladder.  A guard page faults on any access, so an overflow
 * stops at the stack's bottom instead of writing into the stack below.
 * Linux limits how many map entries a process may hold (vm.max_map_count,
 * 65530 by default), and the classic guard, an mprotect(PROT_NONE) page at
 * the bottom of a stack's own mapping, splits the mapping in two: two
 * entries per stack, about 32,700 guarded stacks per process at most.
 * So eddy takes, for each new stack, the first of:
 *
 *   1. MADV_GUARD_INSTALL (Linux 6.13): a guard page inside a mapping
 *      without splitting it.  Stacks are carved out of large chunks, one
 *      entry for hundreds of stacks, so a million guarded stacks fit.
 *   2. mprotect, while the stacks' entries stay within a budget: three
 *      quarters of vm.max_map_count, read once, so that the rest of the
 *      program (libraries, malloc, io_uring rings) keeps the last quarter.
 *   3. No guard at all: stacks carved from chunks again, each with a canary
 *      word at its bottom that the task layer checks at every switch
 *      (eddy_stack_canary_ok).  It catches an overflow after the fact,
 *      and only one that wrote over the canary, so eddy says once on
 *      stderr that safety degraded.
 *
 * The kernel is asked once whether it has MADV_GUARD_INSTALL (a page is
 * mapped, guarded and unmapped); an EINVAL then or later means it has not,
 * or cannot for this process (mlockall'd memory), and the ladder steps
 * down for good.  An mprotect refused for lack of map entries (ENOMEM)
 * leaves its mapping whole, and that stack unguarded: at the kernel's
 * limit a new mapping for a chunk could not be had either.  The budget is
 * then lowered to what eddy holds, and the ladder steps down until
 * mprotect stacks are unmapped again.
 *
 * Every counter is atomic: the depot calls in here with its lock held, but
 * unmaps outside it, and statistics are read from any thread.
 */
#define _GNU_SOURCE
#include "stack_depot.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102 /* Linux 6.13; older headers lack it */
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif
/* The calling process, to process_madvise (Linux 6.15; older kernels
 * answer EBADF).  linux/fcntl.h has it only in recent kernel headers. */
#ifndef PIDFD_SELF_THREAD_GROUP
#define PIDFD_SELF_THREAD_GROUP -10001
#endif

/* What a kernel that does not say its map count allows. */
#define DEFAULT_MAX_MAP_COUNT 65530

atomic_size_t eddy_stack_page_cache;

static atomic_int guard_madvise;      /* 1 the kernel has it, -1 not, 0 unasked */
static atomic_long budget = -1;       /* map entries for guarded stacks; -1 unread */
static atomic_long entries;           /* map entries eddy's mappings cost now */
static atomic_long mprotected;        /* stacks guarded by mprotect now */
static atomic_uint_fast64_t mmaps;    /* successful mmap calls, ever */
static atomic_bool vectored = true;   /* process_madvise on itself works */

size_t eddy_stack_page_size_slow(void)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	atomic_store_explicit(&eddy_stack_page_cache, page,
			      memory_order_relaxed);
	return page;
}

/* 1 when a guard can be installed, -1 when the kernel says it cannot, 0
 * when it could not be asked (no memory for the probe). */
static int probe_guard_madvise(void)
{
	size_t page = eddy_stack_page_size();
	void *p = mmap(NULL, page, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return 0;
	int known = 1;
	if (madvise(p, page, MADV_GUARD_INSTALL))
		known = errno == EINVAL ? -1 : 0;
	munmap(p, page);
	return known;
}

static bool have_guard_madvise(void)
{
	int known = atomic_load(&guard_madvise);
	if (!known) {
		known = probe_guard_madvise();
		if (known)
			atomic_store(&guard_madvise, known);
	}
	return known > 0;
}

static long read_max_map_count(void)
{
	char buf[32];
	ssize_t n = -1;
	int fd = open("/proc/sys/vm/max_map_count", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, buf, sizeof buf - 1);
		close(fd);
	}
	long count = 0;
	for (ssize_t i = 0; i < n && buf[i] >= '0' && buf[i] <= '9'; i++)
		count = count * 10 + (buf[i] - '0');
	return count > 0 ? count : DEFAULT_MAX_MAP_COUNT;
}

static long map_budget(void)
{
	long b = atomic_load(&budget);
	if (b < 0) {
		long max = read_max_map_count();
		b = max - max / 4;
		atomic_store(&budget, b);
	}
	return b;
}

enum eddy_stack_guard eddy_stack_map_guard_for_next(void)
{
	if (have_guard_madvise())
		return EDDY_GUARD_MADVISE;
	if (atomic_load(&entries) + 2 <= map_budget())
		return EDDY_GUARD_MPROTECT;
	eddy_stack_warn_unguarded((size_t)atomic_load(&mprotected));
	return EDDY_GUARD_NONE;
}

void *eddy_stack_map(size_t len, enum eddy_stack_guard *guard)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK,
		       -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	(void)madvise(p, len, MADV_NOHUGEPAGE); /* only a cost if it fails */
	if (*guard == EDDY_GUARD_MPROTECT &&
	    mprotect(p, eddy_stack_page_size(), PROT_NONE)) {
		/* No map entry left for the split (ENOMEM is all mprotect can
		 * say here).  The mapping is whole: it serves unguarded, and
		 * no more stacks are guarded this way for now. */
		atomic_store(&budget, atomic_load(&entries));
		eddy_stack_warn_unguarded((size_t)atomic_load(&mprotected));
		*guard = EDDY_GUARD_NONE;
	}
	atomic_fetch_add(&mmaps, 1);
	if (*guard == EDDY_GUARD_MPROTECT) {
		atomic_fetch_add(&entries, 2);
		atomic_fetch_add(&mprotected, 1);
	} else {
		atomic_fetch_add(&entries, 1);
	}
	return p;
}

void eddy_stack_unmap(void *base, size_t len, enum eddy_stack_guard guard)
{
	munmap(base, len);
	if (guard == EDDY_GUARD_MPROTECT) {
		atomic_fetch_sub(&entries, 2);
		atomic_fetch_sub(&mprotected, 1);
	} else {
		atomic_fetch_sub(&entries, 1);
	}
}

static int guard_page(void *p)
{
	if (!madvise(p, eddy_stack_page_size(), MADV_GUARD_INSTALL))
		return 0;
	if (errno != EINVAL)
		return -errno;
	atomic_store(&guard_madvise, -1);
	return -EAGAIN;
}

/* One process_madvise over n ranges of this process: the bytes advised
 * (it stops at the first range that fails), or -1 with errno.  Costs one
 * system call where madvise costs n, 1.1 us each here. */
static ssize_t advise_ranges(struct iovec *v, size_t n, int advice)
{
	if (!atomic_load_explicit(&vectored, memory_order_relaxed))
		return -1;
	ssize_t done = syscall(SYS_process_madvise, PIDFD_SELF_THREAD_GROUP,
			       v, n, advice, 0u);
	if (done < 0 && (errno == ENOSYS || errno == EBADF || errno == EINVAL ||
			 errno == EPERM))
		atomic_store_explicit(&vectored, false, memory_order_relaxed);
	return done;
}

int eddy_stack_map_prepare(char *first, size_t stride, unsigned n)
{
	size_t page = eddy_stack_page_size();
	struct iovec v[EDDY_STACK_PREPARE_BATCH];
	if (n > EDDY_STACK_PREPARE_BATCH)
		n = EDDY_STACK_PREPARE_BATCH;
	for (unsigned i = 0; i < n; i++)
		v[i] = (struct iovec){ first + i * stride, page };
	ssize_t done = advise_ranges(v, n, MADV_GUARD_INSTALL);
	if (done < (ssize_t)page) { /* one at a time: its error decides */
		int err = guard_page(first);
		if (err)
			return err;
		done = (ssize_t)page;
	}
	n = (unsigned)((size_t)done / page);
	for (unsigned i = 0; i < n; i++) /* the top page of each stack */
		v[i].iov_base = first + (i + 1) * stride - page;
	(void)advise_ranges(v, n, MADV_POPULATE_WRITE); /* else they fault */
	return (int)n;
}

void eddy_stack_map_dontneed(void *p, size_t len)
{
	/* Fails only for a range that is not mapped, which would be a bug. */
	(void)madvise(p, len, MADV_DONTNEED);
}

uint64_t eddy_stack_map_canary(const void *lo)
{
	/* lo is page aligned, so the low bits of the constant keep it
	 * nonzero; mixing in the address tells one stack's canary from
	 * another's in a stack copied or mixed up. */
	return (uint64_t)(uintptr_t)lo ^ UINT64_C(0x9e3779b97f4a7c15);
}

void eddy_stack_map_stats(struct eddy_stack_stats *out)
{
	out->map_entries = (size_t)atomic_load(&entries);
	out->mmaps = atomic_load(&mmaps);
}

#ifdef EDDY_TEST_HOOKS
void eddy_stack_test_no_guard_madvise(void)
{
	atomic_store(&guard_madvise, -1);
}

void eddy_stack_test_map_budget(long entries_allowed)
{
	atomic_store(&budget, entries_allowed);
}
#endif

size_t eddy_stack_touched(const struct eddy_stack *st)
{
	size_t page = eddy_stack_page_size();
	uintptr_t lo = (uintptr_t)st->lo, top = lo + st->size;
	/* an unguarded stack's canary keeps its lowest page touched */
	uintptr_t p = st->canary ? lo + page : lo;
	unsigned char vec[256];
	while (p < top) {
		size_t pages = (top - p) / page;
		if (pages > sizeof vec)
			pages = sizeof vec;
		if (mincore((void *)p, pages * page, vec))
			return 0;
		for (size_t i = 0; i < pages; i++)
			if (vec[i] & 1)
				return top - (p + i * page);
		p += pages * page;
	}
	return 0;
}
