/*
 * Coroutines: eddy_switch (switch.h) plus the bookkeeping that makes it a
 * resume/yield pair, and what the sanitizers must be told at each switch.
 *
 * The state lives in the struct and one thread-local pointer, the current
 * coroutine.  Resuming co stores the caller's stack pointer in
 * co->resumer_sp and the caller itself (a coroutine, or NULL for plain
 * thread code) in co->resumer; yielding switches back to co->resumer_sp and
 * makes co->resumer current again.  So each running coroutine is one link
 * of a chain back to the thread's own stack, and nested resumes need
 * nothing more.  A handoff replaces one link with another: the coroutine
 * handed to takes over the leaving one's resumer and resumer_sp, so a
 * scheduler's tasks may pass the thread among themselves and come back to
 * the scheduler only when they must.
 *
 * A new coroutine starts in coro_main (through eddy_switch_init), which
 * calls fn and, when it returns, leaves the coroutine's stack for good.
 * The value the coroutine's last switch passes, 1 (0 from a yield), is
 * what resume returns: so in a build without sanitizers resume and yield
 * end in a jump to eddy_switch, and a round trip executes no return
 * instruction that the CPU would mispredict.
 */
#include "task/coro.h"

#include <assert.h>
#include <valgrind/valgrind.h>

#include "task/switch.h"

#ifdef EDDY_HAVE_ASAN
#include <sanitizer/asan_interface.h>
#endif
#ifdef EDDY_HAVE_TSAN
#include <sanitizer/tsan_interface.h>
#endif

static __thread struct eddy_coro *current
	__attribute__((tls_model("initial-exec")));

/*
 * Telling the sanitizers about a switch.  "In" is a switch from a resumer
 * to the coroutine, "out" the way back, "across" a handoff from one
 * coroutine to another; "begin" runs on the stack being left, "end" on the
 * stack just entered.  In a build without sanitizers they are empty.
 *
 * AddressSanitizer keeps per thread the bounds of the running stack and,
 * when it detects use after return, a "fake stack" holding the frames of
 * the functions running on it.  __sanitizer_start_switch_fiber saves the
 * fake stack of the side leaving and names the stack about to run;
 * __sanitizer_finish_switch_fiber, on the new stack, hands back the fake
 * stack that side saved when it last left (NULL at a coroutine's first
 * entry) and reports the bounds of the stack it came from.  A coroutine
 * does not know its resumer's stack (the thread's own one has no size eddy
 * knows), so it learns it there at each entry and names it when it leaves;
 * a coroutine entered by a handoff is given it by the one that left.
 * A coroutine leaving for the last time saves no fake stack (NULL), and
 * ASan frees it.
 *
 * ThreadSanitizer gives each coroutine a fiber of its own (a shadow call
 * stack and clock), switched to right before each switch.  Flag 0 makes
 * the switch synchronise the two fibers: what one side did before the
 * switch happens before what the other does after it, which on one thread
 * is simply true.  The hooks are always inlined: TSan's function-exit hook
 * of an outlined one would run after the fiber switch and pop the other
 * fiber's shadow call stack.
 */
#define ALWAYS_INLINE inline __attribute__((always_inline))

static ALWAYS_INLINE void switch_in_begin(struct eddy_coro *co)
{
#ifdef EDDY_HAVE_ASAN
	__sanitizer_start_switch_fiber(&co->asan_resumer_fake_stack,
	                               co->stack_lo, co->stack_size);
#endif
#ifdef EDDY_HAVE_TSAN
	co->tsan_resumer_fiber = __tsan_get_current_fiber();
	__tsan_switch_to_fiber(co->tsan_fiber, 0);
#endif
	(void)co;
}

/* A coroutine entered by a handoff came from another coroutine's stack,
 * not its resumer's: its resumer's bounds came with the handoff. */
static ALWAYS_INLINE void switch_in_end(struct eddy_coro *co)
{
#ifdef EDDY_HAVE_ASAN
	bool handed = co->asan_handed;
	co->asan_handed = false;
	__sanitizer_finish_switch_fiber(
		co->asan_fake_stack, handed ? NULL : &co->asan_resumer_stack,
		handed ? NULL : &co->asan_resumer_stack_size);
#endif
	(void)co;
}

/* fake_stack_save is NULL when the coroutine leaves for good. */
static ALWAYS_INLINE void switch_out_begin(struct eddy_coro *co,
                                           void **fake_stack_save)
{
#ifdef EDDY_HAVE_ASAN
	__sanitizer_start_switch_fiber(fake_stack_save, co->asan_resumer_stack,
	                               co->asan_resumer_stack_size);
#endif
#ifdef EDDY_HAVE_TSAN
	__tsan_switch_to_fiber(co->tsan_resumer_fiber, 0);
#endif
	(void)co, (void)fake_stack_save;
}

static ALWAYS_INLINE void switch_out_end(struct eddy_coro *co)
{
#ifdef EDDY_HAVE_ASAN
	__sanitizer_finish_switch_fiber(co->asan_resumer_fake_stack, NULL,
	                                NULL);
#endif
	(void)co;
}

/* A handoff: from leaves, to arrives, and to takes over from's resumer
 * (what the resumer's side of the way out needs). */
static ALWAYS_INLINE void switch_across_begin(struct eddy_coro *from,
                                              struct eddy_coro *to)
{
#ifdef EDDY_HAVE_ASAN
	to->asan_resumer_fake_stack = from->asan_resumer_fake_stack;
	to->asan_resumer_stack = from->asan_resumer_stack;
	to->asan_resumer_stack_size = from->asan_resumer_stack_size;
	to->asan_handed = true;
	__sanitizer_start_switch_fiber(&from->asan_fake_stack, to->stack_lo,
	                               to->stack_size);
#endif
#ifdef EDDY_HAVE_TSAN
	to->tsan_resumer_fiber = from->tsan_resumer_fiber;
	__tsan_switch_to_fiber(to->tsan_fiber, 0);
#endif
	(void)from, (void)to;
}

/* The bottom frame of every coroutine. */
static void coro_main(void *arg)
{
	struct eddy_coro *co = arg;

	switch_in_end(co);
	co->result = co->fn(co->arg);
	co->state = EDDY_CORO_DONE;
	current = co->resumer;
	switch_out_begin(co, NULL);
	eddy_switch(&co->sp, co->resumer_sp, 1);
	__builtin_unreachable(); /* a finished coroutine is never resumed */
}

int eddy_coro_init(struct eddy_coro *co, void *stack_lo, size_t stack_size,
                   eddy_fn fn, void *arg)
{
	if (!co || !stack_lo || !fn || stack_size < EDDY_CORO_STACK_MIN)
		return -EINVAL;
	char *stack_hi = (char *)stack_lo + stack_size;
	*co = (struct eddy_coro){
		.state = EDDY_CORO_READY,
		.fn = fn,
		.arg = arg,
		.stack_lo = stack_lo,
		.stack_size = stack_size,
	};
	co->sp = eddy_switch_init(stack_hi, coro_main, co);
#ifdef EDDY_HAVE_TSAN
	co->tsan_fiber = __tsan_create_fiber(0);
#endif
	co->valgrind_stack_id = VALGRIND_STACK_REGISTER(stack_lo, stack_hi - 1);
	return 0;
}

int eddy_coro_resume(struct eddy_coro *co)
{
	if (co->state == EDDY_CORO_RUNNING)
		return -EBUSY;
	if (co->state == EDDY_CORO_DONE)
		return -EINVAL;
	co->state = EDDY_CORO_RUNNING;
	co->resumer = current;
	current = co;
	switch_in_begin(co);
	int finished = eddy_switch(&co->resumer_sp, co->sp, 0);
	switch_out_end(co);
	return finished;
}

void eddy_coro_yield(void)
{
	struct eddy_coro *co = current;

	if (!co)
		return;
	co->state = EDDY_CORO_SUSPENDED;
	current = co->resumer;
	switch_out_begin(co, &co->asan_fake_stack);
	eddy_switch(&co->sp, co->resumer_sp, 0);
	switch_in_end(co);
}

void eddy_coro_handoff(struct eddy_coro *to)
{
	struct eddy_coro *from = current;

	assert(from && to->state != EDDY_CORO_RUNNING &&
	       to->state != EDDY_CORO_DONE);
	from->state = EDDY_CORO_SUSPENDED;
	to->state = EDDY_CORO_RUNNING;
	to->resumer = from->resumer;
	to->resumer_sp = from->resumer_sp;
	current = to;
	switch_across_begin(from, to);
	eddy_switch_across(&from->sp, to->sp, 0);
	switch_in_end(from);
}

struct eddy_coro *eddy_coro_self(void)
{
	return current;
}

void eddy_coro_destroy(struct eddy_coro *co)
{
	assert(co->state != EDDY_CORO_RUNNING);
#ifdef EDDY_HAVE_TSAN
	if (co->tsan_fiber)
		__tsan_destroy_fiber(co->tsan_fiber);
	co->tsan_fiber = NULL;
#endif
#ifdef EDDY_HAVE_ASAN
	/*
	 * An abandoned coroutine's frames never returned, so their redzones
	 * are still poisoned: the stack's next user would trip over them.
	 * (Its fake stack, if any, ASan can only free at a last switch out,
	 * so it stays allocated.)
	 */
	__asan_unpoison_memory_region(co->stack_lo, co->stack_size);
#endif
	VALGRIND_STACK_DEREGISTER(co->valgrind_stack_id);
	co->state = EDDY_CORO_DONE;
}
