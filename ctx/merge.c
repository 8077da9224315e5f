/*
 * Copy-then-merge: bringing a child's context changes back to its joiner,
 * each variable by its merge rule.
 *
 * The diff of the child's mapping against the snapshot it started from
 * (hamt_diff.c) names each variable the child changed.  A plain variable
 * takes the child's value at once, as it always did.  Only a variable
 * with a rule (var->special) costs more: two lookups, to learn whether
 * the joiner changed it too since the fork.
 *
 *   fork f ──child──▶ c          joiner's value p
 *   p == f            the child's c (only the child changed it)
 *   otherwise         the rule: CHILD_WINS c, PARENT_WINS p,
 *                     REDUCE reduce(p, c, f) (even when p == c: two
 *                     children that each added 1 to a counter made +2),
 *                     CONFLICT_ERROR fail, unless p == c
 *
 * Everything is applied to a version of the joiner's mapping built beside
 * its own, which replaces it only when the whole diff went through: a
 * conflict, a failing reducer or -ENOMEM leaves the joiner as it was.
 */
#define _POSIX_C_SOURCE 200809L /* strnlen */
#include <string.h>

#include "context.h"
#include "watch.h"

/* The variable that failed this thread's last failed merge, and its name
 * as it was then: eddy_strerror reads the name later, maybe after the
 * variable was freed. */
static _Thread_local const eddy_var *conflict_var;
static _Thread_local char conflict_name[CTX_CONFLICT_NAME_MAX + 1];

eddy_var *eddy_ctx_conflict_var(void)
{
	return (eddy_var *)conflict_var;
}

const char *ctx_conflict_name(void)
{
	return conflict_var ? conflict_name : NULL;
}

/* Remember var as the one that failed the merge with err; returns err. */
static int failed_by(const eddy_var *var, int err)
{
	size_t len = strnlen(var->name, CTX_CONFLICT_NAME_MAX);
	memcpy(conflict_name, var->name, len);
	conflict_name[len] = '\0';
	conflict_var = var;
	return err;
}

struct apply {
	eddy_hamt *result;
	const eddy_hamt *into, *base; /* the joiner's before, the fork */
	unsigned crossing;
	int applied;
	int stayers[2]; /* how result's counts moved */
};

/* A value, or the variable's default standing in for "unset". */
static void *or_default(const eddy_var *var, int err, void *val)
{
	return err ? var->dflt : val;
}

/*
 * A changed variable that has a rule: 1 with *val and *present to apply,
 * 0 to leave the joiner's value, or the negative error that fails the
 * merge.
 */
static int apply_rule(struct apply *a, const eddy_var *var, void **val,
		      int *present)
{
	if (var->stays & a->crossing || var->rule == EDDY_MERGE_NEVER)
		return 0; /* the child's value is its own */
	if (var->rule == EDDY_MERGE_CHILD_WINS)
		return 1;
	void *p, *f;
	int p_err = eddy_hamt_find(a->into, var, &p);
	int f_err = eddy_hamt_find(a->base, var, &f);
	if (p_err == f_err && (p_err || p == f))
		return 1; /* only the child changed it */
	if (var->rule == EDDY_MERGE_PARENT_WINS)
		return 0;
	if (var->rule == EDDY_MERGE_REDUCE) {
		/* even where both sides agree: two +1s make +2 */
		void *out;
		int err = var->reduce(or_default(var, p_err, p),
				      or_default(var, !*present, *val),
				      or_default(var, f_err, f), &out,
				      var->reduce_arg);
		if (err >= 0) {
			*val = out;
			*present = 1;
			return 1;
		}
		return failed_by(var, err);
	}
	if ((p_err == 0) == (*present != 0) && (p_err || p == *val))
		return 0; /* both changed it alike: no conflict */
	return failed_by(var, -EDDY_ECONFLICT);
}

static int apply_change(void *arg, const eddy_var *key, void *val, int present)
{
	struct apply *a = arg;
	if (key->special) {
		int go = apply_rule(a, key, &val, &present);
		if (go <= 0)
			return go;
	}
	void *old;
	int had = 1;
	int err = present ? eddy_hamt_set(a->result, key, val, &old, &had)
			  : eddy_hamt_delete(a->result, key);
	if (err == -ENOENT) /* the joiner has no value to remove either */
		return 0;
	if (err)
		return err;
	a->applied++;
	if (key->stays && (!present || !had))
		a->stayers[key->stays >> 1] += present ? 1 : -1;
	return 0;
}

/* Tell the watcher what a merge changed (only while one listens). */
static int report_merged(void *into, const eddy_var *key, void *val,
			 int present)
{
	ctx_watch_report(CTX_MERGED, key, val, present, into);
	return 0;
}

int eddy_ctx_merge_crossing(eddy_ctx *into, const eddy_ctx *from,
			    const eddy_ctx *base, unsigned crossing)
{
	if (!into || !from || !base)
		return -EINVAL;
	/* Build the merged version beside into's own, so that running out of
	 * memory or a failed rule halfway leaves into untouched. */
	eddy_hamt result = EDDY_HAMT_EMPTY;
	eddy_hamt_share(&result, &into->map);
	struct apply a = { .result = &result, .into = &into->map,
			   .base = &base->map, .crossing = crossing };
	int err = eddy_hamt_diff(&base->map, &from->map, apply_change, &a);
	if (err) {
		eddy_hamt_clear(&result);
		return err;
	}
	/* what changed in into, after the rules: as it will be */
	if (CTX_WATCHING())
		eddy_hamt_diff(&into->map, &result, report_merged, into);
	eddy_hamt_clear(&into->map);
	into->map = result;
	into->stayers[0] += (unsigned)a.stayers[0];
	into->stayers[1] += (unsigned)a.stayers[1];
	memset(into->cache, 0, sizeof into->cache);
	return a.applied;
}

int eddy_ctx_merge(eddy_ctx *into, const eddy_ctx *from, const eddy_ctx *base)
{
	return eddy_ctx_merge_crossing(into, from, base, EDDY_CROSS_TASK);
}
