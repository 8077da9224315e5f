/*
 * What the per-variable rule tests share (ctx_rules, task_rules and
 * threads_rules_threads): the two variables that stay behind at a
 * crossing, a counter's reducer and a failing one.
 */
#ifndef EDDY_TESTS_RULES_COMMON_H
#define EDDY_TESTS_RULES_COMMON_H

#include <stdint.h>

#include "check.h"
#include "eddy.h"

/* task-local with a default of 30: a per-request deadline */
static eddy_var *deadline;
/* loop-only, no default: a handle that must not leave the loop's thread */
static eddy_var *db;

static inline void make_stayers(void)
{
	deadline = eddy_var_new_opts(
		"deadline", &(eddy_var_opts){
				    .propagate = EDDY_PROPAGATE_TASK_LOCAL,
				    .has_default = 1,
				    .dflt = (void *)(intptr_t)30 });
	db = eddy_var_new_opts("db", &(eddy_var_opts){
					     .propagate =
						     EDDY_PROPAGATE_LOOP_ONLY });
	cr_assert(deadline && db);
}

static inline void free_stayers(void)
{
	eddy_var_free(deadline);
	eddy_var_free(db);
}

/* A counter's reducer: what both sides added to the fork's value. */
static inline int add(void *parent, void *child, void *fork, void **out,
		      void *arg)
{
	(void)arg;
	*out = (void *)((intptr_t)parent + (intptr_t)child - (intptr_t)fork);
	return 0;
}

/* A reducer that fails the merge with the error passed as its arg. */
static inline int refuse(void *parent, void *child, void *fork, void **out,
			 void *arg)
{
	(void)parent, (void)child, (void)fork, (void)out;
	return (int)(intptr_t)arg;
}

#endif
