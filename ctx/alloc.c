/*
 * The test build's allocator hook: counts live blocks and fails the N-th
 * allocation of a thread on request.  Compiled only with EDDY_TEST_HOOKS.
 */
#ifdef EDDY_TEST_HOOKS
#include "alloc.h"

#include <stdatomic.h>

static _Thread_local long countdown;
static _Thread_local int failed;
static atomic_long live;

void eddy_alloc_fail_nth(long n)
{
	countdown = n;
	failed = 0;
}

int eddy_alloc_failed(void)
{
	return failed;
}

long eddy_alloc_live(void)
{
	return atomic_load(&live);
}

int eddy_alloc_due_to_fail(void)
{
	if (countdown > 0 && --countdown == 0) {
		failed = 1;
		return 1;
	}
	return 0;
}

void eddy_alloc_relive(long delta)
{
	atomic_fetch_add_explicit(&live, delta, memory_order_relaxed);
}

void *eddy_alloc(size_t size)
{
	if (eddy_alloc_due_to_fail())
		return NULL;
	void *p = malloc(size);
	if (p)
		atomic_fetch_add_explicit(&live, 1, memory_order_relaxed);
	return p;
}

void eddy_free(void *p)
{
	if (p)
		atomic_fetch_sub_explicit(&live, 1, memory_order_relaxed);
	free(p);
}
#else
/* ISO C forbids an empty translation unit. */
typedef int eddy_alloc_hooks_disabled;
#endif
