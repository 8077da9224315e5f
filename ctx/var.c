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

static bool opts_valid(const eddy_var_opts *o)
{
	return o->propagate >= EDDY_PROPAGATE_INHERIT &&
	       o->propagate <= EDDY_PROPAGATE_LOOP_ONLY &&
	       o->merge >= EDDY_MERGE_CHILD_WINS && o->merge <= EDDY_MERGE_NEVER &&
	       (o->merge != EDDY_MERGE_REDUCE || o->reduce);
}

eddy_var *eddy_var_new_opts(const char *name, const eddy_var_opts *opts)
{
	static const eddy_var_opts plain;
	if (!opts)
		opts = &plain;
	if (!name || !opts_valid(opts)) {
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
	var->dflt = opts->dflt;
	var->has_default = opts->has_default != 0;
	var->stays = opts->propagate == EDDY_PROPAGATE_TASK_LOCAL ? STAY_TASK :
		     opts->propagate == EDDY_PROPAGATE_LOOP_ONLY  ? STAY_THREAD :
								   0;
	var->rule = (uint8_t)opts->merge;
	var->special = var->stays || var->rule != EDDY_MERGE_CHILD_WINS;
	var->reduce = opts->reduce;
	var->reduce_arg = opts->reduce_arg;
	memcpy(var->name, name, len + 1);
	if (var->stays && ctx_register_stayer(var)) {
		eddy_free(var);
		errno = ENOMEM;
		return NULL;
	}
	return var;
}

eddy_var *eddy_var_new(const char *name)
{
	return eddy_var_new_opts(name, NULL);
}

eddy_var *eddy_var_new_default(const char *name, void *dflt)
{
	return eddy_var_new_opts(name, &(eddy_var_opts){ .has_default = 1,
							 .dflt = dflt });
}

void eddy_var_free(eddy_var *var)
{
	if (var && var->stays)
		ctx_unregister_stayer(var);
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

/* The set in the current context; *added: var was unset there before. */
static inline int set_here(eddy_var *var, void *value, eddy_token **tok,
			   bool *added)
{
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
	*added = !had_old;
	return 0;
}

/* A task-local or loop-only variable: hidden behind this thread's
 * crossing, and counted by the context.  Out of line, so that a plain
 * variable's set pays one test for all this. */
static __attribute__((noinline)) int set_stayer(eddy_var *var, void *value,
						 eddy_token **tok)
{
	if (ctx_hides(var)) /* the shared context's value is the parent's */
		return -EPERM;
	bool added;
	int err = set_here(var, value, tok, &added);
	if (!err && added)
		ctx_count_stayer(eddy_ctx_now, var, 1);
	return err;
}

int eddy_var_set(eddy_var *var, void *value, eddy_token **tok)
{
	if (!var)
		return -EINVAL;
	if (var->stays)
		return set_stayer(var, value, tok);
	bool added;
	return set_here(var, value, tok, &added);
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
	if (ctx_hides(var))
		return -EPERM;

	int err, delta = 0; /* how the count of mapped variables moves */
	if (tok->old == CTX_UNSET) {
		err = eddy_hamt_delete(&ctx->map, var);
		if (err == -ENOENT) /* already unset: nothing to restore */
			err = 0;
		else
			delta = -1;
	} else {
		void *cur;
		int had;
		err = eddy_hamt_set(&ctx->map, var, tok->old, &cur, &had);
		delta = !had;
	}
	if (err)
		return err;
	if (var->stays && delta)
		ctx_count_stayer(ctx, var, delta);
	ctx_cache_store(ctx, var, tok->old);
	CTX_WATCH(CTX_RESET, var, tok->old, tok->old != CTX_UNSET, ctx);
	tok->used = true;
	return 0;
}
