/*
 * The persistent mapping behind every context, internal to ctx/.
 * hamt.c explains the structure.
 */
#ifndef EDDY_HAMT_H
#define EDDY_HAMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "var.h"

struct eddy_hamt_node;

/* One version of the mapping: a reference to its root and its size.  Two
 * versions share every node they have in common.
 *
 * root_release is for the context layer, whose copies may share one
 * reference to a root (docs/ctx.md, "Borrowed roots").  While it is set,
 * the root's count does not tell whether this version alone reaches it,
 * so a set or delete copies the root even at a count of 1, and the root
 * may be neither changed nor dropped by this version: when the version
 * stops using it (its change is complete, or at clear), it calls
 * root_release instead, which clears itself and returns true when the
 * reference is settled elsewhere, false when it is still this version's
 * to drop. */
typedef struct eddy_hamt {
	struct eddy_hamt_node *root; /* NULL when empty */
	size_t count;
	bool (*root_release)(struct eddy_hamt *m);
} eddy_hamt;

#define EDDY_HAMT_EMPTY ((eddy_hamt){ .root = NULL })

/* 0 and *val, or -ENOENT. */
int eddy_hamt_find(const eddy_hamt *m, const eddy_var *key, void **val);

/*
 * Maps key to val in m.  When old is non-NULL it receives the previous
 * value, and *had_old whether there was one.  0, or -ENOMEM with m's
 * contents unchanged.
 */
int eddy_hamt_set(eddy_hamt *m, const eddy_var *key, void *val, void **old,
		  int *had_old);

/* Removes key: 0, -ENOENT when absent, or -ENOMEM with m unchanged. */
int eddy_hamt_delete(eddy_hamt *m, const eddy_var *key);

/* dst becomes another version of src in O(1); dst must be empty. */
void eddy_hamt_share(eddy_hamt *dst, const eddy_hamt *src);

/* Drops m's reference to its nodes; m becomes empty. */
void eddy_hamt_clear(eddy_hamt *m);

/* m becomes empty without dropping a reference or calling root_release:
 * for a root whose reference is not m's. */
static inline void eddy_hamt_forget(eddy_hamt *m)
{
	m->root = NULL;
	m->count = 0;
	m->root_release = NULL;
}

/*
 * Calls fn for every key whose value in `changed` differs from `base`: with
 * present = true and the new value, or present = false when `changed`
 * lacks the key.  Subtrees the two versions share are skipped, so the cost
 * follows the number of differences, not the size of the mapping.  Stops
 * at fn's first non-zero return and returns it; 0 otherwise.
 */
typedef int (*eddy_hamt_diff_fn)(void *arg, const eddy_var *key, void *val,
				 int present);
int eddy_hamt_diff(const eddy_hamt *base, const eddy_hamt *changed,
		   eddy_hamt_diff_fn fn, void *arg);

/* Seven bitmap levels (shifts 0 to 30) and a collision node below them. */
#define EDDY_HAMT_MAX_DEPTH 8

/* A walk that holds a snapshot of the mapping: the public eddy_ctx_iter. */
void eddy_hamt_iter_begin(eddy_ctx_iter *it, const eddy_hamt *m);
/* 1 and a pair, or 0 at the end (the snapshot is released then). */
int eddy_hamt_iter_next(eddy_ctx_iter *it, const eddy_var **key, void **val);
void eddy_hamt_iter_end(eddy_ctx_iter *it);

#ifdef EDDY_TEST_HOOKS
/* Nodes the mapping reaches, and the deepest level it uses (root = 1). */
size_t eddy_hamt_node_count(const eddy_hamt *m);
int eddy_hamt_depth(const eddy_hamt *m);
/* Nodes the last eddy_hamt_diff of this thread looked into. */
size_t eddy_hamt_diff_visits(void);
#endif

#endif
