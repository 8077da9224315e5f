/*
 * Timers: every sleeping task and every timed wait of a loop, in one
 * 4-ary min-heap ordered by deadline.
 *
 * The heap is an array of (deadline, timer) pairs; the timers live in the
 * waiting tasks' own frames, and each knows its index, so removing one (a
 * cancelled sleep, a wait that ended before its timeout) is O(log n)
 * without a search.  The loop looks at the first deadline to bound how
 * long it may block in the kernel, and pops every expired timer after
 * each wait.
 *
 * Why the deadline is copied into the array, and why four children: with
 * a million sleeping tasks every timer sits on a page of its own task's
 * stack, so a comparison that read the timer would be a cache miss, and a
 * TLB miss, each.  Here a step down the heap compares four adjacent
 * deadlines (one or two cache lines) and touches one timer, the one it
 * moves, to update its index; a million timers are 10 levels deep rather
 * than 20.  The array costs 16 MiB for a million.
 *
 *                    [0] 10ms
 *        /         /         \          \
 *   [1] 20ms  [2] 15ms  [3] 12ms  [4] 40ms       children of i are
 *    / | | \                                      4i + 1 ... 4i + 4
 *  [5] ...[8]                                    parent is (i - 1) / 4
 */
#include "timer.h"

#include <errno.h>
#include <stdlib.h>

#include "ctx/alloc.h"

#define ARITY 4

static void place(struct timer_heap *h, size_t i, struct timer_slot s)
{
	h->v[i] = s;
	s.timer->index = i;
}

static void sift_up(struct timer_heap *h, size_t i)
{
	struct timer_slot s = h->v[i];
	while (i > 0) {
		size_t parent = (i - 1) / ARITY;
		if (h->v[parent].deadline <= s.deadline)
			break;
		place(h, i, h->v[parent]);
		i = parent;
	}
	place(h, i, s);
}

static void sift_down(struct timer_heap *h, size_t i)
{
	struct timer_slot s = h->v[i];
	for (;;) {
		size_t first = ARITY * i + 1, least = first;
		if (first >= h->n)
			break;
		size_t end = first + ARITY < h->n ? first + ARITY : h->n;
		for (size_t c = first + 1; c < end; c++)
			if (h->v[c].deadline < h->v[least].deadline)
				least = c;
		if (s.deadline <= h->v[least].deadline)
			break;
		place(h, i, h->v[least]);
		i = least;
	}
	place(h, i, s);
}

int timer_add(struct timer_heap *h, struct eddy_timer *t)
{
	if (h->n == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 64;
		struct timer_slot *v = eddy_alloc(cap * sizeof *v);
		if (!v)
			return -ENOMEM;
		for (size_t i = 0; i < h->n; i++)
			v[i] = h->v[i];
		eddy_free(h->v);
		h->v = v;
		h->cap = cap;
	}
	place(h, h->n++, (struct timer_slot){ t->deadline, t });
	sift_up(h, t->index);
	return 0;
}

void timer_remove(struct timer_heap *h, struct eddy_timer *t)
{
	size_t i = t->index;
	struct timer_slot last = h->v[--h->n];
	if (last.timer == t)
		return;
	place(h, i, last);
	if (i > 0 && h->v[(i - 1) / ARITY].deadline > last.deadline)
		sift_up(h, i);
	else
		sift_down(h, i);
}

void timer_heap_free(struct timer_heap *h)
{
	eddy_free(h->v);
	*h = (struct timer_heap){ 0 };
}
