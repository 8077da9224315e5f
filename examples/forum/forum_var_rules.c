/*
 * Per-variable rules: one request, four kinds of variable, three policies.
 *
 * The thread's fix (MERGE) brings a child's context changes back to its
 * parent, for every variable alike.  A real request holds variables that
 * must not all flow the same way:
 *
 *   user       who is logged in: set by the auth step, read by the logger
 *              afterwards.  A plain variable: it follows the policy.
 *   deadline   when the request gives up.  A background task or a worker
 *              started by the request must not inherit it (a cache refresh
 *              cut short by a request's deadline): TASK_LOCAL.
 *   db_conn    the request's database connection, which is not
 *              thread-safe: a worker thread must open its own.  LOOP_ONLY.
 *   log_lines  how many lines the request logged, counted by every child;
 *              concurrent children must not overwrite each other's counts:
 *              a REDUCE rule that adds what each side added.  Beside it
 *              the same count as a plain variable, to show what is lost.
 *   role       set by the request after it started the audit step, which
 *              sets it too: two writers, no right answer.  CONFLICT_ERROR
 *              makes the join fail and say so.
 *
 * The request starts three child tasks (auth, fetch, audit) and one
 * worker (render), under the loop's default policy, then joins them in
 * that order; the table shows what each side saw.  Exit status 0 when the table is the one
 * docs/ctx.md predicts.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "eddy.h"

enum { POLICIES = 3, ROWS = 9, CELL = 16 };
static const char *const policy_names[POLICIES] = { "copy", "share", "merge" };

static eddy_var *user, *deadline, *db_conn, *log_lines, *plain_lines, *role;

/* What the request's children saw, and the request after its joins. */
static char table[ROWS][POLICIES][CELL];
static const char *const row_names[ROWS] = {
	"user after the joins",      "deadline in a child task",
	"deadline in a worker",      "child sets deadline",
	"db_conn in a child task",   "db_conn in a worker",
	"log_lines (reducer)",       "same count, child wins",
	"role (conflict error)",
};
enum { USER, DEADLINE_TASK, DEADLINE_WORKER, DEADLINE_SET, DB_TASK, DB_WORKER,
       LOG_LINES, PLAIN_LINES, ROLE };
static int policy_now;
static char conflict_text[256];

static void note(int row, const char *text)
{
	snprintf(table[row][policy_now], CELL, "%s", text);
}

/* A string variable's value (or default), or "unset". */
static const char *text_of(eddy_var *var)
{
	void *text;
	return eddy_var_get(var, &text) ? "unset" : text;
}

static int add_lines(void *parent, void *child, void *fork, void **out,
		     void *arg)
{
	(void)arg;
	*out = (void *)((intptr_t)parent + (intptr_t)child - (intptr_t)fork);
	return 0;
}

static void count_lines(intptr_t n)
{
	eddy_var_set(log_lines,
		     (void *)((intptr_t)eddy_var_get_or(log_lines, 0) + n),
		     NULL);
	eddy_var_set(plain_lines,
		     (void *)((intptr_t)eddy_var_get_or(plain_lines, 0) + n),
		     NULL);
}

/* ---- the request's steps ------------------------------------------------ */

static void *auth(void *unused)
{
	(void)unused;
	note(DEADLINE_TASK, text_of(deadline));
	note(DEADLINE_SET, eddy_var_set(deadline, "1s", NULL) ? "EPERM" : "ok");
	note(DB_TASK, text_of(db_conn));
	eddy_var_set(user, "adrian", NULL);
	count_lines(1);
	return NULL;
}

static void *fetch(void *unused)
{
	(void)unused;
	count_lines(2);
	return NULL;
}

static void *audit(void *unused)
{
	(void)unused;
	eddy_var_set(role, "auditor", NULL);
	return NULL;
}

/* A blocking renderer, on a worker thread. */
static void *render(void *unused)
{
	(void)unused;
	note(DEADLINE_WORKER, text_of(deadline));
	note(DB_WORKER, text_of(db_conn));
	count_lines(3);
	return NULL;
}

static void *request(void *unused)
{
	(void)unused;
	eddy_var_set(deadline, "100ms", NULL);
	eddy_var_set(db_conn, "conn#1", NULL);
	eddy_var_set(role, "guest", NULL);
	count_lines(1);

	eddy_task *a = eddy_spawn(auth, NULL);
	eddy_task *f = eddy_spawn(fetch, NULL);
	eddy_task *b = eddy_spawn(audit, NULL);
	eddy_var_set(role, "member", NULL); /* after audit's fork */
	int err = eddy_to_thread(render, NULL, 0, NULL);
	if (!err)
		err = eddy_join(a, NULL);
	if (!err)
		err = eddy_join(f, NULL);
	int audited = eddy_join(b, NULL);
	if (err)
		printf("forum_var_rules: %s\n", eddy_strerror(err));

	note(USER, text_of(user));
	snprintf(table[LOG_LINES][policy_now], CELL, "%ld",
		 (long)(intptr_t)eddy_var_get_or(log_lines, 0));
	snprintf(table[PLAIN_LINES][policy_now], CELL, "%ld",
		 (long)(intptr_t)eddy_var_get_or(plain_lines, 0));
	if (audited == -EDDY_ECONFLICT) {
		note(ROLE, "conflict");
		snprintf(conflict_text, sizeof conflict_text, "%s",
			 eddy_strerror(audited));
	} else {
		note(ROLE, text_of(role));
	}
	return NULL;
}

/* ---- the driver ----------------------------------------------------------- */

static void *run_loop(void *loop)
{
	return (void *)(intptr_t)eddy_loop_run(loop, request, NULL, NULL);
}

/* Each policy's run starts from an empty context: under SHARE the request
 * runs in the context of the thread that runs the loop. */
static int run_policy(int p)
{
	eddy_loop_config cfg = { .default_policy = EDDY_COPY + p };
	eddy_loop *loop = eddy_loop_new(&cfg);
	eddy_ctx *fresh = eddy_ctx_new();
	void *err = (void *)(intptr_t)-ENOMEM;
	policy_now = p;
	if (loop && fresh)
		eddy_ctx_run(fresh, run_loop, loop, &err);
	eddy_ctx_unref(fresh);
	eddy_loop_free(loop);
	return (int)(intptr_t)err;
}

static int make_vars(void)
{
	user = eddy_var_new("user");
	deadline = eddy_var_new_opts(
		"deadline",
		&(eddy_var_opts){ .propagate = EDDY_PROPAGATE_TASK_LOCAL,
				  .has_default = 1, .dflt = "none" });
	db_conn = eddy_var_new_opts(
		"db_conn",
		&(eddy_var_opts){ .propagate = EDDY_PROPAGATE_LOOP_ONLY });
	log_lines = eddy_var_new_opts(
		"log_lines", &(eddy_var_opts){ .merge = EDDY_MERGE_REDUCE,
					       .reduce = add_lines });
	plain_lines = eddy_var_new("plain_lines");
	role = eddy_var_new_opts(
		"role", &(eddy_var_opts){ .merge = EDDY_MERGE_CONFLICT_ERROR });
	return user && deadline && db_conn && log_lines && plain_lines && role;
}

/* What docs/ctx.md says each policy gives. */
static const char *const expected[ROWS][POLICIES] = {
	{ "unset", "adrian", "adrian" },
	{ "none", "none", "none" },
	{ "none", "none", "none" },
	{ "ok", "EPERM", "ok" },
	{ "conn#1", "conn#1", "conn#1" },
	{ "unset", "unset", "unset" },
	{ "1", "7", "7" },
	{ "1", "7", "3" },
	{ "member", "auditor", "conflict" },
};

int main(void)
{
	if (!make_vars())
		return 1;
	for (int p = 0; p < POLICIES; p++) {
		int err = run_policy(p);
		if (err) {
			printf("forum_var_rules: %s\n", eddy_strerror(err));
			return 1;
		}
	}

	printf("%-27s%-10s%-10s%s\n", "", policy_names[0], policy_names[1],
	       policy_names[2]);
	for (int r = 0; r < ROWS; r++)
		printf("%-27s%-10s%-10s%s\n", row_names[r], table[r][0],
		       table[r][1], table[r][2]);
	printf("\nThe audit's join under MERGE: %s.\n", conflict_text);

	int differs = 0;
	for (int r = 0; r < ROWS; r++)
		for (int p = 0; p < POLICIES; p++)
			if (strcmp(table[r][p], expected[r][p])) {
				printf("differs: %s under %s is %s, expected "
				       "%s\n",
				       row_names[r], policy_names[p],
				       table[r][p], expected[r][p]);
				differs = 1;
			}
	eddy_var_free(user);
	eddy_var_free(deadline);
	eddy_var_free(db_conn);
	eddy_var_free(log_lines);
	eddy_var_free(plain_lines);
	eddy_var_free(role);
	return differs;
}
