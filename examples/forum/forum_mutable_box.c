/*
 * The mutable-container workaround, and where it stops helping.
 *
 * The designer of contextvars suggested in the thread a way to get values
 * back with no new machinery: keep a mutable container in the variable (a
 * one-element list, say) and change what is inside it instead of calling
 * set, since a copied context still points at the same container.  A
 * framework author answered that frameworks cannot make every library do
 * that: a library that calls set itself puts a new value in its own copy
 * of the context, and the container the framework watches stays empty.
 *
 * Both halves, across a worker thread with COPY (asyncio.to_thread's
 * semantics): the middleware puts an empty box in `user`; an endpoint that
 * fills the box in is seen, a library that sets `user` to a box of its own
 * is not.  The same library under SHARE or MERGE is seen again, which is
 * what eddy's policies are for.
 *
 * Exit status 0 when the results are the ones the thread predicts.
 */
#include <stdio.h>
#include <string.h>

#include "eddy.h"

/* What the variable holds: a box whose contents anyone can change. */
struct box {
	const char *name;
};

static eddy_var *user; /* a struct box *, owned by whoever set it */

/* An endpoint that knows the convention: it fills in the box it finds. */
static void *endpoint_fills_box(void *unused)
{
	(void)unused;
	void *found;
	if (eddy_var_get(user, &found))
		return (void *)(long)-ENOENT; /* nobody put a box there */
	struct box *box = found;
	box->name = "adrian";
	return NULL;
}

/* A library that knows nothing of boxes: it sets the variable to a box of
 * its own (arg, owned by the caller), as any user of PEP 567 may. */
static void *library_sets_user(void *arg)
{
	struct box *its_own = arg;
	its_own->name = "adrian";
	return (void *)(long)eddy_var_set(user, its_own, NULL);
}

/* What the middleware finds in `user`, in words, into said. */
static void describe(const struct box *its_own, char *said, size_t size)
{
	void *found;
	if (eddy_var_get(user, &found)) {
		snprintf(said, size, "LookupError");
		return;
	}
	const struct box *box = found;
	const char *whose = box == its_own ? "the middleware's"
					   : "the library's";
	if (box->name)
		snprintf(said, size, "user=%s (in %s box)", box->name, whose);
	else
		snprintf(said, size, "user=<%s empty box>", whose);
}

/*
 * The middleware: put an empty box in `user`, run the endpoint on a worker
 * thread with policy (handing it a box for a library to set, if it is
 * one), then say what `user` holds.  The reset takes the box out again,
 * so that each request starts as the first did.
 */
static void middleware(eddy_fn endpoint, enum eddy_policy policy,
		       char *said, size_t size)
{
	struct box box = { NULL };
	struct box librarys = { NULL };
	eddy_token *tok;
	int err = eddy_var_set(user, &box, &tok);
	if (err) {
		snprintf(said, size, "error: %s", eddy_strerror(err));
		return;
	}
	void *result;
	err = eddy_to_thread(endpoint, &librarys, policy, &result);
	if (!err)
		err = (int)(long)result;
	if (err)
		snprintf(said, size, "error: %s", eddy_strerror(err));
	else
		describe(&box, said, size);
	eddy_var_reset(user, tok);
	eddy_token_free(tok);
}

static const struct request {
	const char *what;
	eddy_fn endpoint;
	enum eddy_policy policy;
	const char *predicted;
} requests[] = {
	{ "the endpoint fills in the box", endpoint_fills_box, EDDY_COPY,
	  "user=adrian (in the middleware's box)" },
	{ "a library sets user itself", library_sets_user, EDDY_COPY,
	  "user=<the middleware's empty box>" },
	{ "a library sets user itself", library_sets_user, EDDY_SHARE,
	  "user=adrian (in the library's box)" },
	{ "a library sets user itself", library_sets_user, EDDY_MERGE,
	  "user=adrian (in the library's box)" },
};
enum { REQUESTS = sizeof requests / sizeof requests[0] };

static const char *const policy_names[] = {
	[EDDY_COPY] = "copy", [EDDY_SHARE] = "share", [EDDY_MERGE] = "merge",
};

static void *main_task(void *arg)
{
	int *differs = arg;
	printf("%-31s%-8s%s\n", "in the worker thread", "policy",
	       "the middleware then sees");
	for (int i = 0; i < REQUESTS; i++) {
		const struct request *r = &requests[i];
		char said[96];
		middleware(r->endpoint, r->policy, said, sizeof said);
		printf("%-31s%-8s%s\n", r->what, policy_names[r->policy], said);
		if (strcmp(said, r->predicted)) {
			printf("differs from the thread: expected %s\n",
			       r->predicted);
			*differs = 1;
		}
	}
	return NULL;
}

int main(void)
{
	user = eddy_var_new("user");
	if (!user)
		return 1;
	int differs = 0;
	int err = eddy_run(main_task, &differs, NULL);
	if (err) {
		printf("forum_mutable_box: %s\n", eddy_strerror(err));
		return 1;
	}
	if (!differs)
		puts("\nA box comes back through a copy; a set does not.\n"
		     "SHARE and MERGE bring back both.");
	eddy_var_free(user);
	return differs;
}
