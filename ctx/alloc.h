/*
 * eddy's allocator, internal.  Every allocation eddy makes goes through
 * eddy_alloc so that tests can fail the N-th one, the way SQLite tests its
 * out-of-memory paths.  The hook exists only in builds with
 * EDDY_TEST_HOOKS (the test builds); elsewhere these are malloc and free.
 */
#ifndef EDDY_ALLOC_H
#define EDDY_ALLOC_H

#include <stddef.h>
#include <stdlib.h>

#ifdef EDDY_TEST_HOOKS
void *eddy_alloc(size_t size);
void eddy_free(void *p);

/*
 * Make the n-th allocation from now, in this thread, fail (n >= 1); n = 0
 * turns failures off.  Allocations on other threads are not counted.
 */
void eddy_alloc_fail_nth(long n);
/* Whether the armed failure has happened since eddy_alloc_fail_nth. */
int eddy_alloc_failed(void);
/* Blocks allocated by eddy and not yet freed, in all threads. */
long eddy_alloc_live(void);

/*
 * For a cache of freed blocks kept above eddy_alloc (context.c keeps
 * one): taking a block from the cache is an allocation to the hook, so it
 * asks eddy_alloc_due_to_fail first and counts the block live again with
 * eddy_alloc_relive(1); putting one back counts it freed with -1.
 */
int eddy_alloc_due_to_fail(void);
void eddy_alloc_relive(long delta);
#else
static inline void *eddy_alloc(size_t size) { return malloc(size); }
static inline void eddy_free(void *p) { free(p); }
static inline int eddy_alloc_due_to_fail(void) { return 0; }
static inline void eddy_alloc_relive(long delta) { (void)delta; }
#endif

#endif
