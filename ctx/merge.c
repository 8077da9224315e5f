/*
 * Copy-then-merge: bringing a child's context changes back to its joiner.
 */
#include <string.h>

#include "context.h"
#include "watch.h"

struct apply {
	eddy_hamt *result;
	int applied;
};

static int apply_change(void *arg, const eddy_var *key, void *val, int present)
{
	struct apply *a = arg;
	int err = present ? eddy_hamt_set(a->result, key, val, NULL, NULL)
			  : eddy_hamt_delete(a->result, key);
	if (err == -ENOENT) /* the joiner has no value to remove either */
		return 0;
	if (!err)
		a->applied++;
	return err;
}

/* Tell the watcher what a merge applied (only while one listens). */
static int report_merged(void *into, const eddy_var *key, void *val,
			 int present)
{
	ctx_watch_report(CTX_MERGED, key, val, present, into);
	return 0;
}

int eddy_ctx_merge(eddy_ctx *into, const eddy_ctx *from, const eddy_ctx *base)
{
	if (!into || !from || !base)
		return -EINVAL;
	/* Build the merged version beside into's own, so that running out of
	 * memory halfway leaves into untouched. */
	eddy_hamt result = { NULL, 0 };
	eddy_hamt_share(&result, &into->map);
	struct apply a = { &result, 0 };
	int err = eddy_hamt_diff(&base->map, &from->map, apply_change, &a);
	if (err) {
		eddy_hamt_clear(&result);
		return err;
	}
	eddy_hamt_clear(&into->map);
	into->map = result;
	memset(into->cache, 0, sizeof into->cache);
	if (CTX_WATCHING())
		eddy_hamt_diff(&base->map, &from->map, report_merged, into);
	return a.applied;
}
