/*
 * The loop's worker threads, internal.  pool.c explains them.
 */
#ifndef EDDY_LOOP_POOL_H
#define EDDY_LOOP_POOL_H

#include <pthread.h>
#include <semaphore.h>
#include <stdbool.h>

#include "wake.h"

/* A blocking call for a worker: run fn(arg) in ctx, then hand the job back
 * to the loop through msg.  ctx NULL: the loop's own call (the epoll
 * backend's file I/O), run as it is, in no context; err stays 0. */
struct job {
	struct wake_msg msg;
	struct job *next; /* in the pool's queue */
	eddy_fn fn;
	void *arg;
	void *result;
	eddy_ctx *ctx;
	unsigned crossing; /* what the worker hides of ctx (SHARE) */
	int err;          /* eddy_ctx_run's: -EBUSY if ctx could not be entered */
	uint32_t trace_id; /* the tracer's job number, 0: untraced (small, so
			      that a job still fits in an io_op) */
};

/* A worker thread.  Parked, it sleeps on its own semaphore until a job is
 * handed to it. */
struct worker {
	pthread_t tid;
	sem_t wake;          /* posted with job set, or with NULL to stop */
	struct job *job;
	struct worker *next_idle;
	struct pool *pool;
};

struct pool {
	pthread_mutex_t lock;
	struct job *head, *tail; /* jobs that found no idle worker */
	struct worker *idle;     /* parked, the most recently parked first */
	struct worker *workers;  /* max of them; threads started */
	unsigned threads, idle_count, max;
	bool stopping;
	struct wake *wake;
};

/* Hand job to an idle worker, or queue it, starting a worker when the pool
 * is not full.  0, or -EAGAIN when no worker exists and none can be
 * started. */
int pool_submit(struct pool *p, struct job *job);

/* Set up an empty pool of at most max threads; none start yet. */
int pool_init(struct pool *p, unsigned max, struct wake *wake);
/* Let the workers finish the queue, then join them. */
void pool_fini(struct pool *p);

/* Workers busy or idle now, for statistics. */
void pool_counts(struct pool *p, unsigned *busy, unsigned *idle);

#endif
