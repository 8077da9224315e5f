/*
 * Middleware: code around a handler.  A chain is an array of middleware
 * and the handler at its end; eddy_http_next is a cursor into it that
 * lives on the stack of the middleware it was handed to.  Calling next
 * makes the cursor for the rest of the chain on the caller's stack and
 * runs the next middleware with it, so running a chain allocates nothing
 * and a middleware may hand next to a task it spawns and joins.
 */
#include <errno.h>

#include "net/http_conn.h"

int eddy_http_next_call(eddy_http_next *next, eddy_http_req *req,
			eddy_http_resp *resp)
{
	if (!next || !req || !resp)
		return -EINVAL;
	if (!next->n)
		return next->handler(req, resp, next->arg);
	eddy_http_next rest = { next->mw + 1, next->n - 1, next->handler,
				next->arg };
	return next->mw->fn(req, resp, &rest, next->mw->arg);
}

int eddy_http_wrapped(eddy_http_req *req, eddy_http_resp *resp, void *arg)
{
	const eddy_http_wrap *w = arg;
	if (!w || !w->middleware || !w->handler)
		return -EINVAL;
	eddy_http_next next = { NULL, 0, w->handler, w->handler_arg };
	return w->middleware(req, resp, &next, w->middleware_arg);
}
