/*
 * What a loop tells about itself: the task dump (eddy_loop_dump) for a
 * known set of tasks, on demand and on SIGQUIT; the slow-task report; and
 * the counters of eddy_loop_stats against work whose count is known.
 * One test starts a worker thread, so make test runs this file under
 * ThreadSanitizer too.
 */
#define _GNU_SOURCE
#include "check.h"

#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "eddy.h"
#include "task/stack.h" /* the guard fallback's test hook */

EDDY_SUITE(loop_observe);

/* Everything stderr gets between capture_stderr and its end. */
static FILE *captured;
static int saved_stderr;

static void capture_stderr(void)
{
	fflush(stderr);
	captured = tmpfile();
	cr_assert_not_null(captured);
	saved_stderr = dup(2);
	dup2(fileno(captured), 2);
}

/* The captured text, in a buffer the caller frees. */
static char *stderr_text(void)
{
	fflush(stderr);
	dup2(saved_stderr, 2);
	close(saved_stderr);
	long len = ftell(captured);
	char *text = calloc(1, (size_t)len + 1);
	rewind(captured);
	cr_assert_eq(fread(text, 1, (size_t)len, captured), (size_t)len);
	fclose(captured);
	return text;
}

/* Each line of text with its " | ..." tail (what varies) cut off. */
static void cut_tails(char *text)
{
	char *out = text;
	for (char *in = text; *in;) {
		char *eol = strchr(in, '\n');
		size_t len = eol ? (size_t)(eol - in) : strlen(in);
		char *bar = memmem(in, len, " | ", 3);
		size_t keep = bar ? (size_t)(bar - in) : len;
		memmove(out, in, keep);
		out += keep;
		if (eol)
			*out++ = '\n';
		in += len + (eol != NULL);
	}
	*out = '\0';
}

/* ---- the dump ------------------------------------------------------------ */

struct scene {
	int pipe[2];
	eddy_mutex *mutex;
	eddy_event *event;
	eddy_task *reader, *sleeper, *locker, *joiner, *grandchild, *fresh,
		*done;
	char *dump;
	size_t dump_len;
};

static void *reads(void *arg)
{
	struct scene *s = arg;
	char c;
	return (void *)eddy_read(s->pipe[0], &c, 1);
}

static void *sleeps(void *arg)
{
	(void)arg;
	return (void *)(long)eddy_sleep(60ull * 1000000000);
}

static void *locks(void *arg)
{
	struct scene *s = arg;
	int err = eddy_mutex_lock(s->mutex);
	if (!err)
		eddy_mutex_unlock(s->mutex);
	return (void *)(long)err;
}

static void *waits_for_event(void *arg)
{
	struct scene *s = arg;
	return (void *)(long)eddy_event_wait(s->event);
}

static void *spawns_and_joins(void *arg)
{
	struct scene *s = arg;
	eddy_spawn_opts o = { .name = "grandchild" };
	s->grandchild = eddy_spawn_with(waits_for_event, s, &o);
	return (void *)(long)eddy_join(s->grandchild, NULL);
}

static void *returns(void *arg)
{
	return arg;
}

static eddy_task *spawn_named(eddy_fn fn, void *arg, const char *name,
			      enum eddy_policy policy)
{
	eddy_spawn_opts o = { .name = name, .policy = policy };
	eddy_task *t = eddy_spawn_with(fn, arg, &o);
	cr_assert_not_null(t);
	return t;
}

static void *sets_the_scene_and_dumps(void *arg)
{
	struct scene *s = arg;
	cr_assert_eq(eddy_mutex_lock(s->mutex), 0);
	s->reader = spawn_named(reads, s, "reader", EDDY_COPY);
	s->sleeper = spawn_named(sleeps, s, "sleeper", EDDY_SHARE);
	s->locker = spawn_named(locks, s, "locker", EDDY_MERGE);
	s->joiner = spawn_named(spawns_and_joins, s, "joiner", EDDY_COPY);
	s->done = spawn_named(returns, NULL, "done", EDDY_COPY);
	for (int i = 0; i < 3; i++) /* each reaches its wait */
		cr_assert_eq(eddy_yield(), 0);
	s->fresh = spawn_named(returns, NULL, NULL, EDDY_COPY);

	FILE *out = open_memstream(&s->dump, &s->dump_len);
	cr_assert_eq(eddy_loop_dump(eddy_loop_current(), out), 0);
	fclose(out);

	cr_assert_eq(write(s->pipe[1], "x", 1), 1);
	cr_assert_eq(eddy_cancel(s->sleeper), 0);
	cr_assert_eq(eddy_mutex_unlock(s->mutex), 0);
	cr_assert_eq(eddy_event_set(s->event), 0);
	eddy_task *all[] = { s->reader, s->sleeper, s->locker, s->joiner,
			     s->done, s->fresh };
	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
		cr_assert_eq(eddy_join(all[i], NULL), 0);
	return NULL;
}

#define ID(t) eddy_task_id(t)

Test(loop_observe, dump_shows_each_task_its_state_and_the_spawn_tree)
{
	struct scene s = { 0 };
	cr_assert_eq(pipe(s.pipe), 0);
	s.mutex = eddy_mutex_new();
	s.event = eddy_event_new();
	eddy_loop *loop = eddy_loop_new(NULL);
	cr_assert_eq(eddy_loop_run(loop, sets_the_scene_and_dumps, &s, NULL),
		     0);
	char want[2048];
	snprintf(want, sizeof want,
		 "eddy loop dump: 8 tasks (%s)\n"
		 "#%" PRIu64 ": running\n"
		 "  #%" PRIu64 " reader: waiting: read fd %d\n"
		 "  #%" PRIu64 " sleeper: waiting: timer\n"
		 "  #%" PRIu64 " locker: waiting: mutex\n"
		 "  #%" PRIu64 " joiner: waiting: join #%" PRIu64 "\n"
		 "    #%" PRIu64 " grandchild: waiting: event\n"
		 "  #%" PRIu64 " done: finished, not joined\n"
		 "  #%" PRIu64 ": runnable\n",
		 eddy_loop_backend(loop) == EDDY_BACKEND_URING ? "io_uring"
							       : "epoll",
		 ID(s.reader) - 1, ID(s.reader), s.pipe[0], ID(s.sleeper),
		 ID(s.locker), ID(s.joiner), ID(s.grandchild),
		 ID(s.grandchild), ID(s.done), ID(s.fresh));
	char *full = strdup(s.dump);
	cut_tails(s.dump);
	cr_expect_str_eq(s.dump, want);
	/* the tails: a timer's time left, the policy, the stack */
	cr_expect(strstr(full, "sleeper: waiting: timer | ") &&
		  strstr(strstr(full, "sleeper"), " ms left; ctx "),
		  "%s", full);
	cr_expect_not_null(strstr(full, "locker: waiting: mutex | ctx "));
	cr_expect_not_null(strstr(strstr(full, "locker"), ", merge; ran "));
	cr_expect_not_null(strstr(strstr(full, "sleeper"), ", share; ran "));
	cr_expect_not_null(strstr(full, "never ran"), "the fresh task");
	cr_expect_not_null(strstr(full, " of 256 KiB\n"), "%s", full);
	free(full);
	free(s.dump);
	eddy_loop_free(loop);
	eddy_mutex_free(s.mutex);
	eddy_event_free(s.event);
	close(s.pipe[0]);
	close(s.pipe[1]);
}

static void *uses_stack(void *depth)
{
	volatile char frame[64 * 1024];
	for (size_t i = 0; i < sizeof frame; i += 512)
		frame[i] = 1;
	(void)depth;
	return (void *)(long)eddy_yield();
}

static void *measures_stack(void *arg)
{
	size_t *used = arg;
	eddy_task *t = eddy_spawn(uses_stack, NULL);
	cr_assert_eq(eddy_yield(), 0); /* t touched 64 KiB and yielded */
	size_t size;
	cr_assert_eq(eddy_task_stack_usage(t, used, &size), 0);
	cr_assert_eq(eddy_join(t, NULL), 0);
	return NULL;
}

Test(loop_observe, stack_high_water_mark_counts_the_pages_a_task_touched)
{
	size_t used = 0;
	cr_assert_eq(eddy_run(measures_stack, &used, NULL), 0);
	cr_expect_geq(used, 64 * 1024);
	cr_expect_leq(used, EDDY_STACK_DEFAULT);
	cr_assert_eq(eddy_task_stack_usage(NULL, &used, &used), -EINVAL);
}

struct signalled {
	int signo;
	FILE *out;
	char text[512];
};

/* Sends the signal, then sleeps until the loop wrote out; bounded. */
static void *signals_and_waits(void *arg)
{
	struct signalled *s = arg;
	cr_assert_eq(kill(getpid(), s->signo), 0);
	for (int i = 0; i < 1000 && ftell(s->out) == 0; i++)
		cr_assert_eq(eddy_sleep(1000000), 0);
	return NULL;
}

/* Run loop while the process gets signo; s->text: what it wrote. */
static void run_signalled(eddy_loop *loop, struct signalled *s)
{
	cr_assert_eq(eddy_loop_run(loop, signals_and_waits, s, NULL), 0);
	rewind(s->out);
	cr_assert_gt(fread(s->text, 1, sizeof s->text - 1, s->out), 0);
	fclose(s->out);
}

Test(loop_observe, sigquit_dumps_through_the_ring_when_asked)
{
	struct signalled s = { .signo = SIGQUIT, .out = tmpfile() };
	eddy_loop *loop = eddy_loop_new(NULL);
	cr_assert_eq(eddy_loop_dump_on_sigquit(loop, s.out), 0);
	run_signalled(loop, &s);
	eddy_loop_free(loop);
	cr_expect_eq(strncmp(s.text, "eddy loop dump: 1 task ", 23), 0, "%s",
		     s.text);
	/* the loop, not a handler, made it: while the task slept */
	cr_expect_not_null(strstr(s.text, "\n#1: waiting: timer | "), "%s",
			   s.text);
	cr_assert_eq(eddy_loop_dump_on_sigquit(NULL, stderr), -EINVAL);
}

Test(loop_observe, a_chosen_signal_prints_the_counters)
{
	struct signalled s = { .signo = SIGUSR1, .out = tmpfile() };
	eddy_loop *loop = eddy_loop_new(NULL);
	cr_assert_eq(eddy_loop_stats_on_signal(loop, SIGUSR1, s.out), 0);
	run_signalled(loop, &s);
	cr_expect_eq(strncmp(s.text, "eddy stats: tasks 1 alive, 0 finished, ",
			     39), 0, "%s", s.text);
	cr_expect_not_null(strstr(s.text, " workers 0 busy, 0 idle\n"), "%s",
			   s.text);
	/* off again: the signal is unblocked, as it was */
	cr_assert_eq(eddy_loop_stats_on_signal(loop, SIGUSR1, NULL), 0);
	sigset_t now;
	pthread_sigmask(SIG_BLOCK, NULL, &now);
	cr_expect_not(sigismember(&now, SIGUSR1));
	cr_assert_eq(eddy_loop_stats_on_signal(loop, SIGQUIT, stderr), -EINVAL);
	cr_assert_eq(eddy_loop_stats_on_signal(loop, SIGKILL, stderr), -EINVAL);
	cr_assert_eq(eddy_loop_stats_on_signal(loop, 0, stderr), -EINVAL);
	eddy_loop_free(loop);
}

Test(loop_observe, freeing_the_loop_unblocks_what_it_blocked)
{
	eddy_loop *loop = eddy_loop_new(NULL);
	cr_assert_eq(eddy_loop_dump_on_sigquit(loop, stderr), 0);
	cr_assert_eq(eddy_loop_stats_on_signal(loop, SIGUSR2, stderr), 0);
	sigset_t now;
	pthread_sigmask(SIG_BLOCK, NULL, &now);
	cr_assert(sigismember(&now, SIGQUIT) && sigismember(&now, SIGUSR2));
	eddy_loop_free(loop);
	pthread_sigmask(SIG_BLOCK, NULL, &now);
	cr_expect_not(sigismember(&now, SIGQUIT));
	cr_expect_not(sigismember(&now, SIGUSR2));
}

/* ---- the slow-task report ------------------------------------------------------ */

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Runs at least 2 ms without yielding, twice. */
static void *hogs(void *arg)
{
	(void)arg;
	for (int round = 0; round < 2; round++) {
		uint64_t until = now_ns() + 2000000;
		while (now_ns() < until)
			;
		eddy_yield();
	}
	return NULL;
}

static void *hog_and_quick(void *arg)
{
	(void)arg;
	eddy_spawn_opts o = { .name = "hog" };
	eddy_task *hog = eddy_spawn_with(hogs, NULL, &o);
	o.name = "quick";
	eddy_task *quick = eddy_spawn_with(returns, NULL, &o);
	cr_assert_eq(eddy_join(hog, NULL), 0);
	cr_assert_eq(eddy_join(quick, NULL), 0);
	return (void *)eddy_task_id(hog);
}

static char *run_hogs(uint64_t threshold, void **hog_id)
{
	eddy_loop *loop = eddy_loop_new(NULL);
	if (threshold)
		cr_assert_eq(eddy_loop_report_slow_tasks(loop, threshold), 0);
	capture_stderr();
	int err = eddy_loop_run(loop, hog_and_quick, NULL, hog_id);
	char *text = stderr_text();
	cr_assert_eq(err, 0);
	eddy_loop_free(loop);
	return text;
}

Test(loop_observe, slow_task_is_reported_once_with_its_name)
{
	void *id;
	char *text = run_hogs(1000000, &id);
	/* the hog ran 2 ms twice: one line; other tasks may be slow too on a
	 * loaded machine or under a sanitizer, and have lines of their own */
	char want[64];
	snprintf(want, sizeof want, "eddy: task #%ld hog ran ", (long)id);
	char *line = strstr(text, want);
	cr_assert_not_null(line, "%s", text);
	cr_expect_null(strstr(line + 1, want), "twice: %s", text);
	char *eol = strchr(line, '\n');
	cr_assert_not_null(eol);
	*eol = '\0';
	cr_expect_not_null(strstr(line, " ms without yielding (the report's "
				  "threshold is 1.0 ms)"), "%s", line);
	free(text);
}

Test(loop_observe, slow_task_report_is_off_by_default)
{
	void *id;
	char *text = run_hogs(0, &id);
	cr_expect_str_eq(text, "");
	free(text);
	eddy_loop *loop = eddy_loop_new(NULL);
	cr_assert_eq(eddy_loop_report_slow_tasks(loop, UINT64_MAX), 0);
	eddy_loop_free(loop);
	cr_assert_eq(eddy_loop_report_slow_tasks(NULL, 0), -EINVAL);
}

/* ---- counters -------------------------------------------------------------------- */

enum { CHILDREN = 10, YIELDS = 3 };

static void *yields(void *arg)
{
	(void)arg;
	for (int i = 0; i < YIELDS; i++)
		eddy_yield();
	return NULL;
}

static void *spawns_yielders(void *arg)
{
	(void)arg;
	for (int i = 0; i < CHILDREN; i++)
		cr_assert_eq(eddy_detach(eddy_spawn(yields, NULL)), 0);
	return NULL;
}

Test(loop_observe, counters_count_tasks_and_switches)
{
	eddy_loop *loop = eddy_loop_new(NULL);
	cr_assert_eq(eddy_loop_run(loop, spawns_yielders, NULL, NULL), 0);
	eddy_stats st;
	cr_assert_eq(eddy_loop_stats(loop, &st), 0);
	cr_expect_eq(st.tasks_alive, 0);
	cr_expect_eq(st.tasks_finished, CHILDREN + 1);
	/* main runs once; each child once per yield and once to finish */
	cr_expect_eq(st.switches, 1 + CHILDREN * (YIELDS + 1));
	cr_expect_geq(st.stacks_mapped, st.stacks_pooled);
	cr_expect_geq(st.stacks_pooled, 1);
	eddy_loop_free(loop);
	cr_assert_eq(eddy_loop_stats(NULL, &st), -EINVAL);
}

static void *does_io_and_timers(void *arg)
{
	eddy_stats *st = arg; /* [0] before, [1] after the I/O, [2] asleep */
	int p[2];
	cr_assert_eq(pipe(p), 0);
	eddy_loop *loop = eddy_loop_current();
	cr_assert_eq(eddy_loop_stats(loop, &st[0]), 0);
	char c = 'x';
	cr_assert_eq(eddy_write(p[1], &c, 1), 1);
	cr_assert_eq(eddy_read(p[0], &c, 1), 1);
	cr_assert_eq(eddy_loop_stats(loop, &st[1]), 0);
	eddy_task *t = eddy_spawn(sleeps, NULL);
	cr_assert_eq(eddy_yield(), 0); /* t arms its timer */
	cr_assert_eq(eddy_loop_stats(loop, &st[2]), 0);
	cr_assert_eq(eddy_sleep(1000), 0); /* one timer fires */
	cr_assert_eq(eddy_cancel(t), 0);
	cr_assert_eq(eddy_join(t, NULL), 0);
	cr_assert_eq(eddy_loop_stats(loop, &st[3]), 0);
	close(p[0]);
	close(p[1]);
	return NULL;
}

static void *prints_stats(void *arg)
{
	return (void *)(long)eddy_loop_print_stats(eddy_loop_current(), arg);
}

Test(loop_observe, counters_print_on_one_line)
{
	char *text = NULL;
	size_t len;
	FILE *out = open_memstream(&text, &len);
	void *r;
	cr_assert_eq(eddy_run(prints_stats, out, &r), 0);
	cr_assert_eq((long)r, 0);
	fclose(out);
	cr_expect_eq(strncmp(text, "eddy stats: tasks 1 alive, 0 finished, "
			     "1 switches; io ", 54), 0, "%s", text);
	cr_expect_eq(strchr(text, '\n') - text + 1, (long)len, "%s", text);
	free(text);
	cr_assert_eq(eddy_loop_print_stats(NULL, stderr), -EINVAL);
}

Test(loop_observe, counters_count_io_and_timers)
{
	eddy_stats st[4];
	cr_assert_eq(eddy_run(does_io_and_timers, st, NULL), 0);
	cr_expect_eq(st[1].io_submitted - st[0].io_submitted, 2);
	cr_expect_eq(st[1].io_completed - st[0].io_completed, 2);
	cr_expect_geq(st[1].io_submit_calls - st[0].io_submit_calls, 1);
	cr_expect_leq(st[1].io_submit_calls - st[0].io_submit_calls, 4);
	cr_expect_eq(st[2].timers_armed, 1);
	cr_expect_eq(st[3].timers_armed, 0);
	cr_expect_eq(st[3].timers_fired - st[2].timers_fired, 1);
}

struct gate {
	int pipe[2];
	eddy_stats busy, after;
};

static void *blocks_on_gate(void *arg)
{
	struct gate *g = arg;
	char c;
	return (void *)read(g->pipe[0], &c, 1);
}

static void *calls_worker(void *arg)
{
	return (void *)(long)eddy_to_thread(blocks_on_gate, arg, 0, NULL);
}

static void *checks_workers(void *arg)
{
	struct gate *g = arg;
	eddy_loop *loop = eddy_loop_current();
	eddy_task *t = eddy_spawn(calls_worker, g);
	cr_assert_eq(eddy_yield(), 0); /* t hands its call to a new worker */
	cr_assert_eq(eddy_loop_stats(loop, &g->busy), 0);
	cr_assert_eq(write(g->pipe[1], "x", 1), 1);
	cr_assert_eq(eddy_join(t, NULL), 0);
	cr_assert_eq(eddy_loop_stats(loop, &g->after), 0);
	return NULL;
}

Test(loop_observe, counters_count_busy_and_idle_workers)
{
	struct gate g;
	cr_assert_eq(pipe(g.pipe), 0);
	cr_assert_eq(eddy_run(checks_workers, &g, NULL), 0);
	cr_expect_eq(g.busy.workers_busy, 1);
	cr_expect_eq(g.busy.workers_idle, 0);
	cr_expect_eq(g.after.workers_busy + g.after.workers_idle, 1);
	close(g.pipe[0]);
	close(g.pipe[1]);
}

static void *spawns_one(void *arg)
{
	(void)arg;
	return (void *)(long)eddy_join(eddy_spawn(returns, NULL), NULL);
}

Test(loop_observe, counters_count_guard_page_fallbacks)
{
	eddy_stack_test_no_guard_madvise();
	eddy_loop *loop = eddy_loop_new(NULL);
	cr_assert_eq(eddy_loop_run(loop, spawns_one, NULL, NULL), 0);
	eddy_stats st;
	cr_assert_eq(eddy_loop_stats(loop, &st), 0);
	cr_expect_geq(st.stacks_mprotected + st.stacks_unguarded, 1);
	eddy_loop_free(loop);
}
