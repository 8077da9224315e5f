/*
 * PEP 567 in C, in one page: a variable set in a context is seen by the
 * code that runs in it, a copy is isolated from the original in both
 * directions, and a token undoes a set.
 */
#include <stdio.h>

#include "eddy.h"

static eddy_var *user;

static void show(const char *where)
{
	void *val;
	int err = eddy_var_get(user, &val);
	printf("%-28s user=%s\n", where, err ? "<unset>" : (char *)val);
}

static void *in_copy(void *arg)
{
	(void)arg;
	show("copy, before its own set:");
	eddy_var_set(user, "bob", NULL);
	show("copy, after setting bob:");
	return NULL;
}

int main(void)
{
	user = eddy_var_new("user");
	if (!user)
		return 1;
	show("start:");

	eddy_token *tok;
	eddy_var_set(user, "adrian", &tok);
	show("after setting adrian:");

	eddy_ctx *copy = eddy_ctx_copy_current();
	eddy_ctx_run(copy, in_copy, NULL, NULL);
	show("back, the copy changed:");

	eddy_var_reset(user, tok);
	eddy_token_free(tok);
	show("after reset:");

	eddy_ctx_unref(copy);
	eddy_var_free(user);
	return 0;
}
