/*
 * The forum program again, with task groups as the task boundary.
 *
 * A core developer remarked in the thread that changes made in a task are
 * lost to its creator at a create_task boundary just as at a thread-pool
 * one.  Frameworks that follow structured concurrency (Trio's nurseries,
 * AnyIO's and asyncio's task groups) start every such task in a group and
 * wait for the group, so the boundary looks different but is the same.
 *
 * This is forum.c's App with its two boundaries made of groups: the
 * middleware spawns the endpoint into a group and waits for it, and the
 * main task drives each route from a group of one.  Only the loop's default
 * policy changes between the runs, which the group's spawns use; nothing
 * is special-cased.  COPY fails as asyncio does; SHARE and MERGE log the
 * user, MERGE because a group joins its children (applying their policy)
 * when it is waited for.
 *
 * Exit status 0 when the table is the one the thread predicts.
 */
#include <stdio.h>
#include <string.h>

#include "eddy.h"

static eddy_var *user;
static eddy_var *request_path; /* set by the App, read by the logger */

enum { ROUTES = 4, POLICIES = 3 };
static const char *const route_paths[ROUTES] = {
	"/async-logged", "/sync", "/sync-logged", "/async-in-group-logged",
};
static const char *const policy_names[POLICIES] = { "copy", "share", "merge" };

/* What the logging middleware wrote, per policy and route. */
static char logged[POLICIES][ROUTES][32];
static int policy_now;

/* ---- endpoints and middleware ---------------------------------------- */

/* Something a task awaits; a middleware wraps another endpoint (inner),
 * sync_to_async a blocking function (sync). */
typedef struct endpoint endpoint;
struct endpoint {
	int (*call)(const endpoint *self);
	const endpoint *inner;
	eddy_fn sync;
};

static int async_endpoint_call(const endpoint *self)
{
	(void)self;
	return eddy_var_set(user, "adrian", NULL);
}

static void *sync_endpoint(void *unused)
{
	(void)unused;
	eddy_var_set(user, "adrian", NULL);
	return NULL;
}

static int sync_to_async_call(const endpoint *self)
{
	return eddy_to_thread(self->sync, NULL, 0, NULL);
}

/* An endpoint as a group's child: a failure is reported to the group. */
static void *endpoint_as_child(void *ep)
{
	const endpoint *e = ep;
	int err = e->call(e);
	return err ? EDDY_GROUP_FAILED(err) : NULL;
}

/* Run fn(arg) as the only child of a new group, and wait for the group. */
static int in_group_of_one(eddy_fn fn, void *arg)
{
	eddy_group *g = eddy_group_new();
	if (!g)
		return -errno;
	int err = eddy_group_spawn(g, fn, arg, NULL);
	int waited = eddy_group_wait(g, NULL);
	eddy_group_free(g);
	return err ? err : waited;
}

/* Starlette's BaseHTTPMiddleware, structured: the endpoint runs in a task
 * group that the middleware waits for. */
static int middleware_using_group_call(const endpoint *self)
{
	return in_group_of_one(endpoint_as_child, (void *)self->inner);
}

/* A middleware that logs with context variables, after the endpoint. */
static int logging_middleware_call(const endpoint *self)
{
	int err = self->inner->call(self->inner);
	void *who, *path;
	if (eddy_var_get(request_path, &path))
		return err;
	for (int r = 0; r < ROUTES; r++) {
		if (strcmp(path, route_paths[r]))
			continue;
		if (eddy_var_get(user, &who) == 0)
			snprintf(logged[policy_now][r], sizeof logged[0][0],
				 "user=%s", (char *)who);
		else
			snprintf(logged[policy_now][r], sizeof logged[0][0],
				 "LookupError");
	}
	return err;
}

static const endpoint async_endpoint = { async_endpoint_call, NULL, NULL };
static const endpoint sync_to_async = { sync_to_async_call, NULL,
					sync_endpoint };
static const endpoint async_in_group = { middleware_using_group_call,
					 &async_endpoint, NULL };

static const endpoint *const app_endpoints[ROUTES] = {
	&(const endpoint){ logging_middleware_call, &async_endpoint, NULL },
	&sync_to_async,
	&(const endpoint){ logging_middleware_call, &sync_to_async, NULL },
	&(const endpoint){ logging_middleware_call, &async_in_group, NULL },
};

/* ---- the App and the driver ------------------------------------------- */

/* App.__call__(path), as a group's child. */
static void *app(void *path)
{
	for (int r = 0; r < ROUTES; r++) {
		if (strcmp(path, route_paths[r]))
			continue;
		int err = eddy_var_set(request_path, path, NULL);
		if (!err)
			err = app_endpoints[r]->call(app_endpoints[r]);
		return err ? EDDY_GROUP_FAILED(err) : NULL;
	}
	return EDDY_GROUP_FAILED(-ENOENT);
}

static void *main_task(void *unused)
{
	(void)unused;
	for (int r = 0; r < ROUTES; r++) {
		int err = in_group_of_one(app, (void *)route_paths[r]);
		if (err)
			printf("forum_group: %s: %s\n", route_paths[r],
			       eddy_strerror(err));
	}
	return NULL;
}

static int run_policy(int p)
{
	eddy_loop_config cfg = { .default_policy = EDDY_COPY + p };
	eddy_loop *loop = eddy_loop_new(&cfg);
	if (!loop)
		return -errno;
	policy_now = p;
	for (int r = 0; r < ROUTES; r++)
		strcpy(logged[p][r], "-");
	int err = eddy_loop_run(loop, main_task, NULL, NULL);
	eddy_loop_free(loop);
	return err;
}

/* What the thread says each policy's middleware sees. */
static const char *const expected[POLICIES][ROUTES] = {
	{ "user=adrian", "-", "LookupError", "LookupError" },
	{ "user=adrian", "-", "user=adrian", "user=adrian" },
	{ "user=adrian", "-", "user=adrian", "user=adrian" },
};

int main(void)
{
	user = eddy_var_new("user");
	request_path = eddy_var_new("request_path");
	if (!user || !request_path)
		return 1;
	for (int p = 0; p < POLICIES; p++) {
		int err = run_policy(p);
		if (err) {
			printf("forum_group: %s\n", eddy_strerror(err));
			return 1;
		}
	}

	printf("%-25s%-13s%-13s%s\n", "route", policy_names[0],
	       policy_names[1], policy_names[2]);
	for (int r = 0; r < ROUTES; r++)
		printf("%-25s%-13s%-13s%s\n", route_paths[r], logged[0][r],
		       logged[1][r], logged[2][r]);
	int differs = 0;
	for (int p = 0; p < POLICIES; p++)
		for (int r = 0; r < ROUTES; r++)
			if (strcmp(logged[p][r], expected[p][r])) {
				printf("differs from the thread: %s under %s "
				       "logged %s, expected %s\n",
				       route_paths[r], policy_names[p],
				       logged[p][r], expected[p][r]);
				differs = 1;
			}
	if (!differs)
		printf("\nWith groups as with single spawns, COPY reproduces "
		       "the thread's\nLookupErrors; SHARE and MERGE log the "
		       "user.\n");
	eddy_var_free(user);
	eddy_var_free(request_path);
	return differs;
}
