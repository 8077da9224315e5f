/*
 * Copy-then-merge: what MERGE does when parent and child both changed a
 * variable, and what a reset in the child means.
 *
 * One of the framework authors in the thread asked for a way to get the
 * current context and, should that be refused, at least for a helper that
 * merges one context into another.  A merge has to answer two questions
 * that plain copying never meets:
 *
 *   - the parent changed some variables while the child ran, and the child
 *     changed some: which value wins?  eddy's rule: the child's changes
 *     (every variable whose value differs from the snapshot it started
 *     from) are applied; variables the child did not change keep the
 *     parent's values, whatever the parent did meanwhile;
 *   - a reset: a child that set a variable and reset it with its token has
 *     changed nothing, so the parent's value stands.  Removing a variable
 *     the parent set takes the parent's own token, which is valid only in
 *     the parent's context object: a SHARE child can use it, and the
 *     variable disappears from the parent; a MERGE child runs in a copy,
 *     where the token is refused (-EINVAL, PEP 567's ValueError).
 *
 * Exit status 0 when the results are the ones predicted.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "eddy.h"

static eddy_var *user, *lang, *theme, *trace, *session;
static int differs;

static void expect(const char *what, const char *got, const char *want)
{
	if (strcmp(got, want)) {
		printf("differs: %s is %s, expected %s\n", what, got, want);
		differs = 1;
	}
}

/* True, after saying so, when a call that had to succeed failed. */
static bool failed(const char *call, int err)
{
	if (err) {
		printf("differs: %s failed: %s\n", call, eddy_strerror(err));
		differs = 1;
	}
	return err != 0;
}

static const char *value_of(const eddy_var *var)
{
	return eddy_var_get_or(var, "<unset>");
}

static eddy_task *spawn(eddy_fn fn, void *arg, enum eddy_policy policy)
{
	return eddy_spawn_with(fn, arg, &(eddy_spawn_opts){ .policy = policy });
}

/* ---- 1. both changed: the child wins; untouched: the parent's ---------- */

/* The table: each variable (a row) at four moments (the columns). */
static eddy_var **const vars[] = { &user, &lang, &theme };
enum { VARS = sizeof vars / sizeof vars[0] };
enum { SNAPSHOT, MEANWHILE, CHILD_END, AFTER_JOIN, MOMENTS };
static const char *table[MOMENTS][VARS];

static void record(int moment)
{
	for (int i = 0; i < VARS; i++)
		table[moment][i] = value_of(*vars[i]);
}

static void *child_sets_user_and_lang(void *unused)
{
	(void)unused;
	eddy_var_set(user, "adrian", NULL);
	eddy_var_set(lang, "de", NULL);
	record(CHILD_END);
	return NULL;
}

/* The parent spawns a MERGE child, then changes lang and theme. */
static int parent_and_child_both_change(void)
{
	eddy_task *child = spawn(child_sets_user_and_lang, NULL, EDDY_MERGE);
	if (!child)
		return -errno;
	/* The child starts only when the parent suspends (in the join), so
	 * these sets come after the child's snapshot and before its own. */
	eddy_var_set(lang, "fr", NULL);
	eddy_var_set(theme, "dark", NULL);
	record(MEANWHILE);
	return eddy_join(child, NULL);
}

static void both_changed(void)
{
	eddy_var_set(user, "guest", NULL);
	eddy_var_set(lang, "en", NULL);
	eddy_var_set(theme, "light", NULL);
	record(SNAPSHOT);
	if (failed("the MERGE child", parent_and_child_both_change()))
		return;
	record(AFTER_JOIN);

	puts("A MERGE child; the parent changes lang and theme after "
	     "spawning it:");
	printf("  %-7s%-10s%-18s%-14s%s\n", "var", "snapshot",
	       "parent meanwhile", "child's end", "parent after the join");
	for (int i = 0; i < VARS; i++)
		printf("  %-7s%-10s%-18s%-14s%s\n", eddy_var_name(*vars[i]),
		       table[SNAPSHOT][i], table[MEANWHILE][i],
		       table[CHILD_END][i], table[AFTER_JOIN][i]);
	expect("user after the join (only the child changed it)",
	       table[AFTER_JOIN][0], "adrian");
	expect("lang after the join (both changed it)", table[AFTER_JOIN][1],
	       "de");
	expect("theme after the join (only the parent changed it)",
	       table[AFTER_JOIN][2], "dark");
}

/* ---- 2. resets --------------------------------------------------------- */

static void *child_sets_and_resets_trace(void *unused)
{
	(void)unused;
	eddy_token *tok;
	if (eddy_var_set(trace, "child-trace", &tok))
		return NULL;
	eddy_var_reset(trace, tok);
	eddy_token_free(tok);
	return NULL;
}

/* The child sets trace and resets it: no change, so what the parent set
 * meanwhile stands. */
static void set_then_reset_is_no_change(void)
{
	eddy_task *child = spawn(child_sets_and_resets_trace, NULL, EDDY_MERGE);
	eddy_var_set(trace, "parent-trace", NULL);
	if (failed("the MERGE child", child ? eddy_join(child, NULL) : -errno))
		return;
	puts("\nA MERGE child sets trace (unset in its snapshot) and resets "
	     "it; the parent\nsets trace=parent-trace meanwhile:");
	printf("  after the join, trace=%s\n", value_of(trace));
	expect("trace after the join", value_of(trace), "parent-trace");
}

struct reset_by_child {
	eddy_token *parents_token;
	int err;
};

static void *child_resets_session(void *arg)
{
	struct reset_by_child *r = arg;
	r->err = eddy_var_reset(session, r->parents_token);
	return NULL;
}

static const char *outcome(int err)
{
	return err == -EINVAL ? "-EINVAL" : err == 0 ? "0" : "another error";
}

/* The parent sets session (unset before) with a token; a child resets it
 * with that token. */
static void reset_parents_token(enum eddy_policy policy, const char *name,
				const char *reset_predicted,
				const char *session_predicted)
{
	struct reset_by_child r = { NULL, 0 };
	if (eddy_var_set(session, "s-1", &r.parents_token))
		return;
	eddy_task *child = spawn(child_resets_session, &r, policy);
	if (!failed("the child", child ? eddy_join(child, NULL) : -errno)) {
		printf("  in a %s child: reset returns %s; after the join, "
		       "session=%s\n", name, outcome(r.err),
		       value_of(session));
		expect("the child's reset", outcome(r.err), reset_predicted);
		expect("session after the join", value_of(session),
		       session_predicted);
	}
	/* Back to unset for the next run (harmless if the child did it). */
	eddy_var_reset(session, r.parents_token);
	eddy_token_free(r.parents_token);
}

static void *main_task(void *unused)
{
	(void)unused;
	both_changed();
	set_then_reset_is_no_change();
	puts("\nThe parent sets session=s-1 with a token; a child resets it "
	     "with that token:");
	reset_parents_token(EDDY_SHARE, "SHARE", "0", "<unset>");
	reset_parents_token(EDDY_MERGE, "MERGE", "-EINVAL", "s-1");
	return NULL;
}

int main(void)
{
	user = eddy_var_new("user");
	lang = eddy_var_new("lang");
	theme = eddy_var_new("theme");
	trace = eddy_var_new("trace");
	session = eddy_var_new("session");
	if (!user || !lang || !theme || !trace || !session)
		return 1;
	int err = eddy_run(main_task, NULL, NULL);
	if (err) {
		printf("forum_merge_rules: %s\n", eddy_strerror(err));
		return 1;
	}
	if (!differs)
		puts("\nMERGE applies what the child changed and nothing else; "
		     "where both changed a\nvariable, the child's value wins.");
	eddy_var_free(user);
	eddy_var_free(lang);
	eddy_var_free(theme);
	eddy_var_free(trace);
	eddy_var_free(session);
	return differs;
}
