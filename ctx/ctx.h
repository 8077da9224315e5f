/*
 * eddy ctx: PEP 567 context variables in C.
 *
 *   ContextVar(name[, default])  eddy_var_new / eddy_var_new_default
 *   var.get([default])           eddy_var_get / eddy_var_get_or
 *   var.set(v) -> Token          eddy_var_set
 *   var.reset(token)             eddy_var_reset
 *   Context(), copy_context()    eddy_ctx_new, eddy_ctx_copy_current
 *   ctx.run(fn, arg)             eddy_ctx_run
 *   ctx[var], var in ctx, len    eddy_ctx_get, eddy_ctx_len
 *   iter(ctx.items())            eddy_ctx_iter_begin / _next / _end
 *
 * Values are void pointers that eddy stores and never dereferences or frees:
 * the caller owns every value and keeps it alive while a context, token or
 * iterator may hand it back.  docs/ctx.md explains ownership and threads.
 *
 * Threads.  Each thread has its own current context.  A context is
 * changed only by the thread that has it entered; reading one (get, len,
 * iteration, copy) from another thread is safe while no thread has it
 * entered, as for any object that one thread may be changing.  A thread
 * leaves every context it entered before it exits.
 */
#ifndef EDDY_CTX_H
#define EDDY_CTX_H

#pragma GCC visibility push(default)

#include <stddef.h>
#include <stdint.h>

#include "common.h"

typedef struct eddy_ctx eddy_ctx;
typedef struct eddy_var eddy_var;
typedef struct eddy_token eddy_token;

/* ---- Variables ------------------------------------------------------ */

/*
 * A new context variable.  eddy copies name.  A variable is meant to live
 * as long as the program, like a ContextVar created at module level; free
 * it with eddy_var_free only when no context maps it and no token refers
 * to it (eddy does not check, as pthread_key_delete does not).
 * NULL with errno ENOMEM or EINVAL (name is NULL).
 */
eddy_var *eddy_var_new(const char *name);
/* The same with a default that get returns while the variable is unset. */
eddy_var *eddy_var_new_default(const char *name, void *dflt);
void eddy_var_free(eddy_var *var);

/* The name given at creation; owned by the variable. */
const char *eddy_var_name(const eddy_var *var);

/*
 * The variable's value in the current context: 0 and *out set, or -ENOENT
 * (LookupError) when it is unset there and has no default.  -EINVAL for a
 * NULL var or out.
 */
int eddy_var_get(const eddy_var *var, void **out);

/*
 * PEP 567's var.get(default): the value in the current context, else
 * fallback (which wins over the variable's own default, as in CPython).
 */
void *eddy_var_get_or(const eddy_var *var, void *fallback);

/*
 * Set the variable in the current context.  With tok non-NULL, *tok
 * receives a token for eddy_var_reset that the caller frees with
 * eddy_token_free.  -ENOMEM leaves the context as it was.
 */
int eddy_var_set(eddy_var *var, void *value, eddy_token **tok);

/*
 * Restore the variable to what it was before the set that made tok: its old
 * value, or unset.  -EALREADY when tok was used already (checked first, as
 * CPython does), -EINVAL for a NULL token, another variable's token, or a
 * token made in another context.  The token stays valid until freed.
 */
int eddy_var_reset(eddy_var *var, eddy_token *tok);

/* ---- Tokens --------------------------------------------------------- */

/* The variable the token was made for. */
eddy_var *eddy_token_var(const eddy_token *tok);
/* The value before the set: 0 and *out, or -ENOENT when it was unset
 * (Token.MISSING). */
int eddy_token_old_value(const eddy_token *tok, void **out);
/* Frees the token and its reference to the context it was made in. */
void eddy_token_free(eddy_token *tok);

/* ---- Contexts ------------------------------------------------------- */

/*
 * A new empty context with one reference, owned by the caller
 * (eddy_ctx_unref).  NULL with errno ENOMEM.
 */
eddy_ctx *eddy_ctx_new(void);

/* A copy of the current context's mapping, in O(1); the caller owns it. */
eddy_ctx *eddy_ctx_copy_current(void);

/* A copy of ctx's mapping, in O(1) (Context.copy()); the caller owns it. */
eddy_ctx *eddy_ctx_copy(const eddy_ctx *ctx);

/*
 * The context this thread runs in now, borrowed: valid while it stays
 * entered.  A thread that never entered one gets its own empty base
 * context, freed when the thread exits.  NULL with errno ENOMEM.
 */
eddy_ctx *eddy_ctx_current(void);

/* A number naming ctx in traces and dumps, unique among the process's
 * contexts (never reused); 0 for NULL.  Not in creation order across
 * threads. */
uint64_t eddy_ctx_id(const eddy_ctx *ctx);

eddy_ctx *eddy_ctx_ref(eddy_ctx *ctx);
/* Drops a reference; the last one frees the context.  NULL is ignored. */
void eddy_ctx_unref(eddy_ctx *ctx);

/*
 * Run fn(arg) with ctx as the current context, then restore the previous
 * one.  *result (when result is non-NULL) receives fn's return value.
 * Nestable with other contexts.  -EBUSY when ctx is already entered, by
 * this thread or any other (RuntimeError).  The caller keeps a reference
 * to ctx for the duration of the call.
 */
int eddy_ctx_run(eddy_ctx *ctx, eddy_fn fn, void *arg, void **result);

/*
 * The two halves of eddy_ctx_run, for runtimes that switch contexts around
 * code they do not call directly (PyContext_Enter/Exit in CPython's C API).
 * enter: -EBUSY when ctx is entered anywhere.  leave: -EINVAL unless ctx is
 * the current context of this thread.
 */
int eddy_ctx_enter(eddy_ctx *ctx);
int eddy_ctx_leave(eddy_ctx *ctx);

/*
 * For task runtimes (task/ uses them): hold a context on behalf of code
 * that will run in it on this thread, possibly several holders at once,
 * and make a context current without entering it.
 *
 * claim: -EBUSY when another thread has ctx entered; succeeds when this
 * thread already holds it.  While held, eddy_ctx_enter and eddy_ctx_run
 * of ctx return -EBUSY everywhere, as for an entered context.
 * release: drops one hold; -EINVAL when this thread holds none.
 * swap_current: sets this thread's current context, returns the previous;
 * the caller keeps the claim that makes this legitimate.
 */
int eddy_ctx_claim(eddy_ctx *ctx);
int eddy_ctx_release(eddy_ctx *ctx);
eddy_ctx *eddy_ctx_swap_current(eddy_ctx *ctx);

/*
 * Hand a context this thread holds to another thread for a while (a
 * worker running in a task's context under SHARE): lend gives up every
 * hold at once and returns how many there were (> 0), or -EINVAL when
 * this thread holds none.  While lent, any thread may enter it once.
 * reclaim takes it back with that many holds after the borrower left:
 * 0, or -EBUSY while another thread still has it entered.  Code of this
 * thread must not run in the context between the two.
 */
int eddy_ctx_lend(eddy_ctx *ctx);
int eddy_ctx_reclaim(eddy_ctx *ctx, int holds);

/* ctx[var]: 0 and *out (out may be NULL: `var in ctx`), or -ENOENT when the
 * variable is unset in ctx; defaults do not count, as in CPython. */
int eddy_ctx_get(const eddy_ctx *ctx, const eddy_var *var, void **out);

/* len(ctx): how many variables ctx maps. */
size_t eddy_ctx_len(const eddy_ctx *ctx);

/*
 * Copy-then-merge: apply to `into` every change that `from` made relative
 * to `base` (a snapshot `from` started as): each variable whose value in
 * `from` differs from `base` takes `from`'s value in `into`, or becomes
 * unset there if `from` removed it.  Variables `from` did not change keep
 * into's values.  The walk skips what `from` and `base` share, so it costs
 * about (changes x log32 n).  Returns how many variables it applied, or
 * -ENOMEM with `into` unchanged, -EINVAL for a NULL argument.  `into` must
 * be entered by this thread or by none.
 */
int eddy_ctx_merge(eddy_ctx *into, const eddy_ctx *from, const eddy_ctx *base);

/*
 * Iteration over a context's (variable, value) pairs, in no fixed order.
 * The iterator holds a snapshot: later sets do not disturb it.  next
 * returns 1 with a pair, 0 at the end (which releases the snapshot);
 * eddy_ctx_iter_end releases it early and is harmless after the end.
 *
 *   eddy_ctx_iter it;
 *   eddy_var *var; void *val;
 *   eddy_ctx_iter_begin(&it, ctx);
 *   while (eddy_ctx_iter_next(&it, &var, &val)) ...
 */
typedef struct eddy_ctx_iter {
	/* private: a depth-first walk of the mapping, holding a snapshot */
	void *snapshot;
	const void *node[8];
	unsigned pos[8];
	int depth;
} eddy_ctx_iter;

void eddy_ctx_iter_begin(eddy_ctx_iter *it, const eddy_ctx *ctx);
int eddy_ctx_iter_next(eddy_ctx_iter *it, eddy_var **var, void **value);
void eddy_ctx_iter_end(eddy_ctx_iter *it);

#pragma GCC visibility pop

#endif
