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
 * Each figure is the best of REPS runs, to keep out the noise of a shared
 * machine.
 */
#define _GNU_SOURCE 1

#ifndef __x86_64__
#error "bench/task measures the x86-64 switch; the aarch64 one is tested under qemu, not timed"
#endif

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "task/coro.h"
#include "task/task.h"

enum { REPS = 25, ROUNDS = 500000, SWAPCONTEXT_ROUNDS = 20000 };
enum { STACK_SIZE = 64 * 1024 };

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void *stack_alloc(void)
{
	void *stack = malloc(STACK_SIZE);
	if (!stack) {
		perror("bench/task");
		exit(1);
	}
	return stack;
}

static unsigned mxcsr_get(void)
{
	unsigned m;
	__asm__ volatile("stmxcsr %0" : "=m"(m));
	return m;
}

static void mxcsr_set(unsigned m)
{
	__asm__ volatile("ldmxcsr %0" : : "m"(m));
}

enum { MXCSR_FLAGS = 0x3f };

/* Sets the inexact flag the way ordinary code does: by rounding. */
static double raise_inexact(void)
{
	volatile double one = 1.0;
	return one / 3.0;
}

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

/* --- glibc's swapcontext -------------------------------------------------- */

static ucontext_t uc_main, uc_co;

static void swapcontext_forever(void)
{
	for (;;)
		swapcontext(&uc_co, &uc_main);
}

static void swapcontext_setup(int flagged)
{
	(void)flagged;
	getcontext(&uc_co);
	uc_co.uc_stack.ss_sp = stack_alloc();
	uc_co.uc_stack.ss_size = STACK_SIZE;
	uc_co.uc_link = NULL;
	makecontext(&uc_co, swapcontext_forever, 0);
	swapcontext(&uc_main, &uc_co);
}

static void swapcontext_rounds(int n)
{
	for (int i = 0; i < n; i++)
		swapcontext(&uc_main, &uc_co);
}

/* --- the floor ------------------------------------------------------------- */

/*
 * floor_switch(from, to): eddy_switch's frame and rules with nothing else.
 * floor_start begins a new stack by calling the function in r13.
 */
void floor_switch(void **from, void *to);
void floor_start(void);
__asm__(".text\n"
        "floor_switch:\n"
        "	pushq %rbp\n"
        "	pushq %rbx\n"
        "	pushq %r12\n"
        "	pushq %r13\n"
        "	pushq %r14\n"
        "	pushq %r15\n"
        "	subq $8, %rsp\n"
        "	stmxcsr (%rsp)\n"
        "	fnstcw 4(%rsp)\n"
        "	movq %rsp, (%rdi)\n"
        "	movq %rsi, %rsp\n"
        "	ldmxcsr (%rsp)\n"
        "	fldcw 4(%rsp)\n"
        "	addq $8, %rsp\n"
        "	popq %r15\n"
        "	popq %r14\n"
        "	popq %r13\n"
        "	popq %r12\n"
        "	popq %rbx\n"
        "	popq %rbp\n"
        "	popq %rcx\n"
        "	jmpq *%rcx\n"
        "floor_start:\n"
        "	callq *%r13\n"
        "	ud2\n");

static void *floor_main_sp, *floor_co_sp, *floor_stack;
static int floor_flagged;

static void floor_forever(void)
{
	if (floor_flagged)
		raise_inexact();
	for (;;)
		floor_switch(&floor_co_sp, floor_main_sp);
}

/* Builds the frame floor_switch pops at the top of the stack, as eddy's. */
static void floor_setup(int flagged)
{
	if (!floor_stack)
		floor_stack = stack_alloc();
	uint64_t *sp = (uint64_t *)((char *)floor_stack + STACK_SIZE) - 10;
	unsigned short cw;

	__asm__ volatile("fnstcw %0" : "=m"(cw));
	for (int i = 0; i < 10; i++)
		sp[i] = 0;
	sp[0] = (uint64_t)cw << 32 | mxcsr_get();
	sp[3] = (uint64_t)(uintptr_t)floor_forever; /* r13 */
	sp[7] = (uint64_t)(uintptr_t)floor_start;   /* return address */
	floor_flagged = flagged;
	floor_co_sp = sp;
	floor_switch(&floor_main_sp, floor_co_sp);
}

static void floor_rounds(int n)
{
	for (int i = 0; i < n; i++)
		floor_switch(&floor_main_sp, floor_co_sp);
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

int main(void)
{
	printf("bench/task: best of %d runs\n\n", REPS);
	bench_switch();
	bench_tasks();
	return 0;
}
