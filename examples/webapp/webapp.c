/*
 * The forum thread's web app, as a real HTTP server.
 *
 * In "Back-propagation of contextvar changes from worker threads" a web
 * framework author describes an app whose endpoint sets the current user
 * in a context variable, and whose logging middleware reads it after the
 * endpoint returned.  It works when the endpoint runs in the middleware's
 * task, and loses the user when the endpoint runs on a worker thread
 * (sync_to_async) or in a task another middleware created.  Here:
 *
 *   /async           the endpoint runs in the connection's task
 *   /sync            the endpoint runs on a worker thread (eddy_to_thread)
 *   /async-in-task   a middleware runs the endpoint in a spawned task and
 *                    joins it
 *
 * The endpoint sets `user` from the X-User header.  The logging
 * middleware wraps every route and prints one line per request:
 *
 *   GET /sync 200 user=alice       (or user=<unset>)
 *
 * --policy copy|share|merge picks how the worker thread and the spawned
 * task share the request's context: COPY (asyncio's behaviour) loses the
 * user on /sync and /async-in-task; SHARE and MERGE keep it.
 *
 *   build/examples/webapp/webapp --port 0 --policy merge
 *   listening on 127.0.0.1:40123
 *   curl -H 'X-User: alice' http://127.0.0.1:40123/sync
 *
 * Options: --host H (default 127.0.0.1), --port N (0 picks a free port;
 * default 8080), --threads N (default 1), --policy P (default copy).
 * SIGINT or SIGTERM stops it, and it exits 0.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eddy.h"

static eddy_var *user;
static enum eddy_policy policy = EDDY_COPY;

/* ---- the endpoint: authenticates, in whatever thread or task ----------- */

static int endpoint(eddy_http_req *req, eddy_http_resp *resp, void *arg)
{
	(void)arg;
	/* the header's text lives as long as the request: longer than the
	 * request's context, where the value goes */
	const char *who = eddy_http_req_header(req, "X-User");
	int err = who ? eddy_var_set(user, (void *)who, NULL) : 0;
	if (!err)
		err = eddy_http_resp_header(resp, "Content-Type", "text/plain");
	return err ? err : eddy_http_resp_body(resp, "ok\n", 3);
}

/* ---- /sync: the endpoint on a worker thread (sync_to_async) ------------- */

struct call {
	eddy_http_req *req;
	eddy_http_resp *resp;
};

/* Building a response only touches memory, so a worker thread may do it
 * while the connection's task waits. */
static void *endpoint_on_thread(void *arg)
{
	struct call *c = arg;
	return (void *)(intptr_t)endpoint(c->req, c->resp, NULL);
}

static int sync_route(eddy_http_req *req, eddy_http_resp *resp, void *arg)
{
	(void)arg;
	struct call c = { req, resp };
	void *result;
	int err = eddy_to_thread(endpoint_on_thread, &c, policy, &result);
	return err ? err : (int)(intptr_t)result;
}

/* ---- /async-in-task: a middleware that runs the rest in a task --------- */

struct rest {
	eddy_http_next *next;
	eddy_http_req *req;
	eddy_http_resp *resp;
};

static void *run_rest(void *arg)
{
	struct rest *r = arg;
	return (void *)(intptr_t)eddy_http_next_call(r->next, r->req, r->resp);
}

/* Starlette's BaseHTTPMiddleware, simplified: the endpoint runs in a
 * task of its own, spawned with the policy and joined. */
static int in_task(eddy_http_req *req, eddy_http_resp *resp,
		   eddy_http_next *next, void *arg)
{
	(void)arg;
	struct rest r = { next, req, resp };
	eddy_task *t = eddy_spawn_with(run_rest, &r,
				       &(eddy_spawn_opts){ .policy = policy });
	if (!t)
		return -errno;
	void *result;
	int err = eddy_join(t, &result); /* MERGE applies here */
	return err ? err : (int)(intptr_t)result;
}

static eddy_http_wrap endpoint_in_task = { in_task, NULL, endpoint, NULL };

/* ---- the logging middleware, around every route ------------------------ */

static int logging(eddy_http_req *req, eddy_http_resp *resp,
		   eddy_http_next *next, void *arg)
{
	(void)arg;
	int err = eddy_http_next_call(next, req, resp);
	const char *route = eddy_http_req_route(req);
	printf("%s %s %d user=%s\n", eddy_http_req_method(req),
	       route ? route : eddy_http_req_path(req),
	       err < 0 ? 500 : eddy_http_resp_status_code(resp),
	       (const char *)eddy_var_get_or(user, "<unset>"));
	fflush(stdout);
	return err;
}

/* ---- main ---------------------------------------------------------------- */

static void usage(const char *prog)
{
	fprintf(stderr, "usage: %s [--host H] [--port N] [--threads N] "
		"[--policy copy|share|merge]\n", prog);
	exit(2);
}

static enum eddy_policy parse_policy(const char *name, const char *prog)
{
	if (!strcmp(name, "copy"))
		return EDDY_COPY;
	if (!strcmp(name, "share"))
		return EDDY_SHARE;
	if (!strcmp(name, "merge"))
		return EDDY_MERGE;
	usage(prog);
	return 0;
}

static eddy_http_router *make_app(void)
{
	eddy_http_router *app = eddy_http_router_new();
	if (!app || eddy_http_router_use(app, logging, NULL) ||
	    eddy_http_router_add(app, "GET", "/async", endpoint, NULL) ||
	    eddy_http_router_add(app, "GET", "/sync", sync_route, NULL) ||
	    eddy_http_router_add(app, "GET", "/async-in-task",
				 eddy_http_wrapped, &endpoint_in_task)) {
		eddy_http_router_free(app);
		return NULL;
	}
	return app;
}

int main(int argc, char **argv)
{
	const char *host = "127.0.0.1", *port = "8080";
	unsigned threads = 1;
	for (int i = 1; i < argc; i++) {
		if (i + 1 >= argc)
			usage(argv[0]);
		if (!strcmp(argv[i], "--host"))
			host = argv[++i];
		else if (!strcmp(argv[i], "--port"))
			port = argv[++i];
		else if (!strcmp(argv[i], "--threads"))
			threads = (unsigned)strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--policy"))
			policy = parse_policy(argv[++i], argv[0]);
		else
			usage(argv[0]);
	}
	user = eddy_var_new("user");
	eddy_http_router *app = user ? make_app() : NULL;
	eddy_http_server *http = app ? eddy_http_server_new(&(eddy_http_opts){
		.handler = eddy_http_router_handle, .arg = app }) : NULL;
	eddy_server *srv = http ? eddy_server_new(&(eddy_server_opts){
		.host = host, .port = port, .threads = threads,
		.grace_ns = 2000000000, .handle_signals = 1,
		.on_conn = eddy_http_serve_conn, .arg = http }) : NULL;
	if (!srv) {
		fprintf(stderr, "webapp: %s\n", eddy_strerror(-errno));
		return 1;
	}
	printf("listening on %s:%d\n", *host ? host : "[::]",
	       eddy_server_port(srv));
	fflush(stdout);
	int err = eddy_server_run(srv);
	eddy_server_free(srv);
	eddy_http_server_free(http);
	eddy_http_router_free(app);
	eddy_var_free(user);
	if (err) {
		fprintf(stderr, "webapp: %s\n", eddy_strerror(err));
		return 1;
	}
	return 0;
}
