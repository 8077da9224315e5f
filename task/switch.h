/*
 * The context switch: the one piece of eddy written in assembly, one file
 * per architecture (switch_x86_64.S, switch_aarch64.S).  Internal to task/.
 *
 * A suspended execution is nothing but a stack pointer.  eddy_switch pushes
 * the registers the ABI says a call preserves onto the running stack, stores
 * the stack pointer, loads another one and pops that stack's registers:
 *
 *   x86-64   rbx rbp r12-r15, the x87 control word and MXCSR, rsp
 *   aarch64  x19-x28, fp (x29), lr (x30), d8-d15, FPCR, sp
 *
 * and continues where that stack's own eddy_switch was called.  To the code
 * on either side the switch looks like an ordinary call that took a while.
 *
 * Floating point control state (rounding mode, exception masks, flush to
 * zero) is kept per stack, as the ABIs require of a call, and a new stack
 * starts with its creator's.  On x86-64 MXCSR is switched whole, so the
 * sticky exception flags are per stack too; on aarch64 they live in FPSR,
 * which stays with the thread (the ABI lets a call change it).  Each .S file
 * says why it switches these registers the way it does.
 *
 * eddy_switch ends with an indirect jump to the saved return address, not
 * a return instruction: between a resumer and a coroutine a return would
 * pair with a call made on the other stack, so the CPU's return-stack
 * predictor would miss on every switch.  Between two coroutines left the
 * same way the opposite holds (eddy_switch_across, below).
 * For the same reason the objects carry no CET/BTI property notes: shadow
 * stacks and branch target checks cannot follow a switch, so a program
 * linking eddy is built without them.
 */
#ifndef EDDY_TASK_SWITCH_H
#define EDDY_TASK_SWITCH_H

#include <stddef.h>

/*
 * Saves the caller's state on its stack and stores the resulting stack
 * pointer in *from_sp, then continues the execution saved at to_sp, where
 * eddy_switch returns value.  Returns when another eddy_switch continues
 * *from_sp, with that one's value.  to_sp must come from eddy_switch
 * (through its from_sp) or from eddy_switch_init, and be continued at most
 * once.
 *
 * The value lets a caller end with "return eddy_switch(...)", which the
 * compiler makes a jump: the switch then lands directly in the caller's
 * caller, and no return instruction pairs with a call from the other side.
 */
int eddy_switch(void **from_sp, void *to_sp, int value);

/*
 * eddy_switch ending in a return instruction, for a switch between two
 * stacks that were left through the same calls: a handoff between tasks
 * that suspend the same way (coro.c's eddy_coro_handoff).  There the
 * return pairs with the call the leaving side made to get here, which is
 * also where the other side continues, so the return-stack predictor is
 * right about it and, one frame at a time, about every return after it.
 * eddy_switch's jump would leave that call's entry unpaired and put every
 * later return one entry off: measured here, 114-147 ns a yield between
 * two tasks against 35-43 ns with this switch.
 */
int eddy_switch_across(void **from_sp, void *to_sp, int value);

/*
 * Prepares a fresh stack whose highest address is stack_hi so that the
 * first eddy_switch to the returned stack pointer calls entry(arg) on it
 * (its value is dropped),
 * with the caller's floating point control state (so a new coroutine starts
 * in its creator's rounding mode).  entry must never return: it ends by
 * switching away for good.  Writes at most EDDY_SWITCH_FRAME bytes below
 * stack_hi; allocates nothing.
 */
void *eddy_switch_init(void *stack_hi, void (*entry)(void *arg), void *arg);

/* Bytes eddy_switch_init and one suspended eddy_switch keep on a stack. */
#define EDDY_SWITCH_FRAME 192

#endif
