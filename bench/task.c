/*
 * bench/task: what a task costs, measured in one run.
 *
 * Switch.  One switch is half a round trip: eddy_coro_resume running a
 * coroutine up to its next eddy_coro_yield is two switches, there and
 * back, and so is a swapcontext ping-pong or a pair of floor switches.
 * The floor is the least a switch can do under the same rules, written
 * below: push the callee-saved registers and the FP control words, swap
 * stack pointers, pop, and jump (not return) to the saved address.
 *
 * The last two rows give one side of the switch a sticky MXCSR status flag
 * (inexact, which most floating point code sets) that the other side lacks,
 * so every switch loads an MXCSR that differs from the current one: on
 * some CPUs that costs tens of nanoseconds, which these rows would show.
 *
 * Tasks.  Create+destroy is eddy_task_new then eddy_task_free of a task
 * that never ran, with its stack from the thread's pool, against what a
 * runtime without a pool pays for a guarded stack: mmap, mprotect of the
 * guard page, munmap.  Memory per idle task is the resident set's growth
 * over 100,000 tasks that have each run once and are parked in a suspend,
 * with the default stack size, divided by their number.
 *
 * Merge.  What a MERGE join costs the joiner: eddy_ctx_merge of a child
 * that changed k variables of a context of n, the same k changes made to
 * plain variables and to variables with a merge rule (a counter's
 * reducer, which runs at every merge here since the joiner already holds
 * the child's values from the last one).  A third row changes plain
 * variables in a context where half of all the variables carry rules,
 * which the merge must not look at.  Beside them, the copy a child starts
 * from (eddy_ctx_copy_crossing + unref), with and without a task-local
 * variable mapped, which is the one case that walks the mapping.
 *
 * Each figure is the best of REPS runs, to keep out the noise of a shared
 * machine.
 */
#define _GNU_SOURCE 1

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "switch.h"
#include "task/coro.h"
#include "task/task.h"

enum { REPS = 25, ROUNDS = 500000, SWAPCONTEXT_ROUNDS = 20000 };

/*
 * Each contender is a coroutine that switches back forever, set up once,
 * and a function making n round trips to it.  The rounds of all of them
 * alternate, so that a change in the machine's load hits each alike.
 */
struct contender {
	const char *name;
	void (*setup)(int flagged);
	void (*rounds)(int n);
	int n;
	double best; /* ns per switch */
};

static double time_switch(const struct contender *c)
{
	double t = now_ns();
	c->rounds(c->n);
	return (now_ns() - t) / (2.0 * c->n);
}

/* --- eddy ----------------------------------------------------------------- */

static struct eddy_coro eddy_co;

static void *eddy_yield_forever(void *flagged)
{
	if (flagged)
		raise_inexact();
	for (;;)
		eddy_coro_yield();
	return NULL;
}

static void eddy_setup(int flagged)
{
	if (eddy_co.stack_lo)
		eddy_coro_destroy(&eddy_co); /* abandoned, suspended */
	else
		eddy_co.stack_lo = stack_alloc();
	if (eddy_coro_init(&eddy_co, eddy_co.stack_lo, STACK_SIZE,
	                   eddy_yield_forever, flagged ? &eddy_co : NULL) != 0)
		abort();
	eddy_coro_resume(&eddy_co);
}

static void eddy_rounds(int n)
{
	for (int i = 0; i < n; i++)
		eddy_coro_resume(&eddy_co);
}

/* --- report ----------------------------------------------------------------- */

/* Best ns per switch of each contender, their coroutines flagged or not. */
static void measure(struct contender *c, int count, int flagged)
{
	for (int i = 0; i < count; i++) {
		mxcsr_set(mxcsr_get() & ~MXCSR_FLAGS);
		c[i].setup(flagged);
		c[i].best = 1e30;
	}
	for (int rep = 0; rep < REPS; rep++)
		for (int i = 0; i < count; i++) {
			double t = time_switch(&c[i]);
			c[i].best = t < c[i].best ? t : c[i].best;
		}
}

static void bench_switch(void)
{
	struct contender c[] = {
		{ "eddy (eddy_coro_resume/yield)", eddy_setup, eddy_rounds,
		  ROUNDS, 0 },
		{ "floor (minimal asm switch)", floor_setup, floor_rounds,
		  ROUNDS, 0 },
		{ "glibc swapcontext", swapcontext_setup, swapcontext_rounds,
		  SWAPCONTEXT_ROUNDS, 0 },
	};
	measure(c, 3, 0);
	double eddy = c[0].best, floor = c[1].best, swapctx = c[2].best;

	printf("switch (ns per switch, half a resume+yield round trip)\n");
	for (int i = 0; i < 3; i++)
		printf("  %-40s %8.2f ns\n", c[i].name, c[i].best);
	printf("  %-40s %8.2f x   (target <= 1.3)\n", "eddy / floor",
	       eddy / floor);
	printf("  %-40s %8.1f x   (target >= 30)\n", "swapcontext / eddy",
	       swapctx / eddy);

	measure(c, 2, 1);
	printf("  %-40s %8.2f ns\n", "eddy, MXCSR differs by a status flag",
	       c[0].best);
	printf("  %-40s %8.2f ns\n", "floor, MXCSR differs by a status flag",
	       c[1].best);
}

/* --- tasks ------------------------------------------------------------------ */

enum { CREATE_ROUNDS = 200000, MMAP_ROUNDS = 2000, PARKED = 100000 };

static void *parks(void *arg)
{
	eddy_task_suspend();
	return arg;
}

static double time_create_pooled(void)
{
	double t0 = now_ns();
	for (int i = 0; i < CREATE_ROUNDS; i++) {
		eddy_task *t = eddy_task_new(parks, NULL, NULL, 0);
		if (!t) {
			perror("eddy_task_new");
			exit(1);
		}
		eddy_task_free(t);
	}
	return (now_ns() - t0) / CREATE_ROUNDS;
}

static double time_fresh_mmap_stack(void)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t size = EDDY_STACK_DEFAULT + page;
	double t0 = now_ns();
	for (int i = 0; i < MMAP_ROUNDS; i++) {
		void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1,
			       0);
		if (p == MAP_FAILED || mprotect(p, page, PROT_NONE)) {
			perror("mmap");
			exit(1);
		}
		munmap(p, size);
	}
	return (now_ns() - t0) / MMAP_ROUNDS;
}

static long resident_bytes(void)
{
	long pages_total, pages_resident;
	FILE *f = fopen("/proc/self/statm", "r");
	if (!f || fscanf(f, "%ld %ld", &pages_total, &pages_resident) != 2) {
		perror("/proc/self/statm");
		exit(1);
	}
	fclose(f);
	return pages_resident * sysconf(_SC_PAGESIZE);
}

static double bytes_per_parked_task(void)
{
	static eddy_task *tasks[PARKED];
	long before = resident_bytes();
	for (int i = 0; i < PARKED; i++) {
		tasks[i] = eddy_task_new(parks, NULL, NULL, 0);
		if (!tasks[i] || eddy_task_resume(tasks[i]) != 0) {
			perror("eddy_task_new");
			exit(1);
		}
	}
	double per_task = (double)(resident_bytes() - before) / PARKED;
	for (int i = 0; i < PARKED; i++)
		eddy_task_free(tasks[i]);
	return per_task;
}

static void bench_tasks(void)
{
	double pooled = 1e30, fresh = 1e30;
	eddy_task_free(eddy_task_new(parks, NULL, NULL, 0)); /* warm the pool */
	for (int rep = 0; rep < REPS; rep++) {
		double p = time_create_pooled(), f = time_fresh_mmap_stack();
		pooled = p < pooled ? p : pooled;
		fresh = f < fresh ? f : fresh;
	}
	printf("\ntask create+destroy (ns)\n");
	printf("  %-40s %8.1f ns   (target <= 50)\n",
	       "eddy, stack from the pool", pooled);
	printf("  %-40s %8.1f ns\n", "fresh mmap+mprotect+munmap stack", fresh);
	printf("  %-40s %8.1f x\n", "fresh / eddy", fresh / pooled);

	double per_task = bytes_per_parked_task();
	printf("\nmemory per idle task (%d parked, %d KiB stacks)\n", PARKED,
	       EDDY_STACK_DEFAULT / 1024);
	printf("  %-40s %8.0f B    (target <= 8192)\n", "resident, per task",
	       per_task);
}

/* --- merge with and without rules ----------------------------------------- */

enum { MERGE_ROUNDS = 16000, COPY_ROUNDS = 200000, MAX_VARS = 100000 };

static eddy_var *plain_vars[MAX_VARS], *ruled_vars[MAX_VARS];

static int add(void *parent, void *child, void *fork, void **out, void *arg)
{
	(void)arg;
	*out = (void *)((intptr_t)parent + (intptr_t)child - (intptr_t)fork);
	return 0;
}

static void make_bench_vars(void)
{
	eddy_var_opts counter = { .merge = EDDY_MERGE_REDUCE, .reduce = add };
	for (int i = 0; i < MAX_VARS; i++) {
		plain_vars[i] = eddy_var_new("plain");
		ruled_vars[i] = eddy_var_new_opts("ruled", &counter);
		if (!plain_vars[i] || !ruled_vars[i]) {
			perror("eddy_var_new");
			exit(1);
		}
	}
}

static void set_in(eddy_ctx *ctx, eddy_var *var, intptr_t v)
{
	eddy_ctx_enter(ctx);
	eddy_var_set(var, (void *)v, NULL);
	eddy_ctx_leave(ctx);
}

/* A parent mapping n variables (every second one from ruled when
 * half_ruled), and a child of it that changed k of `changed`. */
struct merge_case {
	eddy_ctx *parent, *base, *child;
};

static struct merge_case merge_case(int n, int k, eddy_var **changed,
				    int half_ruled)
{
	struct merge_case m = { .parent = eddy_ctx_new() };
	for (int i = 0; i < n; i++)
		set_in(m.parent, half_ruled && i % 2 ? ruled_vars[i] :
						       changed[i], i + 1);
	m.base = eddy_ctx_copy(m.parent);
	m.child = eddy_ctx_copy(m.base);
	for (int i = 0; i < k; i++) /* spread, on even (plain) slots */
		set_in(m.child, changed[((long)i * n / k) & ~1L], -(i + 1));
	return m;
}

static void merge_case_free(struct merge_case *m)
{
	eddy_ctx_unref(m->parent);
	eddy_ctx_unref(m->base);
	eddy_ctx_unref(m->child);
}

/* k changes cost about k times one: k times fewer rounds. */
static double time_merge(struct merge_case *m, int k)
{
	int rounds = MERGE_ROUNDS / k;
	double t0 = now_ns();
	for (int i = 0; i < rounds; i++)
		if (eddy_ctx_merge(m->parent, m->child, m->base) < 0) {
			fprintf(stderr, "eddy_ctx_merge failed\n");
			exit(1);
		}
	return (now_ns() - t0) / rounds;
}

static double time_copy_for_child(eddy_ctx *ctx)
{
	double t0 = now_ns();
	for (int i = 0; i < COPY_ROUNDS; i++)
		eddy_ctx_unref(eddy_ctx_copy_crossing(ctx, EDDY_CROSS_TASK));
	return (now_ns() - t0) / COPY_ROUNDS;
}

static void bench_merge_rows(int n, int k)
{
	struct merge_case c[3] = {
		merge_case(n, k, plain_vars, 0),
		merge_case(n, k, ruled_vars, 0),
		merge_case(n, k, plain_vars, 1),
	};
	double best[3] = { 1e30, 1e30, 1e30 };
	for (int rep = 0; rep < REPS; rep++)
		for (int i = 0; i < 3; i++) {
			double t = time_merge(&c[i], k);
			best[i] = t < best[i] ? t : best[i];
		}
	char label[64];
	snprintf(label, sizeof label, "k=%d of n=%d, plain vars", k, n);
	printf("  %-40s %8.1f ns\n", label, best[0]);
	snprintf(label, sizeof label, "k=%d of n=%d, vars with a reducer", k,
		 n);
	printf("  %-40s %8.1f ns   (%.2f x plain)\n", label, best[1],
	       best[1] / best[0]);
	snprintf(label, sizeof label, "k=%d plain of n=%d, n/2 ruled", k, n);
	printf("  %-40s %8.1f ns   (%.2f x plain)\n", label, best[2],
	       best[2] / best[0]);
	for (int i = 0; i < 3; i++)
		merge_case_free(&c[i]);
}

static void bench_copy_rows(int n)
{
	eddy_var *local = eddy_var_new_opts(
		"deadline",
		&(eddy_var_opts){ .propagate = EDDY_PROPAGATE_TASK_LOCAL });
	eddy_ctx *without = eddy_ctx_new();
	for (int i = 0; i < n; i++)
		set_in(without, plain_vars[i], i + 1);
	eddy_ctx *with = eddy_ctx_copy(without);
	set_in(with, local, 1);
	double best[2] = { 1e30, 1e30 };
	for (int rep = 0; rep < REPS; rep++) {
		double a = time_copy_for_child(without);
		double b = time_copy_for_child(with);
		best[0] = a < best[0] ? a : best[0];
		best[1] = b < best[1] ? b : best[1];
	}
	char label[64];
	snprintf(label, sizeof label, "n=%d, no task-local var set", n);
	printf("  %-40s %8.1f ns\n", label, best[0]);
	snprintf(label, sizeof label, "n=%d, one task-local var set", n);
	printf("  %-40s %8.1f ns\n", label, best[1]);
	eddy_ctx_unref(without);
	eddy_ctx_unref(with);
	eddy_var_free(local);
}

static void bench_merge(void)
{
	make_bench_vars();
	printf("\nmerge of a child's k changes into n vars (ns per merge)\n");
	bench_merge_rows(1000, 1);
	bench_merge_rows(1000, 16);
	bench_merge_rows(MAX_VARS, 16);
	printf("\ncopy for a child + unref (ns)\n");
	bench_copy_rows(10);
	bench_copy_rows(1000);
}

int main(void)
{
	printf("bench/task: best of %d runs\n\n", REPS);
	bench_switch();
	bench_tasks();
	bench_merge();
	return 0;
}
