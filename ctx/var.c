/*
 * Context variables: creation, and get/set/reset in the current context.
 */
#include "var.h"

#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#include "alloc.h"
#include "context.h"
#include "token.h"
#include "watch.h"

static atomic_uint next_var_id;

/* A bijective mix of the creation counter (MurmurHash3's finaliser), so
 * that consecutive variables land in unrelated HAMT slots while distinct
 * variables get distinct hashes as long as fewer than 2^32 are made. */
static uint32_t spread(uint32_t x)
{
	x ^= x >> 16;
	x *= 0x85ebca6bu;
	x ^= x >> 13;
	x *= 0xc2b2ae35u;
	x ^= x >> 16;
	return x;
}

static eddy_var *var_create(const char *name, void *dflt, int has_default)
{
	if (!name) {
		errno = EINVAL;
		return NULL;
	}
	size_t len = strlen(name);
	eddy_var *var = eddy_alloc(sizeof *var + len + 1);
	if (!var) {
		errno = ENOMEM;
		return NULL;
	}
	uint32_t id = atomic_fetch_add_explicit(&next_var_id, 1,
						 memory_order_relaxed);
	var->hash = spread(id);
	var->cache_slot = id % CTX_CACHE_SLOTS;
	var->dflt = dflt;
	var->has_default = has_default;
	memcpy(var->name, name, len + 1);
	return var;
}

eddy_var *eddy_var_new(const char *name)
{
	return var_create(name, NULL, 0);
}

eddy_var *eddy_var_new_default(const char *name, void *dflt)
{
	return var_create(name, dflt, 1);
}

void eddy_var_free(eddy_var *var)
{
	eddy_free(var);
}

const char *eddy_var_name(const eddy_var *var)
{
	return var ? var->name : NULL;
}

#ifdef EDDY_TEST_HOOKS
void eddy_var_force_hash(eddy_var *var, uint32_t hash)
{
	var->hash = hash;
}
#endif

int eddy_var_get(const eddy_var *var, void **out)
{
	if (!var || !out)
		return -EINVAL;
	eddy_ctx *ctx = eddy_ctx_now;
	if (ctx && ctx_lookup(ctx, var, out))
		return 0;
	if (!var->has_default)
		return -ENOENT;
	*out = var->dflt;
	return 0;
}

void *eddy_var_get_or(const eddy_var *var, void *fallback)
{
	void *val;
	eddy_ctx *ctx = eddy_ctx_now;
	if (var && ctx && ctx_lookup(ctx, var, &val))
		return val;
	return fallback;
}

int eddy_var_set(eddy_var *var, void *value, eddy_token **tok)
{
	if (!var)
		return -EINVAL;
	eddy_ctx *ctx = eddy_ctx_current();
	if (!ctx)
		return -ENOMEM;
	eddy_token *t = NULL;
	if (tok && !(t = eddy_alloc(sizeof *t)))
		return -ENOMEM;

	void *old;
	int had_old;
	int err = eddy_hamt_set(&ctx->map, var, value, &old, &had_old);
	if (err) {
		eddy_free(t);
		return err;
	}
	ctx_cache_store(ctx, var, value);
	CTX_WATCH(CTX_SET, var, value, true, ctx);
	if (t) {
		eddy_token_init(t, var, ctx, had_old ? old : CTX_UNSET);
		*tok = t;
	}
	return 0;
}

int eddy_var_reset(eddy_var *var, eddy_token *tok)
{
	if (!tok)
		return -EINVAL;
	if (tok->used)
		return -EALREADY;
	eddy_ctx *ctx = eddy_ctx_now;
	if (tok->var != var || tok->ctx != ctx)
		return -EINVAL;

	int err;
	if (tok->old == CTX_UNSET) {
		err = eddy_hamt_delete(&ctx->map, var);
		if (err == -ENOENT) /* already unset: nothing to restore */
			err = 0;
	} else {
		err = eddy_hamt_set(&ctx->map, var, tok->old, NULL, NULL);
	}
	if (err)
		return err;
	ctx_cache_store(ctx, var, tok->old);
	CTX_WATCH(CTX_RESET, var, tok->old, tok->old != CTX_UNSET, ctx);
	tok->used = true;
	return 0;
}
