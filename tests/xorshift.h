/*
 * The tests' random numbers: xorshift32, a fixed and portable sequence for
 * a given seed, so that a randomized test replays exactly from its seed.
 */
#ifndef EDDY_TESTS_XORSHIFT_H
#define EDDY_TESTS_XORSHIFT_H

#include <stdint.h>

/* The next number of the sequence in *state (never 0: seed it non-zero). */
static inline uint32_t xorshift32(uint32_t *state)
{
	uint32_t x = *state;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return *state = x;
}

#endif
