/*
 * The router: a list of routes, each a method, a path pattern and a
 * handler, tried in the order they were added; and the middleware that
 * wraps whatever the router answers.
 *
 * A list, not a tree: services have tens of routes, a match is a few
 * string compares each, and the first-added-wins rule is one a reader can
 * check by looking at the calls.  A pattern is a path, matched exactly,
 * or a prefix when it ends in a '/' and a '*'.  Each route's strings are allocated
 * with it, after the struct.
 *
 * A request whose path matches no route is answered 404.  One whose path
 * matches only routes of other methods is answered 405 with Allow listing
 * them (RFC 9110 15.5.6), HEAD included wherever GET is, because a GET
 * route answers HEAD too (the response writer drops the body).
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "ctx/alloc.h"
#include "net/http_conn.h"

struct route {
	const char *method; /* NULL: any */
	const char *path;
	size_t plen;        /* what must match: without the '*' of a prefix */
	bool prefix;
	eddy_http_handler handler;
	void *arg;
};

struct eddy_http_router {
	struct route **routes;
	size_t nroutes;
	struct http_mw *mw;
	size_t nmw;
};

eddy_http_router *eddy_http_router_new(void)
{
	eddy_http_router *r = eddy_alloc(sizeof *r);
	if (!r) {
		errno = ENOMEM;
		return NULL;
	}
	*r = (eddy_http_router){ 0 };
	return r;
}

void eddy_http_router_free(eddy_http_router *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->nroutes; i++)
		eddy_free(r->routes[i]);
	eddy_free(r->routes);
	eddy_free(r->mw);
	eddy_free(r);
}

/* Grow *arr of n elements of size by one, keeping its contents. */
static int grow(void *arr, size_t n, size_t size)
{
	void **p = arr;
	char *bigger = eddy_alloc((n + 1) * size);
	if (!bigger)
		return -ENOMEM;
	if (n)
		memcpy(bigger, *p, n * size);
	eddy_free(*p);
	*p = bigger;
	return 0;
}

int eddy_http_router_add(eddy_http_router *r, const char *method,
			 const char *path, eddy_http_handler handler,
			 void *arg)
{
	if (!r || !path || path[0] != '/' || !handler)
		return -EINVAL;
	size_t mlen = method ? strlen(method) + 1 : 0, plen = strlen(path);
	struct route *rt = eddy_alloc(sizeof *rt + mlen + plen + 1);
	if (!rt)
		return -ENOMEM;
	int err = grow(&r->routes, r->nroutes, sizeof *r->routes);
	if (err) {
		eddy_free(rt);
		return err;
	}
	char *strings = (char *)(rt + 1);
	rt->method = method ? memcpy(strings, method, mlen) : NULL;
	rt->path = memcpy(strings + mlen, path, plen + 1);
	rt->prefix = plen >= 2 && !strcmp(path + plen - 2, "/*");
	rt->plen = rt->prefix ? plen - 1 : plen;
	rt->handler = handler;
	rt->arg = arg;
	r->routes[r->nroutes++] = rt;
	return 0;
}

int eddy_http_router_use(eddy_http_router *r, eddy_http_middleware mw,
			 void *arg)
{
	if (!r || !mw)
		return -EINVAL;
	int err = grow(&r->mw, r->nmw, sizeof *r->mw);
	if (err)
		return err;
	r->mw[r->nmw++] = (struct http_mw){ mw, arg };
	return 0;
}

static bool path_matches(const struct route *rt, const char *path)
{
	return rt->prefix ? !strncmp(path, rt->path, rt->plen)
			  : !strcmp(path, rt->path);
}

static bool method_matches(const char *want, const char *method)
{
	return !want || !strcmp(want, method) ||
	       (!strcmp(method, "HEAD") && !strcmp(want, "GET"));
}

static int not_found(eddy_http_req *req, eddy_http_resp *resp, void *arg)
{
	(void)req;
	(void)arg;
	eddy_http_resp_status(resp, 404);
	return eddy_http_resp_body(resp, "Not Found\n", 10);
}

/* Append method to allow (", "-separated) unless it is there already. */
static void allow_add(char *allow, size_t size, const char *method)
{
	size_t mlen = strlen(method), len = strlen(allow);
	for (const char *at = allow; (at = strstr(at, method)); at += mlen)
		if ((at == allow || at[-1] == ' ') &&
		    (at[mlen] == ',' || !at[mlen]))
			return;
	if (len + 2 + mlen + 1 > size)
		return; /* an absurd number of methods: the list is cut */
	if (len)
		memcpy(allow + len, ", ", 2), len += 2;
	memcpy(allow + len, method, mlen + 1);
}

static int not_allowed(eddy_http_req *req, eddy_http_resp *resp, void *arg)
{
	const eddy_http_router *r = arg;
	char allow[256] = "";
	for (size_t i = 0; i < r->nroutes; i++) {
		const struct route *rt = r->routes[i];
		if (!rt->method || !path_matches(rt, req->path))
			continue;
		allow_add(allow, sizeof allow, rt->method);
		if (!strcmp(rt->method, "GET"))
			allow_add(allow, sizeof allow, "HEAD");
	}
	eddy_http_resp_status(resp, 405);
	int err = eddy_http_resp_header(resp, "Allow", allow);
	return err ? err : eddy_http_resp_body(resp, "Method Not Allowed\n", 19);
}

int eddy_http_router_handle(eddy_http_req *req, eddy_http_resp *resp,
			    void *arg)
{
	eddy_http_router *r = arg;
	if (!r || !req || !resp)
		return -EINVAL;
	eddy_http_next next = { r->mw, r->nmw, not_found, NULL };
	for (size_t i = 0; i < r->nroutes; i++) {
		const struct route *rt = r->routes[i];
		if (!path_matches(rt, req->path))
			continue;
		if (method_matches(rt->method, req->method)) {
			next.handler = rt->handler;
			next.arg = rt->arg;
			req->route = rt->path;
			break;
		}
		/* a route of another method: 405 unless a later one fits */
		next.handler = not_allowed;
		next.arg = r;
		req->route = rt->path;
	}
	return eddy_http_next_call(&next, req, resp);
}
