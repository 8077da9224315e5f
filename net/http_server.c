/*
 * The HTTP server object: a handler, the limits with their defaults
 * filled in, and the context every request's context is copied from.
 * It is shared, read-only, by every connection of every loop serving it.
 */
#include <errno.h>

#include "ctx/alloc.h"
#include "net/http_conn.h"

#define SEC 1000000000ull

eddy_http_server *eddy_http_server_new(const eddy_http_opts *opts)
{
	if (!opts || !opts->handler || opts->fields_max > HTTP_FIELDS_MAX ||
	    (opts->head_max && opts->head_max < 64)) {
		errno = EINVAL;
		return NULL;
	}
	eddy_http_server *srv = eddy_alloc(sizeof *srv);
	if (!srv) {
		errno = ENOMEM;
		return NULL;
	}
	eddy_http_opts *o = &srv->opts;
	*o = *opts;
	if (!o->head_max)
		o->head_max = EDDY_HTTP_MAX_HEAD;
	if (!o->line_max)
		o->line_max = EDDY_HTTP_MAX_REQUEST_LINE;
	if (o->line_max > o->head_max - 2)
		o->line_max = o->head_max - 2;
	if (!o->fields_max)
		o->fields_max = EDDY_HTTP_MAX_HEADERS;
	if (!o->body_max)
		o->body_max = EDDY_HTTP_MAX_BODY;
	if (!o->header_timeout_ns)
		o->header_timeout_ns = 10 * SEC;
	if (!o->idle_timeout_ns)
		o->idle_timeout_ns = 60 * SEC;
	if (!o->io_timeout_ns)
		o->io_timeout_ns = 30 * SEC;
	srv->parse = (struct eddy_http_limits){
		.max_request_line = o->line_max,
		.max_head = o->head_max,
		.max_headers = o->fields_max,
		.max_body = o->body_max,
	};
	if (!(srv->ctx = eddy_ctx_copy_current())) {
		eddy_free(srv);
		errno = ENOMEM;
		return NULL;
	}
	return srv;
}

void eddy_http_server_free(eddy_http_server *srv)
{
	if (!srv)
		return;
	eddy_ctx_unref(srv->ctx);
	eddy_free(srv);
}
