/*
 * Timers: every sleeping task and every timed wait of a loop, in one
 * binary min-heap ordered by deadline.
 *
 * The heap is an array of pointers to timers that live in the waiting
 * tasks' own frames; each timer knows its index, so removing one (a
 * cancelled sleep, a wait that ended before its timeout) is O(log n)
 * without a search.  The loop looks at the first deadline to bound how
 * long it may block in the kernel, and pops every expired timer after
 * each wait.  A million sleeping tasks cost a million pointers (8 MiB)
 * and about 20 comparisons per insert or removal.
 *
 *            [0] 10ms
 *           /        \
 *      [1] 20ms    [2] 15ms        parent of i is (i - 1) / 2
 *       /    \
 *  [3] 40ms [4] 25ms
 */
#include "timer.h"

#include <errno.h>
#include <stdlib.h>

#include "ctx/alloc.h"

static void place(struct timer_heap *h, size_t i, struct eddy_timer *t)
{
	h->v[i] = t;
	t->index = i;
}

static void sift_up(struct timer_heap *h, size_t i)
{
	struct eddy_timer *t = h->v[i];
	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (h->v[parent]->deadline <= t->deadline)
			break;
		place(h, i, h->v[parent]);
		i = parent;
	}
	place(h, i, t);
}

static void sift_down(struct timer_heap *h, size_t i)
{
	struct eddy_timer *t = h->v[i];
	for (;;) {
		size_t child = 2 * i + 1;
		if (child >= h->n)
			break;
		if (child + 1 < h->n &&
		    h->v[child + 1]->deadline < h->v[child]->deadline)
			child++;
		if (t->deadline <= h->v[child]->deadline)
			break;
		place(h, i, h->v[child]);
		i = child;
	}
	place(h, i, t);
}

int timer_add(struct timer_heap *h, struct eddy_timer *t)
{
	if (h->n == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 64;
		struct eddy_timer **v = eddy_alloc(cap * sizeof *v);
		if (!v)
			return -ENOMEM;
		for (size_t i = 0; i < h->n; i++)
			v[i] = h->v[i];
		eddy_free(h->v);
		h->v = v;
		h->cap = cap;
	}
	place(h, h->n++, t);
	sift_up(h, t->index);
	return 0;
}

void timer_remove(struct timer_heap *h, struct eddy_timer *t)
{
	size_t i = t->index;
	struct eddy_timer *last = h->v[--h->n];
	if (last == t)
		return;
	place(h, i, last);
	if (i > 0 && h->v[(i - 1) / 2]->deadline > last->deadline)
		sift_up(h, i);
	else
		sift_down(h, i);
}

struct eddy_timer *timer_first(const struct timer_heap *h)
{
	return h->n ? h->v[0] : NULL;
}

void timer_heap_free(struct timer_heap *h)
{
	eddy_free(h->v);
	*h = (struct timer_heap){ 0 };
}
