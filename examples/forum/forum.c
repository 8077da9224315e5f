/*
 * The forum thread's program, in C.
 *
 * In "Back-propagation of contextvar changes from worker threads"
 * (discuss.python.org), a web framework author boiled the problem down to
 * a 100-line asyncio program: an endpoint sets a `user` context variable,
 * and a logging middleware reads it after the endpoint returns.  It works
 * when the endpoint runs in the middleware's task, and fails with
 * LookupError when the endpoint runs in a worker thread (sync_to_async) or
 * in a task that another middleware created.
 *
 * This is that program, translated piece by piece: an App with routes,
 * async and sync endpoints, sync_to_async, some_middleware_using_tasks and
 * logging_middleware, and a main task that drives each route from a task
 * of its own.  It runs once per spawn policy, with nothing changed but the
 * loop's default policy, and prints what the logging middleware saw:
 *
 *   COPY   what asyncio does: the failures of the thread, reproduced;
 *   SHARE  the child runs in the caller's context: the user is logged;
 *   MERGE  the child's changes come back when it is joined: logged too.
 *
 * Exit status 0 when the table is the one the thread predicts.
 *
 * `forum --trace DIR` also writes a timeline trace of each route under
 * each policy, DIR/forum-POLICY-ROUTE.json (docs/observe.md), which
 * examples/trace/render.py draws: `make demo` does both into build/.
 */
#include <stdio.h>
#include <string.h>

#include "eddy.h"

static eddy_var *user;
static eddy_var *request_path; /* set by the App, read by the logger */

/* ---- what the middleware logged, per policy and route ----------------- */

enum { ROUTES = 4, POLICIES = 3 };
static const char *const route_paths[ROUTES] = {
	"/async-logged", "/sync", "/sync-logged", "/async-in-task-logged",
};
static char logged[POLICIES][ROUTES][32];
static int policy_now; /* index of the policy being run */
static const char *trace_dir; /* --trace DIR, or NULL */
static const char *const policy_names[POLICIES] = { "copy", "share", "merge" };

static void log_line(const char *text)
{
	void *path;
	if (eddy_var_get(request_path, &path))
		return;
	for (int r = 0; r < ROUTES; r++)
		if (!strcmp(path, route_paths[r]))
			snprintf(logged[policy_now][r], sizeof logged[0][0],
				 "%s", text);
}

/* ---- endpoints and middleware ---------------------------------------- */

/*
 * An async endpoint: something a task can call, which may suspend.  A
 * middleware is an endpoint wrapping another (inner); sync_to_async wraps
 * a plain blocking function (sync).
 */
typedef struct endpoint endpoint;
struct endpoint {
	int (*call)(endpoint *self);
	endpoint *inner;
	eddy_fn sync;
};

static int async_endpoint_call(endpoint *self)
{
	(void)self;
	return eddy_var_set(user, "adrian", NULL);
}

static void *sync_endpoint(void *arg)
{
	(void)arg;
	eddy_var_set(user, "adrian", NULL);
	return NULL;
}

/* Simplification of asgiref's SyncToAsync or Starlette's wrapping of sync
 * endpoints: the blocking endpoint runs on a worker thread. */
static int sync_to_async_call(endpoint *self)
{
	return eddy_to_thread(self->sync, NULL, 0, NULL);
}

static void *run_endpoint(void *ep)
{
	endpoint *e = ep;
	return (void *)(long)e->call(e);
}

/* Simplification of Starlette's BaseHTTPMiddleware: the endpoint runs in
 * a task of its own, which the middleware awaits. */
static int middleware_using_tasks_call(endpoint *self)
{
	eddy_task *t = eddy_spawn(run_endpoint, self->inner);
	if (!t)
		return -errno;
	void *result;
	int err = eddy_join(t, &result);
	return err ? err : (int)(long)result;
}

/* Simplification of a middleware that logs with context variables. */
static int logging_middleware_call(endpoint *self)
{
	int err = self->inner->call(self->inner);
	char line[32];
	void *who;
	if (eddy_var_get(user, &who) == 0)
		snprintf(line, sizeof line, "user=%s", (char *)who);
	else
		snprintf(line, sizeof line, "LookupError");
	log_line(line);
	return err;
}

static endpoint async_endpoint = { async_endpoint_call, NULL, NULL };
static endpoint sync_to_async_endpoint = { sync_to_async_call, NULL,
					   sync_endpoint };
static endpoint async_in_task = { middleware_using_tasks_call,
				  &async_endpoint, NULL };

static endpoint logged_async = { logging_middleware_call, &async_endpoint,
				 NULL };
static endpoint logged_sync = { logging_middleware_call,
				&sync_to_async_endpoint, NULL };
static endpoint logged_async_in_task = { logging_middleware_call,
					 &async_in_task, NULL };

/* ---- the App ------------------------------------------------------------ */

static endpoint *const app_endpoints[ROUTES] = {
	&logged_async,           /* /async-logged */
	&sync_to_async_endpoint, /* /sync */
	&logged_sync,            /* /sync-logged */
	&logged_async_in_task,   /* /async-in-task-logged */
};

/* App.__call__(path): find the route's endpoint and await it. */
static void *app(void *path)
{
	for (int r = 0; r < ROUTES; r++) {
		if (strcmp(path, route_paths[r]))
			continue;
		eddy_var_set(request_path, path, NULL);
		return (void *)(long)app_endpoints[r]->call(app_endpoints[r]);
	}
	return (void *)(long)-ENOENT;
}

/* With --trace, a trace of route r under the policy being run. */
static void trace_route(int r)
{
	char path[512];
	snprintf(path, sizeof path, "%s/forum-%s-%s.json", trace_dir,
		 policy_names[policy_now], route_paths[r] + 1);
	int err = eddy_trace_start(path);
	if (err)
		fprintf(stderr, "forum: %s: %s\n", path, eddy_strerror(err));
}

/* main(): each route from a task of its own, awaited in turn, as
 * `await asyncio.create_task(app(path))` does; with only non-NULL, just
 * route *only. */
static void *main_task(void *only)
{
	for (int r = 0; r < ROUTES; r++) {
		if (only && r != *(const int *)only)
			continue;
		if (trace_dir)
			trace_route(r);
		eddy_task *t = eddy_spawn(app, (void *)route_paths[r]);
		void *result;
		int err = t ? eddy_join(t, &result) : -errno;
		if (trace_dir)
			eddy_trace_stop();
		if (err || result)
			fprintf(stderr, "forum: %s: %s\n", route_paths[r],
				eddy_strerror(err ? err : (int)(long)result));
	}
	return NULL;
}

/* ---- one run per policy, and the table ---------------------------------- */

/* What the thread says each policy's middleware sees. */
static const char *const expected[POLICIES][ROUTES] = {
	{ "user=adrian", "-", "LookupError", "LookupError" },
	{ "user=adrian", "-", "user=adrian", "user=adrian" },
	{ "user=adrian", "-", "user=adrian", "user=adrian" },
};

static void *run_main(void *loop_and_only)
{
	void **a = loop_and_only;
	return (void *)(long)eddy_loop_run(a[0], main_task, a[1], NULL);
}

/*
 * A loop runs main in a context of its own, a new empty one: the main
 * task's context comes from the thread's, and under SHARE (the main task
 * shares it) or MERGE (main's changes come back to it) the thread's
 * context would otherwise keep the user from one run to the next, and a
 * later run would log it whatever its policy did.
 */
static int run_loop(int p, const int *only)
{
	eddy_loop_config cfg = { .default_policy = EDDY_COPY + p };
	eddy_loop *loop = eddy_loop_new(&cfg);
	eddy_ctx *fresh = eddy_ctx_new();
	if (!loop || !fresh) {
		fprintf(stderr, "forum: %s\n", eddy_strerror(-ENOMEM));
		eddy_loop_free(loop);
		return -1;
	}
	void *args[2] = { loop, (void *)only }, *result = NULL;
	int err = eddy_ctx_run(fresh, run_main, args, &result);
	if (!err)
		err = (int)(long)result;
	eddy_ctx_unref(fresh);
	eddy_loop_free(loop);
	if (err)
		fprintf(stderr, "forum: %s\n", eddy_strerror(err));
	return err;
}

/* One loop runs every route; with --trace, each route gets a loop of its
 * own, so that each trace starts from nothing (under MERGE the main task
 * keeps what earlier routes' endpoints set). */
static int run_policy(int p)
{
	policy_now = p;
	for (int r = 0; r < ROUTES; r++)
		strcpy(logged[p][r], "-");
	if (!trace_dir)
		return run_loop(p, NULL);
	for (int r = 0; r < ROUTES; r++) {
		int err = run_loop(p, &r);
		if (err)
			return err;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "--trace")) {
		trace_dir = argv[2];
	} else if (argc != 1) {
		fprintf(stderr, "usage: %s [--trace DIR]\n", argv[0]);
		return 2;
	}
	user = eddy_var_new("user");
	request_path = eddy_var_new("request_path");
	if (!user || !request_path)
		return 1;
	/* traces show these variables' values */
	eddy_trace_format_var(user, eddy_trace_format_string);
	eddy_trace_format_var(request_path, eddy_trace_format_string);
	for (int p = 0; p < POLICIES; p++)
		if (run_policy(p))
			return 1;

	printf("%-23s%-13s%-13s%s\n", "route", policy_names[0],
	       policy_names[1], policy_names[2]);
	for (int r = 0; r < ROUTES; r++)
		printf("%-23s%-13s%-13s%s\n", route_paths[r], logged[0][r],
		       logged[1][r], logged[2][r]);
	int differ = 0;
	for (int p = 0; p < POLICIES; p++) {
		for (int r = 0; r < ROUTES; r++) {
			if (strcmp(logged[p][r], expected[p][r])) {
				printf("differs from the thread: %s under %s "
				       "logged %s, expected %s\n",
				       route_paths[r], policy_names[p],
				       logged[p][r], expected[p][r]);
				differ = 1;
			}
		}
	}
	if (!differ)
		printf("\nCOPY reproduces the thread's LookupErrors; SHARE and "
		       "MERGE log the user.\n");
	eddy_var_free(user);
	eddy_var_free(request_path);
	return differ;
}
