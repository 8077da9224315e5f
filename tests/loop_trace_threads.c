/*
 * The timeline trace: each kind of event, in the order it happened, in a
 * file that Python's json module reads; starting and stopping; and the
 * ways writing can fail (an unwritable path, a full disk) without the
 * traced program noticing.  Worker threads make events too, so make test
 * runs this file under ThreadSanitizer as well.
 *
 * Each test traces a small program into a file of its own, then runs a
 * Python check on it (tests/trace_check.py's logic, inline): the events,
 * sorted by their "seq", must contain the expected ones in that order.
 */
#define _GNU_SOURCE
#include "check.h"

#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "eddy.h"
#include "loop/trace.h" /* the full-disk test hook */

EDDY_SUITE(loop_trace);

static char path[64];

static void new_path(void)
{
	snprintf(path, sizeof path, "/tmp/eddy-trace-%d.json", (int)getpid());
	unlink(path);
}

/*
 * The trace at path parses as JSON, and its events in "seq" order hold,
 * in this order (not necessarily next to each other), events matching
 * each of want: "NAME" or "NAME@TRACK" (TRACK: the name of the track it
 * is on, e.g. "worker 1" or "child #3").
 */
static void trace_has(const char *const *want, int n)
{
	static const char check[] =
		"import json, sys\n"
		"doc = json.load(open(sys.argv[1]))\n"
		"names = {(e['pid'], e['tid']): e['args']['name']\n"
		"         for e in doc['traceEvents'] if e['name'] == 'thread_name'}\n"
		"evs = sorted((e for e in doc['traceEvents'] if e['ph'] != 'M'),\n"
		"             key=lambda e: e['args']['seq'])\n"
		"got = ['%s@%s' % (e['name'], names.get((e['pid'], e['tid'])))\n"
		"       for e in evs]\n"
		"i = 0\n"
		"for w in sys.argv[2:]:\n"
		"    while i < len(got) and not (got[i] == w or\n"
		"            ('@' not in w and got[i].split('@')[0] == w)):\n"
		"        i += 1\n"
		"    if i == len(got):\n"
		"        sys.exit('missing %s, in order, from:\\n' % w +\n"
		"                 '\\n'.join(got))\n"
		"    i += 1\n";
	char cmd[4096];
	int len = snprintf(cmd, sizeof cmd, "python3 -c \"$CHECK\" %s", path);
	for (int i = 0; i < n; i++)
		len += snprintf(cmd + len, sizeof cmd - (size_t)len, " '%s'",
				want[i]);
	cr_assert_lt(len, (int)sizeof cmd);
	setenv("CHECK", check, 1);
	int status = system(cmd);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "the trace %s lacks events (status %#x)", path, status);
	unlink(path);
}

#define TRACE_HAS(...)                                                   \
	do {                                                             \
		static const char *const want_[] = { __VA_ARGS__ };       \
		trace_has(want_, sizeof want_ / sizeof want_[0]);        \
	} while (0)

/* Run main(arg) on a new loop, traced into path from start to end. */
static void traced(eddy_fn main, void *arg)
{
	new_path();
	cr_assert_eq(eddy_trace_start(path), 0);
	eddy_loop_config cfg = { .workers = 1 };
	eddy_loop *loop = eddy_loop_new(&cfg);
	cr_assert_not_null(loop);
	cr_assert_eq(eddy_loop_run(loop, main, arg, NULL), 0);
	eddy_loop_free(loop);
	cr_assert_eq(eddy_trace_stop(), 0);
}

static void *returns(void *arg)
{
	return arg;
}

/* ---- the file ----------------------------------------------------------- */

static void *spawns_and_joins(void *arg)
{
	(void)arg;
	eddy_spawn_opts o = { .name = "child \"1\"" };
	eddy_task *t = eddy_spawn_with(returns, NULL, &o);
	cr_assert_eq(eddy_join(t, NULL), 0);
	return NULL;
}

Test(loop_trace, trace_file_is_json_that_python_reads)
{
	traced(spawns_and_joins, NULL);
	TRACE_HAS("run");
}

/*
 * With every pthread key taken, a thread's trace buffer cannot be freed at
 * its exit (it stays on the list, trace.c says), but its pointer must not
 * be stored under a key eddy never got: key 0 is someone else's then (in
 * this binary, task/stack.c's, made before main), and its destructor would
 * receive the buffer when the thread exits (the test crashed).
 */
static void *traces_a_loop_on_its_thread(void *arg)
{
	(void)arg;
	eddy_loop *loop = eddy_loop_new(NULL);
	cr_assert_not_null(loop);
	cr_assert_eq(eddy_loop_run(loop, spawns_and_joins, NULL, NULL), 0);
	eddy_loop_free(loop);
	return NULL;
}

Test(loop_trace, without_a_free_pthread_key_a_threads_buffer_takes_no_other)
{
	/* ctx's key for a thread's base context first: without it the
	 * thread's base would leak (ctx/context.c), which is not this test's
	 * business; the trace's key, made on first use, is then none */
	cr_assert_not_null(eddy_ctx_current());
	static pthread_key_t keys[PTHREAD_KEYS_MAX];
	size_t n = 0;
	while (n < PTHREAD_KEYS_MAX && pthread_key_create(&keys[n], NULL) == 0)
		n++;
	cr_assert_lt(n, PTHREAD_KEYS_MAX, "the keys ran out");
	new_path();
	cr_assert_eq(eddy_trace_start(path), 0);
	pthread_t t;
	cr_assert_eq(pthread_create(&t, NULL, traces_a_loop_on_its_thread,
				    NULL), 0);
	cr_assert_eq(pthread_join(t, NULL), 0); /* it exited, and lived */
	while (n)
		pthread_key_delete(keys[--n]);
	cr_assert_eq(eddy_trace_stop(), 0);
	TRACE_HAS("spawn", "join"); /* the exited thread's events went out */
}

/* ---- tasks -------------------------------------------------------------- */

Test(loop_trace, spawn_run_and_join_are_traced_in_order)
{
	traced(spawns_and_joins, NULL);
	/* the spawn's arrow starts in the parent and ends in the child's first
	 * slice; the join's starts in the child's last slice */
	TRACE_HAS("spawn", "flow", "run", "flow", "flow@child \"1\" #2",
		  "flow", "join", "run");
}

static void *sleeps(void *arg)
{
	(void)arg;
	eddy_sleep(1000000000);
	return NULL;
}

static void *detaches_and_cancels(void *arg)
{
	(void)arg;
	eddy_task *quick = eddy_spawn(returns, NULL);
	eddy_task *sleeper = eddy_spawn(sleeps, NULL);
	cr_assert_eq(eddy_detach(quick), 0);
	cr_assert_eq(eddy_yield(), 0); /* the sleeper starts sleeping */
	cr_assert_eq(eddy_cancel(sleeper), 0);
	cr_assert_eq(eddy_join(sleeper, NULL), 0);
	return NULL;
}

Test(loop_trace, detach_cancel_and_sleep_are_traced)
{
	traced(detaches_and_cancels, NULL);
	TRACE_HAS("spawn", "spawn", "detach", "sleep", "cancel", "join");
}

static void *reads_and_writes_a_pipe(void *arg)
{
	(void)arg;
	int p[2];
	cr_assert_eq(pipe(p), 0);
	char c = 'x';
	cr_assert_eq(eddy_write(p[1], &c, 1), 1);
	cr_assert_eq(eddy_read(p[0], &c, 1), 1);
	close(p[0]);
	close(p[1]);
	return NULL;
}

Test(loop_trace, io_is_traced_with_its_fd_and_result)
{
	traced(reads_and_writes_a_pipe, NULL);
	TRACE_HAS("write", "read");
	/* the args: checked on a fresh trace */
	traced(reads_and_writes_a_pipe, NULL);
	char cmd[512];
	snprintf(cmd, sizeof cmd,
		 "python3 -c \"import json, sys; evs = json.load(open('%s'))"
		 "['traceEvents']; r = [e for e in evs if e['name'] == 'read'];"
		 " sys.exit(not (len(r) == 1 and r[0]['args']['result'] == 1 "
		 "and r[0]['args']['fd'] > 2))\"", path);
	cr_assert_eq(system(cmd), 0);
	unlink(path);
}

/* ---- context variables ----------------------------------------------------- */

static eddy_var *user;

static void *sets_user(void *arg)
{
	(void)arg;
	return (void *)(long)eddy_var_set(user, "adrian", NULL);
}

static void *sets_resets_and_merges(void *arg)
{
	(void)arg;
	eddy_token *tok;
	cr_assert_eq(eddy_var_set(user, "first", &tok), 0);
	cr_assert_eq(eddy_var_reset(user, tok), 0);
	eddy_token_free(tok);
	eddy_spawn_opts o = { .policy = EDDY_MERGE, .name = "child" };
	eddy_task *t = eddy_spawn_with(sets_user, NULL, &o);
	cr_assert_eq(eddy_join(t, NULL), 0);
	return NULL;
}

Test(loop_trace, var_set_reset_and_merge_are_traced)
{
	user = eddy_var_new("user");
	cr_assert_eq(eddy_trace_format_var(user, eddy_trace_format_string), 0);
	traced(sets_resets_and_merges, NULL);
	TRACE_HAS("set user", "reset user", "spawn", "context@child #2",
		  "set user@child #2", "join", "merge user");
	traced(sets_resets_and_merges, NULL);
	char cmd[512];
	snprintf(cmd, sizeof cmd,
		 "python3 -c \"import json, sys; evs = json.load(open('%s'))"
		 "['traceEvents']; v = [e['args'].get('value') for e in evs if "
		 "e['name'] in ('set user', 'merge user')]; "
		 "u = [e['args'].get('unset') for e in evs if "
		 "e['name'] == 'reset user']; "
		 "sys.exit(v != ['first', 'adrian', 'adrian'] or u != [True])\"",
		 path);
	cr_assert_eq(system(cmd), 0, "values or unset flags are wrong in %s",
		     path);
	unlink(path);
	eddy_var_free(user);
}

static eddy_var *span;

static void *sets_user_and_span(void *arg)
{
	(void)arg;
	cr_assert_eq(eddy_var_set(span, "child's span", NULL), 0);
	return (void *)(long)eddy_var_set(user, "adrian", NULL);
}

static void *merges_user_and_span(void *arg)
{
	(void)arg;
	eddy_spawn_opts o = { .policy = EDDY_MERGE };
	eddy_task *t = eddy_spawn_with(sets_user_and_span, NULL, &o);
	cr_assert_eq(eddy_join(t, NULL), 0);
	return NULL;
}

Test(loop_trace, merge_reports_only_what_the_rules_let_back)
{
	user = eddy_var_new("user");
	eddy_var_opts never = { .merge = EDDY_MERGE_NEVER };
	span = eddy_var_new_opts("span", &never);
	traced(merges_user_and_span, NULL);
	char cmd[512];
	snprintf(cmd, sizeof cmd,
		 "python3 -c \"import json, sys; evs = json.load(open('%s'))"
		 "['traceEvents']; m = [e['name'] for e in evs if "
		 "e['name'].startswith('merge ')]; sys.exit(m != ['merge user'])"
		 "\"", path);
	cr_assert_eq(system(cmd), 0, "merges other than user's in %s", path);
	unlink(path);
	eddy_var_free(user);
	eddy_var_free(span);
}

Test(loop_trace, a_var_without_formatter_is_traced_without_value)
{
	user = eddy_var_new("user");
	traced(sets_resets_and_merges, NULL);
	char cmd[512];
	snprintf(cmd, sizeof cmd,
		 "python3 -c \"import json, sys; evs = json.load(open('%s'))"
		 "['traceEvents']; sys.exit(any('value' in e['args'] for e in "
		 "evs if e['name'].endswith('user')))\"", path);
	cr_assert_eq(system(cmd), 0);
	unlink(path);
	eddy_var_free(user);
}

/* ---- worker threads ---------------------------------------------------------- */

static void *offloads(void *arg)
{
	(void)arg;
	cr_assert_eq(eddy_to_thread(sets_user, NULL, EDDY_COPY, NULL), 0);
	return NULL;
}

Test(loop_trace, worker_call_is_a_slice_on_the_workers_track)
{
	user = eddy_var_new("user");
	traced(offloads, NULL);
	TRACE_HAS("to_thread@task #1", "flow@task #1", "to_thread@worker 2",
		  "flow@worker 2", "set user@worker 2", "flow@worker 2",
		  "to_thread@worker 2", "flow@task #1",
		  "to_thread returned@task #1");
	eddy_var_free(user);
}

/* ---- starting and stopping ----------------------------------------------------- */

Test(loop_trace, start_while_tracing_is_ebusy_and_stop_without_is_einval)
{
	new_path();
	cr_assert_eq(eddy_trace_stop(), -EINVAL);
	cr_assert_eq(eddy_trace_start(path), 0);
	cr_assert_eq(eddy_trace_start(path), -EBUSY);
	cr_assert_eq(eddy_trace_stop(), 0);
	cr_assert_eq(eddy_trace_stop(), -EINVAL);
	cr_assert_eq(eddy_trace_start(NULL), -EINVAL);
	unlink(path);
}

Test(loop_trace, eddy_trace_in_the_environment_starts_a_trace)
{
	new_path();
	setenv("EDDY_TRACE", path, 1);
	cr_assert_eq(eddy_run(spawns_and_joins, NULL, NULL), 0);
	cr_assert_eq(eddy_trace_stop(), 0); /* else at exit */
	TRACE_HAS("spawn", "join");
}

/* ---- failures ------------------------------------------------------------------- */

Test(loop_trace, unwritable_path_fails_start_and_nothing_else)
{
	cr_assert_eq(eddy_trace_start("/nonexistent-dir/trace.json"), -ENOENT);
	cr_assert_eq(eddy_run(spawns_and_joins, NULL, NULL), 0);
	cr_assert_eq(eddy_trace_stop(), -EINVAL);
}

Test(loop_trace, full_disk_at_start_is_enospc)
{
	cr_assert_eq(eddy_trace_start("/dev/full"), -ENOSPC);
	cr_assert_eq(eddy_trace_stop(), -EINVAL);
}

Test(loop_trace, unwritable_environment_path_says_so_once_and_runs)
{
	setenv("EDDY_TRACE", "/nonexistent-dir/trace.json", 1);
	fflush(stderr);
	FILE *err = tmpfile();
	int saved = dup(2);
	dup2(fileno(err), 2);
	int r1 = eddy_run(spawns_and_joins, NULL, NULL);
	int r2 = eddy_run(spawns_and_joins, NULL, NULL);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	cr_assert_eq(r1, 0);
	cr_assert_eq(r2, 0);
	char text[512] = "";
	rewind(err);
	size_t n = fread(text, 1, sizeof text - 1, err);
	text[n] = '\0';
	fclose(err);
	cr_assert_str_eq(text, "eddy: EDDY_TRACE=/nonexistent-dir/trace.json: "
			       "No such file or directory\n");
}

struct yields {
	int rounds;
	int done;
};

static void *yields_a_lot(void *arg)
{
	struct yields *y = arg;
	for (int i = 0; i < y->rounds; i++)
		eddy_yield();
	y->done++;
	return NULL;
}

static void *two_yielders(void *arg)
{
	eddy_task *a = eddy_spawn(yields_a_lot, arg);
	eddy_task *b = eddy_spawn(yields_a_lot, arg);
	cr_assert_eq(eddy_join(a, NULL), 0);
	cr_assert_eq(eddy_join(b, NULL), 0);
	return NULL;
}

Test(loop_trace, full_disk_midway_stops_the_trace_with_one_line_only)
{
	new_path();
	cr_assert_eq(eddy_trace_start(path), 0);
	eddy_trace_test_disk_full_after(1000); /* past the header */
	fflush(stderr);
	FILE *err = tmpfile();
	int saved = dup(2);
	dup2(fileno(err), 2);
	/* ~2000 events a task: several buffers' worth */
	struct yields y = { .rounds = 2000 };
	int r = eddy_run(two_yielders, &y, NULL);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	cr_assert_eq(r, 0);
	cr_assert_eq(y.done, 2, "the program was disturbed");
	cr_assert_eq(eddy_trace_stop(), -ENOSPC);
	char text[512] = "";
	rewind(err);
	size_t n = fread(text, 1, sizeof text - 1, err);
	text[n] = '\0';
	fclose(err);
	char want[256];
	snprintf(want, sizeof want,
		 "eddy: tracing to %s stopped: No space left on device\n",
		 path);
	cr_assert_str_eq(text, want);
	/* and the next trace works */
	eddy_trace_test_disk_full_after(-1);
	traced(spawns_and_joins, NULL);
	TRACE_HAS("spawn", "join");
}

Test(loop_trace, trace_errors_are_explained)
{
	cr_assert_not_null(strstr(eddy_strerror(-EBUSY), "trace"));
	cr_assert_not_null(strstr(eddy_strerror(-ENOSPC), "trace file"));
}

Test(loop_trace, a_forked_child_leaves_the_parents_trace_alone)
{
	new_path();
	cr_assert_eq(eddy_trace_start(path), 0);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		/* traces nothing, and has nothing to stop */
		int r = eddy_run(spawns_and_joins, NULL, NULL);
		_exit(r || eddy_trace_stop() != -EINVAL);
	}
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	cr_assert_eq(eddy_run(spawns_and_joins, NULL, NULL), 0);
	cr_assert_eq(eddy_trace_stop(), 0);
	TRACE_HAS("spawn", "join"); /* and valid JSON */
}
