/*
 * The HAMT's node layout, shared by the files that walk nodes (hamt.c
 * for lookups and changes, hamt_diff.c for comparing two versions).
 * hamt.c's opening comment explains the structure.
 */
#ifndef EDDY_HAMT_NODE_H
#define EDDY_HAMT_NODE_H

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>

#include "hamt.h"

enum { NODE_BITMAP, NODE_COLLISION };

#define BITS_PER_LEVEL 5

struct entry {
	const eddy_var *key; /* NULL: the entry points to a child node */
	union {
		void *val;
		struct eddy_hamt_node *child;
	};
};

struct eddy_hamt_node {
	atomic_uint refs;
	uint32_t bits; /* bitmap: occupied slots; collision: the shared hash */
	uint32_t size; /* entries in e[] */
	uint8_t kind;
	struct entry e[];
};

typedef struct eddy_hamt_node node;

static inline unsigned slot_of(uint32_t hash, unsigned shift)
{
	return (hash >> shift) & 31;
}

static inline unsigned popcount32(uint32_t x)
{
#if defined(__x86_64__) && !defined(__POPCNT__)
	/* Baseline x86-64 has no popcnt instruction, and the builtin would
	 * call libgcc: count bits in parallel instead (a dozen ALU ops). */
	x = x - ((x >> 1) & 0x55555555u);
	x = (x & 0x33333333u) + ((x >> 2) & 0x33333333u);
	x = (x + (x >> 4)) & 0x0f0f0f0fu;
	return (x * 0x01010101u) >> 24;
#else
	return (unsigned)__builtin_popcount(x);
#endif
}

static inline unsigned index_of(const node *n, uint32_t bit)
{
	return popcount32(n->bits & (bit - 1));
}

/* The lookup, from a node at `shift` down: 0 and *val, or -ENOENT. */
static inline int node_find(const node *n, unsigned shift, const eddy_var *key,
			    void **val)
{
	uint32_t hash = key->hash;
	for (;;) {
		if (n->kind == NODE_COLLISION) {
			if (n->bits != hash)
				return -ENOENT;
			for (uint32_t i = 0; i < n->size; i++) {
				if (n->e[i].key == key) {
					*val = n->e[i].val;
					return 0;
				}
			}
			return -ENOENT;
		}
		uint32_t bit = 1u << slot_of(hash, shift);
		if (!(n->bits & bit))
			return -ENOENT;
		const struct entry *e = &n->e[index_of(n, bit)];
		if (e->key) {
			if (e->key != key)
				return -ENOENT;
			*val = e->val;
			return 0;
		}
		n = e->child;
		shift += BITS_PER_LEVEL;
	}
}

#endif
