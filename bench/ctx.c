/*
 * bench/ctx: eddy's context variables against CPython's contextvars, timed
 * in the same run.
 *
 * Each row of the table below is an operation timed on eddy here and on
 * CPython by bench/ctx.py, which runs beside this program under $PYTHON
 * (default python3) and builds contexts of the same sizes.  The two take
 * turns: one repetition on eddy, one on CPython, and again, so that a
 * change in the machine's load reaches both sides of a row alike.  On
 * both sides a repetition runs the operation n times, n doubling until a
 * repetition lasts 15 ms, and a result is the median of eleven
 * repetitions.  eddy's numbers include its loop (about a cycle); CPython's
 * have the cost of an empty Python loop subtracted, which leaves what the
 * statement costs a Python program.
 *
 * Contexts: "N vars" is a context in which vars[0] .. vars[N - 1] are set,
 * entered for the row's duration.  Every result is checked: folded into
 * `bad`, which also keeps it alive, and reported after the loop, or at
 * once where the next call depends on it; sink() keeps values that
 * nothing else reads.  Run from the repository root, as
 * `make bench` does: the script is found by this file's path.
 */
#define _GNU_SOURCE /* pipe2, environ */

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench/common.h"
#include "ctx/ctx.h"

#define REPS 11
#define MIN_NS 15e6
#define NVARS 1000

static eddy_var *vars[NVARS];
static eddy_var *with_default; /* never set: get returns its default */
static eddy_var *no_default;   /* never set: get_or returns the fallback */
static eddy_ctx *other;        /* an empty context that run enters */
static char a_mark, b_mark;
#define A ((void *)&a_mark)
#define B ((void *)&b_mark)

static void sink(void *p)
{
	__asm__ volatile("" : : "r"(p) : "memory");
}

/* ---- The operations: each runs n of them in the current context ------ */

static void get(eddy_var *v, long n)
{
	int bad = 0;
	for (long i = 0; i < n; i++) {
		void *val;
		bad |= eddy_var_get(v, &val);
		sink(val);
	}
	if (bad)
		fail("eddy_var_get");
}

/* v and vars[8] take the same entry of a context's 8-entry get cache
 * (entries go by creation order), so alternating them misses every time. */
static void get_alternating(eddy_var *v, long n)
{
	eddy_var *w = vars[8];
	int bad = 0;
	for (long i = 0; i < n; i++) {
		void *val;
		bad |= eddy_var_get(i & 1 ? w : v, &val);
		sink(val);
	}
	if (bad)
		fail("eddy_var_get");
}

static void get_or(eddy_var *v, long n)
{
	for (long i = 0; i < n; i++)
		sink(eddy_var_get_or(v, A));
}

/* vars[0..15] in turn, each set to A, then each to B: CPython's set of the
 * value a variable already holds returns early, so the value always
 * changes, and sixteen variables average over the depths keys have. */
static void set(eddy_var *v, long n)
{
	(void)v;
	eddy_var *s[16];
	memcpy(s, vars, sizeof s);
	int bad = 0;
	for (long i = 0; i < n; i++)
		bad |= eddy_var_set(s[i & 15], i & 16 ? B : A, NULL);
	if (bad)
		fail("eddy_var_set");
}

/* A copy shares the mapping, so the set after it copies the path to the
 * variable; dropping the copy then frees the old path. */
static void copy_set(eddy_var *v, long n)
{
	int bad = 0;
	for (long i = 0; i < n; i++) {
		eddy_ctx *copy = eddy_ctx_copy_current();
		bad |= !copy;
		bad |= eddy_var_set(v, i & 1 ? B : A, NULL);
		eddy_ctx_unref(copy);
	}
	if (bad)
		fail("eddy_ctx_copy_current or eddy_var_set");
}

static void set_reset(eddy_var *v, long n)
{
	for (long i = 0; i < n; i++) {
		eddy_token *tok;
		if (eddy_var_set(v, A, &tok))
			fail("eddy_var_set");
		if (eddy_var_reset(v, tok))
			fail("eddy_var_reset");
		eddy_token_free(tok);
	}
}

/* The same work as CPython's copy_context() whose result is dropped: a
 * new context object that shares the current one's mapping, then freed.
 * CPython takes the object from a free list and counts the mapping's
 * references with plain increments (the GIL makes them safe); eddy takes
 * it from its thread's spares and borrows the mapping without counting
 * (docs/ctx.md, "Borrowed roots"), and also copies the 8-entry get cache,
 * which CPython keeps in its variables instead. */
static void copy(eddy_var *v, long n)
{
	(void)v;
	int bad = 0;
	for (long i = 0; i < n; i++) {
		eddy_ctx *c = eddy_ctx_copy_current();
		bad |= !c;
		eddy_ctx_unref(c);
	}
	if (bad)
		fail("eddy_ctx_copy_current");
}

static void *noop(void *arg)
{
	return arg;
}

static void run(eddy_var *v, long n)
{
	(void)v;
	eddy_ctx *c = other;
	int bad = 0;
	for (long i = 0; i < n; i++)
		bad |= eddy_ctx_run(c, noop, NULL, NULL);
	if (bad)
		fail("eddy_ctx_run");
}

/* ---- The table --------------------------------------------------------- */

typedef void op_fn(eddy_var *v, long n);

static const struct row {
	const char *key; /* bench/ctx.py's name for the same operation */
	int size;        /* the context it runs in: "N vars" */
	op_fn *op;
	eddy_var **var;  /* the variable it works on */
	const char *what;
	double target;   /* the CPython/eddy ratio to reach, or 0 */
} rows[] = {
	{ "get_1", 1, get, &vars[0], "get, 1 var (cache hit)", 5 },
	{ "get_10", 10, get, &vars[0], "get, 10 vars (cache hit)", 5 },
	{ "get_100", 100, get, &vars[0], "get, 100 vars (cache hit)", 5 },
	{ "get_1000", 1000, get, &vars[0], "get, 1000 vars (cache hit)", 5 },
	{ "get_miss", 1000, get_alternating, &vars[0],
	  "get, 1000 vars, 2 vars in 1 cache entry", 0 },
	{ "get_default", 1000, get, &with_default, "get unset var, its default",
	  0 },
	{ "get_or", 1000, get_or, &no_default, "get_or unset var, fallback", 0 },
	{ "set", 1000, set, &vars[0], "set a set var, 1000 vars (in place)", 3 },
	{ "copy_set_10", 10, copy_set, &vars[0],
	  "copy + set + drop copy, 10 vars", 0 },
	{ "copy_set_1000", 1000, copy_set, &vars[0],
	  "copy + set + drop copy, 1000 vars", 0 },
	{ "set_reset", 1000, set_reset, &vars[0], "set + reset + token free", 0 },
	{ "copy_1", 1, copy, &vars[0], "copy + unref, 1 var", 1 },
	{ "copy_10", 10, copy, &vars[0], "copy + unref, 10 vars", 1 },
	{ "copy_100", 100, copy, &vars[0], "copy + unref, 100 vars", 1 },
	{ "copy_1000", 1000, copy, &vars[0], "copy + unref, 1000 vars", 1 },
	{ "run", 1000, run, &vars[0], "run a no-op in another context", 0 },
};
#define NROWS (sizeof rows / sizeof rows[0])

/* ---- Timing ------------------------------------------------------------ */

static double clock_op(op_fn *op, eddy_var *v, long n)
{
	double t0 = now_ns();
	op(v, n);
	return now_ns() - t0;
}

static int by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* How many operations make a repetition of at least MIN_NS. */
static long calibrate(op_fn *op, eddy_var *v)
{
	long n = 1;
	while (clock_op(op, v, n) < MIN_NS)
		n *= 2;
	return n;
}

static double median(double *t, int count)
{
	qsort(t, count, sizeof t[0], by_value);
	return t[count / 2];
}

/* ---- Setup ------------------------------------------------------------- */

/* A new context in which vars[0] .. vars[n - 1] are set. */
static eddy_ctx *context_of(int n)
{
	eddy_ctx *ctx = eddy_ctx_new();
	if (!ctx || eddy_ctx_enter(ctx))
		fail("eddy_ctx_new");
	for (int i = 0; i < n; i++)
		if (eddy_var_set(vars[i], &vars[i], NULL))
			fail("eddy_var_set");
	eddy_ctx_leave(ctx);
	return ctx;
}

/* Same creation order as bench/ctx.py, though only eddy's order matters:
 * it decides the hashes and the cache entries. */
static void make_vars(void)
{
	for (int i = 0; i < NVARS; i++) {
		char name[16];
		snprintf(name, sizeof name, "v%d", i);
		if (!(vars[i] = eddy_var_new(name)))
			fail("eddy_var_new");
	}
	with_default = eddy_var_new_default("with_default", B);
	no_default = eddy_var_new("no_default");
	other = eddy_ctx_new();
	if (!with_default || !no_default || !other)
		fail("setup");
}

/* ---- CPython, a process that times one repetition at a time ---------- */

struct python {
	pid_t pid;
	FILE *to, *from; /* NULL when it could not start */
	char version[32];
};

/* Starts $PYTHON (default python3) on bench/ctx.py, found beside this
 * source, in serving mode.  0, or -1 with py->to NULL. */
static int python_start(struct python *py)
{
	const char *python = getenv("PYTHON") ? getenv("PYTHON") : "python3";
	char script[512];
	size_t len = strlen(__FILE__); /* ends in ".c" */
	py->to = py->from = NULL;
	if (len + 2 > sizeof script)
		return -1;
	memcpy(script, __FILE__, len - 1);
	strcpy(script + len - 1, "py");

	int in[2], out[2];
	if (pipe2(in, O_CLOEXEC))
		return -1;
	if (pipe2(out, O_CLOEXEC)) {
		close(in[0]);
		close(in[1]);
		return -1;
	}
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	char *argv[] = { (char *)python, script, "--serve", NULL };
	int err = posix_spawnp(&py->pid, python, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(in[0]);
	close(out[1]);
	if (err) {
		close(in[1]);
		close(out[0]);
		return -1;
	}
	py->to = fdopen(in[1], "w");
	py->from = fdopen(out[0], "r");
	char line[64];
	if (py->to && py->from && fgets(line, sizeof line, py->from) &&
	    sscanf(line, "python %31s", py->version) == 1)
		return 0;
	if (py->to)
		fclose(py->to);
	else
		close(in[1]);
	if (py->from)
		fclose(py->from);
	else
		close(out[0]);
	waitpid(py->pid, NULL, 0);
	py->to = py->from = NULL;
	return -1;
}

/* One repetition on CPython of the row named key: ns per operation, or -1. */
static double python_repetition(struct python *py, const char *key)
{
	char line[128], got[64];
	double ns;
	if (!py->to || fprintf(py->to, "%s\n", key) < 0 || fflush(py->to) ||
	    !fgets(line, sizeof line, py->from) ||
	    sscanf(line, "%63s %lf", got, &ns) != 2 || strcmp(got, key))
		return -1;
	return ns;
}

static void python_stop(struct python *py)
{
	if (!py->to)
		return;
	fclose(py->to); /* end of input: the script exits */
	fclose(py->from);
	waitpid(py->pid, NULL, 0);
}

/*
 * Times row r in ctx, taking turns with CPython repetition by repetition.
 * Returns eddy's median ns per operation; *theirs gets CPython's, or -1
 * when CPython missed a repetition.
 */
static double time_row(const struct row *r, eddy_ctx *ctx, struct python *py,
		       double *theirs)
{
	double eddy[REPS], cpython[REPS];
	if (eddy_ctx_enter(ctx))
		fail("eddy_ctx_enter");
	long n = calibrate(r->op, *r->var);
	for (int k = 0; k < REPS; k++) {
		eddy[k] = clock_op(r->op, *r->var, n) / n;
		cpython[k] = python_repetition(py, r->key);
	}
	eddy_ctx_leave(ctx);
	*theirs = median(cpython, REPS);
	if (cpython[0] < 0) /* sorted: a failed repetition comes first */
		*theirs = -1;
	return median(eddy, REPS);
}

/* ---- Report ------------------------------------------------------------ */

static void cpu_model(char *buf, size_t size)
{
	char line[256];
	FILE *f = fopen("/proc/cpuinfo", "r");
	snprintf(buf, size, "unknown CPU");
	while (f && fgets(line, sizeof line, f)) {
		char *colon = strchr(line, ':');
		if (!strncmp(line, "model name", 10) && colon) {
			snprintf(buf, size, "%s", colon + 2);
			buf[strcspn(buf, "\n")] = '\0';
			break;
		}
	}
	if (f)
		fclose(f);
}

/* Prints a row; returns 1 when it misses its target. */
static int report(const struct row *r, double eddy, double cpython)
{
	printf("%-40s %9.2f", r->what, eddy);
	if (cpython < 0) {
		printf(" %10s %8s\n", "-", "-");
		return 0;
	}
	double ratio = cpython / eddy;
	printf(" %10.2f %7.1fx", cpython, ratio);
	int missed = r->target > 0 && ratio < r->target;
	if (r->target > 0)
		printf("  >= %gx %s", r->target, missed ? "MISSED" : "met");
	printf("\n");
	return missed;
}

int main(void)
{
	char cpu[128], date[32];
	time_t t = time(NULL);
	cpu_model(cpu, sizeof cpu);
	strftime(date, sizeof date, "%Y-%m-%d", localtime(&t));
	signal(SIGPIPE, SIG_IGN); /* a dead interpreter is a write error */

	make_vars();
	struct python py;
	if (python_start(&py))
		fprintf(stderr, "bench/ctx: could not start CPython's half "
				"(PYTHON names the interpreter); eddy only\n");
	printf("bench/ctx: eddy vs CPython %s contextvars, %s, %s, %ld CPUs\n",
	       py.to ? py.version : "(none)", date, cpu,
	       sysconf(_SC_NPROCESSORS_ONLN));
	printf("%-40s %9s %10s %8s  %s\n", "operation", "eddy ns",
	       "CPython ns", "ratio", "target");

	eddy_ctx *ctx[NVARS + 1] = { 0 };
	int missed = 0, compared = 0;
	for (size_t i = 0; i < NROWS; i++) {
		const struct row *r = &rows[i];
		if (!ctx[r->size])
			ctx[r->size] = context_of(r->size);
		double theirs, ours = time_row(r, ctx[r->size], &py, &theirs);
		compared += theirs >= 0;
		missed += report(r, ours, theirs);
	}
	python_stop(&py);
	printf("ratio = CPython ns / eddy ns: above 1, eddy is faster.\n");
	printf("copy + unref: on both sides a new context object sharing the "
	       "mapping, then freed;\nCPython's time includes its call from "
	       "Python, eddy's the copy of its get cache.\n");
	if (compared < (int)NROWS)
		printf("targets not all checked: %d of %d rows have CPython's time\n",
		       compared, (int)NROWS);
	else if (missed)
		printf("%d target%s missed\n", missed, missed > 1 ? "s" : "");
	else
		printf("all targets met\n");

	for (int n = 0; n <= NVARS; n++)
		eddy_ctx_unref(ctx[n]);
	for (int i = 0; i < NVARS; i++)
		eddy_var_free(vars[i]);
	eddy_var_free(with_default);
	eddy_var_free(no_default);
	eddy_ctx_unref(other);
	return 0;
}
