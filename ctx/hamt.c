/*
 * The HAMT: a persistent hash map from context variables to values.
 *
 * Why.  PEP 567 asks for a context that can be copied at every task spawn
 * and thread offload, while each copy then changes independently.  Copying
 * a hash table would cost O(n) per spawn.  A persistent map never changes
 * a version that someone else can see: a set builds a new version that
 * shares all unchanged parts with the old one.  A copy is then a reference
 * count increment, and a set costs O(log32 n).
 *
 * What.  A Hash Array Mapped Trie is a 32-way trie over the bits of each
 * key's 32-bit hash, five bits per level, lowest bits first:
 *
 *     hash = ... 10 | 00111 | 00010          (levels 2, 1, 0)
 *                               ^ slot 2 of the root
 *                       ^ slot 7 of the node below it
 *
 * Levels use shifts 0, 5, 10, ... 30; the last level has only two bits.
 * Keys whose hashes are equal in all 32 bits cannot be told apart by the
 * trie and share a collision node.
 *
 * Nodes.  A trie node would waste 32 pointers on mostly empty slots, so a
 * bitmap node stores only the occupied ones: bit i of `bits` says whether
 * slot i is present, and the slot's entry sits at index popcount(bits &
 * ((1 << i) - 1)) of a packed array.  An entry is either a key/value pair,
 * or (key == NULL) a pointer to the node one level down, made when two
 * keys met in the same slot.
 *
 *     root  bits=0b...0100_0101  [ (A,1)  child  (C,3) ]
 *                                          |
 *                         bits=0b1000_0001 [ (B,2) (D,4) ]
 *
 * A collision node keeps the common hash in `bits` and a plain array of
 * pairs.  Every node is reference counted: by the versions whose root it
 * is, and by each parent that points to it.  Counts are atomic because
 * versions cross threads (a worker thread runs in a copy of a task's
 * context).
 *
 * Changing a version.  Set and delete walk from the root down to the key.
 * A node that is shared with another version (count > 1) is copied before
 * it changes, and the copy takes its place in the parent: this is path
 * copying, and it is what keeps every other version intact.  A node that
 * only this version reaches (count 1 on a path of counts 1) is changed in
 * place, because nobody else can observe it; so a context that sets many
 * variables after a copy pays for the copies once, then mutates freely.
 * Deletion keeps the trie canonical: a node below the root left holding a
 * single pair, or a single collision node (which a lookup recognises at
 * any level by its whole hash), folds that entry into its parent, level
 * by level, and an emptied root becomes NULL.  So a trie's shape depends
 * only on the keys it holds: a set followed by a delete of the same key
 * gives back the shape it had before.
 *
 * Failure.  The only allocations are node copies and resized nodes, and
 * a set or delete changes nothing but its own copies before its last
 * allocation.  Each shared node copied on the way down keeps the
 * reference its slot held until the change completes (struct path); if an
 * allocation fails first, the slots get their originals back and the
 * copies are freed, so -ENOMEM leaves the version exactly as it was, down
 * to the memory it holds.
 */
#include "hamt.h"

#include <assert.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

#include "alloc.h"
#include "hamt_node.h"

#define LAST_SHIFT 30

static node *node_alloc(uint8_t kind, uint32_t size, uint32_t bits)
{
	node *n = eddy_alloc(sizeof(node) + size * sizeof(struct entry));
	if (!n)
		return NULL;
	atomic_init(&n->refs, 1);
	n->kind = kind;
	n->size = size;
	n->bits = bits;
	return n;
}

static void node_ref(node *n)
{
	atomic_fetch_add_explicit(&n->refs, 1, memory_order_relaxed);
}

static void node_unref(node *n)
{
	/* as for contexts: a count of 1 is ours alone */
	if (atomic_load_explicit(&n->refs, memory_order_acquire) != 1 &&
	    atomic_fetch_sub_explicit(&n->refs, 1, memory_order_acq_rel) != 1)
		return;
	for (uint32_t i = 0; i < n->size; i++)
		if (!n->e[i].key)
			node_unref(n->e[i].child);
	eddy_free(n);
}

/* Only this version reaches n, so changing it in place is invisible to
 * everyone else.  Acquire pairs with the release of other versions'
 * unrefs, so their last reads of n happen before our writes. */
static bool node_is_unique(node *n)
{
	return atomic_load_explicit(&n->refs, memory_order_acquire) == 1;
}

static void ref_children(node *n)
{
	for (uint32_t i = 0; i < n->size; i++)
		if (!n->e[i].key)
			node_ref(n->e[i].child);
}

/*
 * Retire old after its entries were copied into a resized node (which has
 * the same children: only pairs are added or dropped).  If this version
 * owned old alone, its references to the children move with the entries;
 * otherwise the new node takes references of its own.
 */
static void retire(node *old)
{
	if (node_is_unique(old)) {
		eddy_free(old);
		return;
	}
	ref_children(old);
	node_unref(old);
}

/* The shared nodes one set or delete copied, one level per entry.  A
 * root whose reference the version shares (eddy_hamt.root_release) is
 * copied like a shared node, and released through root_release when the
 * change completes. */
struct path {
	unsigned n;
	node *released; /* that root, or NULL */
	struct {
		node **slot;
		node *orig; /* holds the reference *slot had */
	} copied[EDDY_HAMT_MAX_DEPTH];
};

/* Make *slot a node this version owns alone: 0, or -ENOMEM. */
static int own(node **slot, struct path *p)
{
	node *n = *slot;
	if (n != p->released && node_is_unique(n))
		return 0;
	node *copy = node_alloc(n->kind, n->size, n->bits);
	if (!copy)
		return -ENOMEM;
	memcpy(copy->e, n->e, n->size * sizeof(struct entry));
	ref_children(copy);
	assert(p->n < EDDY_HAMT_MAX_DEPTH);
	p->copied[p->n].slot = slot;
	p->copied[p->n].orig = n;
	p->n++;
	*slot = copy;
	return 0;
}

/* The change to m is complete: the originals lose m's references. */
static void path_commit(eddy_hamt *m, struct path *p)
{
	for (unsigned i = 0; i < p->n; i++) {
		node *orig = p->copied[i].orig;
		if (orig != p->released || !m->root_release(m))
			node_unref(orig);
	}
}

/* The change failed: put the originals back, deepest first (each copy's
 * slot lies in the copy above it), and free the copies. */
static void path_undo(struct path *p)
{
	while (p->n > 0) {
		p->n--;
		node *copy = *p->copied[p->n].slot;
		*p->copied[p->n].slot = p->copied[p->n].orig;
		node_unref(copy);
	}
}

/* Replace *slot with a copy that has a free entry at idx. */
static int grow_at(node **slot, uint32_t idx)
{
	node *old = *slot;
	node *n = node_alloc(old->kind, old->size + 1, old->bits);
	if (!n)
		return -ENOMEM;
	memcpy(n->e, old->e, idx * sizeof(struct entry));
	memcpy(n->e + idx + 1, old->e + idx,
	       (old->size - idx) * sizeof(struct entry));
	n->e[idx] = (struct entry){ .key = NULL, .child = NULL };
	retire(old);
	*slot = n;
	return 0;
}

/* Replace *slot with a copy without the pair at idx. */
static int shrink_at(node **slot, uint32_t idx)
{
	node *old = *slot;
	assert(old->e[idx].key != NULL);
	node *n = node_alloc(old->kind, old->size - 1, old->bits);
	if (!n)
		return -ENOMEM;
	memcpy(n->e, old->e, idx * sizeof(struct entry));
	memcpy(n->e + idx, old->e + idx + 1,
	       (old->size - idx - 1) * sizeof(struct entry));
	retire(old);
	*slot = n;
	return 0;
}

static uint32_t entry_hash(const struct entry *e)
{
	return e->key ? e->key->hash : e->child->bits;
}

/* Frees a subtree that join built, without touching the entries it holds. */
static void free_joined(node *n)
{
	while (n->size == 1) {
		node *below = n->e[0].child;
		eddy_free(n);
		n = below;
	}
	eddy_free(n);
}

/*
 * A subtree at `shift` holding two entries that met in one slot: pairs
 * with different keys, or a collision node and a pair of another hash.
 * While their hashes agree on a level's five bits, each level gets a node
 * with a single child; the level where they part holds both (or a
 * collision node, when the whole hashes are equal).  The entries'
 * references move into the subtree.  NULL on ENOMEM, with a and b as they
 * were.
 */
static node *join(struct entry a, struct entry b, unsigned shift)
{
	uint32_t ha = entry_hash(&a), hb = entry_hash(&b);
	unsigned top = shift;
	while (ha != hb && slot_of(ha, shift) == slot_of(hb, shift))
		shift += BITS_PER_LEVEL;
	assert(shift <= LAST_SHIFT || ha == hb);

	node *n;
	if (ha == hb) {
		assert(a.key && b.key);
		n = node_alloc(NODE_COLLISION, 2, ha);
	} else {
		unsigned sa = slot_of(ha, shift), sb = slot_of(hb, shift);
		n = node_alloc(NODE_BITMAP, 2, (1u << sa) | (1u << sb));
		if (n && sa > sb) {
			struct entry t = a;
			a = b;
			b = t;
		}
	}
	if (!n)
		return NULL;
	n->e[0] = a;
	n->e[1] = b;

	while (shift > top) {
		shift -= BITS_PER_LEVEL;
		node *up = node_alloc(NODE_BITMAP, 1, 1u << slot_of(ha, shift));
		if (!up) {
			free_joined(n);
			return NULL;
		}
		up->e[0] = (struct entry){ .key = NULL, .child = n };
		n = up;
	}
	return n;
}

int eddy_hamt_find(const eddy_hamt *m, const eddy_var *key, void **val)
{
	return m->root ? node_find(m->root, 0, key, val) : -ENOENT;
}

struct set_op {
	const eddy_var *key;
	void *val;
	void *old;
	bool had_old;
	struct path path;
};

static int set_in(node **slot, unsigned shift, struct set_op *op);

static int set_in_collision(node **slot, unsigned shift, struct set_op *op)
{
	node *n = *slot;
	uint32_t hash = op->key->hash;
	if (n->bits != hash) {
		struct entry coll = { .key = NULL, .child = n };
		struct entry pair = { .key = op->key, .val = op->val };
		node *sub = join(coll, pair, shift);
		if (!sub)
			return -ENOMEM;
		*slot = sub;
		return 0;
	}
	for (uint32_t i = 0; i < n->size; i++) {
		if (n->e[i].key == op->key) {
			if (own(slot, &op->path))
				return -ENOMEM;
			op->old = (*slot)->e[i].val;
			op->had_old = true;
			(*slot)->e[i].val = op->val;
			return 0;
		}
	}
	if (grow_at(slot, n->size))
		return -ENOMEM;
	(*slot)->e[(*slot)->size - 1] =
		(struct entry){ .key = op->key, .val = op->val };
	return 0;
}

static int set_in(node **slot, unsigned shift, struct set_op *op)
{
	node *n = *slot;
	if (n->kind == NODE_COLLISION)
		return set_in_collision(slot, shift, op);

	uint32_t bit = 1u << slot_of(op->key->hash, shift);
	uint32_t idx = index_of(n, bit);
	if (!(n->bits & bit)) {
		if (grow_at(slot, idx))
			return -ENOMEM;
		(*slot)->bits |= bit;
		(*slot)->e[idx] = (struct entry){ .key = op->key, .val = op->val };
		return 0;
	}
	struct entry e = n->e[idx];
	if (!e.key) {
		if (own(slot, &op->path))
			return -ENOMEM;
		return set_in(&(*slot)->e[idx].child, shift + BITS_PER_LEVEL, op);
	}
	if (e.key == op->key) {
		if (own(slot, &op->path))
			return -ENOMEM;
		op->old = e.val;
		op->had_old = true;
		(*slot)->e[idx].val = op->val;
		return 0;
	}
	if (own(slot, &op->path))
		return -ENOMEM;
	struct entry pair = { .key = op->key, .val = op->val };
	node *sub = join(e, pair, shift + BITS_PER_LEVEL);
	if (!sub)
		return -ENOMEM;
	(*slot)->e[idx] = (struct entry){ .key = NULL, .child = sub };
	return 0;
}

int eddy_hamt_set(eddy_hamt *m, const eddy_var *key, void *val, void **old,
		  int *had_old)
{
	struct set_op op; /* not an initialiser: it would zero the path */
	op.key = key;
	op.val = val;
	op.old = NULL;
	op.had_old = false;
	op.path.n = 0;
	op.path.released = m->root_release ? m->root : NULL;
	if (!m->root) {
		node *n = node_alloc(NODE_BITMAP, 1, 1u << slot_of(key->hash, 0));
		if (!n)
			return -ENOMEM;
		n->e[0] = (struct entry){ .key = key, .val = val };
		m->root = n;
	} else {
		/* a released root is copied first: the resizes below would
		 * free it when it looks unique */
		int err = op.path.released ? own(&m->root, &op.path) : 0;
		if (!err)
			err = set_in(&m->root, 0, &op);
		if (err) {
			path_undo(&op.path);
			return err;
		}
		path_commit(m, &op.path);
	}
	if (!op.had_old)
		m->count++;
	if (old)
		*old = op.old;
	if (had_old)
		*had_old = op.had_old;
	return 0;
}

/*
 * How a delete left a subtree: still a node, or a single entry (a pair or
 * a collision node) that the parent takes in place of its pointer (the
 * node is gone), or nothing.
 */
enum del_result { DEL_KEPT, DEL_FOLDED, DEL_EMPTY };

/* Whether e can stand for a whole node in its parent's slot. */
static bool foldable(const struct entry *e)
{
	return e->key || e->child->kind == NODE_COLLISION;
}

static enum del_result fold(node **slot, struct entry *lone)
{
	*lone = (*slot)->e[0];
	/* unique here (own() ran on the way down): free the node alone, its
	 * entry's reference moves to the parent with *lone */
	eddy_free(*slot);
	*slot = NULL;
	return DEL_FOLDED;
}

static int del_in(node **slot, unsigned shift, const eddy_var *key,
		  struct entry *lone, struct path *p)
{
	if (own(slot, p))
		return -ENOMEM;
	node *n = *slot;
	bool is_root = shift == 0;
	uint32_t idx;

	if (n->kind == NODE_COLLISION) {
		for (idx = 0; n->e[idx].key != key; idx++)
			assert(idx + 1 < n->size);
		if (n->size == 2) {
			n->e[0] = n->e[idx ^ 1];
			return fold(slot, lone);
		}
		return shrink_at(slot, idx) ? -ENOMEM : DEL_KEPT;
	}

	uint32_t bit = 1u << slot_of(key->hash, shift);
	assert(n->bits & bit);
	idx = index_of(n, bit);
	if (!n->e[idx].key) {
		int r = del_in(&n->e[idx].child, shift + BITS_PER_LEVEL, key,
			       lone, p);
		if (r != DEL_FOLDED)
			return r;
		n->e[idx] = *lone;
		/* a non-root node left with one entry folds into its parent */
		if (!is_root && n->size == 1)
			return fold(slot, lone);
		return DEL_KEPT;
	}

	assert(n->e[idx].key == key);
	if (n->size == 1) {
		assert(is_root);
		node_unref(n);
		*slot = NULL;
		return DEL_EMPTY;
	}
	if (!is_root && n->size == 2 && foldable(&n->e[idx ^ 1])) {
		n->e[0] = n->e[idx ^ 1];
		return fold(slot, lone);
	}
	if (shrink_at(slot, idx))
		return -ENOMEM;
	(*slot)->bits &= ~bit;
	return DEL_KEPT;
}

int eddy_hamt_delete(eddy_hamt *m, const eddy_var *key)
{
	void *unused;
	if (eddy_hamt_find(m, key, &unused))
		return -ENOENT;
	struct entry lone;
	struct path p;
	p.n = 0;
	p.released = m->root_release ? m->root : NULL;
	int r = del_in(&m->root, 0, key, &lone, &p); /* own()s the root first */
	if (r < 0) {
		path_undo(&p);
		return r;
	}
	path_commit(m, &p);
	assert(r != DEL_FOLDED);
	m->count--;
	return 0;
}

void eddy_hamt_share(eddy_hamt *dst, const eddy_hamt *src)
{
	assert(!dst->root);
	if (src->root)
		node_ref(src->root);
	dst->root = src->root;
	dst->count = src->count;
}

void eddy_hamt_clear(eddy_hamt *m)
{
	if (m->root && !(m->root_release && m->root_release(m)))
		node_unref(m->root);
	eddy_hamt_forget(m);
}

static_assert(sizeof(((eddy_ctx_iter *)0)->node) / sizeof(void *) ==
		      EDDY_HAMT_MAX_DEPTH,
	      "an iterator holds one node per level");

void eddy_hamt_iter_begin(eddy_ctx_iter *it, const eddy_hamt *m)
{
	it->snapshot = m->root;
	it->depth = 0;
	if (m->root) {
		node_ref(m->root);
		it->node[0] = m->root;
		it->pos[0] = 0;
		it->depth = 1;
	}
}

int eddy_hamt_iter_next(eddy_ctx_iter *it, const eddy_var **key, void **val)
{
	while (it->depth > 0) {
		int d = it->depth - 1;
		const node *n = it->node[d];
		if (it->pos[d] == n->size) {
			it->depth--;
			continue;
		}
		const struct entry *e = &n->e[it->pos[d]++];
		if (e->key) {
			*key = e->key;
			*val = e->val;
			return 1;
		}
		assert(it->depth < EDDY_HAMT_MAX_DEPTH);
		it->node[it->depth] = e->child;
		it->pos[it->depth] = 0;
		it->depth++;
	}
	eddy_hamt_iter_end(it);
	return 0;
}

void eddy_hamt_iter_end(eddy_ctx_iter *it)
{
	if (it->snapshot)
		node_unref((node *)it->snapshot);
	it->snapshot = NULL;
	it->depth = 0;
}

#ifdef EDDY_TEST_HOOKS
static size_t count_nodes(const node *n)
{
	size_t total = 1;
	for (uint32_t i = 0; i < n->size; i++)
		if (!n->e[i].key)
			total += count_nodes(n->e[i].child);
	return total;
}

static int depth_of(const node *n)
{
	int deepest = 0;
	for (uint32_t i = 0; i < n->size; i++) {
		if (!n->e[i].key) {
			int d = depth_of(n->e[i].child);
			deepest = d > deepest ? d : deepest;
		}
	}
	return deepest + 1;
}

size_t eddy_hamt_node_count(const eddy_hamt *m)
{
	return m->root ? count_nodes(m->root) : 0;
}

int eddy_hamt_depth(const eddy_hamt *m)
{
	return m->root ? depth_of(m->root) : 0;
}
#endif
