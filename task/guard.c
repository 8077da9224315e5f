/*
 * What eddy says when a stack's guard is hit, broken or missing: the
 * overflow report, and the warning that stacks go unguarded.
 *
 * A guard page hit.  A task that overflows its stack touches the guard
 * page below it and the kernel raises SIGSEGV.  eddy's handler looks the
 * fault address up among the guard pages of the stacks it made
 * (eddy_stack_depot_find_guard) and, on a hit, prints one line naming the
 * task and its stack size and aborts.  Any other SIGSEGV goes on to the
 * handler that was installed before eddy's (one that ASan installs, say),
 * or, where there was none, kills the process as if eddy had never been
 * there.  A handler the program installs after eddy's replaces it, and
 * then overflows die unreported, as any other fault.
 *
 * The handler cannot run on the overflowed stack: its first push would
 * fault again.  So it runs on an alternate signal stack (SA_ONSTACK),
 * which each thread that uses eddy stacks gets from
 * eddy_stack_guard_thread_init unless it has one already (ASan gives its
 * threads one), and which its exit frees.  The handler is installed once
 * per process, when a thread first takes a stack.  It is async-signal-
 * safe: a lookup without locks, and write(2) from a buffer on its stack.
 *
 * A broken canary.  An unguarded stack (stack_map.c) has a canary instead;
 * the task layer checks it at every switch and, when it is broken, calls
 * eddy_stack_overflowed, which prints the same line.
 */
#define _GNU_SOURCE
#include "stack_depot.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

/* Room for eddy's handler and for one it passes a fault on to. */
#define ALTSTACK_MIN (64 * 1024)

/* The longest task name a report quotes in full. */
#define OWNER_MAX 200

static struct sigaction previous;
/* 0: not installed, 1: a thread is installing it, 2: installed.  Not a
 * pthread_once: a fork while another thread is inside pthread_once leaves
 * the child's once forever "in progress", and the child would hang on it.
 * Here such a child only goes without the overflow report. */
static atomic_int handler_state;
static _Thread_local void *altstack;  /* this thread's, if eddy made it */
static _Thread_local size_t altstack_size;
static _Thread_local bool thread_ready;

/* ---- One line on stderr, async-signal-safely ------------------------- */

struct line {
	char buf[OWNER_MAX + 200];
	size_t len;
};

static void put(struct line *l, const char *s, size_t max)
{
	for (size_t i = 0; s[i] && i < max && l->len < sizeof l->buf - 1; i++)
		l->buf[l->len++] = s[i];
}

static void put_number(struct line *l, unsigned long long n)
{
	char digits[24];
	size_t i = 0;
	do
		digits[i++] = (char)('0' + n % 10);
	while ((n /= 10));
	while (i && l->len < sizeof l->buf - 1)
		l->buf[l->len++] = digits[--i];
}

static void say(struct line *l)
{
	l->buf[l->len++] = '\n';
	for (size_t done = 0; done < l->len;) {
		ssize_t n = write(STDERR_FILENO, l->buf + done, l->len - done);
		if (n <= 0)
			return;
		done += (size_t)n;
	}
}

static _Noreturn void report_overflow(const char *owner, size_t size)
{
	struct line l = { .len = 0 };
	put(&l, "eddy: task '", SIZE_MAX);
	put(&l, owner ? owner : "unnamed", OWNER_MAX);
	put(&l, "' overflowed its ", SIZE_MAX);
	put_number(&l, size / 1024);
	put(&l, " KiB stack; give it a larger one with "
		"eddy_spawn_opts.stack_size", SIZE_MAX);
	say(&l);
	abort();
}

_Noreturn void eddy_stack_overflowed(const struct eddy_stack *st)
{
	report_overflow(st->owner, st->size);
}

void eddy_stack_warn_unguarded(size_t guarded)
{
	static atomic_flag said = ATOMIC_FLAG_INIT;
	if (atomic_flag_test_and_set(&said))
		return;
	struct line l = { .len = 0 };
	put(&l, "eddy: stack guard pages unavailable past ", SIZE_MAX);
	put_number(&l, guarded);
	put(&l, " stacks; using canaries", SIZE_MAX);
	say(&l);
}

/* ---- The SIGSEGV handler --------------------------------------------- */

/* Whatever would have happened without eddy. */
static void pass_on(int sig, siginfo_t *info, void *uctx)
{
	if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN) {
		if (previous.sa_flags & SA_SIGINFO)
			previous.sa_sigaction(sig, info, uctx);
		else
			previous.sa_handler(sig);
		return;
	}
	/* The default action, which also befalls an ignored fault: the signal
	 * stays pending while the handler runs, and kills once it returns. */
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	sigemptyset(&dfl.sa_mask);
	sigaction(sig, &dfl, NULL);
	raise(sig);
}

static void on_segv(int sig, siginfo_t *info, void *uctx)
{
	size_t size;
	const char *owner;
	if (info->si_code > 0 && /* raised by a fault, not sent */
	    eddy_stack_depot_find_guard((uintptr_t)info->si_addr, &size, &owner))
		report_overflow(owner, size);
	pass_on(sig, info, uctx);
}

static void install_handler(void)
{
	/* Learn the previous handler first, so that it is known by the time
	 * a fault can reach eddy's. */
	if (sigaction(SIGSEGV, NULL, &previous))
		return;
	struct sigaction sa = { .sa_sigaction = on_segv,
				.sa_flags = SA_SIGINFO | SA_ONSTACK };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGSEGV, &sa, NULL);
}

/* ---- Each thread's alternate signal stack ---------------------------- */

static bool give_altstack(void)
{
	long want = sysconf(_SC_SIGSTKSZ);
	size_t page = eddy_stack_page_size();
	size_t size = want > ALTSTACK_MIN ? (size_t)want : ALTSTACK_MIN;
	size = (size + page - 1) & ~(page - 1);
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK,
		       -1, 0);
	if (p == MAP_FAILED)
		return false;
	stack_t ss = { .ss_sp = p, .ss_size = size };
	if (sigaltstack(&ss, NULL)) {
		munmap(p, size);
		return false;
	}
	altstack = p;
	altstack_size = size;
	return true;
}

void eddy_stack_guard_thread_init(void)
{
	if (thread_ready)
		return;
	int state = 0;
	if (atomic_compare_exchange_strong(&handler_state, &state, 1)) {
		install_handler();
		atomic_store(&handler_state, 2);
	}
	stack_t cur;
	if (sigaltstack(NULL, &cur))
		return;
	/* Without an alternate stack an overflow dies unreported; try again
	 * at the next stack taken. */
	thread_ready = !(cur.ss_flags & SS_DISABLE) || give_altstack();
}

void eddy_stack_guard_thread_fini(void)
{
	stack_t cur;
	if (altstack && !sigaltstack(NULL, &cur)) {
		if (cur.ss_sp == altstack) {
			stack_t off = { .ss_flags = SS_DISABLE };
			sigaltstack(&off, NULL);
		}
		munmap(altstack, altstack_size);
	}
	altstack = NULL;
	thread_ready = false;
}
