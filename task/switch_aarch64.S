/*
 * The context switch for aarch64, AAPCS64.  See switch.h for what it does;
 * this file is how.
 *
 * A suspended stack, from its stack pointer up (176 bytes):
 *
 *   sp+0    x19 x20        sp+96   d8  d9
 *   sp+16   x21 x22        sp+112  d10 d11
 *   sp+32   x23 x24        sp+128  d12 d13
 *   sp+48   x25 x26        sp+144  d14 d15
 *   sp+64   x27 x28        sp+160  FPCR, 8 unused
 *   sp+80   x29 x30
 *
 * Only the low 64 bits of v8-v15 are callee-saved (AAPCS64 6.1.2), hence
 * d8-d15.  FPCR holds the rounding mode, flush-to-zero and default-NaN
 * bits, which AAPCS64 requires a call to preserve; it is saved (mrs costs a
 * cycle or two) and written only when the two sides differ, since msr fpcr
 * is a synchronising write on many cores.  FPSR, the cumulative exception
 * flags, belongs to the thread and is not switched.
 *
 * eddy_switch ends with br x30 rather than ret, eddy_switch_across with
 * ret, for the return-stack reasons given in switch.h.  The object carries no BTI property note, so a branch
 * to a return address never needs a landing pad.
 */

	.text

/*
 * A whole switch, ending in \last: saves the caller's registers on its
 * stack and the stack pointer in *from_sp (x0), loads to_sp (x1) and that
 * stack's registers, and continues at its x30 with w2 in w0.
 */
.macro SWITCH_STACKS last
	sub	sp, sp, #176
	.cfi_def_cfa_offset 176
	stp	x19, x20, [sp, #0]
	stp	x21, x22, [sp, #16]
	stp	x23, x24, [sp, #32]
	stp	x25, x26, [sp, #48]
	stp	x27, x28, [sp, #64]
	stp	x29, x30, [sp, #80]
	stp	d8, d9, [sp, #96]
	stp	d10, d11, [sp, #112]
	stp	d12, d13, [sp, #128]
	stp	d14, d15, [sp, #144]
	.cfi_offset x19, -176
	.cfi_offset x20, -168
	.cfi_offset x21, -160
	.cfi_offset x22, -152
	.cfi_offset x23, -144
	.cfi_offset x24, -136
	.cfi_offset x25, -128
	.cfi_offset x26, -120
	.cfi_offset x27, -112
	.cfi_offset x28, -104
	.cfi_offset x29, -96
	.cfi_offset x30, -88
	.cfi_offset d8, -80
	.cfi_offset d9, -72
	.cfi_offset d10, -64
	.cfi_offset d11, -56
	.cfi_offset d12, -48
	.cfi_offset d13, -40
	.cfi_offset d14, -32
	.cfi_offset d15, -24
	mrs	x9, fpcr
	str	x9, [sp, #160]
	mov	x10, sp
	str	x10, [x0]

	mov	sp, x1

	ldr	x10, [sp, #160]
	cmp	x9, x10
	b.ne	.Lload_fpcr\@
.Lfpcr_loaded\@:
	ldp	x19, x20, [sp, #0]
	ldp	x21, x22, [sp, #16]
	ldp	x23, x24, [sp, #32]
	ldp	x25, x26, [sp, #48]
	ldp	x27, x28, [sp, #64]
	ldp	x29, x30, [sp, #80]
	ldp	d8, d9, [sp, #96]
	ldp	d10, d11, [sp, #112]
	ldp	d12, d13, [sp, #128]
	ldp	d14, d15, [sp, #144]
	add	sp, sp, #176
	.cfi_remember_state
	.cfi_def_cfa_offset 0
	.cfi_restore x19
	.cfi_restore x20
	.cfi_restore x21
	.cfi_restore x22
	.cfi_restore x23
	.cfi_restore x24
	.cfi_restore x25
	.cfi_restore x26
	.cfi_restore x27
	.cfi_restore x28
	.cfi_restore x29
	.cfi_restore x30
	.cfi_restore d8
	.cfi_restore d9
	.cfi_restore d10
	.cfi_restore d11
	.cfi_restore d12
	.cfi_restore d13
	.cfi_restore d14
	.cfi_restore d15
	mov	w0, w2
	\last
.Lload_fpcr\@:
	.cfi_restore_state
	msr	fpcr, x10
	b	.Lfpcr_loaded\@
.endm

/* int eddy_switch(void **from_sp (x0), void *to_sp (x1), int value (w2)) */
	.globl	eddy_switch
	.hidden	eddy_switch
	.type	eddy_switch, %function
	.p2align 4
eddy_switch:
	.cfi_startproc
	SWITCH_STACKS "br x30"
	.cfi_endproc
	.size	eddy_switch, .-eddy_switch

/* int eddy_switch_across(void **from_sp (x0), void *to_sp (x1),
 *                        int value (w2)): the same, ending in ret */
	.globl	eddy_switch_across
	.hidden	eddy_switch_across
	.type	eddy_switch_across, %function
	.p2align 4
eddy_switch_across:
	.cfi_startproc
	SWITCH_STACKS ret
	.cfi_endproc
	.size	eddy_switch_across, .-eddy_switch_across

/*
 * void *eddy_switch_init(void *stack_hi (x0), void (*entry)(void *) (x1),
 *                        void *arg (x2))
 *
 * Builds the frame above at the top of the new stack, with x19 = arg,
 * x20 = entry, x29 = 0 (the end of the frame-pointer chain), the caller's
 * FPCR, and eddy_switch_start as x30.
 */
	.globl	eddy_switch_init
	.hidden	eddy_switch_init
	.type	eddy_switch_init, %function
	.p2align 4
eddy_switch_init:
	.cfi_startproc
	and	x0, x0, #~15
	sub	x0, x0, #176
	stp	x2, x1, [x0, #0]
	stp	xzr, xzr, [x0, #16]
	stp	xzr, xzr, [x0, #32]
	stp	xzr, xzr, [x0, #48]
	stp	xzr, xzr, [x0, #64]
	adr	x9, eddy_switch_start
	stp	xzr, x9, [x0, #80]
	stp	xzr, xzr, [x0, #96]
	stp	xzr, xzr, [x0, #112]
	stp	xzr, xzr, [x0, #128]
	stp	xzr, xzr, [x0, #144]
	mrs	x9, fpcr
	stp	x9, xzr, [x0, #160]
	ret
	.cfi_endproc
	.size	eddy_switch_init, .-eddy_switch_init

/*
 * Where a new stack begins: calls entry(arg).  The return address is
 * undefined so that debuggers end a backtrace here.  entry never returns.
 */
	.type	eddy_switch_start, %function
	.p2align 4
eddy_switch_start:
	.cfi_startproc
	.cfi_undefined x30
	mov	x0, x19
	blr	x20
	brk	#0
	.cfi_endproc
	.size	eddy_switch_start, .-eddy_switch_start

	.section .note.GNU-stack, "", %progbits
