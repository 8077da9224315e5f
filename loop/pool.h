/*
 * The loop's worker threads, internal.  pool.c explains them.
 */
#ifndef EDDY_LOOP_POOL_H
#define EDDY_LOOP_POOL_H

#include <pthread.h>
#include <stdbool.h>

#include "wake.h"

/* A blocking call for a worker: run fn(arg) in ctx, then hand the job back
 * to the loop through msg. */
struct job {
	struct wake_msg msg;
	struct job *next; /* in the pool's queue */
	eddy_fn fn;
	void *arg;
	void *result;
	eddy_ctx *ctx;
	int err;          /* eddy_ctx_run's: -EBUSY if ctx could not be entered */
};

struct pool {
	pthread_mutex_t lock;
	pthread_cond_t work;  /* signalled when a job is queued, or at stop */
	struct job *head, *tail;
	unsigned queued;      /* jobs in the queue */
	unsigned threads, idle, max;
	bool stopping;
	pthread_t *tids;
	struct wake *wake;
};

/* Queue job; starts a worker when none is idle and the pool is not full.
 * 0, or -EAGAIN when no worker exists and none can be started. */
int pool_submit(struct pool *p, struct job *job);

/* Set up an empty pool of at most max threads; none start yet. */
int pool_init(struct pool *p, unsigned max, struct wake *wake);
/* Let the workers finish the queue, then join them. */
void pool_fini(struct pool *p);

/* Workers busy or idle now, for statistics. */
void pool_counts(struct pool *p, unsigned *busy, unsigned *idle);

#endif
