/*
 * The two context switches eddy's are measured against (x86-64 only).
 *
 * The floor is the least a switch can do under eddy's rules: push the
 * callee-saved registers and the FP control words, swap stack pointers,
 * pop, and jump (not return) to the saved address.  glibc's swapcontext is
 * there for scale: it also saves the signal mask, with a system call.
 * Each is a coroutine that switches back forever, set up once (setup), and
 * a function making n round trips to it (rounds): 2n switches.  flagged
 * gives the coroutine a sticky MXCSR status flag (inexact) that the caller
 * lacks, so that every switch loads an MXCSR that differs from the current
 * one.
 *
 * A header of static functions, included by one file per benchmark
 * program: each program gets its own copy of the floor's assembly.
 */
#ifndef EDDY_BENCH_SWITCH_H
#define EDDY_BENCH_SWITCH_H

#ifndef __x86_64__
#error "the benchmarks time the x86-64 switch; the aarch64 one is tested under qemu, not timed"
#endif

#include <stdint.h>
#include <ucontext.h>

#include "common.h"

static inline unsigned mxcsr_get(void)
{
	unsigned m;
	__asm__ volatile("stmxcsr %0" : "=m"(m));
	return m;
}

static inline void mxcsr_set(unsigned m)
{
	__asm__ volatile("ldmxcsr %0" : : "m"(m));
}

enum { MXCSR_FLAGS = 0x3f };

/* Sets the inexact flag the way ordinary code does: by rounding. */
static inline double raise_inexact(void)
{
	volatile double one = 1.0;
	return one / 3.0;
}

/* --- glibc's swapcontext -------------------------------------------------- */

static ucontext_t uc_main, uc_co;

static inline void swapcontext_forever(void)
{
	for (;;)
		swapcontext(&uc_co, &uc_main);
}

static inline void swapcontext_setup(int flagged)
{
	(void)flagged;
	getcontext(&uc_co);
	uc_co.uc_stack.ss_sp = stack_alloc();
	uc_co.uc_stack.ss_size = STACK_SIZE;
	uc_co.uc_link = NULL;
	makecontext(&uc_co, swapcontext_forever, 0);
	swapcontext(&uc_main, &uc_co);
}

static inline void swapcontext_rounds(int n)
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

static inline void floor_forever(void)
{
	if (floor_flagged)
		raise_inexact();
	for (;;)
		floor_switch(&floor_co_sp, floor_main_sp);
}

/* Builds the frame floor_switch pops at the top of the stack, as eddy's. */
static inline void floor_setup(int flagged)
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

static inline void floor_rounds(int n)
{
	for (int i = 0; i < n; i++)
		floor_switch(&floor_main_sp, floor_co_sp);
}

#endif
