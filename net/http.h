/*
 * eddy http: a small HTTP/1.1 server over eddy_server's connections.
 *
 *   static int hello(eddy_http_req *req, eddy_http_resp *resp, void *arg)
 *   {
 *       eddy_http_resp_header(resp, "Content-Type", "text/plain");
 *       return eddy_http_resp_body(resp, "Hello, World!", 13);
 *   }
 *   ...
 *   eddy_http_server *http = eddy_http_server_new(&(eddy_http_opts){
 *       .handler = hello });
 *   eddy_server *srv = eddy_server_new(&(eddy_server_opts){
 *       .port = "8080", .handle_signals = 1, .grace_ns = 5000000000,
 *       .on_conn = eddy_http_serve_conn, .arg = http });
 *   eddy_server_run(srv);                 // until SIGINT/SIGTERM
 *   eddy_server_free(srv);
 *   eddy_http_server_free(http);
 *
 * HTTP is a connection function (eddy_conn_fn) for net.h's server, so one
 * eddy_http_server serves every loop of a multi-threaded eddy_server.
 * Each request runs in a fresh context copied from the context current
 * when the eddy_http_server was made: what a handler sets is gone when the
 * next request on the same connection starts.  docs/net.md is the manual.
 */
#ifndef EDDY_HTTP_H
#define EDDY_HTTP_H

#pragma GCC visibility push(default)

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "net/net.h"

typedef struct eddy_http_server eddy_http_server;
typedef struct eddy_http_req eddy_http_req;
typedef struct eddy_http_resp eddy_http_resp;

/*
 * Serves one request.  req and resp, and every string they hand out, are
 * valid until the handler returns.  Return 0, or a negative errno: if no
 * part of the response was sent yet, the client gets 500 instead of what
 * was set; if a streamed response was started, the connection is closed
 * (the client sees a truncated body, as it should).
 */
typedef int (*eddy_http_handler)(eddy_http_req *req, eddy_http_resp *resp,
				 void *arg);

/*
 * Options of an HTTP server; zeroed fields mean the defaults.  The limits
 * say what a client may send and how long it may take: a request over
 * one is answered with the status named here and "Connection: close", and
 * the connection is closed.
 */
typedef struct eddy_http_opts {
	eddy_http_handler handler;  /* required */
	void *arg;                  /* the handler's */
	size_t head_max;            /* request line and fields: 8 KiB; 431 */
	size_t line_max;            /* request line: 8 KiB, at most
				     * head_max - 2; 414 */
	unsigned fields_max;        /* header fields: 100, at most 1000; 431 */
	uint64_t body_max;          /* body bytes: 1 MiB; 413 */
	uint64_t header_timeout_ns; /* the whole head, from its first byte
				     * (on a new connection: from the
				     * accept): 10 s; 408 */
	uint64_t idle_timeout_ns;   /* a kept-alive connection waiting for
				     * the next request: 60 s; closed
				     * without a word */
	uint64_t io_timeout_ns;     /* each body read and each response
				     * write: 30 s; 408 for a body, else
				     * the connection is closed */
} eddy_http_opts;

/*
 * A server object: the handler, the limits, and a snapshot of the current
 * context that every request's context is copied from.  It keeps
 * opts->arg, never frees it.  The caller frees it (eddy_http_server_free)
 * after every connection using it has ended.  NULL with errno EINVAL (no
 * handler, fields_max over 1000, head_max under 64) or ENOMEM.
 */
eddy_http_server *eddy_http_server_new(const eddy_http_opts *opts);
void eddy_http_server_free(eddy_http_server *srv);

/*
 * An eddy_conn_fn (net.h) serving HTTP/1.1 on fd until the peer closes,
 * asks to close, breaks a rule, times out or the server stops; arg is the
 * eddy_http_server.  Also usable on its own, in a task, with a connected
 * socket.  0, or the error that ended the connection.
 */
int eddy_http_serve_conn(int fd, const struct sockaddr *peer, void *arg);

/* ---- The request --------------------------------------------------------
 *
 * Strings are NUL-terminated, borrowed from the request, and valid until
 * the handler returns: copy what must live longer.  Reading them is safe
 * from a worker thread the handler waits for (eddy_to_thread).
 */

const char *eddy_http_req_method(const eddy_http_req *req); /* "GET" */
/* The target's path ("/a/b"), percent-escapes as sent. */
const char *eddy_http_req_path(const eddy_http_req *req);
/* What follows '?' in the target, or NULL when there is no '?'. */
const char *eddy_http_req_query(const eddy_http_req *req);
/* 10 for HTTP/1.0, 11 for HTTP/1.1. */
int eddy_http_req_version(const eddy_http_req *req);
/* The first field named name (case-insensitively), or NULL. */
const char *eddy_http_req_header(const eddy_http_req *req, const char *name);
/* The number of header fields, and field i of them (0 or -ERANGE). */
size_t eddy_http_req_header_count(const eddy_http_req *req);
int eddy_http_req_header_at(const eddy_http_req *req, size_t i,
			    const char **name, const char **value);
/* The peer's address, as accepted. */
const struct sockaddr *eddy_http_req_peer(const eddy_http_req *req);
/* The path pattern of the route a router matched, or NULL. */
const char *eddy_http_req_route(const eddy_http_req *req);
/* The body's length from Content-Length, or -1 when it is chunked. */
int64_t eddy_http_req_content_length(const eddy_http_req *req);

/*
 * Read up to len bytes of the body (chunked bodies come decoded), from the
 * connection's task.  The count, 0 at the body's end, or: -EMSGSIZE past
 * body_max (the client gets 413), -ETIMEDOUT after io_timeout_ns
 * without a byte (408), -EPROTO for a malformed chunked body (400),
 * -EPIPE when the peer closed mid-body, -EPERM outside the task.  The
 * status in parentheses is sent if the handler sends nothing else.  A
 * client that sent "Expect: 100-continue" gets its "100 Continue" at the
 * first read, so a handler that never reads never invites the body.
 */
ssize_t eddy_http_req_read(eddy_http_req *req, void *buf, size_t len);

/* ---- The response -------------------------------------------------------
 *
 * Build it (status, fields, body), and it is sent when the handler
 * returns, with Date and Content-Length set; or stream it (write, end).
 * status, header and body only touch memory, so a worker thread the
 * handler waits for may call them.  A response to HEAD is sent without
 * its body, with the Content-Length it would have had.
 */

/* The status to send; 200 unless set.  -EINVAL outside 100..999,
 * -EALREADY once the head was sent. */
int eddy_http_resp_status(eddy_http_resp *resp, int status);
/* The status set so far (what a logging middleware prints). */
int eddy_http_resp_status_code(const eddy_http_resp *resp);

/*
 * Add a field (both strings are copied).  -EINVAL for a name that is not
 * a token or a value with CR, LF or NUL (so no caller can inject fields),
 * -EALREADY once the head was sent, -ENOMEM.  Date, Content-Length,
 * Transfer-Encoding and Connection are eddy's to set: -EPERM.
 */
int eddy_http_resp_header(eddy_http_resp *resp, const char *name,
			  const char *value);

/* Append len bytes to the body (copied).  -EALREADY once streaming began,
 * -ENOMEM. */
int eddy_http_resp_body(eddy_http_resp *resp, const void *data, size_t len);

/*
 * Stream: the first write sends the head (chunked for HTTP/1.1; for
 * HTTP/1.0 the body runs to the connection's close), and each write sends
 * data now as one chunk, what was given to eddy_http_resp_body first.
 * From the connection's task only.  len, or the write's error (the
 * connection will close).
 */
ssize_t eddy_http_resp_write(eddy_http_resp *resp, const void *data,
			     size_t len);
/* Finish a streamed response (the handler's return does it too). 0 or the
 * write's error. */
int eddy_http_resp_end(eddy_http_resp *resp);

/* ---- Middleware and routing --------------------------------------------- */

/* The rest of a handler chain, handed to a middleware. */
typedef struct eddy_http_next eddy_http_next;

/*
 * Wraps a handler: do something before, call eddy_http_next_call (or not:
 * answer alone), do something after.  next is valid until the middleware
 * returns, and may be called from a task the middleware spawns and joins.
 */
typedef int (*eddy_http_middleware)(eddy_http_req *req, eddy_http_resp *resp,
				    eddy_http_next *next, void *arg);

/* Run the rest of the chain; its return value. */
int eddy_http_next_call(eddy_http_next *next, eddy_http_req *req,
			eddy_http_resp *resp);

/*
 * One middleware around one handler, with no allocation: a handler whose
 * arg is the struct.  Wraps nest (a wrap's handler may be
 * eddy_http_wrapped with another wrap).
 *
 *   static eddy_http_wrap logged = { log_mw, NULL, endpoint, NULL };
 *   eddy_http_router_add(r, "GET", "/", eddy_http_wrapped, &logged);
 */
typedef struct eddy_http_wrap {
	eddy_http_middleware middleware;
	void *middleware_arg;
	eddy_http_handler handler;
	void *handler_arg;
} eddy_http_wrap;

int eddy_http_wrapped(eddy_http_req *req, eddy_http_resp *resp, void *wrap);

/*
 * A router: (method, path) to handler.  A path is matched exactly, or
 * by prefix when it ends in a '*' after a '/' (the pattern "/static/"
 * followed by '*' matches "/static/a/b");
 * the first route added that matches wins.  GET routes answer HEAD too.
 * A path no route matches gets 404; a path matched with another method
 * gets 405 with an Allow field naming the methods it has.
 */
typedef struct eddy_http_router eddy_http_router;

/* A new empty router; the caller frees it (eddy_http_router_free) after
 * the server stopped using it.  NULL with errno ENOMEM. */
eddy_http_router *eddy_http_router_new(void);
void eddy_http_router_free(eddy_http_router *r);

/* Add a route (method and path are copied; NULL method: any).  -EINVAL
 * for a NULL path or handler, or a path not starting with '/'; -ENOMEM. */
int eddy_http_router_add(eddy_http_router *r, const char *method,
			 const char *path, eddy_http_handler handler,
			 void *arg);

/*
 * Wrap every request the router answers, its 404s and 405s included, in
 * a middleware; the first added is the outermost.  The route is matched
 * first, so middleware sees eddy_http_req_route.  -EINVAL, -ENOMEM.
 */
int eddy_http_router_use(eddy_http_router *r, eddy_http_middleware mw,
			 void *arg);

/* The router as a handler: arg is the router.  Add routes before
 * serving: a router is not changed while it serves. */
int eddy_http_router_handle(eddy_http_req *req, eddy_http_resp *resp,
			    void *router);

/* The reason phrase of a status ("Not Found"), "" for one eddy does not
 * know. */
const char *eddy_http_reason(int status);

#pragma GCC visibility pop

#endif
