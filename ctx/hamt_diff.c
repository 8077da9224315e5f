/*
 * Comparing two versions of a HAMT, for MERGE: which keys did `changed`
 * set or remove relative to `base`?
 *
 * Two versions that descend from one another share every node that
 * neither changed, and a shared node is the same pointer in both.  The
 * walk goes down both tries slot by slot and stops wherever the two sides
 * point to the same node, so a child that set k variables in a context of
 * n costs about k * log32(n) node visits, whatever n is.  Where the two
 * sides have different shapes in one slot (a pair on one side, a subtree
 * on the other, or a collision node), both sides hold only a few pairs
 * and they are compared by lookups.
 */
#include <stdbool.h>

#include "hamt_node.h"

struct diff {
	eddy_hamt_diff_fn fn;
	void *arg;
};

#ifdef EDDY_TEST_HOOKS
static _Thread_local size_t visits;
#define VISIT() (visits++)
size_t eddy_hamt_diff_visits(void)
{
	return visits;
}
#else
#define VISIT() ((void)0)
#endif

/* Every pair below e, reported as present (added) or absent (removed). */
static int report_all(struct diff *d, const struct entry *e, bool present)
{
	if (e->key)
		return d->fn(d->arg, e->key, present ? e->val : NULL, present);
	VISIT();
	for (uint32_t i = 0; i < e->child->size; i++) {
		int r = report_all(d, &e->child->e[i], present);
		if (r)
			return r;
	}
	return 0;
}

static int find_in_entry(const struct entry *e, unsigned shift,
			 const eddy_var *key, void **val)
{
	if (!e->key)
		return node_find(e->child, shift, key, val);
	if (e->key != key)
		return -ENOENT;
	*val = e->val;
	return 0;
}

/* Pairs of `f` that are new or changed against `b`. */
static int report_changed(struct diff *d, const struct entry *b,
			  const struct entry *f, unsigned shift)
{
	if (!f->key) {
		VISIT();
		for (uint32_t i = 0; i < f->child->size; i++) {
			int r = report_changed(d, b, &f->child->e[i], shift);
			if (r)
				return r;
		}
		return 0;
	}
	void *old;
	if (find_in_entry(b, shift, f->key, &old) == 0 && old == f->val)
		return 0;
	return d->fn(d->arg, f->key, f->val, true);
}

/* Pairs of `b` that `f` lacks. */
static int report_removed(struct diff *d, const struct entry *b,
			  const struct entry *f, unsigned shift)
{
	if (!b->key) {
		VISIT();
		for (uint32_t i = 0; i < b->child->size; i++) {
			int r = report_removed(d, &b->child->e[i], f, shift);
			if (r)
				return r;
		}
		return 0;
	}
	void *unused;
	if (find_in_entry(f, shift, b->key, &unused) == 0)
		return 0;
	return d->fn(d->arg, b->key, NULL, false);
}

static int diff_nodes(struct diff *d, const node *b, const node *f,
		      unsigned shift);

/* Two entries in the same slot; `shift` is the level of their children. */
static int diff_entries(struct diff *d, const struct entry *b,
			const struct entry *f, unsigned shift)
{
	if (!b)
		return report_all(d, f, true);
	if (!f)
		return report_all(d, b, false);
	if (b->key && b->key == f->key)
		return b->val == f->val ? 0 :
					  d->fn(d->arg, f->key, f->val, true);
	if (!b->key && !f->key) {
		if (b->child == f->child)
			return 0;
		if (b->child->kind == NODE_BITMAP &&
		    f->child->kind == NODE_BITMAP)
			return diff_nodes(d, b->child, f->child, shift);
	}
	int r = report_changed(d, b, f, shift);
	return r ? r : report_removed(d, b, f, shift);
}

static int diff_nodes(struct diff *d, const node *b, const node *f,
		      unsigned shift)
{
	VISIT();
	uint32_t all = b->bits | f->bits;
	while (all) {
		uint32_t bit = all & -all;
		all &= all - 1;
		const struct entry *eb =
			b->bits & bit ? &b->e[index_of(b, bit)] : NULL;
		const struct entry *ef =
			f->bits & bit ? &f->e[index_of(f, bit)] : NULL;
		int r = diff_entries(d, eb, ef, shift + BITS_PER_LEVEL);
		if (r)
			return r;
	}
	return 0;
}

int eddy_hamt_diff(const eddy_hamt *base, const eddy_hamt *changed,
		   eddy_hamt_diff_fn fn, void *arg)
{
	struct diff d = { fn, arg };
#ifdef EDDY_TEST_HOOKS
	visits = 0;
#endif
	if (base->root == changed->root)
		return 0;
	struct entry b = { .key = NULL, .child = base->root };
	struct entry f = { .key = NULL, .child = changed->root };
	return diff_entries(&d, base->root ? &b : NULL,
			    changed->root ? &f : NULL, 0);
}
