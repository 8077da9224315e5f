/*
 * LOOP_TEST(suite, name, ...): a Criterion test whose body runs as the
 * main task of eddy_run, so it may call every suspending function; the
 * test fails if eddy_run does.  Extra arguments are Criterion's options.
 */
#ifndef EDDY_TESTS_LOOP_TEST_H
#define EDDY_TESTS_LOOP_TEST_H

#include "eddy.h"

#define LOOP_TEST(suite, name, ...)                                      \
	static void name##_body(void);                                   \
	static void *name##_main(void *arg)                              \
	{                                                                \
		(void)arg;                                               \
		name##_body();                                           \
		return NULL;                                             \
	}                                                                \
	Test(suite, name, ##__VA_ARGS__)                                 \
	{                                                                \
		cr_assert_eq(eddy_run(name##_main, NULL, NULL), 0);      \
	}                                                                \
	static void name##_body(void)

#endif
