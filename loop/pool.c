/*
 * Worker threads: where a task sends a blocking call (eddy_to_thread) so
 * that only the task waits, not the loop.
 *
 * A pool belongs to one loop.  Its threads start lazily, one per job that
 * finds no idle worker, up to the loop's configured maximum; past it, jobs
 * wait in a FIFO queue that busy workers drain before they park.  A parked
 * worker sleeps on a semaphore of its own, without spinning, on a stack of
 * idle workers; a job for it is handed over directly: popped from the
 * stack, stored in the worker, one sem_post.  So a worker is never woken
 * for a job another takes, and a woken worker takes no lock before it runs
 * the job.  (A condition variable costs a futex wake more per call: glibc
 * marks the mutex contended when a woken waiter retakes it, so its next
 * unlock is a system call on the round trip's critical path.)  The most
 * recently parked worker goes first: its stack and caches are warm.
 *
 * A worker runs each job's function inside the job's context with
 * eddy_ctx_run, so the context rules hold across threads (entering is
 * exclusive), and then posts the job back to the loop through the loop's
 * wake-up (wake.c); a worker never touches the loop's ring or any task.
 *
 *   task: eddy_to_thread ─▶ hand-off (or queue) ─▶ worker: eddy_ctx_run
 *                                                        │
 *   task resumes ◀─ loop: deliver ◀─ eventfd ◀─ wake_post ◀┘
 */
#include "pool.h"

#include <errno.h>

#include "ctx/alloc.h"
#include "trace.h"

/* The worker's next job: the queue's oldest, else one handed to it after
 * it parked.  NULL when the pool stops. */
static struct job *next_job(struct pool *p, struct worker *w)
{
	pthread_mutex_lock(&p->lock);
	struct job *job = p->head;
	if (job) {
		if (!(p->head = job->next))
			p->tail = NULL;
		pthread_mutex_unlock(&p->lock);
		return job;
	}
	if (p->stopping) {
		pthread_mutex_unlock(&p->lock);
		return NULL;
	}
	w->next_idle = p->idle;
	p->idle = w;
	p->idle_count++;
	pthread_mutex_unlock(&p->lock);
	while (sem_wait(&w->wake) && errno == EINTR)
		;
	return w->job;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct pool *p = w->pool;
	struct job *job;
	while ((job = next_job(p, w))) {
		TRACE(job_begin, job);
		if (job->ctx) {
			unsigned outside = eddy_ctx_set_crossing(job->crossing);
			job->err = eddy_ctx_run(job->ctx, job->fn, job->arg,
						&job->result);
			eddy_ctx_set_crossing(outside);
		} else
			job->result = job->fn(job->arg);
		TRACE(job_end, job); /* the loop may free job once posted */
		wake_post(p->wake, &job->msg);
	}
	return NULL;
}

int pool_init(struct pool *p, unsigned max, struct wake *wake)
{
	*p = (struct pool){ .max = max, .wake = wake };
	p->workers = eddy_alloc(max * sizeof *p->workers);
	if (!p->workers)
		return -ENOMEM;
	pthread_mutex_init(&p->lock, NULL);
	return 0;
}

/* Under the lock: start one more worker.  0 or -errno. */
static int start_worker(struct pool *p)
{
	struct worker *w = &p->workers[p->threads];
	*w = (struct worker){ .pool = p };
	sem_init(&w->wake, 0, 0);
	int err = pthread_create(&w->tid, NULL, worker_main, w);
	if (err) {
		sem_destroy(&w->wake);
		return -err;
	}
	p->threads++;
	return 0;
}

int pool_submit(struct pool *p, struct job *job)
{
	job->next = NULL;
	pthread_mutex_lock(&p->lock);
	struct worker *w = p->idle;
	if (w) {
		p->idle = w->next_idle;
		p->idle_count--;
		w->job = job;
		pthread_mutex_unlock(&p->lock);
		sem_post(&w->wake);
		return 0;
	}
	int err = p->threads < p->max ? start_worker(p) : 0;
	if (err && p->threads)
		err = 0; /* the running workers will get to it */
	if (!err) {
		if (p->tail)
			p->tail->next = job;
		else
			p->head = job;
		p->tail = job;
	}
	pthread_mutex_unlock(&p->lock);
	return err;
}

void pool_fini(struct pool *p)
{
	pthread_mutex_lock(&p->lock);
	p->stopping = true;
	struct worker *idle = p->idle;
	p->idle = NULL;
	p->idle_count = 0;
	pthread_mutex_unlock(&p->lock);
	for (struct worker *w = idle, *next; w; w = next) {
		next = w->next_idle;
		w->job = NULL;
		sem_post(&w->wake);
	}
	for (unsigned i = 0; i < p->threads; i++) {
		pthread_join(p->workers[i].tid, NULL);
		sem_destroy(&p->workers[i].wake);
	}
	pthread_mutex_destroy(&p->lock);
	eddy_free(p->workers);
}

void pool_counts(struct pool *p, unsigned *busy, unsigned *idle)
{
	pthread_mutex_lock(&p->lock);
	*idle = p->idle_count;
	*busy = p->threads - p->idle_count;
	pthread_mutex_unlock(&p->lock);
}
