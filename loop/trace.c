/*
 * The trace writer: per-thread buffers, the file, starting and stopping.
 *
 * Buffers.  Every thread that makes an event gets a buffer of its own
 * (64 KiB) the first time, listed so that eddy_trace_stop can empty them
 * all.  An event is formatted on the stack and appended under the
 * buffer's own lock, which only its thread takes, but for stop and the
 * thread's exit, so it is never contended in practice.  A full buffer is
 * written to the file in one write(2): a busy thread writes once per
 * few hundred events.
 *
 * Generations.  Each trace has a number.  A buffer remembers the trace
 * its bytes belong to; bytes of an earlier trace (events a thread made
 * while another stopped the trace) are dropped, never written into the
 * next file.  Tasks name their tracks once per trace the same way.
 *
 * Locks, always taken in this order: list_lock (the buffer list), a
 * buffer's lock, file_lock (the file descriptor, the error, and the
 * formatter table's writers).
 *
 * Failure.  The first write that fails (ENOSPC, EIO, ...) turns tracing
 * off for every thread and says so on stderr, once; the program goes on
 * untouched, and eddy_trace_stop returns that error.
 *
 * Fork.  A child shares the file's offset with its parent, so its events
 * (or the footer its exit would write) would land in the middle of the
 * parent's: a forked child does not trace.
 */
#define _GNU_SOURCE
#include "trace.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctx/alloc.h"
#include "observe.h"
#include "observe_hooks.h"

#define TBUF_BYTES (64 * 1024)
#define EVENT_MAX 2048
#define FORMATTERS 64

atomic_bool eddy_trace_on;

/* One thread's events not yet written. */
struct tbuf {
	pthread_mutex_t lock;
	unsigned gen;       /* the trace data belongs to */
	unsigned named_gen; /* the trace this thread's track was named in */
	bool worker;        /* a loop's worker thread: named so */
	uint64_t thread_no; /* the thread's track (pid 2) */
	size_t len;
	struct tbuf *next;
	char data[TBUF_BYTES];
};

struct formatter {
	const eddy_var *var;
	_Atomic(eddy_trace_formatter) fmt;
};

static pthread_mutex_t list_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t file_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tbuf *bufs;          /* under list_lock */
static int trace_fd = -1;          /* under file_lock */
static int trace_err;              /* under file_lock */
static char trace_path[256];       /* under file_lock */
static long disk_full_after = -1;  /* under file_lock (a test hook) */
static long written;               /* under file_lock */
static bool watching;              /* under file_lock: counted in
				      eddy_switch_watchers */
static atomic_uint generation;
static atomic_uint_fast64_t seq, t0, threads;
static struct formatter formatters[FORMATTERS];
static atomic_int formatter_count;

static _Thread_local struct tbuf *mine;
static pthread_key_t buf_key;
static pthread_once_t buf_key_once = PTHREAD_ONCE_INIT;
static bool buf_key_made;

unsigned trace_generation(void)
{
	return atomic_load_explicit(&generation, memory_order_relaxed);
}

/* ---- the file ------------------------------------------------------------ */

/* Under file_lock: 0 or -errno.  Writes nothing once a write failed. */
static int write_locked(const char *data, size_t len)
{
	if (trace_fd < 0)
		return 0; /* the trace ended: late bytes are dropped */
	if (trace_err)
		return trace_err;
	while (len) {
		ssize_t n;
		if (disk_full_after >= 0 && written + (long)len > disk_full_after) {
			n = -1;
			errno = ENOSPC;
		} else {
			n = write(trace_fd, data, len);
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return trace_err = n < 0 ? -errno : -EIO;
		data += n;
		len -= (size_t)n;
		written += n;
	}
	return 0;
}

/* Under file_lock: the trace stops making events. */
static void events_off(void)
{
	atomic_store_explicit(&eddy_trace_on, false, memory_order_relaxed);
	atomic_store(&eddy_ctx_watcher, NULL);
	if (watching)
		atomic_fetch_sub(&eddy_switch_watchers, 1);
	watching = false;
}

/* Under b's lock: write b's bytes; a failure stops the trace, with one
 * line on stderr. */
static void flush(struct tbuf *b)
{
	if (!b->len)
		return;
	pthread_mutex_lock(&file_lock);
	bool was_ok = !trace_err;
	int err = write_locked(b->data, b->len);
	if (err && was_ok) {
		events_off();
		fprintf(stderr, "eddy: tracing to %s stopped: %s\n",
			trace_path, strerror(-err));
	}
	pthread_mutex_unlock(&file_lock);
	b->len = 0;
}

/* ---- buffers --------------------------------------------------------------- */

/* A thread exits: its events go out, its buffer goes away. */
static void buf_exit(void *arg)
{
	struct tbuf *b = arg;
	pthread_mutex_lock(&list_lock);
	for (struct tbuf **p = &bufs; *p; p = &(*p)->next)
		if (*p == b) {
			*p = b->next;
			break;
		}
	pthread_mutex_lock(&b->lock);
	if (b->gen == trace_generation())
		flush(b);
	pthread_mutex_unlock(&b->lock);
	pthread_mutex_unlock(&list_lock);
	pthread_mutex_destroy(&b->lock);
	mine = NULL;
	eddy_free(b);
}

static void make_buf_key(void)
{
	/* Without the key, an exiting thread's buffer is never freed: it
	 * stays on the list, whose events go out when the trace stops.
	 * Nothing else breaks, as long as nothing is stored under a key that
	 * is someone else's. */
	buf_key_made = pthread_key_create(&buf_key, buf_exit) == 0;
}

/* This thread's buffer, made on first use; NULL when out of memory. */
static struct tbuf *my_buf(void)
{
	if (mine)
		return mine;
	struct tbuf *b = eddy_alloc(sizeof *b);
	if (!b)
		return NULL;
	memset(b, 0, offsetof(struct tbuf, data));
	pthread_mutex_init(&b->lock, NULL);
	b->thread_no = atomic_fetch_add(&threads, 1) + 1;
	pthread_once(&buf_key_once, make_buf_key);
	if (buf_key_made)
		pthread_setspecific(buf_key, b);
	pthread_mutex_lock(&list_lock);
	b->next = bufs;
	bufs = b;
	pthread_mutex_unlock(&list_lock);
	return mine = b;
}

/* Under b's lock: append an event, writing the buffer out first if full. */
static void append(struct tbuf *b, const char *line, size_t len)
{
	if (b->len + len > sizeof b->data)
		flush(b);
	memcpy(b->data + b->len, line, len);
	b->len += len;
}

void trace_thread_is_worker(void)
{
	struct tbuf *b = my_buf();
	if (b)
		b->worker = true;
}

/* ---- events ------------------------------------------------------------------ */

void trace_escape(char *out, size_t size, const char *s)
{
	size_t n = 0;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[8];
		int len;
		if (c == '"' || c == '\\')
			len = snprintf(esc, sizeof esc, "\\%c", c);
		else if (c < 0x20)
			len = snprintf(esc, sizeof esc, "\\u%04x", c);
		else
			len = snprintf(esc, sizeof esc, "%c", c);
		if (n + (size_t)len >= size)
			break;
		memcpy(out + n, esc, (size_t)len);
		n += (size_t)len;
	}
	out[n] = '\0';
}

/* Under b's lock: a line for the trace, or 0 when it did not fit. */
static size_t format_event(struct tbuf *b, char *line, char ph, int pid,
			   uint64_t tid, const char *name, const char *extra,
			   const char *args_fmt, va_list ap)
{
	char ename[256];
	trace_escape(ename, sizeof ename, name);
	uint64_t now = loop_now_ns() - atomic_load(&t0);
	int n = snprintf(line, EVENT_MAX,
			 ",\n{\"name\":\"%s\",\"ph\":\"%c\",\"pid\":%d,"
			 "\"tid\":%llu,\"ts\":%llu.%03llu%s,\"args\":{\"seq\":%llu",
			 ename, ph, pid,
			 (unsigned long long)(tid ? tid : b->thread_no),
			 (unsigned long long)(now / 1000),
			 (unsigned long long)(now % 1000), extra ? extra : "",
			 (unsigned long long)atomic_fetch_add(&seq, 1));
	if (n > 0 && n < EVENT_MAX && args_fmt)
		n += vsnprintf(line + n, EVENT_MAX - (size_t)n, args_fmt, ap);
	if (n > 0 && n < EVENT_MAX - 3)
		n += snprintf(line + n, EVENT_MAX - (size_t)n, "}}");
	return n > 0 && n < EVENT_MAX ? (size_t)n : 0;
}

/* Under b's lock: the start of this trace's bytes, and the thread's track
 * named once per trace. */
static void begin_gen(struct tbuf *b, unsigned gen, int pid)
{
	if (b->gen != gen) {
		b->gen = gen;
		b->len = 0;
	}
	if (pid == 2 && b->named_gen != gen) {
		b->named_gen = gen;
		char line[256];
		int n = snprintf(line, sizeof line,
				 ",\n{\"name\":\"thread_name\",\"ph\":\"M\","
				 "\"pid\":2,\"tid\":%llu,\"args\":{\"name\":"
				 "\"%s %llu\"}}",
				 (unsigned long long)b->thread_no,
				 b->worker ? "worker" : "thread",
				 (unsigned long long)b->thread_no);
		append(b, line, (size_t)n);
	}
}

void trace_emit(char ph, int pid, uint64_t tid, const char *name,
		const char *extra, const char *args_fmt, ...)
{
	struct tbuf *b = my_buf();
	if (!b)
		return;
	char line[EVENT_MAX];
	pthread_mutex_lock(&b->lock);
	begin_gen(b, trace_generation(), tid ? pid : 2);
	va_list ap;
	va_start(ap, args_fmt);
	size_t n = format_event(b, line, ph, tid ? pid : 2, tid, name, extra,
				args_fmt, ap);
	va_end(ap);
	if (n)
		append(b, line, n);
	pthread_mutex_unlock(&b->lock);
}

void trace_name_track(int pid, uint64_t tid, const char *name)
{
	struct tbuf *b = my_buf();
	if (!b)
		return;
	char ename[256], line[512];
	trace_escape(ename, sizeof ename, name);
	int n = snprintf(line, sizeof line,
			 ",\n{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":%d,"
			 "\"tid\":%llu,\"args\":{\"name\":\"%s\"}}",
			 pid, (unsigned long long)tid, ename);
	pthread_mutex_lock(&b->lock);
	begin_gen(b, trace_generation(), pid);
	append(b, line, (size_t)n);
	pthread_mutex_unlock(&b->lock);
}

/* ---- formatters ------------------------------------------------------------- */

int eddy_trace_format_var(const eddy_var *var, eddy_trace_formatter fmt)
{
	if (!var)
		return -EINVAL;
	int err = 0;
	pthread_mutex_lock(&file_lock);
	int n = atomic_load(&formatter_count), i = 0;
	while (i < n && formatters[i].var != var)
		i++;
	if (i < n) {
		atomic_store(&formatters[i].fmt, fmt);
	} else if (!fmt) {
		/* nothing to remove */
	} else if (n == FORMATTERS) {
		err = -ENOSPC;
	} else {
		formatters[n].var = var;
		atomic_store(&formatters[n].fmt, fmt);
		atomic_store_explicit(&formatter_count, n + 1,
				      memory_order_release);
	}
	pthread_mutex_unlock(&file_lock);
	return err;
}

int eddy_trace_format_string(void *value, char *buf, size_t size)
{
	return snprintf(buf, size, "%s", value ? (const char *)value : "(null)");
}

bool trace_format_value(const eddy_var *var, void *value, char *out,
			size_t size)
{
	int n = atomic_load_explicit(&formatter_count, memory_order_acquire);
	for (int i = 0; i < n; i++) {
		if (formatters[i].var != var)
			continue;
		eddy_trace_formatter fmt = atomic_load(&formatters[i].fmt);
		char raw[200];
		if (!fmt || fmt(value, raw, sizeof raw) < 0)
			return false;
		trace_escape(out, size, raw);
		return true;
	}
	return false;
}

/* ---- starting and stopping -------------------------------------------------- */

static const char header[] =
	"{\"traceEvents\":[\n"
	"{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":1,"
	"\"args\":{\"name\":\"eddy tasks\"}},\n"
	"{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":2,"
	"\"args\":{\"name\":\"eddy threads\"}}";
static const char footer[] = "\n]}\n";

/* In a forked child, which has this thread only: locks another thread
 * held at the fork stay held, so none is taken. */
static void forked_child(void)
{
	if (trace_fd < 0)
		return;
	atomic_store(&eddy_trace_on, false);
	atomic_store(&eddy_ctx_watcher, NULL);
	if (watching)
		atomic_fetch_sub(&eddy_switch_watchers, 1);
	watching = false;
	close(trace_fd);
	trace_fd = -1;
}

static void watch_forks(void)
{
	pthread_atfork(NULL, NULL, forked_child);
}

int eddy_trace_start(const char *path)
{
	if (!path || !*path)
		return -EINVAL;
	static pthread_once_t forks_once = PTHREAD_ONCE_INIT;
	pthread_once(&forks_once, watch_forks);
	pthread_mutex_lock(&file_lock);
	if (trace_fd >= 0) {
		pthread_mutex_unlock(&file_lock);
		return -EBUSY;
	}
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		int err = -errno;
		pthread_mutex_unlock(&file_lock);
		return err;
	}
	trace_fd = fd;
	trace_err = 0;
	written = 0;
	snprintf(trace_path, sizeof trace_path, "%s", path);
	int err = write_locked(header, sizeof header - 1);
	if (err) {
		close(fd);
		trace_fd = -1;
		pthread_mutex_unlock(&file_lock);
		return err;
	}
	atomic_fetch_add(&generation, 1);
	atomic_store(&t0, loop_now_ns());
	atomic_store(&seq, 0);
	atomic_store(&eddy_ctx_watcher, trace_var_changed);
	atomic_store(&eddy_trace_on, true);
	atomic_fetch_add(&eddy_switch_watchers, 1);
	watching = true;
	pthread_mutex_unlock(&file_lock);
	/* a task calling start is running: its slice begins now */
	if (eddy_loop_now && eddy_task_current())
		trace_run_begin(eddy_task_current());
	return 0;
}

int eddy_trace_stop(void)
{
	pthread_mutex_lock(&file_lock);
	bool running = trace_fd >= 0;
	pthread_mutex_unlock(&file_lock);
	if (!running)
		return -EINVAL;
	if (TRACING() && eddy_loop_now && eddy_task_current())
		trace_run_end(eddy_task_current(), 0);
	pthread_mutex_lock(&file_lock);
	events_off();
	pthread_mutex_unlock(&file_lock);

	unsigned gen = trace_generation();
	pthread_mutex_lock(&list_lock);
	for (struct tbuf *b = bufs; b; b = b->next) {
		pthread_mutex_lock(&b->lock);
		if (b->gen == gen)
			flush(b);
		pthread_mutex_unlock(&b->lock);
	}
	pthread_mutex_unlock(&list_lock);

	pthread_mutex_lock(&file_lock);
	int err = write_locked(footer, sizeof footer - 1);
	if (close(trace_fd) && !err)
		err = -errno;
	trace_fd = -1;
	atomic_fetch_add(&generation, 1); /* late events are of no trace */
	pthread_mutex_unlock(&file_lock);
	return err;
}

static void stop_at_exit(void)
{
	eddy_trace_stop();
}

void trace_env_start(void)
{
	static atomic_bool tried;
	if (atomic_exchange(&tried, true))
		return;
	const char *path = getenv("EDDY_TRACE");
	if (!path || !*path)
		return;
	int err = eddy_trace_start(path);
	if (!err)
		atexit(stop_at_exit);
	else if (err != -EBUSY)
		fprintf(stderr, "eddy: EDDY_TRACE=%s: %s\n", path,
			strerror(-err));
}

#ifdef EDDY_TEST_HOOKS
void eddy_trace_test_disk_full_after(long bytes)
{
	pthread_mutex_lock(&file_lock);
	disk_full_after = bytes;
	pthread_mutex_unlock(&file_lock);
}
#endif
