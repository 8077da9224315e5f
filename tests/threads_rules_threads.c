/*
 * Per-variable rules across threads: task-local and loop-only variables
 * and merge rules through eddy_to_thread (a worker) and eddy_loop_call (a
 * foreign thread, or a worker calling back), under every policy, and a
 * reused worker that must start each call from the caller's context
 * alone.  make test runs this file under ThreadSanitizer too.
 *
 * The loop runs on the test's thread.  Where a worker must wait for a
 * task, it blocks on a pipe the task writes (a gate); a foreign thread's
 * end is reported through a pipe the main task reads.
 */
#define _GNU_SOURCE
#include "check.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "fork_common.h"
#include "rules_common.h"
#include "threads_common.h"

EDDY_SUITE(threads_rules);

static const enum eddy_policy policies[] = { EDDY_COPY, EDDY_SHARE,
					     EDDY_MERGE };

static eddy_var *ruled;

static void make_vars(void)
{
	make_stayers();
	cr_assert_not_null(user = eddy_var_new("user"));
}

static void free_vars(void)
{
	free_stayers();
	eddy_var_free(user);
	user = NULL;
}

static long get(const eddy_var *var)
{
	void *v;
	int err = eddy_var_get(var, &v);
	return err ? err : N(v);
}

/* ---- what the other side sees, and what comes back --------------------- */

/* The far side's view of the three variables and its sets' results. */
struct view {
	long deadline, db, user;
	int set_deadline, set_db, set_user;
};

static void *look_and_set(void *arg)
{
	struct view *v = arg;
	v->deadline = get(deadline);
	v->db = get(db);
	v->user = get(user);
	v->set_deadline = eddy_var_set(deadline, V(9), NULL);
	v->set_db = eddy_var_set(db, V(8), NULL);
	v->set_user = eddy_var_set(user, V(2), NULL);
	return NULL;
}

/* The near side's values before (5, 7, 1) and after the crossing. */
struct crossing_probe {
	enum eddy_policy policy;
	eddy_loop *loop;
	int err;
	struct view far;
	long deadline, db, user;
	eddy_fn thread; /* the foreign thread's body */
	int done[2];
};

static void set_near_side(void)
{
	eddy_var_set(deadline, V(5), NULL);
	eddy_var_set(db, V(7), NULL);
	set_user(1);
}

static void record_near_side(struct crossing_probe *p)
{
	p->deadline = get(deadline);
	p->db = get(db);
	p->user = get(user);
}

static void expect_crossed(const struct crossing_probe *p)
{
	bool share = p->policy == EDDY_SHARE;
	cr_assert_eq(p->err, 0);
	cr_assert_eq(p->far.deadline, 30, "task-local: the default");
	cr_assert_eq(p->far.db, -ENOENT, "loop-only: unset on the far side");
	cr_assert_eq(p->far.user, 1);
	cr_assert_eq(p->far.set_deadline, share ? -EPERM : 0);
	cr_assert_eq(p->far.set_db, share ? -EPERM : 0);
	cr_assert_eq(p->far.set_user, 0);
	cr_assert_eq(p->deadline, 5, "the near side keeps its own");
	cr_assert_eq(p->db, 7);
	cr_assert_eq(p->user, p->policy == EDDY_COPY ? 1 : 2);
}

static void *offloads(void *arg)
{
	struct crossing_probe *p = arg;
	set_near_side();
	p->err = eddy_to_thread(look_and_set, &p->far, p->policy, NULL);
	record_near_side(p);
	return NULL;
}

Test(threads_rules, a_worker_never_sees_task_local_or_loop_only_vars)
{
	make_vars();
	for (int i = 0; i < 3; i++) {
		struct crossing_probe p = { .policy = policies[i] };
		run_loop(0, 0, offloads, &p);
		expect_crossed(&p);
	}
	free_vars();
}

static void *foreign_caller(void *arg)
{
	struct crossing_probe *p = arg;
	set_near_side(); /* in this thread's own context */
	p->err = eddy_loop_call(p->loop, look_and_set, &p->far, p->policy,
				NULL);
	record_near_side(p);
	while (write(p->done[1], "x", 1) < 0 && errno == EINTR)
		;
	return NULL;
}

/* The loop's main task: start p->thread, wait for its done byte, join. */
static void *waits_for_a_thread(void *arg)
{
	struct crossing_probe *p = arg;
	pthread_t tid;
	cr_assert_eq(pthread_create(&tid, NULL, p->thread, p), 0);
	char x;
	cr_assert_eq(eddy_read(p->done[0], &x, 1), 1);
	pthread_join(tid, NULL);
	return NULL;
}

/* Run a loop while thread (a foreign thread) calls into it. */
static void run_with_thread(struct crossing_probe *p, eddy_fn thread)
{
	p->thread = thread;
	cr_assert_eq(pipe2(p->done, O_CLOEXEC), 0);
	p->loop = eddy_loop_new(NULL);
	cr_assert_not_null(p->loop);
	cr_assert_eq(eddy_loop_run(p->loop, waits_for_a_thread, p, NULL), 0);
	eddy_loop_free(p->loop);
	close(p->done[0]);
	close(p->done[1]);
}

Test(threads_rules, a_call_from_a_foreign_thread_never_sees_its_stayers)
{
	make_vars();
	for (int i = 0; i < 3; i++) {
		struct crossing_probe p = { .policy = policies[i] };
		run_with_thread(&p, foreign_caller);
		expect_crossed(&p);
	}
	free_vars();
}

/* call_soon: the task writes done itself, since nobody waits for it. */
static void *look_set_and_report(void *arg)
{
	struct crossing_probe *p = arg;
	look_and_set(&p->far);
	cr_assert_eq(eddy_write(p->done[1], "x", 1), 1);
	return NULL;
}

static void *calls_soon(void *arg)
{
	struct crossing_probe *p = arg;
	set_near_side();
	p->err = eddy_loop_call_soon(p->loop, look_set_and_report, p);
	return NULL;
}

Test(threads_rules, call_soon_leaves_the_threads_stayers_behind)
{
	make_vars();
	struct crossing_probe p = { .policy = EDDY_COPY };
	run_with_thread(&p, calls_soon);
	cr_assert_eq(p.err, 0);
	cr_assert_eq(p.far.deadline, 30);
	cr_assert_eq(p.far.db, -ENOENT);
	cr_assert_eq(p.far.user, 1);
	cr_assert_eq(p.far.set_deadline, 0, "its own copy");
	free_vars();
}

/* ---- two levels: task -> worker -> task -------------------------------- */

struct round_trip {
	enum eddy_policy out, back;
	eddy_loop *loop;
	int offload_err, call_err;
	struct view inner;
	long worker_db, user;
};

static void *worker_calls_back(void *arg)
{
	struct round_trip *r = arg;
	r->worker_db = get(db);
	r->call_err = eddy_loop_call(r->loop, look_and_set, &r->inner, r->back,
				     NULL);
	return NULL;
}

static void *offloads_and_is_called_back(void *arg)
{
	struct round_trip *r = arg;
	r->loop = eddy_loop_current();
	set_near_side();
	r->offload_err = eddy_to_thread(worker_calls_back, r, r->out, NULL);
	r->user = get(user);
	cr_assert_eq(get(deadline), 5);
	cr_assert_eq(get(db), 7);
	return NULL;
}

Test(threads_rules, stayers_stay_behind_through_a_worker_calling_back)
{
	make_vars();
	for (int i = 0; i < 3; i++)
		for (int j = 0; j < 3; j++) {
			struct round_trip r = { .out = policies[i],
						.back = policies[j] };
			run_loop(0, 0, offloads_and_is_called_back, &r);
			cr_assert_eq(r.offload_err, 0);
			cr_assert_eq(r.call_err, 0);
			cr_assert_eq(r.worker_db, -ENOENT);
			cr_assert_eq(r.inner.deadline, 30, "%d %d", i, j);
			cr_assert_eq(r.inner.db, -ENOENT, "%d %d", i, j);
			cr_assert_eq(r.inner.user, 1);
			cr_assert_eq(r.inner.set_deadline,
				     r.back == EDDY_SHARE ? -EPERM : 0);
			bool comes_back = r.out != EDDY_COPY &&
					  r.back != EDDY_COPY;
			cr_assert_eq(r.user, comes_back ? 2 : 1);
		}
	free_vars();
}

/* ---- merge rules back from a worker ------------------------------------ */

/*
 * The caller sets ruled to 5 and offloads under MERGE; meanwhile a SHARE
 * sibling (in the caller's context) sets it to 6 and opens the gate that
 * the worker waits at before it sets 15.
 */
struct rule_probe {
	struct gate gate;
	int err;
	long after;
	void *result; /* what the worker returned, as the call handed it */
};

static void *worker_after_the_sibling(void *arg)
{
	struct rule_probe *p = arg;
	thread_passes(&p->gate);
	eddy_var_set(ruled, V(15), NULL);
	set_user(2);
	return V(77);
}

static void *sibling(void *arg)
{
	struct rule_probe *p = arg;
	eddy_var_set(ruled, V(6), NULL);
	cr_assert_eq(task_opens(&p->gate), 1);
	return NULL;
}

static void *offloads_beside_a_sibling(void *arg)
{
	struct rule_probe *p = arg;
	eddy_var_set(ruled, V(5), NULL);
	set_user(1);
	eddy_task *t = eddy_spawn_with(sibling, p,
				       &(eddy_spawn_opts){ .policy = EDDY_SHARE });
	p->err = eddy_to_thread(worker_after_the_sibling, p, EDDY_MERGE,
				&p->result);
	cr_assert_eq(eddy_join(t, NULL), 0);
	p->after = get(ruled);
	if (p->err)
		cr_assert_eq(get(user), 1, "all or nothing");
	return NULL;
}

static struct rule_probe merge_from_worker(eddy_var_opts opts)
{
	make_vars();
	ruled = eddy_var_new_opts("ruled", &opts);
	cr_assert_not_null(ruled);
	struct rule_probe p = { 0 };
	gate_init(&p.gate);
	run_loop(0, 0, offloads_beside_a_sibling, &p);
	gate_fini(&p.gate);
	eddy_var_free(ruled);
	free_vars();
	return p;
}

Test(threads_rules, a_reducer_merges_a_workers_change_with_the_callers)
{
	struct rule_probe p = merge_from_worker(
		(eddy_var_opts){ .merge = EDDY_MERGE_REDUCE, .reduce = add });
	cr_assert_eq(p.err, 0);
	cr_assert_eq(p.after, 6 + 15 - 5);
}

Test(threads_rules, a_conflict_with_a_worker_fails_the_call_and_merges_nothing)
{
	struct rule_probe p = merge_from_worker(
		(eddy_var_opts){ .merge = EDDY_MERGE_CONFLICT_ERROR });
	cr_assert_eq(p.err, -EDDY_ECONFLICT);
	cr_assert_eq(p.after, 6);
	cr_assert_eq(p.result, V(77), "the worker's result is handed back");
}

Test(threads_rules, a_failing_reducer_fails_a_workers_merge_and_merges_nothing)
{
	struct rule_probe p = merge_from_worker(
		(eddy_var_opts){ .merge = EDDY_MERGE_REDUCE,
				 .reduce = refuse,
				 .reduce_arg = V(-EOVERFLOW) });
	cr_assert_eq(p.err, -EOVERFLOW);
	cr_assert_eq(p.after, 6);
	cr_assert_eq(p.result, V(77), "the worker's result is handed back");
}

Test(threads_rules, child_wins_over_the_callers_change)
{
	struct rule_probe p = merge_from_worker((eddy_var_opts){ 0 });
	cr_assert_eq(p.err, 0);
	cr_assert_eq(p.after, 15);
}

Test(threads_rules, parent_wins_over_a_worker)
{
	struct rule_probe p = merge_from_worker(
		(eddy_var_opts){ .merge = EDDY_MERGE_PARENT_WINS });
	cr_assert_eq(p.err, 0);
	cr_assert_eq(p.after, 6);
}

Test(threads_rules, never_keeps_a_workers_change_out)
{
	struct rule_probe p =
		merge_from_worker((eddy_var_opts){ .merge = EDDY_MERGE_NEVER });
	cr_assert_eq(p.err, 0);
	cr_assert_eq(p.after, 6);
}

static const eddy_var_opts every_rule[] = {
	{ .merge = EDDY_MERGE_CHILD_WINS },
	{ .merge = EDDY_MERGE_PARENT_WINS },
	{ .merge = EDDY_MERGE_REDUCE, .reduce = add },
	{ .merge = EDDY_MERGE_CONFLICT_ERROR },
	{ .merge = EDDY_MERGE_NEVER },
};
#define NRULES (sizeof every_rule / sizeof every_rule[0])

/* Under COPY and SHARE no merge happens, so no rule applies: the
 * caller keeps its 5, or sees the worker's 15 at once. */
struct plain_offload {
	enum eddy_policy policy;
	int err;
	long after;
};

static void *sets_15(void *unused)
{
	(void)unused;
	eddy_var_set(ruled, V(15), NULL);
	return NULL;
}

static void *offloads_sets_15(void *arg)
{
	struct plain_offload *o = arg;
	eddy_var_set(ruled, V(5), NULL);
	o->err = eddy_to_thread(sets_15, NULL, o->policy, NULL);
	o->after = get(ruled);
	return NULL;
}

Test(threads_rules, no_rule_applies_to_a_worker_under_copy_or_share)
{
	make_vars();
	for (size_t r = 0; r < NRULES; r++) {
		ruled = eddy_var_new_opts("ruled", &every_rule[r]);
		cr_assert_not_null(ruled);
		for (int i = 0; i < 2; i++) {
			struct plain_offload o = {
				.policy = i ? EDDY_SHARE : EDDY_COPY };
			run_loop(0, 0, offloads_sets_15, &o);
			cr_assert_eq(o.err, 0);
			cr_assert_eq(o.after, i ? 15 : 5, "rule %zu", r);
		}
		eddy_var_free(ruled);
	}
	free_vars();
}

/* A thread blocked in eddy_loop_call changes nothing meanwhile: only the
 * task changed the variable, and every rule but NEVER takes its value. */
static void *calls_and_task_sets_15(void *arg)
{
	struct crossing_probe *p = arg;
	eddy_var_set(ruled, V(5), NULL);
	p->err = eddy_loop_call(p->loop, sets_15, NULL, EDDY_MERGE, NULL);
	p->user = get(ruled); /* the record's spare field */
	while (write(p->done[1], "x", 1) < 0 && errno == EINTR)
		;
	return NULL;
}

Test(threads_rules, a_call_merges_back_by_the_rules_when_only_the_task_changed)
{
	make_vars();
	for (size_t r = 0; r < NRULES; r++) {
		ruled = eddy_var_new_opts("ruled", &every_rule[r]);
		cr_assert_not_null(ruled);
		struct crossing_probe p = { .policy = EDDY_MERGE };
		run_with_thread(&p, calls_and_task_sets_15);
		cr_assert_eq(p.err, 0);
		cr_assert_eq(p.user,
			     every_rule[r].merge == EDDY_MERGE_NEVER ? 5 : 15,
			     "rule %zu", r);
		eddy_var_free(ruled);
	}
	free_vars();
}

/* ---- a reused worker --------------------------------------------------- */

/* What a worker found: its thread, how many vars its context maps, and
 * each variable's value. */
struct visit {
	pthread_t thread;
	size_t len;
	long deadline, db, user;
};

static void *worker_visits(void *arg)
{
	struct visit *v = arg;
	v->thread = pthread_self();
	v->len = eddy_ctx_len(eddy_ctx_current());
	v->deadline = get(deadline);
	v->db = get(db);
	v->user = get(user);
	set_user(3); /* something the next call must not find */
	return NULL;
}

struct reuse {
	enum eddy_policy first, second;
	struct visit v[2];
};

/* The first call comes from a task that set all three variables. */
static void *first_caller(void *arg)
{
	struct reuse *r = arg;
	set_near_side();
	cr_assert_eq(eddy_to_thread(worker_visits, &r->v[0], r->first, NULL),
		     0);
	return NULL;
}

/* The second from a task that set nothing. */
static void *second_caller(void *arg)
{
	struct reuse *r = arg;
	cr_assert_eq(eddy_to_thread(worker_visits, &r->v[1], r->second, NULL),
		     0);
	return NULL;
}

static void *two_callers_one_worker(void *arg)
{
	eddy_spawn_opts copy = { .policy = EDDY_COPY };
	eddy_task *a = eddy_spawn_with(first_caller, arg, &copy);
	cr_assert_eq(eddy_join(a, NULL), 0);
	eddy_task *b = eddy_spawn_with(second_caller, arg, &copy);
	cr_assert_eq(eddy_join(b, NULL), 0);
	return NULL;
}

Test(threads_rules, a_reused_worker_starts_each_call_with_the_callers_context)
{
	make_vars();
	for (int i = 0; i < 3; i++)
		for (int j = 0; j < 3; j++) {
			struct reuse r = { .first = policies[i],
					   .second = policies[j] };
			run_loop(0, 1, two_callers_one_worker, &r);
			cr_assert(pthread_equal(r.v[0].thread, r.v[1].thread),
				  "one worker served both");
			bool share = r.first == EDDY_SHARE;
			/* SHARE: the caller's object, stayers hidden in it */
			cr_assert_eq(r.v[0].len, share ? 3 : 1);
			cr_assert_eq(r.v[0].deadline, 30);
			cr_assert_eq(r.v[0].db, -ENOENT);
			cr_assert_eq(r.v[0].user, 1);
			cr_assert_eq(r.v[1].len, 0, "%d then %d", i, j);
			cr_assert_eq(r.v[1].deadline, 30);
			cr_assert_eq(r.v[1].db, -ENOENT);
			cr_assert_eq(r.v[1].user, -ENOENT);
		}
	free_vars();
}

/* ---- the registry of stayers, across threads --------------------------- */

enum { CHURN = 2000 };

/* Creates and frees task-local variables that no context maps, as a
 * plugin might, while another thread copies. */
static void *churns_stayers(void *unused)
{
	(void)unused;
	for (int i = 0; i < CHURN; i++) {
		eddy_var *v = eddy_var_new_opts(
			"churn", &(eddy_var_opts){
					 .propagate = EDDY_PROPAGATE_TASK_LOCAL });
		cr_assert_not_null(v);
		eddy_var_free(v);
	}
	return NULL;
}

Test(threads_rules, copies_look_stayers_up_while_other_threads_free_theirs)
{
	make_vars();
	eddy_var *many[100];
	eddy_ctx *ctx = eddy_ctx_new();
	cr_assert_eq(eddy_ctx_enter(ctx), 0);
	for (int i = 0; i < 100; i++) {
		many[i] = eddy_var_new("many");
		set_user(i); /* user and 100 more: the registry is shorter */
		cr_assert_eq(eddy_var_set(many[i], V(i), NULL), 0);
	}
	cr_assert_eq(eddy_var_set(deadline, V(5), NULL), 0);
	cr_assert_eq(eddy_ctx_leave(ctx), 0);
	pthread_t tid;
	cr_assert_eq(pthread_create(&tid, NULL, churns_stayers, NULL), 0);
	for (int i = 0; i < CHURN; i++) {
		eddy_ctx *child = eddy_ctx_copy_crossing(ctx, EDDY_CROSS_TASK);
		cr_assert_not_null(child);
		cr_assert_eq(eddy_ctx_get(child, deadline, NULL), -ENOENT);
		cr_assert_eq(eddy_ctx_len(child), 101);
		eddy_ctx_unref(child);
	}
	pthread_join(tid, NULL);
	eddy_ctx_unref(ctx);
	for (int i = 0; i < 100; i++)
		eddy_var_free(many[i]);
	free_vars();
}

/* Creates and frees task-local variables until told to stop, so that the
 * registry's lock is often held when the test's thread forks. */
static atomic_bool stop_churning;

static void *churns_until_stopped(void *unused)
{
	(void)unused;
	while (!atomic_load(&stop_churning)) {
		eddy_var *v = eddy_var_new_opts(
			"churn", &(eddy_var_opts){
					 .propagate = EDDY_PROPAGATE_TASK_LOCAL });
		if (!v)
			return (void *)"eddy_var_new_opts failed";
		eddy_var_free(v);
	}
	return NULL;
}

/* The registry's lock must be free in a child of fork. */
static int makes_a_stayer(void)
{
	eddy_var *v = eddy_var_new_opts(
		"in the child",
		&(eddy_var_opts){ .propagate = EDDY_PROPAGATE_TASK_LOCAL });
	eddy_var_free(v);
	return v ? 0 : 1;
}

/* A child of fork must not inherit the registry's lock held by a thread
 * it lacks: its first task-local variable would wait for it forever. */
Test(threads_rules, fork_while_another_thread_registers_stayers,
     .timeout = 120)
{
	pthread_t t;
	cr_assert_eq(pthread_create(&t, NULL, churns_until_stopped, NULL), 0);
	fork_children(makes_a_stayer);
	atomic_store(&stop_churning, true);
	void *failure;
	cr_assert_eq(pthread_join(t, &failure), 0);
	cr_assert_null(failure);
}
