/*
 * What each traced event records (trace.h lists them; trace.c writes).
 *
 * Tracks.  A task's events go on its own track (pid 1, tid = task id),
 * named at its first event of a trace: "name #id", or "task #id".  Events
 * made outside any task (a worker's call, a spawn from outside the loop)
 * go on the thread's track (pid 2).
 *
 * Slices and instants.  A task's every stretch of running is a slice
 * "run" (B at resume, E at suspend), whose args say the context it runs
 * in.  Spawn, join, detach, cancel, I/O, sleep and variable changes are
 * instants ("i", scope thread) inside it.  A worker's call is a slice
 * "to_thread" on the worker's track.
 *
 * Arrows.  Flow events ("s" then "f", bound to the enclosing slices) join
 * a spawn to the child's first slice, a child's last slice to its join,
 * and a task's offload to the worker's slice and back.  Their ids say
 * which: 4 x task id + 0 (spawn) or 1 (join), 4 x job id + 2 (to the
 * worker) or 3 (back).
 */
#include "trace.h"

#include <inttypes.h>
#include <stdio.h>

#include "io.h"
#include "pool.h"

enum { FLOW_SPAWN, FLOW_JOIN, FLOW_TO_WORKER, FLOW_BACK };

static const char *const policy_names[] = { "default", "copy", "share",
					    "merge" };

static const char *policy_name(enum eddy_policy p)
{
	return p <= EDDY_MERGE ? policy_names[p] : "?";
}

/*
 * What the task's context holds of the variables that have formatters, as
 * a "context" instant: a task that already ran before the trace began
 * shows what it had set then.  Read on the loop's thread, from the task
 * that is about to run or runs, whose context no worker holds.
 */
static void describe_ctx(uint64_t track, eddy_ctx *ctx)
{
	char values[1024];
	size_t n = 0;
	values[0] = '\0';
	eddy_ctx_iter it;
	eddy_var *var;
	void *value;
	eddy_ctx_iter_begin(&it, ctx);
	while (eddy_ctx_iter_next(&it, &var, &value)) {
		char ename[128], shown[256];
		if (!trace_format_value(var, value, shown, sizeof shown))
			continue;
		trace_escape(ename, sizeof ename, eddy_var_name(var));
		int len = snprintf(values + n, sizeof values - n,
				   "%s\"%s\":\"%s\"", n ? "," : "", ename,
				   shown);
		if (len < 0 || (size_t)len >= sizeof values - n) {
			values[n] = '\0'; /* what fits */
			eddy_ctx_iter_end(&it);
			break;
		}
		n += (size_t)len;
	}
	trace_emit('i', 1, track, "context", ",\"s\":\"t\"",
		   ",\"ctx\":%" PRIu64 ",\"values\":{%s}", eddy_ctx_id(ctx),
		   values);
}

/* The task's track, named once per trace. */
static uint64_t track_of(eddy_task *t)
{
	struct sched *s = sched_of(t);
	unsigned gen = trace_generation();
	if (s->trace_gen != gen) {
		s->trace_gen = gen;
		char name[160];
		const char *given = eddy_task_name(t);
		snprintf(name, sizeof name, "%s #%" PRIu64, given ? given : "task",
			 eddy_task_id(t));
		trace_name_track(1, eddy_task_id(t), name);
		describe_ctx(eddy_task_id(t), eddy_task_ctx(t));
	}
	return eddy_task_id(t);
}

/* The track of what runs on this thread now: its task's, else 0 (the
 * thread's own). */
static uint64_t current_track(void)
{
	eddy_task *t = eddy_loop_now ? eddy_task_current() : NULL;
	return t ? track_of(t) : 0;
}

static void flow(char ph, uint64_t track, uint64_t id, int kind)
{
	char extra[64];
	snprintf(extra, sizeof extra, ",\"id\":%" PRIu64 "%s", id * 4 + kind,
		 ph == 'f' ? ",\"bp\":\"e\"" : "");
	trace_emit(ph, 1, track, "flow", extra, NULL);
}

void trace_run_begin(eddy_task *t)
{
	uint64_t track = track_of(t);
	trace_emit('B', 1, track, "run", NULL, ",\"ctx\":%" PRIu64,
		   eddy_ctx_id(eddy_task_ctx(t)));
	struct sched *s = sched_of(t);
	if (s->trace_spawned) {
		s->trace_spawned = false;
		flow('f', track, eddy_task_id(t), FLOW_SPAWN);
	}
}

void trace_run_end(eddy_task *t, int finished)
{
	uint64_t track = track_of(t);
	if (finished)
		flow('s', track, eddy_task_id(t), FLOW_JOIN);
	trace_emit('E', 1, track, "run", NULL, ",\"finished\":%s",
		   finished ? "true" : "false");
}

void trace_spawn(eddy_loop *loop, eddy_task *child)
{
	uint64_t track = eddy_loop_now == loop ? current_track() : 0;
	const char *name = eddy_task_name(child);
	char ename[128] = "";
	if (name)
		trace_escape(ename, sizeof ename, name);
	eddy_ctx *from = eddy_ctx_current();
	trace_emit('i', 1, track, "spawn", ",\"s\":\"t\"",
		   ",\"task\":%" PRIu64 ",\"name\":\"%s\",\"policy\":\"%s\","
		   "\"ctx\":%" PRIu64 ",\"from_ctx\":%" PRIu64,
		   eddy_task_id(child), ename,
		   policy_name(eddy_task_policy(child)),
		   eddy_ctx_id(eddy_task_ctx(child)), eddy_ctx_id(from));
	if (track) {
		flow('s', track, eddy_task_id(child), FLOW_SPAWN);
		sched_of(child)->trace_spawned = true;
	}
}

void trace_join(eddy_task *child)
{
	uint64_t track = current_track();
	flow('f', track, eddy_task_id(child), FLOW_JOIN);
	trace_emit('i', 1, track, "join", ",\"s\":\"t\"",
		   ",\"task\":%" PRIu64 ",\"policy\":\"%s\"",
		   eddy_task_id(child), policy_name(eddy_task_policy(child)));
}

void trace_detach(eddy_task *t)
{
	trace_emit('i', 1, current_track(), "detach", ",\"s\":\"t\"",
		   ",\"task\":%" PRIu64, eddy_task_id(t));
}

void trace_cancel(eddy_task *t)
{
	trace_emit('i', 1, current_track(), "cancel", ",\"s\":\"t\"",
		   ",\"task\":%" PRIu64, eddy_task_id(t));
}

static const char *const io_names[] = {
	[IO_READ] = "read",     [IO_WRITE] = "write",     [IO_PREAD] = "pread",
	[IO_PWRITE] = "pwrite", [IO_READV] = "readv",     [IO_WRITEV] = "writev",
	[IO_RECV] = "recv",     [IO_SEND] = "send",       [IO_ACCEPT] = "accept",
	[IO_CONNECT] = "connect", [IO_CLOSE] = "close",   [IO_POLL] = "poll",
	[IO_FSYNC] = "fsync",   [IO_OPENAT] = "openat",
};

const char *trace_io_name(const struct io_op *op)
{
	return io_names[op->kind];
}

void trace_io(const struct io_op *op, long result)
{
	trace_emit('i', 1, current_track(), trace_io_name(op), ",\"s\":\"t\"",
		   ",\"fd\":%d,\"result\":%ld", op->fd, result);
}

void trace_sleep(uint64_t ns)
{
	trace_emit('i', 1, current_track(), "sleep", ",\"s\":\"t\"",
		   ",\"ns\":%" PRIu64, ns);
}

void trace_offload(struct job *job, enum eddy_policy policy)
{
	static atomic_uint next_job;
	job->trace_id = atomic_fetch_add(&next_job, 1) + 1;
	uint64_t track = current_track();
	trace_emit('i', 1, track, "to_thread", ",\"s\":\"t\"",
		   ",\"job\":%" PRIu32 ",\"policy\":\"%s\",\"ctx\":%" PRIu64
		   ",\"from_ctx\":%" PRIu64,
		   job->trace_id, policy_name(policy), eddy_ctx_id(job->ctx),
		   eddy_ctx_id(eddy_ctx_current()));
	flow('s', track, job->trace_id, FLOW_TO_WORKER);
}

/* On the worker's own track; a job sent before the trace began has no
 * arrows. */
static void worker_flow(char ph, const struct job *job, int kind)
{
	char extra[64];
	snprintf(extra, sizeof extra, ",\"id\":%" PRIu64 "%s",
		 (uint64_t)job->trace_id * 4 + kind, ph == 'f' ? ",\"bp\":\"e\"" : "");
	trace_emit(ph, 2, 0, "flow", extra, NULL);
}

void trace_job_begin(const struct job *job)
{
	trace_thread_is_worker();
	trace_emit('B', 2, 0, job->ctx ? "to_thread" : "file io", NULL,
		   ",\"job\":%" PRIu32 ",\"ctx\":%" PRIu64, job->trace_id,
		   eddy_ctx_id(job->ctx));
	if (job->trace_id)
		worker_flow('f', job, FLOW_TO_WORKER);
}

void trace_job_end(const struct job *job)
{
	if (job->trace_id)
		worker_flow('s', job, FLOW_BACK);
	trace_emit('E', 2, 0, job->ctx ? "to_thread" : "file io", NULL, NULL);
}

void trace_offload_back(const struct job *job, long result)
{
	uint64_t track = current_track();
	flow('f', track, job->trace_id, FLOW_BACK);
	trace_emit('i', 1, track, "to_thread returned", ",\"s\":\"t\"",
		   ",\"job\":%" PRIu32 ",\"result\":%ld", job->trace_id, result);
}

void trace_var_changed(enum ctx_change change, const eddy_var *var,
		       void *value, bool present, const eddy_ctx *ctx)
{
	static const char *const verbs[] = { [CTX_SET] = "set",
					     [CTX_RESET] = "reset",
					     [CTX_MERGED] = "merge" };
	char ename[128], name[160], shown[256], val[300] = "";
	trace_escape(ename, sizeof ename, eddy_var_name(var));
	snprintf(name, sizeof name, "%s %s", verbs[change],
		 eddy_var_name(var));
	if (!present)
		snprintf(val, sizeof val, ",\"unset\":true");
	else if (trace_format_value(var, value, shown, sizeof shown))
		snprintf(val, sizeof val, ",\"value\":\"%s\"", shown);
	trace_emit('i', 1, current_track(), name, ",\"s\":\"t\"",
		   ",\"var\":\"%s\",\"ctx\":%" PRIu64 "%s", ename,
		   eddy_ctx_id(ctx), val);
}
