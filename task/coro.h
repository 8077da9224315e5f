/*
 * A coroutine: a function running on a stack of its own, suspended and
 * continued by explicit calls.  Internal to task/: the task layer builds
 * tasks (context, name, scheduling) on top of this.
 *
 *   main thread            coroutine A                coroutine B
 *   resume(A) ───────────▶ runs fn(arg)
 *                          resume(B) ───────────────▶ runs its fn
 *                                    ◀─────────────── yield()
 *                          yield()
 *   resume(A) returns 0 ◀─
 *   resume(A) ───────────▶ continues after yield()
 *                          fn returns r
 *   resume(A) returns 1 ◀─ (r is in A.result)
 *
 * A coroutine yields back to whoever resumed it last, so resumes nest: a
 * coroutine may resume another, which yields back to it.  Each thread has
 * its own "current coroutine", and a coroutine runs only on the thread
 * that created it.
 *
 * The struct is allocated by the caller (the task layer embeds it in the
 * task) and must not move between eddy_coro_init and eddy_coro_destroy: its
 * address is kept on the coroutine's stack.  The stack is the caller's too;
 * the coroutine only uses it.
 *
 * Every switch is announced to AddressSanitizer and ThreadSanitizer when
 * the library is built with them, and every stack is registered with
 * Valgrind, so that neither reports false errors on a coroutine's stack.
 */
#ifndef EDDY_TASK_CORO_H
#define EDDY_TASK_CORO_H

#include <stdbool.h>
#include <stddef.h>

#include "ctx/common.h"

#if defined(__SANITIZE_ADDRESS__)
#define EDDY_HAVE_ASAN 1
#endif
#if defined(__SANITIZE_THREAD__)
#define EDDY_HAVE_TSAN 1
#endif
#if defined(__has_feature)
#if __has_feature(address_sanitizer) && !defined(EDDY_HAVE_ASAN)
#define EDDY_HAVE_ASAN 1
#endif
#if __has_feature(thread_sanitizer) && !defined(EDDY_HAVE_TSAN)
#define EDDY_HAVE_TSAN 1
#endif
#endif

/* The smallest stack eddy_coro_init accepts, in bytes. */
#define EDDY_CORO_STACK_MIN 4096

enum eddy_coro_state {
	EDDY_CORO_READY,     /* initialised, never resumed */
	EDDY_CORO_RUNNING,   /* running, or resumed a coroutine that is */
	EDDY_CORO_SUSPENDED, /* yielded */
	EDDY_CORO_DONE,      /* fn returned (result is set), or destroyed */
};

struct eddy_coro {
	void *sp;                  /* the coroutine's stack while it is not running */
	void *resumer_sp;          /* the resumer's stack while the coroutine runs */
	struct eddy_coro *resumer; /* who resumed it: NULL for plain thread code */
	enum eddy_coro_state state;
	eddy_fn fn;
	void *arg;
	void *result;              /* what fn returned, once state is DONE */
	void *stack_lo;            /* lowest address of the stack */
	size_t stack_size;

	/*
	 * What the sanitizers and Valgrind need.  Present in every build so
	 * that the layout does not depend on how the library was compiled;
	 * only the sanitizer builds write all but valgrind_stack_id.
	 */
	void *asan_fake_stack;         /* the coroutine's, while it is suspended */
	void *asan_resumer_fake_stack; /* the resumer's, while the coroutine runs */
	const void *asan_resumer_stack;
	size_t asan_resumer_stack_size;
	void *tsan_fiber;
	void *tsan_resumer_fiber;
	unsigned valgrind_stack_id;
	bool asan_handed;              /* entered by a handoff, not a resume */
};

/*
 * Prepares co to run fn(arg) on the stack [stack_lo, stack_lo + stack_size)
 * at its first eddy_coro_resume.  The coroutine starts with the calling
 * thread's floating point control state (rounding mode, exception masks).
 * Keeps stack_lo and co, both owned by the caller, until eddy_coro_destroy.
 * Returns 0, or -EINVAL for a NULL co, stack or fn, or a stack smaller than
 * EDDY_CORO_STACK_MIN.
 */
int eddy_coro_init(struct eddy_coro *co, void *stack_lo, size_t stack_size,
                   eddy_fn fn, void *arg);

/*
 * Runs co until it yields (returns 0) or fn returns (returns 1, and
 * co->result holds fn's return value).  -EINVAL when co has finished or was
 * destroyed, -EBUSY when co is running (it is the caller, or resumed the
 * caller, directly or not).
 */
int eddy_coro_resume(struct eddy_coro *co);

/*
 * Suspends the calling coroutine and returns to the one that resumed it
 * (its eddy_coro_resume returns 0).  Returns when it is resumed again.
 * Does nothing outside a coroutine.
 */
void eddy_coro_yield(void);

/*
 * From inside a coroutine: suspends it and runs to in its place, without
 * passing through their resumer.  to takes over the caller's resumer: when
 * to yields or finishes, the resumer's eddy_coro_resume returns as if the
 * coroutine it resumed had.  Returns when the caller is resumed again.  to
 * must be ready or suspended, and the caller a coroutine.
 *
 *   resumer              A                    B
 *   resume(A) ─────────▶ handoff(B) ────────▶ runs
 *   resume(A) returns ◀───────────────────── yield()
 */
void eddy_coro_handoff(struct eddy_coro *to);

/* The coroutine running on this thread, or NULL outside any. */
struct eddy_coro *eddy_coro_self(void);

/*
 * Releases what eddy_coro_init registered (the ThreadSanitizer fiber, the
 * Valgrind stack) for a coroutine that will not run again: finished, or
 * suspended and abandoned.  A destroyed coroutine's resume is -EINVAL.
 * Frees nothing the caller owns; after it the stack and co may be reused.
 * co must not be running.
 */
void eddy_coro_destroy(struct eddy_coro *co);

#endif
