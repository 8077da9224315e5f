/*
 * The router and middleware, and the response builder's rules, through a
 * server on a loopback port (net_http_harness.h): a path no route has is
 * 404, a path with other methods' routes is 405 with Allow, GET routes
 * answer HEAD, prefix patterns, the first route added wins; middleware
 * runs outermost first, sees the route, may answer alone, and may run the
 * rest of the chain in a task of its own.
 */
#define _GNU_SOURCE
#include "net_http_harness.h"

EDDY_SUITE(net_http_router);

/* Answers with its arg, a string. */
static int say(eddy_http_req *req, eddy_http_resp *resp, void *arg)
{
	(void)req;
	return eddy_http_resp_body(resp, arg, strlen(arg));
}

/* Adds "<arg>(" before the rest of the chain, ")" after, to a trace
 * header, and short-circuits with 401 when the request asks for it. */
static char trace[256];

static int mark(eddy_http_req *req, eddy_http_resp *resp,
		eddy_http_next *next, void *arg)
{
	strcat(trace, arg);
	strcat(trace, "(");
	if (eddy_http_req_header(req, "X-Deny") && !strcmp(arg, "inner")) {
		eddy_http_resp_status(resp, 401);
		strcat(trace, ")");
		return 0;
	}
	const char *route = eddy_http_req_route(req);
	strcat(trace, route ? route : "-");
	int err = eddy_http_next_call(next, req, resp);
	strcat(trace, ")");
	return err;
}

static eddy_http_router *router;
static struct harness h;

static void start(void)
{
	router = eddy_http_router_new();
	cr_assert_not_null(router);
	cr_assert_eq(eddy_http_router_use(router, mark, "outer"), 0);
	cr_assert_eq(eddy_http_router_use(router, mark, "inner"), 0);
	cr_assert_eq(eddy_http_router_add(router, "GET", "/a", say, "a-get"),
		     0);
	cr_assert_eq(eddy_http_router_add(router, "POST", "/a", say, "a-post"),
		     0);
	cr_assert_eq(eddy_http_router_add(router, "DELETE", "/b", say, "b"),
		     0);
	cr_assert_eq(eddy_http_router_add(router, "GET", "/static/*", say,
					  "static"), 0);
	cr_assert_eq(eddy_http_router_add(router, NULL, "/static/x", say,
					  "never: the prefix came first"), 0);
	cr_assert_eq(eddy_http_router_add(router, NULL, "/any", say, "any"),
		     0);
	harness_start(&h, &(eddy_http_opts){
		.handler = eddy_http_router_handle, .arg = router });
}

static void finish(void)
{
	harness_stop(&h);
	eddy_http_router_free(router);
}

/* request on a new connection: the response. */
static void ask(const char *request, struct response *r)
{
	int fd = client_connect(&h);
	static char buf[16384];
	eddy_reader rd;
	eddy_reader_init(&rd, fd, buf, sizeof buf);
	client_send(fd, request);
	cr_assert_eq(read_response(&rd, r, !strncmp(request, "HEAD", 4)), 0);
	eddy_close(fd);
}

LOOP_TEST(net_http_router, routes_match_by_method_and_path_first_added_first)
{
	start();
	struct response r;
	char value[128];
	ask("GET /a HTTP/1.1\r\nHost: x\r\n\r\n", &r);
	cr_expect_eq(r.status, 200);
	cr_expect_str_eq(r.body, "a-get");
	ask("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", &r);
	cr_expect_str_eq(r.body, "a-post");
	ask("HEAD /a HTTP/1.1\r\nHost: x\r\n\r\n", &r);
	cr_expect_eq(r.status, 200);
	cr_expect_str_eq(response_field(&r, "Content-Length", value,
					sizeof value), "5");
	ask("GET /static/x HTTP/1.1\r\nHost: x\r\n\r\n", &r);
	cr_expect_str_eq(r.body, "static");
	ask("GET /static/deep/er HTTP/1.1\r\nHost: x\r\n\r\n", &r);
	cr_expect_str_eq(r.body, "static");
	ask("PATCH /any HTTP/1.1\r\nHost: x\r\n\r\n", &r);
	cr_expect_str_eq(r.body, "any");
	finish();
}

LOOP_TEST(net_http_router, a_path_no_route_has_is_404)
{
	start();
	struct response r;
	ask("GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n", &r);
	cr_expect_eq(r.status, 404);
	ask("GET /static HTTP/1.1\r\nHost: x\r\n\r\n", &r);
	cr_expect_eq(r.status, 404, "a prefix route matched its own stem");
	finish();
}

LOOP_TEST(net_http_router, another_method_on_a_known_path_is_405_with_allow)
{
	start();
	struct response r;
	char value[128];
	ask("PUT /a HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", &r);
	cr_expect_eq(r.status, 405);
	cr_expect_str_eq(response_field(&r, "Allow", value, sizeof value),
			 "GET, HEAD, POST");
	ask("GET /b HTTP/1.1\r\nHost: x\r\n\r\n", &r);
	cr_expect_eq(r.status, 405);
	cr_expect_str_eq(response_field(&r, "Allow", value, sizeof value),
			 "DELETE");
	finish();
}

LOOP_TEST(net_http_router, middleware_wraps_outermost_first_and_may_answer_alone)
{
	start();
	struct response r;
	trace[0] = '\0';
	ask("GET /a HTTP/1.1\r\nHost: x\r\n\r\n", &r);
	cr_expect_str_eq(trace, "outer(/ainner(/a))");
	trace[0] = '\0';
	ask("GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n", &r);
	cr_expect_eq(r.status, 404);
	cr_expect_str_eq(trace, "outer(-inner(-))", "404s are wrapped too");
	trace[0] = '\0';
	ask("GET /a HTTP/1.1\r\nHost: x\r\nX-Deny: 1\r\n\r\n", &r);
	cr_expect_eq(r.status, 401);
	cr_expect_str_eq(r.body, "", "the handler ran after a refusal");
	cr_expect_str_eq(trace, "outer(/ainner())");
	finish();
}

/* ---- a middleware running the rest in a task: the thread's shape ------- */

static eddy_var *user;

static int set_user(eddy_http_req *req, eddy_http_resp *resp, void *arg)
{
	(void)arg;
	int err = eddy_var_set(user, (void *)eddy_http_req_path(req), NULL);
	return err ? err : eddy_http_resp_body(resp, "set", 3);
}

struct rest {
	eddy_http_next *next;
	eddy_http_req *req;
	eddy_http_resp *resp;
};

static void *run_rest(void *arg)
{
	struct rest *r = arg;
	return V(eddy_http_next_call(r->next, r->req, r->resp));
}

static int in_task(eddy_http_req *req, eddy_http_resp *resp,
		   eddy_http_next *next, void *arg)
{
	struct rest r = { next, req, resp };
	eddy_task *t = eddy_spawn_with(run_rest, &r, &(eddy_spawn_opts){
		.policy = (enum eddy_policy)(intptr_t)arg });
	cr_assert_not_null(t);
	void *result;
	cr_assert_eq(eddy_join(t, &result), 0);
	/* what the logging middleware of the thread would print */
	const char *who = eddy_var_get_or(user, "<unset>");
	eddy_http_resp_header(resp, "X-Logged-User", who);
	return (int)(intptr_t)result;
}

static eddy_http_wrap copy_wrap = { in_task, V(EDDY_COPY), set_user, NULL };
static eddy_http_wrap merge_wrap = { in_task, V(EDDY_MERGE), set_user, NULL };

static void *wrap_main(void *arg)
{
	(void)arg;
	user = eddy_var_new("user");
	cr_assert_not_null(user);
	router = eddy_http_router_new();
	cr_assert_not_null(router);
	cr_assert_eq(eddy_http_router_add(router, "GET", "/copy",
					  eddy_http_wrapped, &copy_wrap), 0);
	cr_assert_eq(eddy_http_router_add(router, "GET", "/merge",
					  eddy_http_wrapped, &merge_wrap), 0);
	harness_start(&h, &(eddy_http_opts){
		.handler = eddy_http_router_handle, .arg = router });
	struct response r;
	char value[64];
	ask("GET /copy HTTP/1.1\r\nHost: x\r\n\r\n", &r);
	cr_expect_str_eq(r.body, "set");
	cr_expect_str_eq(response_field(&r, "X-Logged-User", value,
					sizeof value), "<unset>");
	ask("GET /merge HTTP/1.1\r\nHost: x\r\n\r\n", &r);
	cr_expect_str_eq(response_field(&r, "X-Logged-User", value,
					sizeof value), "/merge");
	finish();
	return NULL;
}

Test(net_http_router, a_wrap_runs_the_handler_in_a_task_under_its_policy)
{
	run_net(wrap_main);
	eddy_var_free(user);
}

/* ---- the response builder's rules ------------------------------------------ */

static int rules(eddy_http_req *req, eddy_http_resp *resp, void *arg)
{
	(void)req;
	(void)arg;
	cr_expect_eq(eddy_http_resp_header(resp, "X-Bad", "a\r\nInjected: 1"),
		     -EINVAL);
	cr_expect_eq(eddy_http_resp_header(resp, "Bad Name", "v"), -EINVAL);
	cr_expect_eq(eddy_http_resp_header(resp, "Content-Length", "3"),
		     -EPERM);
	cr_expect_eq(eddy_http_resp_header(resp, "connection", "close"),
		     -EPERM);
	cr_expect_eq(eddy_http_resp_status(resp, 99), -EINVAL);
	cr_expect_eq(eddy_http_resp_status(resp, 204), 0);
	cr_expect_eq(eddy_http_resp_status_code(resp), 204);
	cr_expect_eq(eddy_http_resp_header(resp, "X-Good", "yes"), 0);
	return 0;
}

LOOP_TEST(net_http_router, response_fields_cannot_inject_or_override_framing)
{
	harness_start(&h, &(eddy_http_opts){ .handler = rules });
	struct response r;
	char value[64];
	ask("GET / HTTP/1.1\r\nHost: x\r\n\r\n", &r);
	cr_expect_eq(r.status, 204);
	cr_expect_str_eq(response_field(&r, "X-Good", value, sizeof value),
			 "yes");
	cr_expect_null(response_field(&r, "Injected", value, sizeof value));
	cr_expect_null(response_field(&r, "Content-Length", value,
				      sizeof value), "204 has no length");
	harness_stop(&h);
}
