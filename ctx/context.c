/*
 * Contexts: creation, copies, the thread's current context, entering and
 * leaving, and the read-only mapping API.
 */
#include "context.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "alloc.h"

char eddy_ctx_unset_mark;

_Thread_local eddy_ctx *eddy_ctx_now __attribute__((tls_model("initial-exec")));

/* The context a thread gets on first use; freed by base_key's destructor
 * when the thread exits. */
static _Thread_local eddy_ctx *thread_base;
static pthread_key_t base_key;
static pthread_once_t base_key_once = PTHREAD_ONCE_INIT;

/*
 * Context ids are unique in the process but handed out without an atomic
 * operation per context: each thread takes a block of CTX_ID_BLOCK ids
 * from the shared counter and counts through it on its own, so a copy
 * costs one thread-local increment more.
 */
#define CTX_ID_BLOCK 1024
static atomic_uint_fast64_t next_id_block;
static _Thread_local uint64_t next_id, id_block_end;

static uint64_t new_ctx_id(void)
{
	if (__builtin_expect(next_id == id_block_end, 0)) {
		next_id = atomic_fetch_add_explicit(&next_id_block, CTX_ID_BLOCK,
						    memory_order_relaxed) + 1;
		id_block_end = next_id + CTX_ID_BLOCK;
	}
	return next_id++;
}

uint64_t eddy_ctx_id(const eddy_ctx *ctx)
{
	return ctx ? ctx->id : 0;
}

static eddy_ctx *ctx_alloc(void)
{
	eddy_ctx *ctx = eddy_alloc(sizeof *ctx);
	if (!ctx) {
		errno = ENOMEM;
		return NULL;
	}
	ctx->map = (eddy_hamt){ NULL, 0 };
	atomic_init(&ctx->refs, 1);
	atomic_init(&ctx->owner, 0);
	ctx->holds = 0;
	ctx->prev = NULL;
	ctx->stayers[0] = ctx->stayers[1] = 0;
	ctx->id = new_ctx_id();
	return ctx;
}

bool ctx_lookup_miss(eddy_ctx *ctx, const eddy_var *var, void **val)
{
	if (ctx_hides(var)) { /* not cached: the entry is the parent's */
		*val = CTX_UNSET;
		return false;
	}
	struct ctx_cache_entry *c = &ctx->cache[var->cache_slot];
	c->var = var;
	if (eddy_hamt_find(&ctx->map, var, &c->val))
		c->val = CTX_UNSET;
	*val = c->val;
	return c->val != CTX_UNSET;
}

eddy_ctx *eddy_ctx_new(void)
{
	eddy_ctx *ctx = ctx_alloc();
	if (ctx)
		memset(ctx->cache, 0, sizeof ctx->cache);
	return ctx;
}

eddy_ctx *eddy_ctx_copy(const eddy_ctx *src)
{
	if (!src) {
		errno = EINVAL;
		return NULL;
	}
	eddy_ctx *ctx = ctx_alloc();
	if (!ctx)
		return NULL;
	eddy_hamt_share(&ctx->map, &src->map);
	memcpy(ctx->cache, src->cache, sizeof ctx->cache);
	memcpy(ctx->stayers, src->stayers, sizeof ctx->stayers);
	return ctx;
}

eddy_ctx *eddy_ctx_copy_current(void)
{
	return eddy_ctx_now ? eddy_ctx_copy(eddy_ctx_now) : eddy_ctx_new();
}

eddy_ctx *eddy_ctx_ref(eddy_ctx *ctx)
{
	if (ctx)
		atomic_fetch_add_explicit(&ctx->refs, 1, memory_order_relaxed);
	return ctx;
}

void eddy_ctx_unref(eddy_ctx *ctx)
{
	if (!ctx)
		return;
	/* A count of 1 is ours alone: nobody can take another reference, so
	 * the atomic decrement (6 ns here) can be skipped. */
	if (atomic_load_explicit(&ctx->refs, memory_order_acquire) != 1 &&
	    atomic_fetch_sub_explicit(&ctx->refs, 1, memory_order_acq_rel) != 1)
		return;
	eddy_hamt_clear(&ctx->map);
	eddy_free(ctx);
}

static void free_thread_base(void *base)
{
	if (eddy_ctx_now == base)
		eddy_ctx_now = NULL;
	thread_base = NULL;
	eddy_ctx_unref(base);
}

static void make_base_key(void)
{
	/* Without the key, bases of exiting threads leak; nothing else breaks. */
	(void)pthread_key_create(&base_key, free_thread_base);
}

eddy_ctx *eddy_ctx_current(void)
{
	if (eddy_ctx_now)
		return eddy_ctx_now;
	eddy_ctx *base = thread_base;
	if (!base) {
		pthread_once(&base_key_once, make_base_key);
		base = eddy_ctx_new();
		if (!base)
			return NULL;
		eddy_ctx_claim(base);
		pthread_setspecific(base_key, base);
		thread_base = base;
	}
	eddy_ctx_now = base;
	return base;
}

/* A token for this thread: the address of a thread-local, unique among
 * live threads. */
static _Thread_local char thread_mark __attribute__((tls_model("initial-exec")));

static uintptr_t this_thread(void)
{
	return (uintptr_t)&thread_mark;
}

int eddy_ctx_claim(eddy_ctx *ctx)
{
	if (!ctx)
		return -EINVAL;
	uintptr_t me = this_thread(), free_ = 0;
	if (!atomic_compare_exchange_strong_explicit(&ctx->owner, &free_, me,
						     memory_order_acquire,
						     memory_order_relaxed) &&
	    free_ != me)
		return -EBUSY;
	ctx->holds++;
	return 0;
}

int eddy_ctx_release(eddy_ctx *ctx)
{
	if (!ctx || atomic_load_explicit(&ctx->owner, memory_order_relaxed) !=
			    this_thread())
		return -EINVAL;
	if (--ctx->holds == 0)
		atomic_store_explicit(&ctx->owner, 0, memory_order_release);
	return 0;
}

int eddy_ctx_lend(eddy_ctx *ctx)
{
	if (!ctx || atomic_load_explicit(&ctx->owner, memory_order_relaxed) !=
			    this_thread())
		return -EINVAL;
	int holds = (int)ctx->holds;
	ctx->holds = 0;
	atomic_store_explicit(&ctx->owner, 0, memory_order_release);
	return holds;
}

int eddy_ctx_reclaim(eddy_ctx *ctx, int holds)
{
	uintptr_t free_ = 0;
	if (!ctx || holds <= 0)
		return -EINVAL;
	if (!atomic_compare_exchange_strong_explicit(&ctx->owner, &free_,
						     this_thread(),
						     memory_order_acquire,
						     memory_order_relaxed))
		return -EBUSY;
	ctx->holds = (unsigned)holds;
	return 0;
}

eddy_ctx *eddy_ctx_swap_current(eddy_ctx *ctx)
{
	eddy_ctx *prev = eddy_ctx_now;
	eddy_ctx_now = ctx;
	return prev;
}

int eddy_ctx_enter(eddy_ctx *ctx)
{
	if (!ctx)
		return -EINVAL;
	uintptr_t free_ = 0;
	if (!atomic_compare_exchange_strong_explicit(&ctx->owner, &free_,
						     this_thread(),
						     memory_order_acquire,
						     memory_order_relaxed))
		return -EBUSY;
	ctx->holds = 1;
	if (eddy_ctx_hiding)
		ctx_forget_hidden(ctx);
	ctx->prev = eddy_ctx_now;
	eddy_ctx_now = ctx;
	return 0;
}

int eddy_ctx_leave(eddy_ctx *ctx)
{
	if (!ctx || ctx != eddy_ctx_now || ctx == thread_base)
		return -EINVAL;
	eddy_ctx_now = ctx->prev;
	ctx->prev = NULL;
	if (eddy_ctx_hiding && eddy_ctx_now)
		ctx_forget_hidden(eddy_ctx_now);
	return eddy_ctx_release(ctx);
}

int eddy_ctx_run(eddy_ctx *ctx, eddy_fn fn, void *arg, void **result)
{
	if (!fn)
		return -EINVAL;
	int err = eddy_ctx_enter(ctx);
	if (err)
		return err;
	void *r = fn(arg);
	eddy_ctx_leave(ctx);
	if (result)
		*result = r;
	return 0;
}

int eddy_ctx_get(const eddy_ctx *ctx, const eddy_var *var, void **out)
{
	if (!ctx || !var)
		return -EINVAL;
	void *val;
	int err = eddy_hamt_find(&ctx->map, var, &val);
	if (!err && out)
		*out = val;
	return err;
}

size_t eddy_ctx_len(const eddy_ctx *ctx)
{
	return ctx ? ctx->map.count : 0;
}

void eddy_ctx_iter_begin(eddy_ctx_iter *it, const eddy_ctx *ctx)
{
	static const eddy_hamt empty = { NULL, 0 };
	eddy_hamt_iter_begin(it, ctx ? &ctx->map : &empty);
}

int eddy_ctx_iter_next(eddy_ctx_iter *it, eddy_var **var, void **value)
{
	const eddy_var *key;
	void *val;
	if (!eddy_hamt_iter_next(it, &key, &val))
		return 0;
	if (var)
		*var = (eddy_var *)key;
	if (value)
		*value = val;
	return 1;
}

void eddy_ctx_iter_end(eddy_ctx_iter *it)
{
	eddy_hamt_iter_end(it);
}
