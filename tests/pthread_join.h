/*
 * Starting and joining a worker thread in a test, asserting that both
 * work: what the ctx_*_threads.c tests share.  Criterion's assertions
 * belong to the test's main thread, so the worker returns what it saw.
 */
#ifndef EDDY_TESTS_PTHREAD_JOIN_H
#define EDDY_TESTS_PTHREAD_JOIN_H

#include <pthread.h>

#include "check.h"

static inline pthread_t start(void *(*fn)(void *), void *arg)
{
	pthread_t t;
	cr_assert_eq(pthread_create(&t, NULL, fn, arg), 0);
	return t;
}

static inline void *finish(pthread_t t)
{
	void *result;
	cr_assert_eq(pthread_join(t, &result), 0);
	return result;
}

#endif
