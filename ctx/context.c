/*
 * Contexts: creation and the spare contexts each thread keeps, copies and
 * the roots they borrow, the thread's current context, entering and
 * leaving, and the read-only mapping API.
 */
#include "context.h"

#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <string.h>

#include "alloc.h"

enum { BORROW_FREE, BORROW_BORROWING, BORROW_DETACHED, BORROW_DROPPED };

char eddy_ctx_unset_mark;

_Thread_local eddy_ctx *eddy_ctx_now __attribute__((tls_model("initial-exec")));
_Thread_local void *eddy_ctx_runner __attribute__((tls_model("initial-exec")));

/* The context a thread gets on first use; freed by base_key's destructor
 * when the thread exits. */
static _Thread_local eddy_ctx *thread_base;
static pthread_key_t base_key;
static pthread_once_t base_key_once = PTHREAD_ONCE_INIT;
static bool base_key_made;

/* A token for this thread: the address of a thread-local, unique among
 * live threads. */
static _Thread_local char thread_mark __attribute__((tls_model("initial-exec")));

static uintptr_t this_thread(void)
{
	return (uintptr_t)&thread_mark;
}

/*
 * Spare contexts.  A thread keeps up to CTX_SPARES freed contexts on a
 * list of its own (linked through prev) and takes the next one from
 * there: a copy that is dropped soon, the common case, then costs no call
 * to malloc or free.  The list goes back to free() when the thread exits,
 * through spares_key's destructor; after that, contexts are freed at once.
 * To the test allocator hook a spare is a freed block, and taking one is
 * an allocation, which it may fail.
 */
#define CTX_SPARES 16

struct spares {
	eddy_ctx *head;
	unsigned n;
	bool keyed;  /* spares_key holds this thread's list */
	bool closed; /* the destructor ran: the thread is exiting */
};

static _Thread_local struct spares spares
	__attribute__((tls_model("initial-exec")));

/* Under AddressSanitizer a spare stays poisoned but for its link, so that
 * a use of a context after its last unref is still reported. */
#if defined(__SANITIZE_ADDRESS__)
#define CTX_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CTX_ASAN 1
#endif
#endif

#ifdef CTX_ASAN
#include <sanitizer/asan_interface.h>

static void spare_poison(eddy_ctx *ctx, bool poison)
{
	char *start = (char *)ctx, *link = (char *)&ctx->prev;
	char *after = link + sizeof ctx->prev, *end = start + sizeof *ctx;
	if (poison) {
		ASAN_POISON_MEMORY_REGION(start, (size_t)(link - start));
		ASAN_POISON_MEMORY_REGION(after, (size_t)(end - after));
	} else {
		ASAN_UNPOISON_MEMORY_REGION(start, sizeof *ctx);
	}
}
#else
static void spare_poison(eddy_ctx *ctx, bool poison)
{
	(void)ctx;
	(void)poison;
}
#endif
static pthread_key_t spares_key;
static pthread_once_t spares_once = PTHREAD_ONCE_INIT;
static bool spares_key_made;

static void drain_spares(void *list)
{
	struct spares *s = list;
	s->closed = true;
	while (s->head) {
		eddy_ctx *ctx = s->head;
		s->head = ctx->prev;
		spare_poison(ctx, false);
		free(ctx); /* already counted freed when it became a spare */
	}
	s->n = 0;
}

static void make_spares_key(void)
{
	spares_key_made = pthread_key_create(&spares_key, drain_spares) == 0;
}

static eddy_ctx *ctx_mem_alloc(void)
{
	eddy_ctx *ctx = spares.head;
	if (!ctx)
		return eddy_alloc(sizeof *ctx);
	if (eddy_alloc_due_to_fail())
		return NULL;
	spares.head = ctx->prev;
	spares.n--;
	eddy_alloc_relive(1);
	spare_poison(ctx, false);
	return ctx;
}

/* Whether this thread's list may take a spare: it may from the first one
 * until the thread exits. */
static bool spares_open(struct spares *s)
{
	if (s->keyed || s->closed)
		return !s->closed;
	pthread_once(&spares_once, make_spares_key);
	s->keyed = spares_key_made && pthread_setspecific(spares_key, s) == 0;
	return s->keyed;
}

static void ctx_mem_free(eddy_ctx *ctx)
{
	struct spares *s = &spares;
	if (s->n == CTX_SPARES || (s->n == 0 && !spares_open(s))) {
		eddy_free(ctx);
		return;
	}
	ctx->prev = s->head;
	s->head = ctx;
	s->n++;
	eddy_alloc_relive(-1);
	spare_poison(ctx, true);
}

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
	eddy_ctx *ctx = ctx_mem_alloc();
	if (!ctx) {
		errno = ENOMEM;
		return NULL;
	}
	ctx->map = EDDY_HAMT_EMPTY;
	atomic_init(&ctx->refs, 1);
	atomic_init(&ctx->owner, 0);
	ctx->holds = 0;
	ctx->entered = false;
	ctx->prev = NULL;
	ctx->enterer = NULL;
	ctx->stayers[0] = ctx->stayers[1] = 0;
	ctx->borrower = NULL;
	ctx->lender = NULL;
	atomic_init(&ctx->borrow, BORROW_FREE);
	ctx->id = new_ctx_id();
	return ctx;
}

bool ctx_lookup_miss(eddy_ctx *ctx, const eddy_var *var, void **val)
{
	if (ctx_hides(var)) { /* not cached: the entry is the parent's */
		*val = CTX_UNSET;
		return false;
	}
	void *found;
	if (eddy_hamt_find(&ctx->map, var, &found))
		found = CTX_UNSET;
	ctx_cache_store(ctx, var, found);
	*val = found;
	return found != CTX_UNSET;
}

eddy_ctx *eddy_ctx_new(void)
{
	eddy_ctx *ctx = ctx_alloc();
	if (ctx) {
		memset(ctx->cache, 0, sizeof ctx->cache);
		memset(ctx->cache_stays, 0, sizeof ctx->cache_stays);
	}
	return ctx;
}

/*
 * Borrowed roots: context.h explains the protocol, docs/ctx.md why.
 */

static eddy_ctx *ctx_of_map(eddy_hamt *m)
{
	return (eddy_ctx *)((char *)m - offsetof(eddy_ctx, map));
}

/* Whether this thread has ctx current and claimed: then it alone changes
 * ctx's mapping and its borrowing link. */
static bool is_writer(const eddy_ctx *ctx)
{
	return atomic_load_explicit(&ctx->owner, memory_order_relaxed) ==
	       this_thread();
}

/*
 * The lender is done with its root (its change is complete, or it is
 * cleared): it forgets the borrower.  A borrower that still borrows gets
 * the lender's reference, and the result is true: nothing to drop here.
 * A borrower that was dropped meanwhile left its memory, freed here.
 */
static bool lender_release(eddy_hamt *m)
{
	eddy_ctx *lender = ctx_of_map(m), *b = lender->borrower;
	lender->borrower = NULL;
	m->root_release = NULL;
	int was = atomic_exchange_explicit(&b->borrow, BORROW_FREE,
					   memory_order_acq_rel);
	if (was == BORROW_DROPPED)
		ctx_mem_free(b);
	return was == BORROW_BORROWING;
}

/* The borrower is done with the lender's root (its own change is
 * complete, or it is cleared): the lender's reference stays the lender's,
 * unless the lender passed it on already (FREE), when it is ours to drop. */
static bool borrower_release(eddy_hamt *m)
{
	eddy_ctx *ctx = ctx_of_map(m);
	int borrowing = BORROW_BORROWING;
	m->root_release = NULL;
	return atomic_compare_exchange_strong_explicit(
		&ctx->borrow, &borrowing, BORROW_DETACHED,
		memory_order_acq_rel, memory_order_acquire);
}

/* The lender let go of ctx (FREE): if ctx still has the root it borrowed,
 * that reference is its own now.  (Its root_release may also be a
 * lender's, for a copy of its own: that one stays.) */
static void settled(eddy_ctx *ctx)
{
	if (ctx->map.root_release == borrower_release)
		ctx->map.root_release = NULL;
}

/*
 * A borrower's last reference is gone.  Returns whether its memory may go
 * now, with its mapping to be cleared; otherwise it was left as a husk
 * for the lender to free, its mapping already let go.
 */
static bool borrower_dies(eddy_ctx *ctx)
{
	eddy_ctx *lender = ctx->lender;
	int state = atomic_load_explicit(&ctx->borrow, memory_order_acquire);
	if (state == BORROW_FREE) {
		settled(ctx);
		return true;
	}
	/* Not FREE: the lender has not let go, so it is alive and its
	 * borrower is still this one.  If it is current here, only this
	 * thread can touch the link: plain stores undo it. */
	if (lender == eddy_ctx_now && is_writer(lender)) {
		lender->borrower = NULL;
		lender->map.root_release = NULL;
		if (state == BORROW_BORROWING)
			eddy_hamt_forget(&ctx->map); /* the lender's reference */
		return true;
	}
	/* Once DROPPED is published the lender may free this memory at any
	 * moment, so the mapping is let go before: a root of our own
	 * (DETACHED) is cleared, a borrowed one kept aside, in case the
	 * lender passes its reference on in the meantime (FREE). */
	eddy_hamt borrowed = EDDY_HAMT_EMPTY;
	if (state == BORROW_BORROWING) {
		borrowed.root = ctx->map.root;
		eddy_hamt_forget(&ctx->map);
	} else {
		eddy_hamt_clear(&ctx->map);
	}
	if (atomic_exchange_explicit(&ctx->borrow, BORROW_DROPPED,
				     memory_order_acq_rel) != BORROW_FREE)
		return false; /* a husk now, for the lender to free */
	eddy_hamt_clear(&borrowed);
	return true;
}

static void ctx_destroy(eddy_ctx *ctx)
{
	if (ctx->lender && !borrower_dies(ctx))
		return;
	if (ctx->map.root) /* a lender's root goes to its borrower */
		eddy_hamt_clear(&ctx->map);
	ctx_mem_free(ctx);
}

/* Whether src, this thread's current context, may lend its root to one
 * more copy: not while it borrows one or lends it already.  A husk left
 * in its borrower slot is freed on the way: a dropped borrower never
 * touches its state again. */
static bool can_lend(eddy_ctx *src)
{
	if (!src->map.root || !is_writer(src))
		return false;
	eddy_ctx *b = src->borrower;
	if (b && atomic_load_explicit(&b->borrow, memory_order_acquire) ==
			 BORROW_DROPPED) {
		src->borrower = NULL;
		src->map.root_release = NULL;
		ctx_mem_free(b);
	}
	return !src->map.root_release;
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
	eddy_ctx *lender = eddy_ctx_now;
	if (lender == src && can_lend(lender)) {
		ctx->map.root = lender->map.root;
		ctx->map.count = lender->map.count;
		ctx->map.root_release = borrower_release;
		ctx->lender = lender;
		atomic_store_explicit(&ctx->borrow, BORROW_BORROWING,
				      memory_order_relaxed);
		lender->borrower = ctx;
		lender->map.root_release = lender_release;
	} else {
		eddy_hamt_share(&ctx->map, &src->map);
	}
	memcpy(ctx->cache, src->cache, sizeof ctx->cache);
	memcpy(ctx->cache_stays, src->cache_stays, sizeof ctx->cache_stays);
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
	ctx_destroy(ctx);
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
	/* Without the key, bases of exiting threads leak; nothing else breaks,
	 * as long as nothing is stored under a key that is someone else's. */
	base_key_made = pthread_key_create(&base_key, free_thread_base) == 0;
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
		if (base_key_made)
			pthread_setspecific(base_key, base);
		thread_base = base;
	}
	eddy_ctx_now = base;
	return base;
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

/* Take ctx for this thread, held once: false when it is held anywhere. */
static bool take(eddy_ctx *ctx)
{
	uintptr_t free_ = 0;
	if (!atomic_compare_exchange_strong_explicit(&ctx->owner, &free_,
						     this_thread(),
						     memory_order_acquire,
						     memory_order_relaxed))
		return false;
	ctx->holds = 1;
	return true;
}

/* The enter after take: ctx becomes current, over the one it was. */
static void become_current(eddy_ctx *ctx)
{
	ctx->entered = true;
	ctx->enterer = eddy_ctx_runner;
	if (eddy_ctx_hiding)
		ctx_forget_hidden(ctx);
	ctx->prev = eddy_ctx_now;
	eddy_ctx_now = ctx;
}

/* The leave before the release: what was current before is again. */
static void stop_being_current(eddy_ctx *ctx)
{
	eddy_ctx_now = ctx->prev;
	ctx->prev = NULL;
	ctx->entered = false;
	if (eddy_ctx_hiding && eddy_ctx_now)
		ctx_forget_hidden(eddy_ctx_now);
}

int eddy_ctx_enter(eddy_ctx *ctx)
{
	if (!ctx)
		return -EINVAL;
	if (!take(ctx))
		return -EBUSY;
	become_current(ctx);
	return 0;
}

/* Only a context made current by eddy_ctx_enter can be left: one made
 * current by a switch (a task's, the thread's base) has no enter to undo,
 * and leaving it would drop a hold that its task or thread still needs.
 * And only by the code that entered it: a task that runs in the same
 * context object (SHARE) would take away its parent's enter, and the
 * parent would resume in whatever was current before it. */
int eddy_ctx_leave(eddy_ctx *ctx)
{
	if (!ctx || ctx != eddy_ctx_now || !ctx->entered ||
	    ctx->enterer != eddy_ctx_runner)
		return -EINVAL;
	stop_being_current(ctx);
	return eddy_ctx_release(ctx);
}

/*
 * A context may be lent (eddy_ctx_lend) by a thread that has it entered,
 * a task that offloads from inside a run: then its prev, entered and
 * enterer are the lender's, and this run's enter would overwrite them.
 * So the run keeps them in its frame and puts them back before it lets
 * go, which also holds when a borrower lends it on in turn (a worker
 * calling back into the loop under SHARE): each level restores its own.
 */
int eddy_ctx_run(eddy_ctx *ctx, eddy_fn fn, void *arg, void **result)
{
	if (!ctx || !fn)
		return -EINVAL;
	if (!take(ctx))
		return -EBUSY;
	eddy_ctx *lenders_prev = ctx->prev;
	void *lenders_enterer = ctx->enterer;
	bool lender_entered = ctx->entered;
	become_current(ctx);
	void *r = fn(arg);
	if (ctx == eddy_ctx_now && ctx->entered) { /* fn did not leave it */
		stop_being_current(ctx);
		ctx->prev = lenders_prev;
		ctx->enterer = lenders_enterer;
		ctx->entered = lender_entered;
		eddy_ctx_release(ctx);
	}
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
	static const eddy_hamt empty = { .root = NULL };
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
