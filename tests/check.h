/*
 * What every test file shares.  Each suite declares itself with
 * EDDY_SUITE(name) so that, under AddressSanitizer, every test ends with a
 * leak check that fails the test (Criterion ignores LeakSanitizer's report
 * in its worker processes otherwise).
 */
#ifndef EDDY_TESTS_CHECK_H
#define EDDY_TESTS_CHECK_H

#include <criterion/criterion.h>
#include <stdlib.h>

#if defined(__SANITIZE_ADDRESS__)
#define EDDY_TEST_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define EDDY_TEST_LSAN 1
#endif
#endif

#ifdef EDDY_TEST_LSAN
#include <sanitizer/lsan_interface.h>
static inline void eddy_test_leak_check(void)
{
	/* Criterion counts a crash in a teardown as a failed run. */
	if (__lsan_do_recoverable_leak_check())
		abort();
}
#else
static inline void eddy_test_leak_check(void)
{
}
#endif

#define EDDY_SUITE(name) TestSuite(name, .fini = eddy_test_leak_check)

#if defined(__SANITIZE_THREAD__)
#define EDDY_TEST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define EDDY_TEST_TSAN 1
#endif
#endif

#ifdef EDDY_TEST_TSAN
/*
 * Criterion maps a shared arena at an address it draws with rand_r from
 * [0x2000'0000'0000, 0x6000'0000'0000) and probes for a free spot ten
 * times (boxfort's arena.c).  ThreadSanitizer reserves nearly all of that
 * range for its shadow, so Criterion gives up before running a test
 * ("Could not initialize inheritable arena", Criterion issue #274).  This
 * rand_r takes the place of libc's in the test binary and steers the draw
 * to 0x5670'0000'0000 and up: application memory to ThreadSanitizer, and
 * above where ASLR loads the binary.  The tests themselves never call it.
 * (Default visibility, against -fvisibility=hidden: the library must see it.)
 */
__attribute__((visibility("default"))) int rand_r(unsigned *seed);
int rand_r(unsigned *seed)
{
	static unsigned next;
	(void)seed;
	/* boxfort's arena base: 0x2000'0000'0000 + (r & 0x3fffff) << 24 */
	return (int)((0x567000000000ull - 0x200000000000ull) >> 24) +
	       (int)next++;
}

/* A race ends the test's process, so Criterion counts the test as crashed:
 * otherwise ThreadSanitizer's report would leave it passing. */
__attribute__((visibility("default"))) const char *
__tsan_default_options(void);
const char *__tsan_default_options(void)
{
	return "halt_on_error=1";
}
#endif

#endif
