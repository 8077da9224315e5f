/*
 * Tokens: what eddy_var_set hands back for eddy_var_reset.
 */
#include "token.h"

#include <errno.h>

#include "alloc.h"

void eddy_token_init(eddy_token *t, eddy_var *var, eddy_ctx *ctx, void *old)
{
	t->var = var;
	t->ctx = eddy_ctx_ref(ctx);
	t->old = old;
	t->used = false;
}

eddy_var *eddy_token_var(const eddy_token *tok)
{
	return tok ? tok->var : NULL;
}

int eddy_token_old_value(const eddy_token *tok, void **out)
{
	if (!tok || !out)
		return -EINVAL;
	if (tok->old == CTX_UNSET)
		return -ENOENT;
	*out = tok->old;
	return 0;
}

void eddy_token_free(eddy_token *tok)
{
	if (!tok)
		return;
	eddy_ctx_unref(tok->ctx);
	eddy_free(tok);
}
