/*
 * Tokens, internal.  A token remembers what a set replaced, so that reset
 * can undo exactly that set, in exactly that context.
 */
#ifndef EDDY_TOKEN_H
#define EDDY_TOKEN_H

#include <stdbool.h>

#include "context.h"

struct eddy_token {
	eddy_var *var;
	eddy_ctx *ctx; /* a reference: the context the set happened in */
	void *old;     /* the value before the set, or CTX_UNSET */
	bool used;
};

/* Fill t for a set of var in ctx that replaced old; takes a ctx reference. */
void eddy_token_init(eddy_token *t, eddy_var *var, eddy_ctx *ctx, void *old);

#endif
