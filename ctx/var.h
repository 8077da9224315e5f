/*
 * Context variables, internal: the layout the HAMT and the contexts read.
 */
#ifndef EDDY_VAR_H
#define EDDY_VAR_H

#include <stdint.h>

#include "ctx.h"

struct eddy_var {
	uint32_t hash;      /* spread from a creation counter; the HAMT's key hash */
	uint32_t cache_slot; /* which entry of a context's get cache it uses */
	void *dflt;
	int has_default;
	char name[];
};

#ifdef EDDY_TEST_HOOKS
/* Give var another hash, before it is stored anywhere, to force HAMT
 * collisions in tests. */
void eddy_var_force_hash(eddy_var *var, uint32_t hash);
#endif

#endif
