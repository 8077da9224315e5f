/*
 * The context switch for x86-64, System V ABI.  See switch.h for what it
 * does and why eddy_switch ends in a jump and eddy_switch_across in a
 * return; this file is how.
 *
 * MXCSR and the x87 control word are loaded at every switch, whole.  The
 * psABI makes only their control bits callee-saved, and skipping the load
 * when those match would seem cheaper, but comparing means reading back the
 * words just stored, and a load from a stmxcsr/fnstcw store is not
 * forwarded: it stalled this switch by 2.5 ns (8.1 against 5.6 ns), while
 * ldmxcsr and fldcw cost 0.5 ns together, even when the value changes
 * (bench/task measures that case too).  So each stack keeps its whole
 * MXCSR, status flags included, and a new stack starts with its creator's.
 *
 * A suspended stack, from its stack pointer up:
 *
 *   rsp+0   MXCSR (4 bytes), x87 control word (2 bytes), 2 unused
 *   rsp+8   r15
 *   rsp+16  r14
 *   rsp+24  r13
 *   rsp+32  r12
 *   rsp+40  rbx
 *   rsp+48  rbp
 *   rsp+56  return address
 *
 * The layout is the same on every stack, so the unwind information below
 * stays true after rsp changes: a debugger stopped in the second half sees
 * the stack being switched to.
 */

	.text

/*
 * All of a switch but its last step: saves the caller's registers on its
 * stack and the stack pointer in *from_sp (rdi), loads to_sp (rsi) and
 * pops that stack's registers, leaving its return address on top.
 */
.macro SWITCH_STACKS
	pushq	%rbp
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %rbp, 0
	pushq	%rbx
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %rbx, 0
	pushq	%r12
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %r12, 0
	pushq	%r13
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %r13, 0
	pushq	%r14
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %r14, 0
	pushq	%r15
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %r15, 0
	subq	$8, %rsp
	.cfi_adjust_cfa_offset 8
	stmxcsr	(%rsp)
	fnstcw	4(%rsp)
	movq	%rsp, (%rdi)

	movq	%rsi, %rsp

	ldmxcsr	(%rsp)
	fldcw	4(%rsp)
	addq	$8, %rsp
	.cfi_adjust_cfa_offset -8
	popq	%r15
	.cfi_adjust_cfa_offset -8
	.cfi_restore %r15
	popq	%r14
	.cfi_adjust_cfa_offset -8
	.cfi_restore %r14
	popq	%r13
	.cfi_adjust_cfa_offset -8
	.cfi_restore %r13
	popq	%r12
	.cfi_adjust_cfa_offset -8
	.cfi_restore %r12
	popq	%rbx
	.cfi_adjust_cfa_offset -8
	.cfi_restore %rbx
	popq	%rbp
	.cfi_adjust_cfa_offset -8
	.cfi_restore %rbp
.endm

/* int eddy_switch(void **from_sp (rdi), void *to_sp (rsi), int value (edx)) */
	.globl	eddy_switch
	.hidden	eddy_switch
	.type	eddy_switch, @function
	.p2align 4
eddy_switch:
	.cfi_startproc
	SWITCH_STACKS
	popq	%rcx
	.cfi_adjust_cfa_offset -8
	.cfi_register %rip, %rcx
	movl	%edx, %eax
	jmpq	*%rcx
	.cfi_endproc
	.size	eddy_switch, .-eddy_switch

/* int eddy_switch_across(void **from_sp (rdi), void *to_sp (rsi),
 *                        int value (edx)): the same, ending in ret */
	.globl	eddy_switch_across
	.hidden	eddy_switch_across
	.type	eddy_switch_across, @function
	.p2align 4
eddy_switch_across:
	.cfi_startproc
	SWITCH_STACKS
	movl	%edx, %eax
	ret
	.cfi_endproc
	.size	eddy_switch_across, .-eddy_switch_across

/*
 * void *eddy_switch_init(void *stack_hi (rdi), void (*entry)(void *) (rsi),
 *                        void *arg (rdx))
 *
 * Builds the frame above on the new stack, with r12 = arg, r13 = entry,
 * rbp = 0 (the end of the frame-pointer chain), the caller's control words,
 * and eddy_switch_start as the return address.  Two zero words above it keep
 * rsp 16-byte aligned where eddy_switch_start makes its call.
 */
	.globl	eddy_switch_init
	.hidden	eddy_switch_init
	.type	eddy_switch_init, @function
	.p2align 4
eddy_switch_init:
	.cfi_startproc
	andq	$-16, %rdi
	leaq	-80(%rdi), %rax
	xorl	%ecx, %ecx
	movq	%rcx, 72(%rax)
	movq	%rcx, 64(%rax)
	leaq	eddy_switch_start(%rip), %r8
	movq	%r8, 56(%rax)
	movq	%rcx, 48(%rax)		/* rbp */
	movq	%rcx, 40(%rax)		/* rbx */
	movq	%rdx, 32(%rax)		/* r12 = arg */
	movq	%rsi, 24(%rax)		/* r13 = entry */
	movq	%rcx, 16(%rax)		/* r14 */
	movq	%rcx, 8(%rax)		/* r15 */
	movq	%rcx, (%rax)
	stmxcsr	(%rax)
	fnstcw	4(%rax)
	ret
	.cfi_endproc
	.size	eddy_switch_init, .-eddy_switch_init

/*
 * Where a new stack begins: calls entry(arg).  The return address is
 * undefined so that debuggers end a backtrace here.  entry never returns.
 */
	.type	eddy_switch_start, @function
	.p2align 4
eddy_switch_start:
	.cfi_startproc
	.cfi_undefined %rip
	movq	%r12, %rdi
	callq	*%r13
	ud2
	.cfi_endproc
	.size	eddy_switch_start, .-eddy_switch_start

	.section .note.GNU-stack, "", @progbits
