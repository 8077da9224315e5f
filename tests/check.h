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

#endif
