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

/*
 * Per-variable rules, beyond PEP 567 (docs/ctx.md, "Variable rules").  A
 * spawn policy decides how a whole context flows between a task and the
 * work it starts; these options override it for one variable.
 *
 * Propagation: what a child (a task, a worker thread, a call into a loop
 * from another thread) sees of the parent's value.
 *   INHERIT     the policy decides (COPY, SHARE, MERGE): PEP 567's way.
 *   TASK_LOCAL  never passed on: a child starts with the variable unset
 *               (or at its default) whatever the policy, and the child's
 *               own value never comes back under MERGE.  Under SHARE the
 *               child reads it as unset and its set or reset of it is
 *               -EPERM: the one value in the shared object is the
 *               parent's.  A per-request deadline, a transaction handle.
 *   LOOP_ONLY   never crosses to another thread: a worker thread, or a
 *               task that runs a call from another thread, sees it unset
 *               (-EPERM to set under SHARE), and a value set on the other
 *               side never comes back.  Between tasks of one loop it
 *               behaves as INHERIT.  A handle that is not thread-safe.
 *
 * Merge rule: what MERGE does with a variable the child changed, when the
 * joiner changed it too since the fork.  A variable only the child changed
 * takes the child's value under every rule but NEVER.
 *   CHILD_WINS      the child's value (the default; MERGE as before).
 *   PARENT_WINS     the joiner keeps its value; the child's is dropped.
 *   REDUCE          reduce(parent, child, fork, &out, arg) decides, even
 *                   when both sides made it the same value (two +1s are
 *                   +2); a negative errno from it fails the whole merge.
 *   CONFLICT_ERROR  the whole merge fails with -EDDY_ECONFLICT, unless
 *                   both sides made it the same value.
 *   NEVER           the child's change never comes back (a span id that
 *                   must stay the parent's): not mergeable.
 * A failed merge changes nothing in the joiner's context (all or nothing);
 * eddy_ctx_conflict_var names the variable that failed it.
 */
enum eddy_propagate {
	EDDY_PROPAGATE_INHERIT = 0,
	EDDY_PROPAGATE_TASK_LOCAL,
	EDDY_PROPAGATE_LOOP_ONLY,
};

enum eddy_merge_rule {
	EDDY_MERGE_CHILD_WINS = 0,
	EDDY_MERGE_PARENT_WINS,
	EDDY_MERGE_REDUCE,
	EDDY_MERGE_CONFLICT_ERROR,
	EDDY_MERGE_NEVER,
};

/*
 * A reducer: the merged value from the joiner's (parent), the child's and
 * the one both started from (fork).  An unset side is passed as the
 * variable's default (NULL without one).  0 and *out, or a negative errno
 * that fails the merge.  It runs inside the merge, in the joiner's thread,
 * and must not set variables.  *out is a value like any other: eddy never
 * frees it, and drops it unused when a later variable fails the merge
 * (docs/ctx.md, "Variable rules").
 */
typedef int (*eddy_reduce_fn)(void *parent, void *child, void *fork,
			      void **out, void *arg);

/* Options of eddy_var_new_opts; a zeroed struct is eddy_var_new's var. */
typedef struct eddy_var_opts {
	enum eddy_propagate propagate;
	enum eddy_merge_rule merge;
	eddy_reduce_fn reduce; /* REDUCE's reducer, called with reduce_arg */
	void *reduce_arg;
	int has_default;       /* non-zero: get returns dflt while unset */
	void *dflt;
} eddy_var_opts;

/*
 * A variable with rules (opts NULL: eddy_var_new).  eddy copies name and
 * opts.  NULL with errno ENOMEM, or EINVAL (name NULL, a value out of
 * range, REDUCE without a reducer).  A variable without rules costs
 * nothing more than before: only variables that carry rules are looked at
 * by copies for children and by merges.
 */
eddy_var *eddy_var_new_opts(const char *name, const eddy_var_opts *opts);

/*
 * A merge rule failed: the joiner and a child changed a variable whose
 * rule is EDDY_MERGE_CONFLICT_ERROR.  Beyond the errno range, below 4096,
 * so that it reads as an error wherever -errno values are told apart.
 */
#define EDDY_ECONFLICT 1024

/*
 * The variable whose rule failed this thread's last failed merge (a
 * conflict, or its reducer's error), or NULL when none failed yet; the
 * pointer is only good while that variable lives.
 * eddy_strerror(-EDDY_ECONFLICT) names it too, in this thread, from a
 * copy of its name (up to 127 bytes) taken at the failure, so the
 * sentence stays right after the variable is freed.
 */
eddy_var *eddy_ctx_conflict_var(void);

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
 * the current context of this thread and was made so by eddy_ctx_enter (a
 * task's context, current by the task switch, cannot be left), by the same
 * code: the same task, or thread code outside tasks (a SHARE child cannot
 * leave the context its parent entered and it runs in).
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
 * thread must not run in the context between the two.  A context this
 * thread entered stays entered here across the loan when the borrower
 * runs in it with eddy_ctx_run (as eddy's workers do): after reclaim,
 * eddy_ctx_leave goes back to what was current before this thread's
 * enter.  A borrower's eddy_ctx_enter and _leave take that enter over.
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
 * about (changes x log32 n).  Variables with a merge rule follow it
 * (eddy_var_new_opts), TASK_LOCAL ones never come back.  Returns how many
 * variables it applied, or -ENOMEM, -EDDY_ECONFLICT or a reducer's error
 * with `into` unchanged, -EINVAL for a NULL argument.  `into` must be
 * entered by this thread or by none.
 */
int eddy_ctx_merge(eddy_ctx *into, const eddy_ctx *from, const eddy_ctx *base);

/*
 * For runtimes: the boundary a child crosses, as a set of bits that say
 * which variables stay behind (a TASK_LOCAL one crosses no boundary, a
 * LOOP_ONLY one no thread's).  Bits combine: a crossing inside code that
 * already crossed a thread is still a thread crossing.
 */
enum eddy_crossing {
	EDDY_CROSS_NONE = 0,
	EDDY_CROSS_TASK = 1,   /* a child task on the same thread */
	EDDY_CROSS_THREAD = 3, /* another thread: task-local and loop-only */
};

/*
 * A copy of ctx for a child across `crossing`: the variables that must not
 * cross it are left out.  O(1), as eddy_ctx_copy, when ctx maps no such
 * variable; else it also walks ctx's mapping, O(n).  The caller owns it.
 * NULL with errno ENOMEM or EINVAL.
 */
eddy_ctx *eddy_ctx_copy_crossing(const eddy_ctx *ctx, unsigned crossing);

/*
 * eddy_ctx_merge for a child that crossed `crossing`: what stayed behind
 * does not come back either.  eddy_ctx_merge is this with EDDY_CROSS_TASK.
 */
int eddy_ctx_merge_crossing(eddy_ctx *into, const eddy_ctx *from,
			    const eddy_ctx *base, unsigned crossing);

/*
 * For code that runs in its parent's context object itself (SHARE): from
 * now on this thread reads the variables that must not cross `crossing`
 * as unset, and a set or reset of them is -EPERM.  Returns the previous
 * crossing, to restore it with another call.  The hiding is in the
 * eddy_var calls only: eddy_ctx_get and iteration show a context as it is.
 */
unsigned eddy_ctx_set_crossing(unsigned crossing);
/* This thread's crossing: what code here must not see. */
unsigned eddy_ctx_crossing(void);

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
