/*
 * The thread's proof of concept with plain threads: one context, entered
 * by a new thread for each value.
 *
 * When the thread worried that a context is only a snapshot, one
 * participant answered with a short experiment: make one Context, and for
 * two values in turn start a thread that runs a function inside that
 * Context, then look at the Context again from the main thread.  What the
 * thread set is there afterwards, because the thread entered the Context
 * object itself rather than a copy of it.
 *
 * The same experiment with pthreads and eddy_ctx_run, then its
 * counterpart where each thread gets a fresh copy (asyncio.to_thread's
 * way), where nothing comes back.  That is the difference between eddy's
 * SHARE and COPY policies, with no loop and no tasks.
 *
 * Exit status 0 when the results are the ones the thread predicts.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "eddy.h"

static eddy_var *cvar;

/* cvar's value for printing, in the current context or in ctx. */
static const char *current_value(void)
{
	return eddy_var_get_or(cvar, "<unset>");
}

static const char *value_in(const eddy_ctx *ctx)
{
	void *value;
	return eddy_ctx_get(ctx, cvar, &value) ? "<unset>" : value;
}

/* One thread's visit: the context it runs in, the value it sets, what it
 * saw there before its set, and what eddy_ctx_run returned. */
struct visit {
	eddy_ctx *ctx;
	const char *value;
	const char *saw;
	int err;
};

/* Runs inside the context: read cvar, then set it. */
static void *run_in_thread(void *arg)
{
	struct visit *v = arg;
	v->saw = current_value();
	eddy_var_set(cvar, (void *)v->value, NULL);
	return NULL;
}

/* The thread's body: Thread(target=context.run, args=[run_in_thread]). */
static void *thread_main(void *arg)
{
	struct visit *v = arg;
	v->err = eddy_ctx_run(v->ctx, run_in_thread, v, NULL);
	return NULL;
}

/* One visit on a new thread, waited for. */
static int visit_on_new_thread(struct visit *v)
{
	pthread_t thread;
	int err = pthread_create(&thread, NULL, thread_main, v);
	if (err)
		return -err;
	pthread_join(thread, NULL);
	return v->err;
}

static const char *const values[] = { "foo", "bar" };
enum { VALUES = sizeof values / sizeof values[0] };

/* What a thread enters: the context itself, or a fresh copy of it.  Each
 * returns a reference that the caller drops. */
typedef eddy_ctx *(*entered_fn)(eddy_ctx *context);

static eddy_ctx *the_context_itself(eddy_ctx *context)
{
	return eddy_ctx_ref(context);
}

static eddy_ctx *a_fresh_copy(eddy_ctx *context)
{
	return eddy_ctx_copy(context);
}

/*
 * In a new context: for each value, a new thread runs run_in_thread in
 * what `entered` makes of the context, and the main thread then reads
 * cvar in the context itself (context[cvar]), into seen_after[i].
 */
static int experiment(entered_fn entered, const char *seen_after[VALUES])
{
	eddy_ctx *context = eddy_ctx_new();
	int err = context ? 0 : -ENOMEM;
	for (int i = 0; i < VALUES && !err; i++) {
		struct visit v = { entered(context), values[i], NULL, 0 };
		err = v.ctx ? visit_on_new_thread(&v) : -ENOMEM;
		eddy_ctx_unref(v.ctx);
		if (err)
			break;
		seen_after[i] = value_in(context);
		printf("  thread %d: saw cvar=%s, set cvar=%s; "
		       "the context then has cvar=%s\n",
		       i + 1, v.saw, v.value, seen_after[i]);
	}
	eddy_ctx_unref(context);
	return err;
}

static int differs;

static void expect(const char *what, const char *got, const char *want)
{
	if (strcmp(got, want)) {
		printf("differs from the thread: %s is %s, expected %s\n",
		       what, got, want);
		differs = 1;
	}
}

int main(void)
{
	cvar = eddy_var_new("cvar");
	if (!cvar)
		return 1;
	const char *shared[VALUES], *copied[VALUES];

	puts("One context, entered by a new thread for each value "
	     "(the thread's PoC):");
	int err = experiment(the_context_itself, shared);
	if (!err) {
		puts("A fresh copy of the context for each thread "
		     "(asyncio.to_thread's way):");
		err = experiment(a_fresh_copy, copied);
	}
	if (err) {
		printf("forum_thread_poc: %s\n", eddy_strerror(err));
		return 1;
	}

	const char *main_own = current_value();
	printf("The main thread's own context: cvar=%s\n", main_own);

	expect("the shared context after thread 1", shared[0], "foo");
	expect("the shared context after thread 2", shared[1], "bar");
	expect("the copied-from context after thread 1", copied[0], "<unset>");
	expect("the copied-from context after thread 2", copied[1], "<unset>");
	expect("the main thread's own context", main_own, "<unset>");
	if (!differs)
		puts("\nA thread's changes live in the context object it "
		     "entered: seen afterwards\nwhen that is the context "
		     "itself (SHARE), lost with a copy (COPY).");
	eddy_var_free(cvar);
	return differs;
}
