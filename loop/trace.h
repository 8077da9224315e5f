/*
 * The timeline tracer, internal to loop/: the event sites' macro and the
 * events.  trace.c writes the file, trace_events.c says what each event
 * records.
 *
 * Every event site is one line, TRACE(event, args...), which tests one
 * global flag with a predictable branch and calls trace_event(args...)
 * only while a trace runs; building with -DEDDY_NO_TRACE removes the
 * test (bench/observe measures both against each other).
 *
 * The file.  Trace Event JSON, as Perfetto and chrome://tracing read it:
 *
 *   {"traceEvents":[
 *   {"name":"process_name","ph":"M","pid":1,"args":{"name":"tasks"}},
 *   ...one event per line, each line after the first starting ",\n"...
 *   ]}
 *
 * pid 1 holds one track per task (tid: the task's id), pid 2 one per
 * thread that made an event outside a task (tid: a number the tracer
 * gives the thread).  Each event's args carry "seq", a process-wide
 * count, so that a reader can put events of different threads in the
 * order they happened without trusting clocks (the renderer does).
 */
#ifndef EDDY_LOOP_TRACE_H
#define EDDY_LOOP_TRACE_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "ctx/watch.h"
#include "sched.h"

extern atomic_bool eddy_trace_on __attribute__((visibility("hidden")));

#ifdef EDDY_NO_TRACE
#define TRACING() false
#else
#define TRACING()                                                        \
	__builtin_expect(atomic_load_explicit(&eddy_trace_on,             \
					      memory_order_relaxed), 0)
#endif

#define TRACE(event, ...)                                                \
	do {                                                             \
		if (TRACING())                                           \
			trace_##event(__VA_ARGS__);                      \
	} while (0)

struct io_op;
struct job;

/* ---- events (trace_events.c), each on the thread that makes it --------- */

void trace_run_begin(eddy_task *t);
void trace_run_end(eddy_task *t, int resumed); /* 1: t finished */
void trace_spawn(eddy_loop *loop, eddy_task *child);
void trace_join(eddy_task *child); /* by the current task */
void trace_detach(eddy_task *t);
void trace_cancel(eddy_task *t);
void trace_io(const struct io_op *op, long result);
/* The operation's name ("read", "accept", ...). */
const char *trace_io_name(const struct io_op *op);
void trace_sleep(uint64_t ns);
/* A task sends job to a worker, the worker runs it, the task has it back. */
void trace_offload(struct job *job, enum eddy_policy policy);
void trace_job_begin(const struct job *job);
void trace_job_end(const struct job *job);
void trace_offload_back(const struct job *job, long result);
/* The context watcher (ctx/watch.h) while a trace runs. */
void trace_var_changed(enum ctx_change change, const eddy_var *var,
		       void *value, bool present, const eddy_ctx *ctx);

/* ---- the writer (trace.c) ------------------------------------------------ */

/* EDDY_TRACE, read once per process: at the first loop's creation. */
void trace_env_start(void);

/* The trace's number: a task's track is named once per trace. */
unsigned trace_generation(void);

/* This thread's track (pid 2) is a worker's: named so from now on. */
void trace_thread_is_worker(void);

/*
 * Append one event to this thread's buffer:
 *   {"name":name,"ph":ph,"pid":pid,"tid":tid,"ts":now<extra>,
 *    "args":{"seq":n<args>}}
 * name is escaped here; extra (more top-level fields) and args (more
 * args, each starting with a comma) are JSON already, printf-formatted.
 * tid 0 means this thread's own track (pid 2).
 */
void trace_emit(char ph, int pid, uint64_t tid, const char *name,
		const char *extra, const char *args_fmt, ...)
	__attribute__((format(printf, 6, 7)));

/* A metadata event naming track (pid, tid). */
void trace_name_track(int pid, uint64_t tid, const char *name);

/* s as the inside of a JSON string, in out (size > 0), cut to fit. */
void trace_escape(char *out, size_t size, const char *s);

/* The var's value as its formatter shows it, escaped, in out; false when
 * the var has no formatter. */
bool trace_format_value(const eddy_var *var, void *value, char *out,
			size_t size);

#ifdef EDDY_TEST_HOOKS
/* Make writes fail with ENOSPC once the file holds bytes bytes, as a
 * full disk would (-1: never). */
void eddy_trace_test_disk_full_after(long bytes);
#endif

#endif
