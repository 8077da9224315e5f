/*
 * Running the current context from inside it, and running a copy.
 *
 * Asked for a current_context() to pass to run_in_executor, a core
 * developer replied that contexts are immutable maps, replaced at every
 * set, so even current_context().run(func) would leave the calling thread
 * unaffected by what func sets.  In eddy, as in CPython, the question
 * never gets that far: the current context is entered, so running it
 * again fails with -EBUSY (PEP 567's RuntimeError).  What does run is a
 * copy, and a copy's changes stay in the copy, since the caller keeps its
 * own context object; a merge is how they come back, and it is what the
 * MERGE policy does at a join.
 *
 * No loop here: this is ctx/ alone, on the main thread.
 *
 * Exit status 0 when the results are the ones predicted.
 */
#include <stdio.h>
#include <string.h>

#include "eddy.h"

static eddy_var *user;
static int differs;

static void expect(const char *what, const char *got, const char *want)
{
	if (strcmp(got, want)) {
		printf("differs: %s is %s, expected %s\n", what, got, want);
		differs = 1;
	}
}

static const char *user_now(void)
{
	return eddy_var_get_or(user, "<unset>");
}

static const char *user_in(const eddy_ctx *ctx)
{
	void *name;
	return eddy_ctx_get(ctx, user, &name) ? "<unset>" : name;
}

static void *set_adrian(void *unused)
{
	(void)unused;
	eddy_var_set(user, "adrian", NULL);
	return NULL;
}

/* Say what a call returned and what user is now in the caller, and
 * compare both with what was predicted. */
static void report(const char *call, int err, int predicted,
		   const char *user_predicted)
{
	printf("\n%s: %s\n", call, err == -EBUSY ? "-EBUSY" : err == 0 ? "0"
	       : err == 1 ? "1 (variable merged)" : eddy_strerror(err));
	printf("  the caller's context: user=%s\n", user_now());
	if (err != predicted) {
		printf("differs: %s returned %d, expected %d\n", call, err,
		       predicted);
		differs = 1;
	}
	expect("user in the caller", user_now(), user_predicted);
}

int main(void)
{
	user = eddy_var_new("user");
	if (!user || eddy_var_set(user, "guest", NULL))
		return 1;
	printf("The caller's context: user=%s\n", user_now());

	/* ctx.run on the context we are in: refused, nothing changes. */
	int err = eddy_ctx_run(eddy_ctx_current(), set_adrian, NULL, NULL);
	report("eddy_ctx_run(eddy_ctx_current(), set_adrian)", err, -EBUSY,
	       "guest");

	/* A copy runs, and its set stays in the copy. */
	eddy_ctx *snapshot = eddy_ctx_copy_current();
	eddy_ctx *copy = snapshot ? eddy_ctx_copy(snapshot) : NULL;
	err = copy ? eddy_ctx_run(copy, set_adrian, NULL, NULL) : -ENOMEM;
	report("eddy_ctx_run(a copy, set_adrian)", err, 0, "guest");
	printf("  the copy: user=%s\n", copy ? user_in(copy) : "<none>");
	expect("user in the copy", copy ? user_in(copy) : "<none>", "adrian");

	/* A merge brings the copy's changes back (MERGE does it at a join). */
	err = copy ? eddy_ctx_merge(eddy_ctx_current(), copy, snapshot)
		   : -ENOMEM;
	report("eddy_ctx_merge(the caller's, the copy, its snapshot)", err, 1,
	       "adrian");

	eddy_ctx_unref(copy);
	eddy_ctx_unref(snapshot);
	if (!differs)
		puts("\nThe current context cannot be run again from inside "
		     "it;\na copy can, and its changes come back only when "
		     "merged.");
	eddy_var_free(user);
	return differs;
}
