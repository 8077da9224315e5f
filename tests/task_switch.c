/*
 * The coroutine primitive: the x86-64 context switch (task/switch_x86_64.S)
 * and the resume/yield object around it (task/coro.c).
 */
#define _GNU_SOURCE 1 /* MAP_ANONYMOUS, fork */

#include "check.h"

#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "task/coro.h"

EDDY_SUITE(task_switch);

/* --- helpers ---------------------------------------------------------------- */

/* A stack with a PROT_NONE guard page below it, as task/stack.c makes them. */
static void *stack_new(size_t size)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	char *map = mmap(NULL, size + page, PROT_READ | PROT_WRITE,
	                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(map, MAP_FAILED);
	cr_assert_eq(mprotect(map, page, PROT_NONE), 0);
	return map + page;
}

static void stack_free(void *lo, size_t size)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	munmap((char *)lo - page, size + page);
}

enum { STACK = 64 * 1024 };

/* Runs fn(arg) as a coroutine to its end; returns its result. */
static void *run_to_end(eddy_fn fn, void *arg)
{
	struct eddy_coro co;
	void *stack = stack_new(STACK);
	cr_assert_eq(eddy_coro_init(&co, stack, STACK, fn, arg), 0);
	int r;
	while ((r = eddy_coro_resume(&co)) == 0)
		;
	cr_assert_eq(r, 1);
	void *result = co.result;
	eddy_coro_destroy(&co);
	stack_free(stack, STACK);
	return result;
}

static void yield_once(void *unused)
{
	(void)unused;
	eddy_coro_yield();
}

static void resume_once(void *co)
{
	eddy_coro_resume(co);
}

/* --- callee-saved registers --------------------------------------------------- */

/*
 * probe_callee_saved(fn, arg, seed, out) loads rbx, rbp, r12-r15 with seed,
 * seed + 1, ..., seed + 5, calls fn(arg), stores what the six registers
 * hold after it in out[0..5], and restores the caller's values.  With fn a
 * switch to a coroutine that fills the same registers with other values
 * before switching back, out shows whether the switch kept them.
 */
void probe_callee_saved(void (*fn)(void *), void *arg, uint64_t seed,
                        uint64_t out[6]);
__asm__(".text\n"
        ".type probe_callee_saved, @function\n"
        "probe_callee_saved:\n"
        "	pushq %rbp\n"
        "	pushq %rbx\n"
        "	pushq %r12\n"
        "	pushq %r13\n"
        "	pushq %r14\n"
        "	pushq %r15\n"
        "	pushq %rcx\n" /* out; the seventh push aligns the call */
        "	movq %rdx, %rbx\n"
        "	leaq 1(%rdx), %rbp\n"
        "	leaq 2(%rdx), %r12\n"
        "	leaq 3(%rdx), %r13\n"
        "	leaq 4(%rdx), %r14\n"
        "	leaq 5(%rdx), %r15\n"
        "	movq %rdi, %rax\n"
        "	movq %rsi, %rdi\n"
        "	callq *%rax\n"
        "	popq %rcx\n"
        "	movq %rbx, 0(%rcx)\n"
        "	movq %rbp, 8(%rcx)\n"
        "	movq %r12, 16(%rcx)\n"
        "	movq %r13, 24(%rcx)\n"
        "	movq %r14, 32(%rcx)\n"
        "	movq %r15, 40(%rcx)\n"
        "	popq %r15\n"
        "	popq %r14\n"
        "	popq %r13\n"
        "	popq %r12\n"
        "	popq %rbx\n"
        "	popq %rbp\n"
        "	retq\n"
        ".size probe_callee_saved, .-probe_callee_saved\n");

static int registers_hold(const uint64_t out[6], uint64_t seed)
{
	for (int i = 0; i < 6; i++)
		if (out[i] != seed + (uint64_t)i)
			return 0;
	return 1;
}

enum { PROBE_ROUNDS = 100 };

static void *probe_then_yield(void *bad)
{
	for (uint64_t i = 0; i < PROBE_ROUNDS; i++) {
		uint64_t out[6], seed = 0xc0c0c0c000000000 + i * 16;
		probe_callee_saved(yield_once, NULL, seed, out);
		*(int *)bad += !registers_hold(out, seed);
	}
	return NULL;
}

Test(task_switch, callee_saved_registers_survive_switches_both_ways)
{
	struct eddy_coro co;
	void *stack = stack_new(STACK);
	int coro_bad = 0;
	cr_assert_eq(eddy_coro_init(&co, stack, STACK, probe_then_yield,
	                            &coro_bad), 0);
	for (uint64_t i = 0; i < PROBE_ROUNDS; i++) {
		uint64_t out[6], seed = 0x5a5a5a5a00000000 + i * 16;
		probe_callee_saved(resume_once, &co, seed, out);
		cr_assert(registers_hold(out, seed), "resumer's registers lost at round %d",
		          (int)i);
	}
	cr_assert_eq(eddy_coro_resume(&co), 1);
	cr_assert_eq(coro_bad, 0, "coroutine's registers lost in %d rounds",
	             coro_bad);
	eddy_coro_destroy(&co);
	stack_free(stack, STACK);
}

/* --- floating point control state ------------------------------------------ */

/*
 * Rounding control, in MXCSR (SSE) and the x87 control word alike:
 * 0 to nearest, 1 down, 2 up, 3 toward zero.  Set directly rather than
 * through fesetround so that each register is seen separately.
 */
enum { NEAREST, DOWN, UP };

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

static unsigned mxcsr_rounding(void)
{
	return (mxcsr_get() >> 13) & 3;
}

static unsigned x87_rounding(void)
{
	unsigned short cw;
	__asm__ volatile("fnstcw %0" : "=m"(cw));
	return (cw >> 10) & 3u;
}

static void set_rounding(unsigned mode)
{
	unsigned short cw;
	__asm__ volatile("fnstcw %0" : "=m"(cw));
	cw = (unsigned short)((cw & ~(3u << 10)) | mode << 10);
	__asm__ volatile("fldcw %0" : : "m"(cw));
	mxcsr_set((mxcsr_get() & ~(3u << 13)) | mode << 13);
}

static void *report_rounding(void *out)
{
	unsigned *seen = out;
	seen[0] = mxcsr_rounding();
	seen[1] = x87_rounding();
	return NULL;
}

Test(task_switch, new_coroutine_starts_in_its_creators_rounding_mode)
{
	struct eddy_coro co;
	void *stack = stack_new(STACK);
	unsigned seen[2] = { 9, 9 };

	set_rounding(UP);
	cr_assert_eq(eddy_coro_init(&co, stack, STACK, report_rounding, seen), 0);
	/* Changed after init: the coroutine keeps what it was created with. */
	set_rounding(NEAREST);
	cr_assert_eq(eddy_coro_resume(&co), 1);

	cr_assert_eq(seen[0], UP, "MXCSR rounding inside: %u", seen[0]);
	cr_assert_eq(seen[1], UP, "x87 rounding inside: %u", seen[1]);
	cr_assert_eq(mxcsr_rounding(), NEAREST);
	cr_assert_eq(x87_rounding(), NEAREST);
	eddy_coro_destroy(&co);
	stack_free(stack, STACK);
}

static void *round_down_and_check(void *out)
{
	unsigned *seen = out;
	set_rounding(DOWN);
	eddy_coro_yield();
	seen[0] = mxcsr_rounding();
	seen[1] = x87_rounding();
	return NULL;
}

/* The ABI makes rounding control callee-saved: each side keeps its own. */
Test(task_switch, rounding_mode_stays_with_the_side_that_set_it)
{
	struct eddy_coro co;
	void *stack = stack_new(STACK);
	unsigned seen[2] = { 9, 9 };

	cr_assert_eq(eddy_coro_init(&co, stack, STACK, round_down_and_check,
	                            seen), 0);
	cr_assert_eq(eddy_coro_resume(&co), 0);
	cr_assert_eq(mxcsr_rounding(), NEAREST, "the coroutine's mode leaked out");
	cr_assert_eq(x87_rounding(), NEAREST, "the coroutine's mode leaked out");

	set_rounding(UP);
	cr_assert_eq(eddy_coro_resume(&co), 1);
	cr_assert_eq(seen[0], DOWN, "the resumer's mode leaked in");
	cr_assert_eq(seen[1], DOWN, "the resumer's mode leaked in");
	cr_assert_eq(mxcsr_rounding(), UP);
	cr_assert_eq(x87_rounding(), UP);
	set_rounding(NEAREST);
	eddy_coro_destroy(&co);
	stack_free(stack, STACK);
}

enum { MXCSR_DAZ = 1 << 6, MXCSR_FTZ = 1 << 15 };

static void *set_daz(void *unused)
{
	(void)unused;
	mxcsr_set(mxcsr_get() | MXCSR_DAZ | MXCSR_FTZ);
	eddy_coro_yield();
	return (void *)(uintptr_t)(mxcsr_get() & (MXCSR_DAZ | MXCSR_FTZ));
}

/* DAZ is the lowest control bit of MXCSR, next to the status flags. */
Test(task_switch, denormal_modes_stay_with_the_side_that_set_them)
{
	struct eddy_coro co;
	void *stack = stack_new(STACK);

	cr_assert_eq(eddy_coro_init(&co, stack, STACK, set_daz, NULL), 0);
	cr_assert_eq(eddy_coro_resume(&co), 0);
	cr_assert_eq(mxcsr_get() & (MXCSR_DAZ | MXCSR_FTZ), 0);
	cr_assert_eq(eddy_coro_resume(&co), 1);
	cr_assert_eq((uintptr_t)co.result, MXCSR_DAZ | MXCSR_FTZ);
	cr_assert_eq(mxcsr_get() & (MXCSR_DAZ | MXCSR_FTZ), 0);
	eddy_coro_destroy(&co);
	stack_free(stack, STACK);
}

/* --- deep recursion ------------------------------------------------------------- */

struct deep {
	char *stack_lo;
	size_t margin;  /* stop this far above the guard page */
	char *lowest;   /* deepest frame reached */
};

/*
 * Recurses with a 256-byte frame until its frame is within margin of the
 * bottom of the stack, yields there (a switch out of and back into a nearly
 * full stack), and returns the depth reached.
 */
static unsigned recurse(struct deep *d, unsigned depth)
{
	volatile char pad[256];
	char *frame = __builtin_frame_address(0);

	pad[0] = (char)depth;
	if (frame < d->lowest)
		d->lowest = frame;
	if ((size_t)(frame - d->stack_lo) < d->margin) {
		eddy_coro_yield();
		return depth;
	}
	unsigned reached = recurse(d, depth + 1);
	return reached + (pad[0] != (char)depth); /* keeps the frame live */
}

static void *recurse_to_bottom(void *arg)
{
	struct deep *d = arg;
	return (void *)(uintptr_t)recurse(d, 1);
}

Test(task_switch, recursion_can_use_nearly_all_of_the_stack)
{
	enum { SIZE = 256 * 1024 };
	struct eddy_coro co;
	char *stack = stack_new(SIZE);
	struct deep d = { stack, 8 * 1024, stack + SIZE };

	cr_assert_eq(eddy_coro_init(&co, stack, SIZE, recurse_to_bottom, &d), 0);
	cr_assert_eq(eddy_coro_resume(&co), 0);
	cr_assert_eq(eddy_coro_resume(&co), 1);

	size_t used = (size_t)(stack + SIZE - d.lowest);
	cr_assert_geq(used, SIZE - 16 * 1024, "used only %zu of %d bytes",
	              used, SIZE);
	cr_assert_gt((uintptr_t)co.result, 100, "depth %zu",
	             (size_t)(uintptr_t)co.result);
	eddy_coro_destroy(&co);
	stack_free(stack, SIZE);
}

/* --- results and states -------------------------------------------------------- */

static void *yield_three_times_then_double(void *arg)
{
	for (int i = 0; i < 3; i++)
		eddy_coro_yield();
	return (void *)((uintptr_t)arg * 2);
}

Test(task_switch, resume_returns_0_at_each_yield_and_1_with_the_result)
{
	struct eddy_coro co;
	void *stack = stack_new(STACK);

	cr_assert_eq(eddy_coro_init(&co, stack, STACK,
	                            yield_three_times_then_double,
	                            (void *)21), 0);
	cr_assert_eq(co.state, EDDY_CORO_READY);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(eddy_coro_resume(&co), 0);
		cr_assert_eq(co.state, EDDY_CORO_SUSPENDED);
	}
	cr_assert_eq(eddy_coro_resume(&co), 1);
	cr_assert_eq(co.state, EDDY_CORO_DONE);
	cr_assert_eq(co.result, (void *)42);
	eddy_coro_destroy(&co);
	stack_free(stack, STACK);
}

static void *return_arg(void *arg)
{
	return arg;
}

Test(task_switch, resume_after_finish_is_einval)
{
	struct eddy_coro co;
	void *stack = stack_new(STACK);

	cr_assert_eq(eddy_coro_init(&co, stack, STACK, return_arg, &co), 0);
	cr_assert_eq(eddy_coro_resume(&co), 1);
	cr_assert_eq(co.result, &co);
	cr_assert_eq(eddy_coro_resume(&co), -EINVAL);
	cr_assert_eq(eddy_coro_resume(&co), -EINVAL);
	cr_assert_eq(co.result, &co);
	eddy_coro_destroy(&co);
	stack_free(stack, STACK);
}

static void *resume_self(void *unused)
{
	(void)unused;
	return (void *)(intptr_t)eddy_coro_resume(eddy_coro_self());
}

Test(task_switch, resuming_the_running_coroutine_is_ebusy)
{
	cr_assert_eq((intptr_t)run_to_end(resume_self, NULL), -EBUSY);
}

static void *resume_arg(void *co)
{
	return (void *)(intptr_t)eddy_coro_resume(co);
}

static void *resume_inner_with_outer(void *outer)
{
	struct eddy_coro inner;
	void *stack = stack_new(STACK);
	cr_assert_eq(eddy_coro_init(&inner, stack, STACK, resume_arg, outer), 0);
	cr_assert_eq(eddy_coro_resume(&inner), 1);
	void *r = inner.result;
	eddy_coro_destroy(&inner);
	stack_free(stack, STACK);
	return r;
}

Test(task_switch, resuming_a_coroutine_up_the_resume_chain_is_ebusy)
{
	struct eddy_coro outer;
	void *stack = stack_new(STACK);

	cr_assert_eq(eddy_coro_init(&outer, stack, STACK,
	                            resume_inner_with_outer, &outer), 0);
	cr_assert_eq(eddy_coro_resume(&outer), 1);
	cr_assert_eq((intptr_t)outer.result, -EBUSY);
	eddy_coro_destroy(&outer);
	stack_free(stack, STACK);
}

Test(task_switch, init_rejects_a_missing_function_or_a_tiny_stack)
{
	struct eddy_coro co;
	char stack[EDDY_CORO_STACK_MIN];

	cr_assert_eq(eddy_coro_init(&co, stack, sizeof stack, NULL, NULL),
	             -EINVAL);
	cr_assert_eq(eddy_coro_init(&co, stack, sizeof stack - 1, return_arg,
	                            NULL), -EINVAL);
	cr_assert_eq(eddy_coro_init(&co, NULL, sizeof stack, return_arg, NULL),
	             -EINVAL);
	cr_assert_eq(eddy_coro_init(NULL, stack, sizeof stack, return_arg, NULL),
	             -EINVAL);
}

Test(task_switch, self_is_null_outside_a_coroutine_and_yield_does_nothing)
{
	cr_assert_null(eddy_coro_self());
	eddy_coro_yield();
	cr_assert_null(eddy_coro_self());
}

static void *self(void *unused)
{
	(void)unused;
	return eddy_coro_self();
}

Test(task_switch, self_is_the_running_coroutine)
{
	struct eddy_coro co;
	void *stack = stack_new(STACK);

	cr_assert_eq(eddy_coro_init(&co, stack, STACK, self, NULL), 0);
	cr_assert_eq(eddy_coro_resume(&co), 1);
	cr_assert_eq(co.result, &co);
	cr_assert_null(eddy_coro_self());
	eddy_coro_destroy(&co);
	stack_free(stack, STACK);
}

Test(task_switch, destroyed_suspended_coroutine_is_not_resumed_and_its_stack_is_reusable)
{
	struct eddy_coro co;
	void *stack = stack_new(STACK);
	struct deep half = { stack, STACK / 2, (char *)stack + STACK };

	cr_assert_eq(eddy_coro_init(&co, stack, STACK, recurse_to_bottom, &half),
	             0);
	cr_assert_eq(eddy_coro_resume(&co), 0); /* parked half-way down */
	eddy_coro_destroy(&co);
	cr_assert_eq(eddy_coro_resume(&co), -EINVAL);

	/* The same memory, where the abandoned frames were, runs a new one. */
	struct deep full = { stack, 4 * 1024, (char *)stack + STACK };
	cr_assert_eq(eddy_coro_init(&co, stack, STACK, recurse_to_bottom, &full),
	             0);
	cr_assert_eq(eddy_coro_resume(&co), 0);
	cr_assert_eq(eddy_coro_resume(&co), 1);
	eddy_coro_destroy(&co);
	stack_free(stack, STACK);
}

/* --- nesting and interleaving -------------------------------------------------- */

static char order[64];

static void note(const char *step)
{
	strcat(order, step);
}

static void *inner_steps(void *unused)
{
	(void)unused;
	note("b1 ");
	eddy_coro_yield();
	note("b2 ");
	return NULL;
}

static void *outer_steps(void *inner)
{
	struct eddy_coro *self_at_start = eddy_coro_self();
	note("a1 ");
	cr_expect_eq(eddy_coro_resume(inner), 0);
	cr_expect_eq(eddy_coro_self(), self_at_start);
	note("a2 ");
	eddy_coro_yield();
	note("a3 ");
	cr_expect_eq(eddy_coro_resume(inner), 1);
	note("a4 ");
	return NULL;
}

Test(task_switch, nested_coroutines_yield_to_whoever_resumed_them)
{
	struct eddy_coro outer, inner;
	void *stack_a = stack_new(STACK), *stack_b = stack_new(STACK);

	order[0] = '\0';
	cr_assert_eq(eddy_coro_init(&inner, stack_b, STACK, inner_steps, NULL), 0);
	cr_assert_eq(eddy_coro_init(&outer, stack_a, STACK, outer_steps, &inner), 0);
	cr_assert_eq(eddy_coro_resume(&outer), 0);
	note("m1 ");
	cr_assert_eq(eddy_coro_resume(&outer), 1);
	cr_assert_str_eq(order, "a1 b1 a2 m1 a3 b2 a4 ");
	eddy_coro_destroy(&inner);
	eddy_coro_destroy(&outer);
	stack_free(stack_a, STACK);
	stack_free(stack_b, STACK);
}

/* Each link resumes the next; the last yields, and all unwind in order. */
enum { CHAIN = 64 };

struct chain {
	struct eddy_coro co[CHAIN];
	void *stack[CHAIN];
	int depth_seen;
};

static void *chain_link(void *arg)
{
	struct chain *c = arg;
	int i = (int)(eddy_coro_self() - c->co);

	if (i + 1 == CHAIN) {
		c->depth_seen = i + 1;
		eddy_coro_yield();
		return (void *)(intptr_t)1;
	}
	cr_expect_eq(eddy_coro_resume(&c->co[i + 1]), 0);
	eddy_coro_yield();
	cr_expect_eq(eddy_coro_resume(&c->co[i + 1]), 1);
	return (void *)((intptr_t)c->co[i + 1].result + 1);
}

Test(task_switch, a_long_chain_of_nested_resumes_unwinds_in_order)
{
	static struct chain c;

	for (int i = 0; i < CHAIN; i++) {
		c.stack[i] = stack_new(STACK);
		cr_assert_eq(eddy_coro_init(&c.co[i], c.stack[i], STACK,
		                            chain_link, &c), 0);
	}
	cr_assert_eq(eddy_coro_resume(&c.co[0]), 0);
	cr_assert_eq(c.depth_seen, CHAIN);
	cr_assert_null(eddy_coro_self());
	cr_assert_eq(eddy_coro_resume(&c.co[0]), 1);
	cr_assert_eq((intptr_t)c.co[0].result, CHAIN);
	for (int i = 0; i < CHAIN; i++) {
		eddy_coro_destroy(&c.co[i]);
		stack_free(c.stack[i], STACK);
	}
}

enum { MANY = 500 };

/* Coroutine i takes i % 7 + 1 steps, keeping a running sum in a local. */
static int steps_taken[MANY];

static void *count_steps(void *arg)
{
	intptr_t i = (intptr_t)arg;
	intptr_t sum = 0;

	for (int step = 0; step < i % 7 + 1; step++) {
		sum += i * 1000 + step;
		steps_taken[i]++;
		eddy_coro_yield();
	}
	return (void *)sum;
}

Test(task_switch, many_coroutines_interleave_and_keep_their_own_state)
{
	static struct eddy_coro co[MANY];
	static void *stacks[MANY];
	int running = MANY;

	for (intptr_t i = 0; i < MANY; i++) {
		stacks[i] = malloc(STACK);
		cr_assert_not_null(stacks[i]);
		cr_assert_eq(eddy_coro_init(&co[i], stacks[i], STACK, count_steps,
		                            (void *)i), 0);
	}
	for (int round = 0; running > 0; round++) {
		for (int i = 0; i < MANY; i++) {
			int r = eddy_coro_resume(&co[i]);
			if (r == 1)
				running--;
			else if (r == 0)
				cr_assert_eq(steps_taken[i], round + 1);
			else
				cr_assert_eq(r, -EINVAL);
		}
	}
	for (intptr_t i = 0; i < MANY; i++) {
		intptr_t steps = i % 7 + 1;
		cr_assert_eq(steps_taken[i], steps);
		cr_assert_eq((intptr_t)co[i].result,
		             steps * i * 1000 + steps * (steps - 1) / 2);
		eddy_coro_destroy(&co[i]);
		free(stacks[i]);
	}
}

/* --- AddressSanitizer still sees bugs inside coroutines ------------------------ */

/*
 * Compiled in the ASan build only: the child process does a heap
 * use-after-free on a coroutine's stack, and must die with ASan's report.
 */
#ifdef EDDY_HAVE_ASAN
static void *read_after_free(void *unused)
{
	(void)unused;
	int *volatile p = malloc(sizeof *p);
	*p = 7;
	free(p);
	return (void *)(intptr_t)*p;
}

Test(task_switch, asan_reports_a_use_after_free_inside_a_coroutine)
{
	int pipefd[2];
	cr_assert_eq(pipe(pipefd), 0);
	pid_t pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		dup2(pipefd[1], STDERR_FILENO);
		close(pipefd[0]);
		run_to_end(read_after_free, NULL);
		_exit(0);
	}
	close(pipefd[1]);

	static char report[1 << 16];
	size_t len = 0;
	ssize_t n;
	while (len < sizeof report - 1 &&
	       (n = read(pipefd[0], report + len, sizeof report - 1 - len)) > 0)
		len += (size_t)n;
	report[len] = '\0';
	close(pipefd[0]);

	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(!(WIFEXITED(status) && WEXITSTATUS(status) == 0),
	          "the use after free went unnoticed");
	cr_assert_not_null(strstr(report, "heap-use-after-free"),
	                   "no ASan report; the child said:\n%s", report);
}
#endif
