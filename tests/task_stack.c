/*
 * Coroutine stacks: sizes, guard pages and their fallbacks, the pool and
 * its bound, the overflow report, and that nothing leaks.  Each Criterion
 * test runs in a process of its own, so the test hooks that force a guard
 * fallback last for one test.  What must crash crashes in a forked child.
 */
#define _GNU_SOURCE
#include "check.h"

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctx/alloc.h"
#include "task/coro.h"
#include "task/stack.h"
#include "task/stack_depot.h"
#include "task/task.h"

EDDY_SUITE(task_stack);

#define KiB ((size_t)1024)

static size_t page(void)
{
	return (size_t)sysconf(_SC_PAGESIZE);
}

static struct eddy_stack_stats stats(void)
{
	struct eddy_stack_stats s;
	eddy_stack_stats(&s);
	return s;
}

static struct eddy_stack *take(size_t size)
{
	struct eddy_stack *st = NULL;
	cr_assert_eq(eddy_stack_acquire(size, &st), 0);
	cr_assert_not_null(st);
	return st;
}

static void assert_nothing_held(void)
{
	struct eddy_stack_stats s = stats();
	cr_assert_eq(s.mapped, 0);
	cr_assert_eq(s.pooled, 0);
	cr_assert_eq(s.cold, 0);
	cr_assert_eq(s.guarded + s.mprotected + s.unguarded, 0);
	cr_assert_eq(s.regions, 0);
	cr_assert_eq(s.map_entries, 0);
}

/* ---- Running something that must die, in a child --------------------- */

struct death {
	int status;
	char err[2048]; /* what the child wrote on stderr */
};

static struct death in_child(void (*fn)(void *), void *arg)
{
	struct death d = { 0 };
	int fds[2];
	cr_assert_eq(pipe(fds), 0);
	pid_t pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		dup2(fds[1], STDERR_FILENO);
		close(fds[0]);
		close(fds[1]);
		fn(arg);
		_exit(0);
	}
	close(fds[1]);
	size_t len = 0;
	ssize_t n;
	while ((n = read(fds[0], d.err + len, sizeof d.err - 1 - len)) > 0)
		len += (size_t)n;
	d.err[len] = '\0';
	close(fds[0]);
	cr_assert_eq(waitpid(pid, &d.status, 0), pid);
	return d;
}

static bool killed_by(const struct death *d, int sig)
{
	return WIFSIGNALED(d->status) && WTERMSIG(d->status) == sig;
}

/* Stderr of this process, captured while a test does something. */
struct capture {
	int saved, pipe[2];
};

static void capture_begin(struct capture *c)
{
	cr_assert_eq(pipe(c->pipe), 0);
	c->saved = dup(STDERR_FILENO);
	dup2(c->pipe[1], STDERR_FILENO);
	close(c->pipe[1]);
}

static void capture_end(struct capture *c, char *buf, size_t cap)
{
	dup2(c->saved, STDERR_FILENO);
	close(c->saved);
	ssize_t n = read(c->pipe[0], buf, cap - 1);
	buf[n > 0 ? n : 0] = '\0';
	close(c->pipe[0]);
}

/* The byte below lo, with eddy's handler out of the way: a guard page
 * kills with SIGSEGV. */
static void touch_below_lo(void *arg)
{
	struct eddy_stack *st = arg;
	signal(SIGSEGV, SIG_DFL);
	((volatile char *)st->lo)[-1] = 1;
}

/* ---- Running a function on a stack that overflows -------------------- */

static volatile int depth_limit = 1 << 30;

/* A frame larger than the whole stack: without -fstack-clash-protection
 * its first store would land below the guard page, in the stack below. */
static int deep(int n)
{
	volatile char frame[80 * 1024];
	frame[0] = (char)n;
	frame[sizeof frame - 1] = (char)n;
	if (n >= depth_limit)
		return 0;
	return deep(n + 1) + frame[0] + frame[sizeof frame - 1];
}

static void *overflow(void *arg)
{
	(void)arg;
	return (void *)(intptr_t)deep(0);
}

static void run_overflow_on(void *arg)
{
	struct eddy_stack *st = arg;
	struct eddy_coro co;
	if (eddy_coro_init(&co, st->lo, st->size, overflow, NULL) == 0)
		eddy_coro_resume(&co);
}

static const char *const report_parser_64 =
	"eddy: task 'parser' overflowed its 64 KiB stack; give it a larger one "
	"with eddy_spawn_opts.stack_size\n";

/* Two stacks side by side: the overflow of the upper one must stop at its
 * guard, not run on into the lower one. */
static void assert_overflow_reported(void)
{
	struct eddy_stack *below = take(64 * KiB);
	struct eddy_stack *st = take(64 * KiB);
	st->owner = "parser";
	struct death d = in_child(run_overflow_on, st);
	cr_assert(killed_by(&d, SIGABRT), "status %#x, stderr: %s", d.status,
		  d.err);
	cr_assert_str_eq(d.err, report_parser_64);
	eddy_stack_release(st);
	eddy_stack_release(below);
}

/* ---- Sizes ----------------------------------------------------------- */

Test(task_stack, size_is_rounded_up_to_whole_pages)
{
	struct eddy_stack *a = take(1), *b = take(page() + 1);
	cr_assert_eq(a->size, page());
	cr_assert_eq(b->size, 2 * page());
	cr_assert_eq((uintptr_t)a->lo % page(), 0);
	cr_assert_eq((uintptr_t)b->lo % page(), 0);
	eddy_stack_release(a);
	eddy_stack_release(b);
	eddy_stack_pool_drain();
}

Test(task_stack, size_zero_is_the_default)
{
	struct eddy_stack *st = take(0);
	cr_assert_eq(st->size, EDDY_STACK_DEFAULT);
	eddy_stack_release(st);
	eddy_stack_pool_drain();
}

Test(task_stack, every_usable_byte_is_writable)
{
	struct eddy_stack *st = take(64 * KiB);
	memset(st->lo, 0xa5, st->size);
	cr_assert_eq(((unsigned char *)st->lo)[st->size - 1], 0xa5);
	eddy_stack_release(st);
	eddy_stack_pool_drain();
}

Test(task_stack, null_out_or_oversized_stack_is_einval)
{
	struct eddy_stack *st = NULL;
	cr_assert_eq(eddy_stack_acquire(0, NULL), -EINVAL);
	cr_assert_eq(eddy_stack_acquire(EDDY_STACK_SIZE_MAX + 1, &st), -EINVAL);
	cr_assert_eq(eddy_stack_acquire(SIZE_MAX, &st), -EINVAL);
	cr_assert_null(st);
}

Test(task_stack, acquire_clears_the_owner)
{
	struct eddy_stack *st = take(0);
	st->owner = "old";
	eddy_stack_release(st);
	cr_assert_eq(take(0), st);
	cr_assert_null(st->owner);
	eddy_stack_release(st);
	eddy_stack_pool_drain();
}

/* ---- The pool -------------------------------------------------------- */

Test(task_stack, released_stack_comes_back_warm_without_a_mapping)
{
	struct eddy_stack *st = take(0);
	char *top = (char *)st->lo + st->size - 1;
	*top = 0x5a;
	eddy_stack_release(st);
	struct eddy_stack_stats before = stats();
	cr_assert_eq(before.pooled, 1);
	cr_assert_eq(before.cold, 0);

	cr_assert_eq(take(0), st);
	cr_assert_eq(*top, 0x5a, "a pooled stack keeps its memory");
	struct eddy_stack_stats after = stats();
	cr_assert_eq(after.mmaps, before.mmaps);
	cr_assert_eq(after.pooled, 0);
	cr_assert_eq(after.mapped, 1);
	eddy_stack_release(st);
	eddy_stack_pool_drain();
}

Test(task_stack, pool_keeps_stacks_of_several_sizes)
{
	struct eddy_stack *a = take(16 * KiB), *b = take(32 * KiB);
	struct eddy_stack *c = take(0);
	eddy_stack_release(a);
	eddy_stack_release(b);
	eddy_stack_release(c);
	cr_assert_eq(take(32 * KiB), b);
	cr_assert_eq(take(0), c);
	cr_assert_eq(take(16 * KiB), a);
	eddy_stack_release(a);
	eddy_stack_release(b);
	eddy_stack_release(c);
	eddy_stack_pool_drain();
	assert_nothing_held();
}

Test(task_stack, past_the_pool_bound_memory_goes_back_to_the_kernel)
{
	size_t size = 256 * KiB, fit = EDDY_STACK_POOL_BYTES / size, n = fit + 3;
	struct eddy_stack *st[EDDY_STACK_POOL_BYTES / (256 * 1024) + 3];
	for (size_t i = 0; i < n; i++) {
		st[i] = take(size);
		memset(st[i]->lo, 1, st[i]->size); /* commit every page */
	}
	uint64_t dontneeds = stats().dontneeds;
	for (size_t i = 0; i < n; i++)
		eddy_stack_release(st[i]);

	struct eddy_stack_stats s = stats();
	cr_assert_eq(s.pooled, n);
	cr_assert_eq(s.cold, 3);
	cr_assert_eq(s.dontneeds - dontneeds, 3);
	unsigned char resident[256 * 1024 / 4096 + 1];
	cr_assert_leq(size / page(), sizeof resident);
	for (size_t i = fit; i < n; i++) {
		cr_assert_eq(mincore(st[i]->lo, size, resident), 0);
		for (size_t p = 0; p < size / page(); p++)
			cr_assert_eq(resident[p] & 1, 0, "page %zu kept", p);
	}
	cr_assert_eq(mincore(st[0]->lo, size, resident), 0);
	cr_assert_eq(resident[0] & 1, 1, "a stack within the bound stays warm");

	/* A cold stack is reused before anything new is mapped. */
	for (size_t i = 0; i < n; i++)
		st[i] = take(size);
	cr_assert_eq(stats().mmaps, s.mmaps);
	cr_assert_eq(stats().pooled, 0);
	for (size_t i = 0; i < n; i++)
		eddy_stack_release(st[i]);
	eddy_stack_pool_drain();
	assert_nothing_held();
}

/* Fills the pool with stacks of size, then the depot with a batch of them,
 * each with its top page committed; the depot's share is st[fit...]. */
static size_t release_a_batch_past_the_pool(size_t size,
					    struct eddy_stack **st)
{
	size_t fit = EDDY_STACK_POOL_BYTES / size, n = fit + EDDY_STACK_BATCH_STACKS;
	for (size_t i = 0; i < n; i++) {
		st[i] = take(size);
		((char *)st[i]->lo)[size - 1] = 1;
	}
	for (size_t i = 0; i < n; i++)
		eddy_stack_release(st[i]);
	return fit;
}

static bool resident(const struct eddy_stack *st)
{
	unsigned char top;
	cr_assert_eq(mincore((char *)st->lo + st->size - page(), page(), &top),
		     0);
	return top & 1;
}

Test(task_stack, a_batch_past_the_pool_bound_goes_back_in_few_calls)
{
	size_t size = 16 * KiB;
	cr_assert_lt(EDDY_STACK_BATCH_STACKS * size, EDDY_STACK_BATCH_BYTES);
	struct eddy_stack **st = malloc(
		(EDDY_STACK_POOL_BYTES / size + EDDY_STACK_BATCH_STACKS) *
		sizeof *st);
	cr_assert_not_null(st);
	uint64_t dontneeds = stats().dontneeds, madvises = stats().madvises;
	size_t fit = release_a_batch_past_the_pool(size, st);

	/* Given back by the release that filled the batch, before any
	 * statistics were asked for. */
	for (size_t i = fit; i < fit + EDDY_STACK_BATCH_STACKS; i++)
		cr_assert_not(resident(st[i]), "stack %zu kept", i - fit);
	cr_assert(resident(st[0]), "a stack within the bound stays warm");
	struct eddy_stack_stats s = stats();
	cr_assert_eq(s.cold, EDDY_STACK_BATCH_STACKS);
	cr_assert_eq(s.dontneeds - dontneeds, EDDY_STACK_BATCH_STACKS);
	/* Carved one after another, they are a run or a few (a chunk
	 * boundary, a neighbour's mapping). */
	cr_assert_leq(s.madvises - madvises, 8, "%llu calls",
		      (unsigned long long)(s.madvises - madvises));
	free(st);
	eddy_stack_pool_drain();
	assert_nothing_held();
}

Test(task_stack, guard_survives_a_batch_going_back)
{
	size_t size = 16 * KiB;
	struct eddy_stack **st = malloc(
		(EDDY_STACK_POOL_BYTES / size + EDDY_STACK_BATCH_STACKS) *
		sizeof *st);
	cr_assert_not_null(st);
	size_t fit = release_a_batch_past_the_pool(size, st);
	if (stats().guarded == 0)
		cr_skip("this kernel has no MADV_GUARD_INSTALL (Linux < 6.13)");
	for (size_t i = fit + 1; i < fit + EDDY_STACK_BATCH_STACKS; i += 300) {
		struct death d = in_child(touch_below_lo, st[i]);
		cr_assert(killed_by(&d, SIGSEGV), "stack %zu: status %#x",
			  i - fit, d.status);
	}
	free(st);
	eddy_stack_pool_drain();
	assert_nothing_held();
}

Test(task_stack, stack_waiting_for_a_batch_is_reused_warm)
{
	size_t size = 64 * KiB, fit = EDDY_STACK_POOL_BYTES / size;
	struct eddy_stack *st[EDDY_STACK_POOL_BYTES / (64 * 1024) + 1];
	for (size_t i = 0; i <= fit; i++)
		st[i] = take(size);
	char *top = (char *)st[fit]->lo + size - 1;
	*top = 0x5a;
	uint64_t dontneeds = stats().dontneeds;
	for (size_t i = 0; i <= fit; i++)
		eddy_stack_release(st[i]); /* the last one to the depot */

	for (size_t i = 0; i < fit; i++) /* empties the pool */
		cr_assert_neq(take(size), st[fit]);
	cr_assert_eq(take(size), st[fit]);
	cr_assert_eq(*top, 0x5a, "its memory is still there");
	struct eddy_stack_stats s = stats();
	cr_assert_eq(s.dontneeds, dontneeds);
	cr_assert_eq(s.pooled, 0);
	cr_assert_eq(s.mapped, fit + 1);
	for (size_t i = 0; i <= fit; i++)
		eddy_stack_release(st[i]);
	eddy_stack_pool_drain();
	assert_nothing_held();
}

Test(task_stack, drain_frees_everything_nothing_uses)
{
	struct eddy_stack *a = take(0), *b = take(64 * KiB), *c = take(0);
	eddy_stack_release(a);
	eddy_stack_release(b);
	eddy_stack_release(c);
	cr_assert_gt(stats().regions, 0);
	eddy_stack_pool_drain();
	assert_nothing_held();
}

Test(task_stack, drain_keeps_stacks_in_use_and_their_mapping)
{
	struct eddy_stack *used = take(0), *idle = take(0);
	eddy_stack_release(idle);
	eddy_stack_pool_drain();
	struct eddy_stack_stats s = stats();
	cr_assert_eq(s.mapped, 2);
	cr_assert_eq(s.pooled, 1);
	cr_assert_eq(s.cold, 1);
	memset(used->lo, 1, used->size);
	eddy_stack_release(used);
	eddy_stack_pool_drain();
	assert_nothing_held();
}

/* ---- Running out ----------------------------------------------------- */

static size_t address_space_in_use(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	cr_assert_not_null(f);
	unsigned long pages = 0;
	cr_assert_eq(fscanf(f, "%lu", &pages), 1);
	fclose(f);
	return pages * page();
}

Test(task_stack, refused_mapping_is_enomem_and_changes_nothing)
{
	/* First use installs the handler, its alternate stack and asks the
	 * kernel about guards: none of that must count against the limit. */
	eddy_stack_release(take(16 * KiB));
	struct eddy_stack_stats before = stats();

	struct rlimit old, lim;
	cr_assert_eq(getrlimit(RLIMIT_AS, &old), 0);
	lim = old;
	lim.rlim_cur = address_space_in_use() + 64 * KiB;
	cr_assert_eq(setrlimit(RLIMIT_AS, &lim), 0);
	struct eddy_stack *st = NULL;
	int err = eddy_stack_acquire(1024 * KiB, &st);
	cr_assert_eq(setrlimit(RLIMIT_AS, &old), 0);

	cr_assert_eq(err, -ENOMEM);
	cr_assert_null(st);
	struct eddy_stack_stats after = stats();
	cr_assert_eq(memcmp(&before, &after, sizeof before), 0);
	eddy_stack_pool_drain();
	assert_nothing_held();
}

Test(task_stack, failed_allocation_is_enomem_and_changes_nothing)
{
	eddy_stack_release(take(16 * KiB));
	struct eddy_stack_stats before = stats();
	struct eddy_stack *st = NULL;
	int err;
	long n = 1;
	for (;; n++) {
		eddy_alloc_fail_nth(n);
		err = eddy_stack_acquire(0, &st);
		bool failed = eddy_alloc_failed();
		eddy_alloc_fail_nth(0);
		if (!failed)
			break;
		cr_assert_eq(err, -ENOMEM, "allocation %ld", n);
		struct eddy_stack_stats after = stats();
		cr_assert_eq(memcmp(&before, &after, sizeof before), 0,
			     "allocation %ld", n);
	}
	cr_assert_eq(err, 0);
	cr_assert_gt(n, 1, "a new size class allocates");
	eddy_stack_release(st);
	eddy_stack_pool_drain();
	assert_nothing_held();
}

/* ---- Guard pages, and what replaces them ----------------------------- */

static int maps_lines(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	cr_assert_not_null(f);
	int lines = 0, c;
	while ((c = fgetc(f)) != EOF)
		lines += c == '\n';
	fclose(f);
	return lines;
}

Test(task_stack, guard_madvise_carves_many_stacks_from_one_mapping)
{
	eddy_stack_release(take(16 * KiB)); /* asks the kernel */
	eddy_stack_pool_drain();
	int lines = maps_lines();
	struct eddy_stack *st[100];
	for (int i = 0; i < 100; i++)
		st[i] = take(0);
	struct eddy_stack_stats s = stats();
	if (s.guarded == 0)
		cr_skip("this kernel has no MADV_GUARD_INSTALL (Linux < 6.13)");
	cr_assert_eq(s.guarded, 100);
	cr_assert_eq(s.regions, 1);
	cr_assert_eq(s.map_entries, 1);
	/* Not one entry per stack; a sanitizer's allocator may add a few. */
	cr_assert_leq(maps_lines(), lines + 10);
	for (int i = 0; i < 100; i += 33) {
		struct death d = in_child(touch_below_lo, st[i]);
		cr_assert(killed_by(&d, SIGSEGV), "stack %d: status %#x", i,
			  d.status);
	}
	for (int i = 0; i < 100; i++)
		eddy_stack_release(st[i]);
	eddy_stack_pool_drain();
	assert_nothing_held();
}

/* Whether this kernel lets a process advise its own memory in one
 * process_madvise call (Linux 6.15's PIDFD_SELF). */
static bool advises_itself_in_batches(void)
{
	char *p = mmap(NULL, page(), PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(p, MAP_FAILED);
	struct iovec v = { p, page() };
	bool ok = syscall(SYS_process_madvise, -10001 /* PIDFD_SELF */, &v, 1,
			  23 /* MADV_POPULATE_WRITE */, 0u) == (long)page();
	munmap(p, page());
	return ok;
}

Test(task_stack, new_stacks_come_guarded_with_their_top_page_committed)
{
	if (!advises_itself_in_batches())
		cr_skip("this kernel has no process_madvise on itself (Linux < 6.15)");
	enum { N = 3 * EDDY_STACK_PREPARE_BATCH + 1 };
	struct eddy_stack *st[N];
	for (int i = 0; i < N; i++)
		st[i] = take(48 * KiB); /* a size no other test carves */
	if (stats().guarded == 0)
		cr_skip("this kernel has no MADV_GUARD_INSTALL (Linux < 6.13)");
	for (int i = 0; i < N; i++)
		cr_assert(resident(st[i]), "stack %d's top page", i);
	for (int i = 0; i < N; i += EDDY_STACK_PREPARE_BATCH - 1) {
		struct death d = in_child(touch_below_lo, st[i]);
		cr_assert(killed_by(&d, SIGSEGV), "stack %d: status %#x", i,
			  d.status);
	}
	for (int i = 0; i < N; i++)
		eddy_stack_release(st[i]);
	eddy_stack_pool_drain();
	assert_nothing_held();
}

Test(task_stack, guard_survives_memory_going_back)
{
	struct eddy_stack *st[EDDY_STACK_POOL_BYTES / (64 * 1024) + 1];
	size_t n = sizeof st / sizeof st[0];
	for (size_t i = 0; i < n; i++)
		st[i] = take(64 * KiB);
	for (size_t i = 0; i < n; i++)
		eddy_stack_release(st[i]);
	cr_assert_eq(stats().cold, 1);
	struct death d = in_child(touch_below_lo, st[n - 1]);
	cr_assert(killed_by(&d, SIGSEGV), "status %#x", d.status);
	eddy_stack_pool_drain();
}

Test(task_stack, without_guard_madvise_each_stack_is_guarded_by_mprotect)
{
	eddy_stack_test_no_guard_madvise();
	struct eddy_stack *st[10];
	for (int i = 0; i < 10; i++)
		st[i] = take(0);
	struct eddy_stack_stats s = stats();
	cr_assert_eq(s.mprotected, 10);
	cr_assert_eq(s.guarded + s.unguarded, 0);
	cr_assert_eq(s.regions, 10);
	cr_assert_eq(s.map_entries, 20);
	struct death d = in_child(touch_below_lo, st[4]);
	cr_assert(killed_by(&d, SIGSEGV), "status %#x", d.status);
	for (int i = 0; i < 10; i++)
		eddy_stack_release(st[i]);
	eddy_stack_pool_drain();
	assert_nothing_held();
}

Test(task_stack, mprotect_stacks_past_the_pool_bound_are_unmapped)
{
	eddy_stack_test_no_guard_madvise();
	size_t fit = EDDY_STACK_POOL_BYTES / (256 * KiB);
	struct eddy_stack *st[EDDY_STACK_POOL_BYTES / (256 * 1024) + 2];
	for (size_t i = 0; i < fit + 2; i++)
		st[i] = take(0);
	for (size_t i = 0; i < fit + 2; i++)
		eddy_stack_release(st[i]);
	struct eddy_stack_stats s = stats();
	cr_assert_eq(s.regions, fit);
	cr_assert_eq(s.map_entries, 2 * fit);
	cr_assert_eq(s.pooled, fit);
	cr_assert_eq(s.cold, 0);
	eddy_stack_pool_drain();
	assert_nothing_held();
}

Test(task_stack, past_the_map_budget_stacks_get_canaries_said_once)
{
	eddy_stack_test_no_guard_madvise();
	eddy_stack_test_map_budget(6);
	struct capture cap;
	char said[512];
	struct eddy_stack *st[6];
	capture_begin(&cap);
	for (int i = 0; i < 6; i++)
		st[i] = take(0);
	capture_end(&cap, said, sizeof said);

	cr_assert_str_eq(said, "eddy: stack guard pages unavailable past 3 "
			       "stacks; using canaries\n");
	struct eddy_stack_stats s = stats();
	cr_assert_eq(s.mprotected, 3);
	cr_assert_eq(s.unguarded, 3);
	cr_assert_eq(s.regions, 4, "the unguarded ones share a chunk");
	cr_assert_eq(s.map_entries, 7);
	for (int i = 0; i < 6; i++)
		cr_assert(eddy_stack_canary_ok(st[i]));
	((volatile char *)st[5]->lo)[-1] = 1; /* no guard: a gap page */
	for (int i = 0; i < 6; i++)
		eddy_stack_release(st[i]);
	eddy_stack_pool_drain();
	assert_nothing_held();
}

static long max_map_count(void)
{
	FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
	long max = 0;
	cr_assert_not_null(f);
	cr_assert_eq(fscanf(f, "%ld", &max), 1);
	fclose(f);
	return max;
}

/*
 * In a child: at the kernel's map limit nothing else in the process
 * (Criterion's runtime, ASan's allocator) can have a mapping either.  The
 * stack whose guard was refused serves unguarded; past it a stack may
 * rightly be -ENOMEM, when no mapping at all can be had.
 */
static void fill_the_map_count(void *arg)
{
	size_t n = *(size_t *)arg, got = 0;
	eddy_stack_test_no_guard_madvise();
	eddy_stack_test_map_budget(1L << 40); /* the kernel's limit comes first */
	struct eddy_stack **st = malloc(n * sizeof *st);
	struct eddy_stack_stats s = { 0 };
	while (st && got < n && !s.unguarded) {
		if (eddy_stack_acquire(16 * KiB, &st[got]))
			_exit(2);
		got++;
		eddy_stack_stats(&s);
	}
	if (!s.unguarded || s.mprotected + s.unguarded != got)
		_exit(3);
	for (size_t i = 0; i < got; i++)
		eddy_stack_release(st[i]);
	eddy_stack_pool_drain();
	eddy_stack_stats(&s);
	_exit(s.mapped || s.regions || s.map_entries ? 4 : 0);
}

Test(task_stack, mprotect_refused_for_map_entries_falls_back_to_canaries)
{
	long max = max_map_count();
	if (max > 70000)
		cr_skip("vm.max_map_count is %ld: too many mappings to fill", max);
	size_t n = (size_t)max / 2 + 100;
	struct death d = in_child(fill_the_map_count, &n);
	cr_assert(WIFEXITED(d.status) && WEXITSTATUS(d.status) == 0,
		  "status %#x, stderr: %s", d.status, d.err);
	cr_assert(strstr(d.err, "eddy: stack guard pages unavailable past "),
		  "stderr: %s", d.err);
}

Test(task_stack, canary_detects_a_smashed_bottom)
{
	eddy_stack_test_no_guard_madvise();
	eddy_stack_test_map_budget(0);
	struct capture cap;
	char said[512];
	capture_begin(&cap);
	struct eddy_stack *st = take(0);
	capture_end(&cap, said, sizeof said);
	cr_assert_eq(stats().unguarded, 1);
	cr_assert(eddy_stack_canary_ok(st));
	((volatile char *)st->lo)[3] ^= 1;
	cr_assert_not(eddy_stack_canary_ok(st));
	/* Released and acquired again, it has a canary anew. */
	eddy_stack_release(st);
	cr_assert_eq(take(0), st);
	cr_assert(eddy_stack_canary_ok(st));
	eddy_stack_release(st);
	eddy_stack_pool_drain();
}

Test(task_stack, guarded_stack_needs_no_canary)
{
	struct eddy_stack *st = take(0);
	memset(st->lo, 0, 64);
	cr_assert(eddy_stack_canary_ok(st));
	eddy_stack_release(st);
	eddy_stack_pool_drain();
}

/* ---- Reports --------------------------------------------------------- */

Test(task_stack, guard_page_hit_names_the_task_and_its_size)
{
	assert_overflow_reported();
}

Test(task_stack, mprotect_guard_page_hit_is_reported_too)
{
	eddy_stack_test_no_guard_madvise();
	assert_overflow_reported();
	cr_assert_gt(stats().mprotected, 0);
}

static void run_overflowing_task(void *arg)
{
	eddy_spawn_opts opts = { .name = arg, .stack_size = 64 * KiB };
	eddy_task *t = eddy_task_new(overflow, NULL, &opts, 0);
	if (t)
		eddy_task_resume(t);
}

Test(task_stack, task_that_overflows_is_named_in_the_report)
{
	struct death d = in_child(run_overflowing_task, "parser");
	cr_assert(killed_by(&d, SIGABRT), "status %#x, stderr: %s", d.status,
		  d.err);
	cr_assert_str_eq(d.err, report_parser_64);
}

static void report_broken_canary(void *arg)
{
	eddy_stack_overflowed(arg);
}

Test(task_stack, broken_canary_is_reported_like_a_guard_hit)
{
	struct eddy_stack *st = take(0);
	struct death d = in_child(report_broken_canary, st);
	cr_assert(killed_by(&d, SIGABRT), "status %#x", d.status);
	cr_assert_str_eq(d.err, "eddy: task 'unnamed' overflowed its 256 KiB "
				"stack; give it a larger one with "
				"eddy_spawn_opts.stack_size\n");
	eddy_stack_release(st);
	eddy_stack_pool_drain();
}

static int *volatile nowhere;

static void dereference_null(void *arg)
{
	(void)arg;
	*nowhere = 1;
}

Test(task_stack, other_segfaults_die_as_they_would_without_eddy)
{
	struct death without = in_child(dereference_null, NULL);
	eddy_stack_release(take(0)); /* installs eddy's handler */
	struct death with = in_child(dereference_null, NULL);
	cr_assert_eq(with.status, without.status);
	cr_assert_null(strstr(with.err, "eddy:"), "stderr: %s", with.err);
#ifndef EDDY_TEST_LSAN /* ASan reports the fault and exits instead */
	cr_assert(killed_by(&with, SIGSEGV), "status %#x", with.status);
#endif
	eddy_stack_pool_drain();
}

/* ---- Scale ----------------------------------------------------------- */

static int by_address(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t)(*(struct eddy_stack *const *)a)->lo;
	uintptr_t y = (uintptr_t)(*(struct eddy_stack *const *)b)->lo;
	return (x > y) - (x < y);
}

Test(task_stack, a_hundred_thousand_stacks_at_once)
{
	size_t n = 100000;
	struct eddy_stack **st = malloc(n * sizeof *st);
	cr_assert_not_null(st);
	for (size_t i = 0; i < n; i++)
		st[i] = take(0);
	struct eddy_stack_stats s = stats();
	cr_assert_eq(s.mapped, n);
	if (s.guarded == n)
		cr_assert_lt(s.map_entries, 1000, "%zu", s.map_entries);
	for (size_t i = 0; i < n; i += 997)
		((char *)st[i]->lo)[st[i]->size - 1] = 1;

	struct eddy_stack **sorted = malloc(n * sizeof *sorted);
	cr_assert_not_null(sorted);
	memcpy(sorted, st, n * sizeof *st);
	qsort(sorted, n, sizeof *sorted, by_address);
	for (size_t i = 1; i < n; i++)
		cr_assert_geq((uintptr_t)sorted[i]->lo,
			      (uintptr_t)sorted[i - 1]->lo + sorted[i - 1]->size +
				      page(),
			      "stacks overlap or share a guard");
	free(sorted);

	for (size_t i = 0; i < n; i++)
		eddy_stack_release(st[i]);
	free(st);
	eddy_stack_pool_drain();
	assert_nothing_held();
}
