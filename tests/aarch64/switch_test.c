/*
 * The aarch64 context switch (task/switch_aarch64.S), tested on its own:
 * `make test` cross-builds this file with the switch into a static binary
 * and runs it under qemu-aarch64.  No Criterion and no task/coro.c, only a
 * minimal coroutine over eddy_switch.  Prints one line; exits 1 on failure.
 *
 * Checks: x19-x28, fp and d8-d15 survive switches in both directions;
 * a new stack starts with its creator's FPCR and each side keeps its own;
 * a coroutine's result comes back; a coroutine resuming another nests; a
 * coroutine hands the thread to another with eddy_switch_across.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "task/switch.h"

static int checks;
static const char *failure;

static void check(int ok, const char *what)
{
	checks++;
	if (!ok && !failure)
		failure = what;
}

/* --- a minimal coroutine ------------------------------------------------------ */

struct co {
	void *sp;   /* the coroutine's, while it is suspended */
	void *back; /* its resumer's, while it runs */
	long (*fn)(struct co *self, long arg);
	long arg;
	long result;
	_Alignas(16) unsigned char stack[64 * 1024];
};

static void co_entry(void *self)
{
	struct co *co = self;
	co->result = co->fn(co, co->arg);
	eddy_switch(&co->sp, co->back, 1);
	abort(); /* never resumed after it finished */
}

static void co_init(struct co *co, long (*fn)(struct co *, long), long arg)
{
	co->fn = fn;
	co->arg = arg;
	co->sp = eddy_switch_init(co->stack + sizeof co->stack, co_entry, co);
}

/* 0 when co yielded, 1 when it finished. */
static int co_resume(struct co *co)
{
	return eddy_switch(&co->back, co->sp, 0);
}

static void co_yield(struct co *co)
{
	eddy_switch(&co->sp, co->back, 0);
}

/* --- callee-saved registers ------------------------------------------------------ */

enum { PROBED = 19 }; /* x19-x28, x29, d8-d15 */

/*
 * probe(fn, arg, seed, out) loads x19-x28, x29 and d8-d15 with seed,
 * seed + 1, ..., seed + 18, calls fn(arg), stores what those registers hold
 * after it in out[0..18] and restores the caller's values.
 */
void probe(void (*fn)(void *), void *arg, uint64_t seed, uint64_t *out);
__asm__(".text\n"
        ".type probe, %function\n"
        "probe:\n"
        "	stp x29, x30, [sp, #-176]!\n"
        "	stp x19, x20, [sp, #16]\n"
        "	stp x21, x22, [sp, #32]\n"
        "	stp x23, x24, [sp, #48]\n"
        "	stp x25, x26, [sp, #64]\n"
        "	stp x27, x28, [sp, #80]\n"
        "	stp d8, d9, [sp, #96]\n"
        "	stp d10, d11, [sp, #112]\n"
        "	stp d12, d13, [sp, #128]\n"
        "	stp d14, d15, [sp, #144]\n"
        "	str x3, [sp, #160]\n"
        "	mov x9, x0\n"
        "	mov x0, x1\n"
        "	add x19, x2, #0\n"
        "	add x20, x2, #1\n"
        "	add x21, x2, #2\n"
        "	add x22, x2, #3\n"
        "	add x23, x2, #4\n"
        "	add x24, x2, #5\n"
        "	add x25, x2, #6\n"
        "	add x26, x2, #7\n"
        "	add x27, x2, #8\n"
        "	add x28, x2, #9\n"
        "	add x29, x2, #10\n"
        "	add x10, x2, #11\n"
        "	fmov d8, x10\n"
        "	add x10, x2, #12\n"
        "	fmov d9, x10\n"
        "	add x10, x2, #13\n"
        "	fmov d10, x10\n"
        "	add x10, x2, #14\n"
        "	fmov d11, x10\n"
        "	add x10, x2, #15\n"
        "	fmov d12, x10\n"
        "	add x10, x2, #16\n"
        "	fmov d13, x10\n"
        "	add x10, x2, #17\n"
        "	fmov d14, x10\n"
        "	add x10, x2, #18\n"
        "	fmov d15, x10\n"
        "	blr x9\n"
        "	ldr x3, [sp, #160]\n"
        "	stp x19, x20, [x3, #0]\n"
        "	stp x21, x22, [x3, #16]\n"
        "	stp x23, x24, [x3, #32]\n"
        "	stp x25, x26, [x3, #48]\n"
        "	stp x27, x28, [x3, #64]\n"
        "	str x29, [x3, #80]\n"
        "	stp d8, d9, [x3, #88]\n"
        "	stp d10, d11, [x3, #104]\n"
        "	stp d12, d13, [x3, #120]\n"
        "	stp d14, d15, [x3, #136]\n"
        "	ldp x19, x20, [sp, #16]\n"
        "	ldp x21, x22, [sp, #32]\n"
        "	ldp x23, x24, [sp, #48]\n"
        "	ldp x25, x26, [sp, #64]\n"
        "	ldp x27, x28, [sp, #80]\n"
        "	ldp d8, d9, [sp, #96]\n"
        "	ldp d10, d11, [sp, #112]\n"
        "	ldp d12, d13, [sp, #128]\n"
        "	ldp d14, d15, [sp, #144]\n"
        "	ldp x29, x30, [sp], #176\n"
        "	ret\n"
        ".size probe, .-probe\n");

static int registers_hold(const uint64_t *out, uint64_t seed)
{
	for (int i = 0; i < PROBED; i++)
		if (out[i] != seed + (uint64_t)i)
			return 0;
	return 1;
}

static void resume_it(void *co)
{
	co_resume(co);
}

static void yield_it(void *co)
{
	co_yield(co);
}

enum { ROUNDS = 50 };

static long probe_and_yield(struct co *self, long unused)
{
	(void)unused;
	for (uint64_t i = 0; i < ROUNDS; i++) {
		uint64_t out[PROBED], seed = 0xc0c0c0c000000000 + i * 32;
		probe(yield_it, self, seed, out);
		check(registers_hold(out, seed),
		      "the coroutine's callee-saved registers changed");
	}
	return 0;
}

static void test_registers(void)
{
	static struct co co;

	co_init(&co, probe_and_yield, 0);
	for (uint64_t i = 0; i < ROUNDS; i++) {
		uint64_t out[PROBED], seed = 0x5a5a5a5a00000000 + i * 32;
		probe(resume_it, &co, seed, out);
		check(registers_hold(out, seed),
		      "the resumer's callee-saved registers changed");
	}
	check(co_resume(&co) == 1, "the probing coroutine did not finish");
}

/* --- FPCR ---------------------------------------------------------------------- */

enum { RMODE_SHIFT = 22, NEAREST = 0, UP = 1, DOWN = 2 };

static uint64_t fpcr_get(void)
{
	uint64_t v;
	__asm__ volatile("mrs %0, fpcr" : "=r"(v));
	return v;
}

static void set_rounding(uint64_t mode)
{
	uint64_t v = (fpcr_get() & ~(3ull << RMODE_SHIFT)) | mode << RMODE_SHIFT;
	__asm__ volatile("msr fpcr, %0" : : "r"(v));
}

static uint64_t rounding(void)
{
	return (fpcr_get() >> RMODE_SHIFT) & 3;
}

static long report_rounding(struct co *self, long unused)
{
	(void)self, (void)unused;
	return (long)rounding();
}

static long round_down_and_report(struct co *self, long unused)
{
	(void)unused;
	set_rounding(DOWN);
	co_yield(self);
	return (long)rounding();
}

static void test_fpcr(void)
{
	static struct co co;

	set_rounding(UP);
	co_init(&co, report_rounding, 0);
	set_rounding(NEAREST);
	co_resume(&co);
	check(co.result == UP, "a new coroutine did not get its creator's FPCR");
	check(rounding() == NEAREST, "the coroutine's FPCR leaked out");

	co_init(&co, round_down_and_report, 0);
	co_resume(&co);
	check(rounding() == NEAREST, "a yielding coroutine's FPCR leaked out");
	set_rounding(UP);
	co_resume(&co);
	check(co.result == DOWN, "the resumer's FPCR leaked in");
	check(rounding() == UP, "the resumer's FPCR was not restored");
	set_rounding(NEAREST);
}

/* --- results and nesting ---------------------------------------------------------- */

static long triple(struct co *self, long arg)
{
	(void)self;
	return arg * 3;
}

static void test_result(void)
{
	static struct co co;

	co_init(&co, triple, 14);
	check(co_resume(&co) == 1, "a returning coroutine did not report it");
	check(co.result == 42, "the coroutine's result did not come back");
}

static char order[64];
static struct co outer, inner;

static long inner_steps(struct co *self, long unused)
{
	(void)unused;
	strcat(order, "b1 ");
	co_yield(self);
	strcat(order, "b2 ");
	return 2;
}

static long outer_steps(struct co *self, long unused)
{
	(void)unused;
	strcat(order, "a1 ");
	check(co_resume(&inner) == 0, "the inner coroutine did not yield");
	strcat(order, "a2 ");
	co_yield(self);
	strcat(order, "a3 ");
	check(co_resume(&inner) == 1, "the inner coroutine did not finish");
	strcat(order, "a4 ");
	return inner.result;
}

static void test_nesting(void)
{
	co_init(&inner, inner_steps, 0);
	co_init(&outer, outer_steps, 0);
	check(co_resume(&outer) == 0, "the outer coroutine did not yield");
	strcat(order, "m1 ");
	check(co_resume(&outer) == 1, "the outer coroutine did not finish");
	check(strcmp(order, "a1 b1 a2 m1 a3 b2 a4 ") == 0,
	      "nested switches ran out of order");
	check(outer.result == 2, "the nested result did not come back");
}

/* --- a handoff: eddy_switch_across from one coroutine to another ------------- */

static struct co first, second;

/* Hands the thread to second, which takes over its resumer. */
static long hands_over(struct co *self, long unused)
{
	(void)unused;
	strcat(order, "f1 ");
	second.back = self->back;
	check(eddy_switch_across(&self->sp, second.sp, 0) == 0,
	      "the handoff's value did not come back");
	strcat(order, "f2 ");
	return 1;
}

static long takes_over(struct co *self, long unused)
{
	(void)unused;
	strcat(order, "s1 ");
	co_yield(self); /* to first's resumer */
	strcat(order, "s2 ");
	return 2;
}

static void test_across(void)
{
	order[0] = '\0';
	co_init(&first, hands_over, 0);
	co_init(&second, takes_over, 0);
	check(co_resume(&first) == 0, "the coroutine handed to did not yield");
	strcat(order, "m1 ");
	check(co_resume(&first) == 1, "the handing coroutine did not finish");
	check(co_resume(&second) == 1, "the coroutine handed to did not finish");
	check(strcmp(order, "f1 s1 m1 f2 s2 ") == 0,
	      "a handoff ran out of order");
	check(first.result == 1 && second.result == 2,
	      "results after a handoff did not come back");
}

int main(void)
{
	test_registers();
	test_fpcr();
	test_result();
	test_nesting();
	test_across();
	if (failure) {
		printf("aarch64 switch test: FAILED: %s\n", failure);
		return 1;
	}
	printf("aarch64 switch test: ok (%d checks: x19-x28, fp, d8-d15, "
	       "FPCR, results, nesting, handoff)\n", checks);
	return 0;
}
