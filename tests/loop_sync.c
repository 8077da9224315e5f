/*
 * Events, channels, mutexes and semaphores: waiters served in the order
 * they came, hand-off, timeouts and cancellation leaving no trace, channel
 * close, and misuse returning errors.
 *
 * Every test body runs as the main task of eddy_run.  Helper tasks queue
 * on an object and record what they got; the body lets them queue with
 * eddy_yield (every runnable task runs once before the body resumes), and
 * waits for them with eddy_join, never with a sleep.  Timeouts are 1 ms
 * and nothing asserts on time.
 */
#include "check.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>

#include "ctx/alloc.h"
#include "eddy.h"
#include "loop_test.h"

EDDY_SUITE(loop_sync);

#define MS 1000000u

/* The order in which helper tasks got what they waited for. */
struct order {
	int ids[8];
	int n;
};

/* One helper task's wait on obj, and how it ended. */
struct job {
	void *obj;
	int id;
	uint64_t timeout_ns; /* 0: none */
	void *item;          /* sent, or received */
	struct order *order; /* where it records its turn, or NULL */
	int result;
};

static void record(struct job *j)
{
	if (!j->result && j->order)
		j->order->ids[j->order->n++] = j->id;
}

static void *waits_for_event(void *arg)
{
	struct job *j = arg;
	j->result = eddy_event_wait_timeout(j->obj, j->timeout_ns);
	record(j);
	return NULL;
}

static void *sends(void *arg)
{
	struct job *j = arg;
	j->result = eddy_chan_send_timeout(j->obj, j->item, j->timeout_ns);
	record(j);
	return NULL;
}

static void *receives(void *arg)
{
	struct job *j = arg;
	j->result = eddy_chan_recv_timeout(j->obj, &j->item, j->timeout_ns);
	record(j);
	return NULL;
}

/* Locks, records, unlocks. */
static void *locks(void *arg)
{
	struct job *j = arg;
	j->result = eddy_mutex_lock_timeout(j->obj, j->timeout_ns);
	record(j);
	if (!j->result)
		cr_assert_eq(eddy_mutex_unlock(j->obj), 0);
	return NULL;
}

/* Acquires and keeps the permit. */
static void *acquires(void *arg)
{
	struct job *j = arg;
	j->result = eddy_sem_acquire_timeout(j->obj, j->timeout_ns);
	record(j);
	return NULL;
}

static eddy_task *start(eddy_fn fn, struct job *j)
{
	eddy_task *t = eddy_spawn(fn, j);
	cr_assert_not_null(t);
	return t;
}

static void finish(eddy_task *t)
{
	cr_assert_eq(eddy_join(t, NULL), 0);
}

/* Let every task spawned or woken so far run until it blocks. */
static void let_run(void)
{
	cr_assert_eq(eddy_yield(), 0);
}

static void assert_order(const struct order *o, int n)
{
	cr_assert_eq(o->n, n);
	for (int i = 0; i < n; i++)
		cr_assert_eq(o->ids[i], i, "turn %d went to task %d", i,
			     o->ids[i]);
}

/* ---- events ------------------------------------------------------------- */

LOOP_TEST(loop_sync, event_set_wakes_every_waiter_in_fifo_order)
{
	eddy_event *ev = eddy_event_new();
	struct order o = { 0 };
	struct job j[3];
	eddy_task *t[3];
	for (int i = 0; i < 3; i++) {
		j[i] = (struct job){ .obj = ev, .id = i, .order = &o };
		t[i] = start(waits_for_event, &j[i]);
	}
	let_run();
	cr_assert_eq(o.n, 0);
	cr_assert_eq(eddy_event_set(ev), 0);
	for (int i = 0; i < 3; i++)
		finish(t[i]);
	assert_order(&o, 3);
	cr_assert_eq(eddy_event_free(ev), 0);
}

LOOP_TEST(loop_sync, event_stays_set_until_cleared)
{
	eddy_event *ev = eddy_event_new();
	cr_assert_not(eddy_event_is_set(ev));
	eddy_event_set(ev);
	cr_assert(eddy_event_is_set(ev));
	cr_assert_eq(eddy_event_wait(ev), 0);
	cr_assert_eq(eddy_event_wait(ev), 0);
	cr_assert_eq(eddy_event_clear(ev), 0);
	cr_assert_not(eddy_event_is_set(ev));
	cr_assert_eq(eddy_event_wait_timeout(ev, MS), -ETIMEDOUT);
	eddy_event_free(ev);
}

LOOP_TEST(loop_sync, event_waiter_woken_by_set_succeeds_though_cleared_before_it_runs)
{
	eddy_event *ev = eddy_event_new();
	struct job j = { .obj = ev };
	eddy_task *t = start(waits_for_event, &j);
	let_run();
	eddy_event_set(ev);
	eddy_event_clear(ev);
	finish(t);
	cr_assert_eq(j.result, 0);
	eddy_event_free(ev);
}

LOOP_TEST(loop_sync, event_wait_timeout_is_etimedout_and_leaves_no_trace)
{
	eddy_event *ev = eddy_event_new();
	struct order o = { 0 };
	struct job quick = { .obj = ev, .id = 9, .timeout_ns = MS,
			     .order = &o };
	struct job patient = { .obj = ev, .id = 0, .order = &o };
	eddy_task *tq = start(waits_for_event, &quick);
	eddy_task *tp = start(waits_for_event, &patient);
	finish(tq);
	cr_assert_eq(quick.result, -ETIMEDOUT);
	eddy_event_set(ev);
	finish(tp);
	cr_assert_eq(patient.result, 0);
	assert_order(&o, 1);
	cr_assert_eq(eddy_event_free(ev), 0); /* nobody left waiting */
}

LOOP_TEST(loop_sync, event_cancelled_waiter_leaves_no_trace)
{
	eddy_event *ev = eddy_event_new();
	struct job gone = { .obj = ev }, stays = { .obj = ev };
	eddy_task *tg = start(waits_for_event, &gone);
	eddy_task *ts = start(waits_for_event, &stays);
	let_run();
	cr_assert_eq(eddy_cancel(tg), 0);
	finish(tg);
	cr_assert_eq(gone.result, -ECANCELED);
	cr_assert_eq(eddy_event_free(ev), -EBUSY); /* one still waits */
	eddy_event_set(ev);
	finish(ts);
	cr_assert_eq(stays.result, 0);
	cr_assert_eq(eddy_event_free(ev), 0);
}

/* ---- channels ----------------------------------------------------------- */

LOOP_TEST(loop_sync, chan_delivers_items_in_send_order)
{
	eddy_chan *ch = eddy_chan_new(3);
	const char *sent[] = { "a", "b", "c" };
	for (int i = 0; i < 3; i++)
		cr_assert_eq(eddy_chan_send(ch, (void *)sent[i]), 0);
	cr_assert_eq(eddy_chan_try_send(ch, "d"), -EAGAIN); /* full */
	for (int i = 0; i < 3; i++) {
		void *got;
		cr_assert_eq(eddy_chan_recv(ch, &got), 0);
		cr_assert_eq(got, sent[i]);
		cr_assert_eq(eddy_chan_send(ch, (void *)sent[i]), 0);
	}
	for (int i = 0; i < 3; i++) { /* across the ring's wrap */
		void *got;
		cr_assert_eq(eddy_chan_try_recv(ch, &got), 0);
		cr_assert_eq(got, sent[i]);
	}
	cr_assert_eq(eddy_chan_try_recv(ch, NULL), -EAGAIN); /* empty */
	eddy_chan_free(ch);
}

LOOP_TEST(loop_sync, chan_full_suspends_senders_and_serves_them_in_fifo_order)
{
	eddy_chan *ch = eddy_chan_new(1);
	struct order o = { 0 };
	struct job j[3];
	eddy_task *t[3];
	eddy_chan_send(ch, "first");
	for (int i = 0; i < 3; i++) {
		j[i] = (struct job){ .obj = ch, .id = i, .order = &o,
				     .item = &j[i] };
		t[i] = start(sends, &j[i]);
	}
	let_run();
	cr_assert_eq(o.n, 0);
	cr_assert_eq(eddy_chan_try_send(ch, "newcomer"), -EAGAIN);
	void *got;
	cr_assert_eq(eddy_chan_recv(ch, &got), 0);
	cr_assert_str_eq(got, "first");
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(eddy_chan_recv(ch, &got), 0);
		cr_assert_eq(got, &j[i]);
	}
	for (int i = 0; i < 3; i++)
		finish(t[i]);
	assert_order(&o, 3);
	eddy_chan_free(ch);
}

LOOP_TEST(loop_sync, chan_empty_suspends_receivers_and_serves_them_in_fifo_order)
{
	eddy_chan *ch = eddy_chan_new(4);
	struct order o = { 0 };
	struct job j[3];
	eddy_task *t[3];
	for (int i = 0; i < 3; i++) {
		j[i] = (struct job){ .obj = ch, .id = i, .order = &o };
		t[i] = start(receives, &j[i]);
	}
	let_run();
	const char *sent[] = { "a", "b", "c" };
	for (int i = 0; i < 3; i++)
		cr_assert_eq(eddy_chan_send(ch, (void *)sent[i]), 0);
	cr_assert_eq(eddy_chan_try_recv(ch, NULL), -EAGAIN); /* all handed */
	for (int i = 0; i < 3; i++) {
		finish(t[i]);
		cr_assert_eq(j[i].item, sent[i]);
	}
	assert_order(&o, 3);
	eddy_chan_free(ch);
}

LOOP_TEST(loop_sync, chan_of_capacity_0_completes_a_send_only_when_received)
{
	eddy_chan *ch = eddy_chan_new(0);
	cr_assert_eq(eddy_chan_try_send(ch, "x"), -EAGAIN);
	struct job s = { .obj = ch, .item = "x", .result = 1 };
	eddy_task *t = start(sends, &s);
	let_run();
	cr_assert_eq(s.result, 1); /* still waiting for a receiver */
	void *got;
	cr_assert_eq(eddy_chan_recv(ch, &got), 0);
	cr_assert_str_eq(got, "x");
	finish(t);
	cr_assert_eq(s.result, 0);

	struct job r = { .obj = ch };
	t = start(receives, &r);
	let_run();
	cr_assert_eq(eddy_chan_try_send(ch, "y"), 0); /* a receiver waits */
	finish(t);
	cr_assert_str_eq(r.item, "y");
	eddy_chan_free(ch);
}

LOOP_TEST(loop_sync, chan_send_timeout_is_etimedout_and_the_slot_goes_to_the_next_sender)
{
	eddy_chan *ch = eddy_chan_new(1);
	eddy_chan_send(ch, "first");
	struct job quick = { .obj = ch, .item = "quick", .timeout_ns = MS };
	struct job patient = { .obj = ch, .item = "patient" };
	eddy_task *tq = start(sends, &quick);
	eddy_task *tp = start(sends, &patient);
	finish(tq);
	cr_assert_eq(quick.result, -ETIMEDOUT);
	void *got;
	cr_assert_eq(eddy_chan_recv(ch, &got), 0);
	cr_assert_str_eq(got, "first");
	cr_assert_eq(eddy_chan_recv(ch, &got), 0);
	cr_assert_str_eq(got, "patient");
	cr_assert_eq(eddy_chan_try_recv(ch, NULL), -EAGAIN);
	finish(tp);
	cr_assert_eq(patient.result, 0);
	cr_assert_eq(eddy_chan_free(ch), 0);
}

LOOP_TEST(loop_sync, chan_recv_timeout_is_etimedout_and_the_item_goes_to_the_next_receiver)
{
	eddy_chan *ch = eddy_chan_new(1);
	struct job quick = { .obj = ch, .timeout_ns = MS };
	struct job patient = { .obj = ch };
	eddy_task *tq = start(receives, &quick);
	eddy_task *tp = start(receives, &patient);
	finish(tq);
	cr_assert_eq(quick.result, -ETIMEDOUT);
	cr_assert_eq(eddy_chan_send(ch, "item"), 0);
	finish(tp);
	cr_assert_eq(patient.result, 0);
	cr_assert_str_eq(patient.item, "item");
	cr_assert_null(quick.item);
	cr_assert_eq(eddy_chan_try_recv(ch, NULL), -EAGAIN);
	eddy_chan_free(ch);
}

LOOP_TEST(loop_sync, chan_cancelled_sender_leaves_no_trace)
{
	eddy_chan *ch = eddy_chan_new(0);
	struct job gone = { .obj = ch, .item = "gone" };
	struct job stays = { .obj = ch, .item = "stays" };
	eddy_task *tg = start(sends, &gone);
	eddy_task *ts = start(sends, &stays);
	let_run();
	eddy_cancel(tg);
	finish(tg);
	cr_assert_eq(gone.result, -ECANCELED);
	void *got;
	cr_assert_eq(eddy_chan_recv(ch, &got), 0);
	cr_assert_str_eq(got, "stays");
	finish(ts);
	cr_assert_eq(eddy_chan_try_recv(ch, NULL), -EAGAIN);
	eddy_chan_free(ch);
}

LOOP_TEST(loop_sync, chan_cancelled_receiver_leaves_no_trace)
{
	eddy_chan *ch = eddy_chan_new(0);
	struct job gone = { .obj = ch }, stays = { .obj = ch };
	eddy_task *tg = start(receives, &gone);
	eddy_task *ts = start(receives, &stays);
	let_run();
	eddy_cancel(tg);
	finish(tg);
	cr_assert_eq(gone.result, -ECANCELED);
	cr_assert_eq(eddy_chan_send(ch, "item"), 0);
	finish(ts);
	cr_assert_str_eq(stays.item, "item");
	cr_assert_null(gone.item);
	eddy_chan_free(ch);
}

LOOP_TEST(loop_sync, chan_close_lets_receivers_drain_then_is_epipe)
{
	eddy_chan *ch = eddy_chan_new(4);
	eddy_chan_send(ch, "a");
	eddy_chan_send(ch, "b");
	cr_assert_eq(eddy_chan_close(ch), 0);
	cr_assert_eq(eddy_chan_close(ch), 0); /* twice is harmless */
	cr_assert_eq(eddy_chan_send(ch, "c"), -EPIPE);
	cr_assert_eq(eddy_chan_try_send(ch, "c"), -EPIPE);
	void *got;
	cr_assert_eq(eddy_chan_recv(ch, &got), 0);
	cr_assert_str_eq(got, "a");
	cr_assert_eq(eddy_chan_try_recv(ch, &got), 0);
	cr_assert_str_eq(got, "b");
	cr_assert_eq(eddy_chan_recv(ch, &got), -EPIPE);
	cr_assert_eq(eddy_chan_try_recv(ch, &got), -EPIPE);
	eddy_chan_free(ch);
}

LOOP_TEST(loop_sync, chan_close_wakes_waiting_receivers_with_epipe)
{
	eddy_chan *ch = eddy_chan_new(1);
	struct job r[2] = { { .obj = ch }, { .obj = ch } };
	eddy_task *t0 = start(receives, &r[0]);
	eddy_task *t1 = start(receives, &r[1]);
	let_run();
	eddy_chan_close(ch);
	finish(t0);
	finish(t1);
	cr_assert_eq(r[0].result, -EPIPE);
	cr_assert_eq(r[1].result, -EPIPE);
	cr_assert_eq(eddy_chan_free(ch), 0);
}

LOOP_TEST(loop_sync, chan_close_wakes_waiting_senders_with_epipe_and_keeps_buffered_items)
{
	eddy_chan *ch = eddy_chan_new(1);
	eddy_chan_send(ch, "buffered");
	struct job s = { .obj = ch, .item = "unsent" };
	eddy_task *t = start(sends, &s);
	let_run();
	eddy_chan_close(ch);
	finish(t);
	cr_assert_eq(s.result, -EPIPE);
	void *got;
	cr_assert_eq(eddy_chan_recv(ch, &got), 0);
	cr_assert_str_eq(got, "buffered");
	cr_assert_eq(eddy_chan_recv(ch, &got), -EPIPE);
	eddy_chan_free(ch);
}

/* ---- mutexes ------------------------------------------------------------ */

LOOP_TEST(loop_sync, mutex_unlock_hands_the_lock_to_waiters_in_fifo_order)
{
	eddy_mutex *m = eddy_mutex_new();
	struct order o = { 0 };
	struct job j[3];
	eddy_task *t[3];
	cr_assert_eq(eddy_mutex_lock(m), 0);
	for (int i = 0; i < 3; i++) {
		j[i] = (struct job){ .obj = m, .id = i, .order = &o };
		t[i] = start(locks, &j[i]);
	}
	let_run();
	cr_assert_eq(o.n, 0);
	cr_assert_eq(eddy_mutex_unlock(m), 0);
	/* Handed to the first waiter, which has not run yet. */
	cr_assert_eq(eddy_mutex_trylock(m), -EBUSY);
	for (int i = 0; i < 3; i++)
		finish(t[i]);
	assert_order(&o, 3);
	cr_assert_eq(eddy_mutex_trylock(m), 0);
	cr_assert_eq(eddy_mutex_unlock(m), 0);
	cr_assert_eq(eddy_mutex_free(m), 0);
}

static void *unlocks(void *arg)
{
	struct job *j = arg;
	j->result = eddy_mutex_unlock(j->obj);
	return NULL;
}

LOOP_TEST(loop_sync, mutex_unlock_by_a_task_not_the_owner_is_eperm)
{
	eddy_mutex *m = eddy_mutex_new();
	cr_assert_eq(eddy_mutex_unlock(m), -EPERM); /* not locked */
	eddy_mutex_lock(m);
	struct job j = { .obj = m };
	finish(start(unlocks, &j));
	cr_assert_eq(j.result, -EPERM);
	cr_assert_eq(eddy_mutex_trylock(m), -EBUSY); /* still ours */
	cr_assert_eq(eddy_mutex_free(m), -EBUSY);
	cr_assert_eq(eddy_mutex_unlock(m), 0);
	cr_assert_eq(eddy_mutex_free(m), 0);
}

LOOP_TEST(loop_sync, mutex_lock_by_its_owner_is_edeadlk)
{
	eddy_mutex *m = eddy_mutex_new();
	eddy_mutex_lock(m);
	cr_assert_eq(eddy_mutex_lock(m), -EDEADLK);
	cr_assert_eq(eddy_mutex_trylock(m), -EBUSY);
	eddy_mutex_unlock(m);
	eddy_mutex_free(m);
}

LOOP_TEST(loop_sync, mutex_lock_timeout_is_etimedout_and_the_lock_goes_to_the_next_waiter)
{
	eddy_mutex *m = eddy_mutex_new();
	struct order o = { 0 };
	struct job quick = { .obj = m, .id = 9, .timeout_ns = MS,
			     .order = &o };
	struct job patient = { .obj = m, .id = 0, .order = &o };
	eddy_mutex_lock(m);
	eddy_task *tq = start(locks, &quick);
	eddy_task *tp = start(locks, &patient);
	finish(tq);
	cr_assert_eq(quick.result, -ETIMEDOUT);
	eddy_mutex_unlock(m);
	finish(tp);
	assert_order(&o, 1);
	cr_assert_eq(eddy_mutex_trylock(m), 0); /* released by patient */
	eddy_mutex_unlock(m);
	eddy_mutex_free(m);
}

LOOP_TEST(loop_sync, mutex_cancelled_waiter_leaves_no_trace)
{
	eddy_mutex *m = eddy_mutex_new();
	struct order o = { 0 };
	struct job gone = { .obj = m, .id = 9, .order = &o };
	struct job stays = { .obj = m, .id = 0, .order = &o };
	eddy_mutex_lock(m);
	eddy_task *tg = start(locks, &gone);
	eddy_task *ts = start(locks, &stays);
	let_run();
	eddy_cancel(tg);
	finish(tg);
	cr_assert_eq(gone.result, -ECANCELED);
	eddy_mutex_unlock(m);
	finish(ts);
	assert_order(&o, 1);
	cr_assert_eq(eddy_mutex_free(m), 0); /* unlocked, nobody waits */
}

/* ---- semaphores --------------------------------------------------------- */

LOOP_TEST(loop_sync, sem_counts_its_permits)
{
	eddy_sem *s = eddy_sem_new(2);
	cr_assert_eq(eddy_sem_value(s), 2);
	cr_assert_eq(eddy_sem_acquire(s), 0);
	cr_assert_eq(eddy_sem_try_acquire(s), 0);
	cr_assert_eq(eddy_sem_value(s), 0);
	cr_assert_eq(eddy_sem_try_acquire(s), -EAGAIN);
	cr_assert_eq(eddy_sem_acquire_timeout(s, MS), -ETIMEDOUT);
	cr_assert_eq(eddy_sem_release(s), 0);
	cr_assert_eq(eddy_sem_release(s), 0);
	cr_assert_eq(eddy_sem_release(s), 0); /* no upper bound but UINT_MAX */
	cr_assert_eq(eddy_sem_value(s), 3);
	eddy_sem_free(s);

	s = eddy_sem_new(UINT_MAX);
	cr_assert_eq(eddy_sem_release(s), -EOVERFLOW);
	cr_assert_eq(eddy_sem_value(s), UINT_MAX);
	eddy_sem_free(s);
}

LOOP_TEST(loop_sync, sem_release_hands_permits_to_waiters_in_fifo_order)
{
	eddy_sem *s = eddy_sem_new(0);
	struct order o = { 0 };
	struct job j[3];
	eddy_task *t[3];
	for (int i = 0; i < 3; i++) {
		j[i] = (struct job){ .obj = s, .id = i, .order = &o };
		t[i] = start(acquires, &j[i]);
	}
	let_run();
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(eddy_sem_release(s), 0);
		/* Handed over, not counted: a newcomer finds none. */
		cr_assert_eq(eddy_sem_value(s), 0);
		cr_assert_eq(eddy_sem_try_acquire(s), -EAGAIN);
	}
	for (int i = 0; i < 3; i++)
		finish(t[i]);
	assert_order(&o, 3);
	eddy_sem_free(s);
}

LOOP_TEST(loop_sync, sem_acquire_timeout_is_etimedout_and_the_permit_goes_to_the_next_waiter)
{
	eddy_sem *s = eddy_sem_new(0);
	struct order o = { 0 };
	struct job quick = { .obj = s, .id = 9, .timeout_ns = MS,
			     .order = &o };
	struct job patient = { .obj = s, .id = 0, .order = &o };
	eddy_task *tq = start(acquires, &quick);
	eddy_task *tp = start(acquires, &patient);
	finish(tq);
	cr_assert_eq(quick.result, -ETIMEDOUT);
	eddy_sem_release(s);
	finish(tp);
	assert_order(&o, 1);
	cr_assert_eq(eddy_sem_value(s), 0);
	eddy_sem_release(s);
	cr_assert_eq(eddy_sem_value(s), 1);
	cr_assert_eq(eddy_sem_free(s), 0);
}

LOOP_TEST(loop_sync, sem_cancelled_waiter_leaves_no_trace)
{
	eddy_sem *s = eddy_sem_new(0);
	struct order o = { 0 };
	struct job gone = { .obj = s, .id = 9, .order = &o };
	struct job stays = { .obj = s, .id = 0, .order = &o };
	eddy_task *tg = start(acquires, &gone);
	eddy_task *ts = start(acquires, &stays);
	let_run();
	eddy_cancel(tg);
	finish(tg);
	cr_assert_eq(gone.result, -ECANCELED);
	eddy_sem_release(s);
	finish(ts);
	assert_order(&o, 1);
	cr_assert_eq(eddy_sem_value(s), 0);
	cr_assert_eq(eddy_sem_free(s), 0);
}

LOOP_TEST(loop_sync, sem_waiter_cancelled_after_the_hand_off_keeps_its_permit)
{
	eddy_sem *s = eddy_sem_new(0);
	struct job j = { .obj = s };
	eddy_task *t = start(acquires, &j);
	let_run();
	eddy_sem_release(s);
	eddy_cancel(t); /* too late: the permit is the task's already */
	finish(t);
	cr_assert_eq(j.result, 0);
	cr_assert_eq(eddy_sem_value(s), 0);
	eddy_sem_free(s);
}

/* ---- every primitive ---------------------------------------------------- */

static void *cancels_itself_then_waits(void *arg)
{
	(void)arg;
	eddy_event *ev = eddy_event_new();
	eddy_chan *ch = eddy_chan_new(1);
	eddy_mutex *m = eddy_mutex_new();
	eddy_sem *s = eddy_sem_new(1);
	eddy_event_set(ev);
	eddy_cancel(eddy_self());
	/* Each would succeed at once, and is a cancellation point anyway. */
	cr_assert_eq(eddy_event_wait(ev), -ECANCELED);
	cr_assert_eq(eddy_chan_send(ch, NULL), -ECANCELED);
	cr_assert_eq(eddy_mutex_lock(m), -ECANCELED);
	cr_assert_eq(eddy_sem_acquire(s), -ECANCELED);
	/* What never suspends still works. */
	cr_assert_eq(eddy_chan_try_send(ch, NULL), 0);
	cr_assert_eq(eddy_chan_recv(ch, NULL), -ECANCELED);
	cr_assert_eq(eddy_sem_try_acquire(s), 0);
	cr_assert_eq(eddy_mutex_trylock(m), 0);
	cr_assert_eq(eddy_mutex_unlock(m), 0);
	eddy_event_free(ev);
	eddy_chan_free(ch);
	eddy_mutex_free(m);
	eddy_sem_free(s);
	return NULL;
}

Test(loop_sync, waits_in_a_cancelled_task_are_ecanceled)
{
	cr_assert_eq(eddy_run(cancels_itself_then_waits, NULL, NULL), 0);
}

Test(loop_sync, waits_outside_a_task_are_eperm)
{
	eddy_event *ev = eddy_event_new();
	eddy_chan *ch = eddy_chan_new(0);
	eddy_mutex *m = eddy_mutex_new();
	eddy_sem *s = eddy_sem_new(1);
	cr_assert_eq(eddy_event_wait(ev), -EPERM);
	cr_assert_eq(eddy_chan_send(ch, NULL), -EPERM);
	cr_assert_eq(eddy_chan_recv(ch, NULL), -EPERM);
	cr_assert_eq(eddy_mutex_lock(m), -EPERM);
	cr_assert_eq(eddy_mutex_trylock(m), -EPERM);
	cr_assert_eq(eddy_mutex_unlock(m), -EPERM);
	cr_assert_eq(eddy_sem_acquire(s), -EPERM);
	/* What never suspends works on the loop's thread outside a task. */
	cr_assert_eq(eddy_event_set(ev), 0);
	cr_assert_eq(eddy_sem_try_acquire(s), 0);
	cr_assert_eq(eddy_sem_release(s), 0);
	cr_assert_eq(eddy_chan_close(ch), 0);
	eddy_event_free(ev);
	eddy_chan_free(ch);
	eddy_mutex_free(m);
	eddy_sem_free(s);
}

Test(loop_sync, null_handles_are_einval)
{
	cr_assert_eq(eddy_event_set(NULL), -EINVAL);
	cr_assert_eq(eddy_event_wait(NULL), -EINVAL);
	cr_assert_not(eddy_event_is_set(NULL));
	cr_assert_eq(eddy_chan_send(NULL, NULL), -EINVAL);
	cr_assert_eq(eddy_chan_try_recv(NULL, NULL), -EINVAL);
	cr_assert_eq(eddy_chan_close(NULL), -EINVAL);
	cr_assert_eq(eddy_mutex_lock(NULL), -EINVAL);
	cr_assert_eq(eddy_mutex_unlock(NULL), -EINVAL);
	cr_assert_eq(eddy_sem_acquire(NULL), -EINVAL);
	cr_assert_eq(eddy_sem_release(NULL), -EINVAL);
	cr_assert_eq(eddy_event_free(NULL), 0);
	cr_assert_eq(eddy_chan_free(NULL), 0);
	cr_assert_eq(eddy_mutex_free(NULL), 0);
	cr_assert_eq(eddy_sem_free(NULL), 0);
	cr_assert_null(eddy_chan_new(SIZE_MAX));
	cr_assert_eq(errno, EINVAL);
}

/* The loop's first timed wait allocates its timer heap. */
LOOP_TEST(loop_sync, timed_wait_whose_timer_cannot_be_armed_is_enomem_and_leaves_no_trace)
{
	eddy_sem *s = eddy_sem_new(0);
	eddy_alloc_fail_nth(1);
	cr_assert_eq(eddy_sem_acquire_timeout(s, MS), -ENOMEM);
	eddy_alloc_fail_nth(0);
	cr_assert_eq(eddy_sem_free(s), 0); /* nobody waits */
}

/* A wait that nothing can end: the loop's deadlock breaker cancels it, and
 * the waiter unwinds with -ECANCELED. */
LOOP_TEST(loop_sync, wait_nothing_can_end_is_cancelled_by_the_loop)
{
	eddy_sem *s = eddy_sem_new(0);
	cr_assert_eq(eddy_sem_acquire(s), -ECANCELED);
	cr_assert_eq(eddy_sem_free(s), 0);
}
