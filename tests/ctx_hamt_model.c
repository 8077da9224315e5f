/*
 * The HAMT against a trivial model: an array of values per version.
 *
 * A million random sets, deletes, finds and copies run on a few versions
 * of the map at once, with key hashes forced to collide so that every
 * node shape appears: full-hash collisions (collision nodes, at level 1
 * and below the last bitmap level), long shared low-bit prefixes (deep
 * paths), and hashes one bit apart (chains of single-child nodes of every
 * length).  Versions not written to must stay as they were (persistence),
 * and the trie must stay canonical: its shape depends only on which keys
 * it holds, so a set then delete of a key restores the node count, and a
 * version rebuilt from scratch has the same shape.
 *
 * Every failure message names the seed and the step; EDDY_MODEL_SEED in
 * the environment replays another seed.
 */
#include "check.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctx/alloc.h"
#include "ctx/hamt.h"
#include "eddy.h"
#include "xorshift.h"

EDDY_SUITE(ctx_hamt_model);

#define V(n) ((void *)(uintptr_t)(n))

#define NKEYS 400
#define NVERSIONS 6

static eddy_var *keys[NKEYS];
static eddy_hamt ver[NVERSIONS];
static void *model[NVERSIONS][NKEYS]; /* NULL: absent; values are never NULL */
static size_t model_count[NVERSIONS];

static uint32_t seed, state;
static long step;

static uint32_t below(uint32_t n)
{
	return xorshift32(&state) % n;
}

static void init_seed(uint32_t fallback)
{
	const char *env = getenv("EDDY_MODEL_SEED");
	seed = env ? (uint32_t)strtoul(env, NULL, 0) : fallback;
	state = seed ? seed : 1;
	step = 0;
}

#define CHECK(cond, fmt, ...)                                             \
	cr_assert(cond, "seed %u step %ld: " fmt, seed, step, ##__VA_ARGS__)

/*
 * Keys in classes of forced hashes:
 *   0..63     hash < 8: eight full hashes, collision nodes at level 1
 *   64..95    30 low bits shared, 4 hashes: a path through all seven
 *             bitmap levels, collision nodes below the last one
 *   96..159   one bit away from a common hash (or equal to it): chains
 *             of single-child nodes of every length
 *   160..223  hash < 1024: two crowded levels, a few collisions
 *   224..     the variables' own hashes
 */
static void make_keys(void)
{
	const uint32_t deep = 0x2aaaaaaau & ((1u << 30) - 1);
	const uint32_t chain = 0x5bd1e995u;
	for (int i = 0; i < NKEYS; i++) {
		char name[8];
		snprintf(name, sizeof name, "%d", i);
		keys[i] = eddy_var_new(name);
		cr_assert_not_null(keys[i]);
		if (i < 64)
			eddy_var_force_hash(keys[i], below(8));
		else if (i < 96)
			eddy_var_force_hash(keys[i], deep | below(4) << 30);
		else if (i < 160)
			eddy_var_force_hash(keys[i],
					    i % 8 ? chain ^ 1u << below(32) :
						    chain);
		else if (i < 224)
			eddy_var_force_hash(keys[i], below(1024));
	}
}

static void free_all(void)
{
	for (int v = 0; v < NVERSIONS; v++)
		eddy_hamt_clear(&ver[v]);
	for (int i = 0; i < NKEYS; i++)
		eddy_var_free(keys[i]);
}

/* A key's index is its name. */
static int key_index(const eddy_var *key)
{
	int i = atoi(eddy_var_name(key));
	return i >= 0 && i < NKEYS && keys[i] == key ? i : -1;
}

/* A map built from scratch with the keys model row r holds. */
static eddy_hamt rebuild(int r)
{
	eddy_hamt m = EDDY_HAMT_EMPTY;
	for (int i = NKEYS - 1; i >= 0; i--)
		if (model[r][i])
			CHECK(eddy_hamt_set(&m, keys[i], model[r][i], NULL,
					    NULL) == 0, "rebuild");
	return m;
}

static int deepest;

/* Version v holds exactly model row v, and has its canonical shape. */
static void check_version(int v)
{
	static char seen[NKEYS];
	memset(seen, 0, sizeof seen);
	CHECK(ver[v].count == model_count[v], "version %d count %zu, want %zu",
	      v, ver[v].count, model_count[v]);
	eddy_ctx_iter it;
	const eddy_var *key;
	void *val;
	size_t pairs = 0;
	eddy_hamt_iter_begin(&it, &ver[v]);
	while (eddy_hamt_iter_next(&it, &key, &val)) {
		int i = key_index(key);
		CHECK(i >= 0, "version %d yields a stranger", v);
		CHECK(!seen[i]++, "version %d yields key %d twice", v, i);
		CHECK(val == model[v][i], "version %d key %d: %p, want %p", v,
		      i, val, model[v][i]);
		pairs++;
	}
	CHECK(pairs == model_count[v], "version %d yields %zu pairs", v, pairs);
	for (int i = 0; i < NKEYS; i++) {
		int err = eddy_hamt_find(&ver[v], keys[i], &val);
		if (model[v][i])
			CHECK(err == 0 && val == model[v][i],
			      "version %d lost key %d", v, i);
		else
			CHECK(err == -ENOENT, "version %d has key %d", v, i);
	}

	eddy_hamt fresh = rebuild(v);
	int depth = eddy_hamt_depth(&ver[v]);
	CHECK(eddy_hamt_node_count(&ver[v]) == eddy_hamt_node_count(&fresh),
	      "version %d has %zu nodes, the same keys built afresh %zu", v,
	      eddy_hamt_node_count(&ver[v]), eddy_hamt_node_count(&fresh));
	CHECK(depth == eddy_hamt_depth(&fresh), "version %d depth %d, fresh %d",
	      v, depth, eddy_hamt_depth(&fresh));
	CHECK(depth <= EDDY_HAMT_MAX_DEPTH, "version %d depth %d", v, depth);
	deepest = depth > deepest ? depth : deepest;
	eddy_hamt_clear(&fresh);
}

static void op_set(int v, int i)
{
	void *val = V(step * 2 + 1), *old = NULL;
	int had_old = -1;
	CHECK(eddy_hamt_set(&ver[v], keys[i], val, &old, &had_old) == 0,
	      "set key %d", i);
	CHECK(had_old == (model[v][i] != NULL), "set key %d: had_old %d", i,
	      had_old);
	if (had_old)
		CHECK(old == model[v][i], "set key %d: old %p, want %p", i, old,
		      model[v][i]);
	model_count[v] += !model[v][i];
	model[v][i] = val;
}

static void op_delete(int v, int i)
{
	int err = eddy_hamt_delete(&ver[v], keys[i]);
	CHECK(err == (model[v][i] ? 0 : -ENOENT), "delete key %d: %d", i, err);
	model_count[v] -= model[v][i] != NULL;
	model[v][i] = NULL;
}

static void op_find(int v, int i)
{
	void *val = NULL;
	int err = eddy_hamt_find(&ver[v], keys[i], &val);
	if (model[v][i])
		CHECK(err == 0 && val == model[v][i], "find %d in %d", i, v);
	else
		CHECK(err == -ENOENT, "find absent %d in %d: %d", i, v, err);
}

static void op_copy(int from, int to)
{
	if (from == to)
		return;
	eddy_hamt_clear(&ver[to]);
	eddy_hamt_share(&ver[to], &ver[from]);
	memcpy(model[to], model[from], sizeof model[from]);
	model_count[to] = model_count[from];
}

/* What eddy_hamt_diff reported of each key, to hold against the model. */
static void *diff_val[NKEYS];
static char diff_seen[NKEYS]; /* 0: not reported, 1: present, 2: absent */

static int record_diff(void *arg, const eddy_var *key, void *val, int present)
{
	(void)arg;
	int i = key_index(key);
	CHECK(i >= 0, "diff reports a stranger");
	CHECK(!diff_seen[i], "diff reports key %d twice", i);
	diff_seen[i] = present ? 1 : 2;
	diff_val[i] = val;
	return 0;
}

/* The diff of version b against version f names exactly the keys whose
 * model values differ, each once, with f's value or as removed. */
static void check_diff(int b, int f)
{
	memset(diff_seen, 0, sizeof diff_seen);
	CHECK(eddy_hamt_diff(&ver[b], &ver[f], record_diff, NULL) == 0,
	      "diff %d -> %d", b, f);
	for (int i = 0; i < NKEYS; i++) {
		if (model[b][i] == model[f][i]) {
			CHECK(!diff_seen[i], "diff %d -> %d reports unchanged key %d",
			      b, f, i);
		} else if (model[f][i]) {
			CHECK(diff_seen[i] == 1 && diff_val[i] == model[f][i],
			      "diff %d -> %d: key %d set to %p, reported %d %p", b,
			      f, i, model[f][i], diff_seen[i], diff_val[i]);
		} else {
			CHECK(diff_seen[i] == 2,
			      "diff %d -> %d: key %d removed, reported %d", b, f,
			      i, diff_seen[i]);
		}
	}
}

/* A set then a delete of an absent key gives back the same shape. */
static void op_set_delete_probe(int v)
{
	int i = (int)below(NKEYS);
	if (model[v][i])
		return;
	size_t nodes = eddy_hamt_node_count(&ver[v]);
	int depth = eddy_hamt_depth(&ver[v]);
	CHECK(eddy_hamt_set(&ver[v], keys[i], V(2), NULL, NULL) == 0,
	      "probe set key %d", i);
	CHECK(eddy_hamt_delete(&ver[v], keys[i]) == 0, "probe delete %d", i);
	CHECK(eddy_hamt_node_count(&ver[v]) == nodes,
	      "set and delete of key %d: %zu nodes, before %zu", i,
	      eddy_hamt_node_count(&ver[v]), nodes);
	CHECK(eddy_hamt_depth(&ver[v]) == depth, "key %d changed the depth", i);
	CHECK(ver[v].count == model_count[v], "probe of key %d: count", i);
}

/* Deletes every key of version v in random order: nothing may remain. */
static void op_delete_all(int v)
{
	int order[NKEYS];
	for (int i = 0; i < NKEYS; i++)
		order[i] = i;
	for (int i = NKEYS - 1; i > 0; i--) {
		int j = (int)below((uint32_t)i + 1), t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	for (int i = 0; i < NKEYS; i++)
		op_delete(v, order[i]);
	CHECK(ver[v].root == NULL && ver[v].count == 0,
	      "version %d is not empty after deleting every key", v);
	CHECK(eddy_hamt_node_count(&ver[v]) == 0, "version %d keeps nodes", v);
}

/* After a write to version v at key i, another version still answers as
 * its model says: the write did not reach a node they share. */
static void check_other_version(int v, int i)
{
	int o = (int)below(NVERSIONS);
	if (o != v)
		op_find(o, i);
}

/* One random step on the current version *cur. */
static void random_step(int *cur)
{
	uint32_t r = below(1000);
	int i = (int)below(NKEYS);
	if (r < 400) {
		op_set(*cur, i);
		check_other_version(*cur, i);
	} else if (r < 650) {
		op_delete(*cur, i);
		check_other_version(*cur, i);
	} else if (r < 940) {
		op_find((int)below(NVERSIONS), i);
	} else if (r < 970) {
		op_copy(*cur, (int)below(NVERSIONS));
	} else if (r < 995) {
		*cur = (int)below(NVERSIONS);
	} else {
		op_set_delete_probe(*cur);
	}
}

/* About 0.3 s in the optimised build, 2 to 5 s with ASan+UBSan. */
#define STEPS 1000000L

Test(ctx_hamt_model, a_million_random_operations_match_the_model)
{
	init_seed(0x9e3779b9u);
	make_keys();
	int cur = 0;
	for (step = 0; step < STEPS; step++) {
		random_step(&cur);
		if (step % 8192 == 0)
			for (int v = 0; v < NVERSIONS; v++)
				check_version(v);
		if (step % 200000 == 199999)
			op_delete_all(cur);
	}
	for (int v = 0; v < NVERSIONS; v++)
		check_version(v);
	CHECK(deepest == EDDY_HAMT_MAX_DEPTH,
	      "the walk never reached a collision below the last level");
	free_all();
}

/* Versions that share most of their nodes, and versions that share none
 * (a delete of everything, then sets): the diff between any two agrees
 * with the model, through collision nodes and single-child chains. */
Test(ctx_hamt_model, diff_of_any_two_versions_matches_the_model)
{
	init_seed(0x2545f491u);
	make_keys();
	int cur = 0;
	for (step = 0; step < 200000; step++) {
		random_step(&cur);
		if (step % 64 == 0)
			check_diff((int)below(NVERSIONS), (int)below(NVERSIONS));
		if (step % 50000 == 49999)
			op_delete_all(cur);
	}
	for (int b = 0; b < NVERSIONS; b++)
		for (int f = 0; f < NVERSIONS; f++)
			check_diff(b, f);
	free_all();
}

Test(ctx_hamt_model, a_version_kept_from_the_start_never_changes)
{
	init_seed(12345);
	make_keys();
	for (int i = 0; i < NKEYS; i += 2)
		op_set(0, i);
	op_copy(0, NVERSIONS - 1); /* the kept version: never written again */
	int cur = 0;
	for (step = 1; step < 100000; step++) {
		int r = (int)below(3);
		if (r == 2) {
			op_copy((int)below(NVERSIONS - 1), cur);
			continue;
		}
		if (r == 0)
			op_set(cur, (int)below(NKEYS));
		else
			op_delete(cur, (int)below(NKEYS));
		cur = (int)below(NVERSIONS - 1);
		if (step % 10000 == 0)
			check_version(NVERSIONS - 1);
	}
	for (int v = 0; v < NVERSIONS; v++)
		check_version(v);
	free_all();
}

Test(ctx_hamt_model, deleting_everything_leaves_no_node)
{
	init_seed(777);
	make_keys();
	for (int i = 0; i < NKEYS; i++)
		op_set(0, i);
	op_copy(0, 1);
	op_delete_all(0);
	check_version(1);
	op_delete_all(1);
	free_all();
}

Test(ctx_hamt_model, set_then_delete_restores_the_node_count)
{
	init_seed(4242);
	make_keys();
	for (step = 0; step < 4000; step++) {
		op_set(0, (int)below(NKEYS));
		op_set_delete_probe(0);
		if (step % 3 == 0)
			op_delete(0, (int)below(NKEYS));
	}
	free_all();
}

/*
 * Random writes whose N-th allocation fails, N small: the failing write
 * returns -ENOMEM and changes nothing, in this version or another, and
 * keeps no memory.
 */
Test(ctx_hamt_model, failed_writes_change_nothing)
{
	init_seed(31337);
	make_keys();
	int cur = 0;
	for (step = 0; step < 100000; step++) {
		uint32_t r = below(100);
		if (r >= 60) {
			random_step(&cur);
			continue;
		}
		int i = (int)below(NKEYS);
		long live = eddy_alloc_live();
		size_t nodes = eddy_hamt_node_count(&ver[cur]);
		eddy_alloc_fail_nth(1 + below(4));
		int err = r < 35 ? eddy_hamt_set(&ver[cur], keys[i], V(3), NULL,
						 NULL) :
				   eddy_hamt_delete(&ver[cur], keys[i]);
		int failed = eddy_alloc_failed();
		eddy_alloc_fail_nth(0);
		if (!failed) {
			/* the write went through: bring the model along */
			if (r < 35) {
				model_count[cur] += !model[cur][i];
				model[cur][i] = V(3);
			} else {
				model_count[cur] -= model[cur][i] != NULL;
				model[cur][i] = NULL;
			}
			continue;
		}
		CHECK(err == -ENOMEM, "write of key %d: %d", i, err);
		CHECK(eddy_alloc_live() == live, "failed write kept %ld blocks",
		      eddy_alloc_live() - live);
		CHECK(eddy_hamt_node_count(&ver[cur]) == nodes,
		      "failed write of key %d changed the shape", i);
		op_find(cur, i);
		check_other_version(cur, i);
		if (step % 4096 == 0)
			for (int v = 0; v < NVERSIONS; v++)
				check_version(v);
	}
	for (int v = 0; v < NVERSIONS; v++)
		check_version(v);
	free_all();
}
