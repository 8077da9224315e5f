/*
 * Worker threads: where a task sends a blocking call (eddy_to_thread) so
 * that only the task waits, not the loop.
 *
 * A pool belongs to one loop.  Its threads start lazily, one per job that
 * finds no idle worker free for it, up to the loop's configured maximum;
 * past it, jobs wait in a FIFO queue.  An idle worker sleeps on a condition variable,
 * without spinning.  A worker runs each job's function inside the job's
 * context with eddy_ctx_run, so the context rules hold across threads
 * (entering is exclusive), and then posts the job back to the loop
 * through the loop's wake-up (wake.c); a worker never touches the loop's
 * ring or any task.
 *
 *   task: eddy_to_thread ─▶ queue ─▶ worker: eddy_ctx_run(ctx, fn, arg)
 *                                          │
 *   task resumes ◀─ loop: deliver ◀─ eventfd ◀─ wake_post
 */
#include "pool.h"

#include <errno.h>

#include "ctx/alloc.h"

static void *worker_main(void *arg)
{
	struct pool *p = arg;
	pthread_mutex_lock(&p->lock);
	for (;;) {
		while (!p->head && !p->stopping) {
			p->idle++;
			pthread_cond_wait(&p->work, &p->lock);
			p->idle--;
		}
		struct job *job = p->head;
		if (!job)
			break; /* stopping, and the queue is empty */
		if (!(p->head = job->next))
			p->tail = NULL;
		p->queued--;
		pthread_mutex_unlock(&p->lock);

		job->err = eddy_ctx_run(job->ctx, job->fn, job->arg,
					&job->result);
		wake_post(p->wake, &job->msg);

		pthread_mutex_lock(&p->lock);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

int pool_init(struct pool *p, unsigned max, struct wake *wake)
{
	*p = (struct pool){ .max = max, .wake = wake };
	p->tids = eddy_alloc(max * sizeof *p->tids);
	if (!p->tids)
		return -ENOMEM;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->work, NULL);
	return 0;
}

int pool_submit(struct pool *p, struct job *job)
{
	int err = 0;
	job->next = NULL;
	pthread_mutex_lock(&p->lock);
	/* An idle worker that was signalled for a job still queued counts as
	 * idle until it wakes: it is spoken for all the same. */
	if (p->queued >= p->idle && p->threads < p->max) {
		err = -pthread_create(&p->tids[p->threads], NULL, worker_main,
				      p);
		if (!err)
			p->threads++;
		else if (p->threads) /* the running workers will get to it */
			err = 0;
	}
	if (!err) {
		if (p->tail)
			p->tail->next = job;
		else
			p->head = job;
		p->tail = job;
		p->queued++;
		pthread_cond_signal(&p->work);
	}
	pthread_mutex_unlock(&p->lock);
	return err;
}

void pool_fini(struct pool *p)
{
	pthread_mutex_lock(&p->lock);
	p->stopping = true;
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->lock);
	for (unsigned i = 0; i < p->threads; i++)
		pthread_join(p->tids[i], NULL);
	pthread_cond_destroy(&p->work);
	pthread_mutex_destroy(&p->lock);
	eddy_free(p->tids);
}

void pool_counts(struct pool *p, unsigned *busy, unsigned *idle)
{
	pthread_mutex_lock(&p->lock);
	*idle = p->idle;
	*busy = p->threads - p->idle;
	pthread_mutex_unlock(&p->lock);
}
