/*
 * The loop's timers, internal: a 4-ary min-heap of deadlines.  timer.c
 * explains it.
 */
#ifndef EDDY_LOOP_TIMER_H
#define EDDY_LOOP_TIMER_H

#include <stddef.h>
#include <stdint.h>

struct eddy_wait;

/* Lives in the waiting task's frame while it is armed. */
struct eddy_timer {
	uint64_t deadline;      /* monotonic ns */
	size_t index;           /* its place in the heap */
	struct eddy_wait *wait; /* woken with -ETIMEDOUT when it fires */
};

/* A heap entry: the deadline is copied in, so that ordering the heap
 * reads only the array, not the timers in their tasks' frames. */
struct timer_slot {
	uint64_t deadline;
	struct eddy_timer *timer;
};

struct timer_heap {
	struct timer_slot *v;
	size_t n, cap;
};

/* 0, or -ENOMEM with the heap unchanged. */
int timer_add(struct timer_heap *h, struct eddy_timer *t);
void timer_remove(struct timer_heap *h, struct eddy_timer *t);
/* The earliest timer, or NULL. */
static inline struct eddy_timer *timer_first(const struct timer_heap *h)
{
	return h->n ? h->v[0].timer : NULL;
}
void timer_heap_free(struct timer_heap *h);

#endif
