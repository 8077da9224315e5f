/*
 * Context variables, internal: the layout the HAMT and the contexts read.
 */
#ifndef EDDY_VAR_H
#define EDDY_VAR_H

#include <stdbool.h>
#include <stdint.h>

#include "ctx.h"

/*
 * A variable is its key in every context's HAMT, and carries the rules of
 * eddy_var_new_opts.  `stays` says at which crossings (enum eddy_crossing)
 * the variable stays behind: STAY_TASK (task-local) at every one, since
 * both EDDY_CROSS_TASK and EDDY_CROSS_THREAD have that bit, STAY_THREAD
 * (loop-only) at a thread's only.  So "does var cross c" is one AND:
 *
 *     var->stays & crossing   (non-zero: it stays behind)
 *
 * `special` is set for any variable with a rule, so that copies and
 * merges test one byte and leave plain variables on their fast paths.
 */
#define STAY_TASK 1u
#define STAY_THREAD 2u

struct eddy_var {
	uint32_t hash;      /* spread from a creation counter; the HAMT's key hash */
	uint32_t cache_slot; /* which entry of a context's get cache it uses */
	void *dflt;
	int has_default;
	uint8_t stays;      /* STAY_TASK, STAY_THREAD, or 0 (inherit) */
	uint8_t rule;       /* enum eddy_merge_rule */
	bool special;       /* stays or rule is not the default */
	eddy_reduce_fn reduce;
	void *reduce_arg;
	char name[];
};

#ifdef EDDY_TEST_HOOKS
/* Give var another hash, before it is stored anywhere, to force HAMT
 * collisions in tests. */
void eddy_var_force_hash(eddy_var *var, uint32_t hash);
#endif

#endif
