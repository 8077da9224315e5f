/*
 * Internal to net/: the HTTP connection, request and response objects,
 * shared by the connection loop (http_conn.c), the request body
 * (http_body.c), the response writer (http_response.c) and the router.
 *
 * One connection task owns one struct http_conn for its whole life, and
 * the request and response objects inside it are reset for each request,
 * so a kept-alive connection allocates nothing per request once its
 * buffers have grown to what its requests need:
 *
 *   http_conn
 *   ├── rd, rbuf   the reader and its buffer: bytes received, not used yet
 *   │              (the rest of this request's body, pipelined requests)
 *   ├── head       a NUL-terminated copy of the current request's head:
 *   │              the strings and the field table req hands out
 *   ├── out        response bytes not written yet: heads, small bodies,
 *   │              and whole responses held back while pipelined requests
 *   │              wait in rd (one write then answers several)
 *   ├── req        the request: parsed head, body framing and state
 *   └── resp       the response being built: status, fields, body
 */
#ifndef EDDY_NET_HTTP_CONN_H
#define EDDY_NET_HTTP_CONN_H

#include <stdbool.h>
#include <stdint.h>

#include "net/http.h"
#include "net/http_parse.h"

/* A growable byte buffer; len bytes used of cap. */
struct http_buf {
	char *p;
	size_t len, cap;
};

int http_buf_reserve(struct http_buf *b, size_t more);
int http_buf_append(struct http_buf *b, const void *data, size_t len);
void http_buf_free(struct http_buf *b);

struct http_field {
	const char *name, *value;
};

struct eddy_http_req {
	struct http_conn *conn;
	const char *method, *path, *query, *route;
	int version; /* 10 or 11 */
	struct http_field *fields;
	size_t nfields;
	int64_t content_length; /* -1 when chunked */

	enum eddy_http_body body;
	uint64_t body_left;     /* EDDY_HTTP_BODY_LENGTH: bytes to come */
	struct eddy_http_chunked chunked; /* BODY_CHUNKED: the decoder */
	bool body_done;         /* the body's end was reached */
	int body_status;        /* a failed read's status, for the answer */
	int body_err;           /* and its error, for later reads */
	bool expect_continue, continue_sent;
	bool is_head;           /* HEAD: the response goes without body */
	bool close;             /* HTTP/1.0 or Connection: close */
};

struct eddy_http_resp {
	struct http_conn *conn;
	int status;
	struct http_buf fields; /* "Name: value\r\n" lines, as added */
	struct http_buf body;
	bool head_sent;         /* streaming began */
	bool chunked;           /* streaming with chunked coding */
	bool ended;             /* the whole response is out (or in out) */
};

struct http_conn {
	int fd;
	const struct sockaddr *peer;
	const eddy_http_server *srv;
	eddy_reader rd;
	struct http_buf head;   /* the request head's strings, copied */
	struct http_field *fields; /* and its field table */
	size_t fields_cap;
	struct http_buf out;
	eddy_http_req req;
	eddy_http_resp resp;
	bool close;             /* close after this response */
	bool broken;            /* a write failed: nothing more goes out */
};

struct eddy_http_server {
	eddy_http_opts opts;    /* defaults filled in */
	struct eddy_http_limits parse; /* the parser's share of them */
	eddy_ctx *ctx;          /* what each request's context copies */
};

/* The most header fields a server may allow: the parser's table of them
 * lives on the connection task's stack while a head is parsed. */
#define HTTP_FIELDS_MAX 1000

/* ---- http_request.c ---- */
/* Copy the parsed head (head_len bytes) into c->head and c->req.
 * 0 or -ENOMEM. */
int http_request_copy(struct http_conn *c, const struct eddy_http_head *head,
		      size_t head_len);

/* ---- http_response.c ---- */
void http_resp_reset(eddy_http_resp *resp, struct http_conn *c);
/* Put the whole response in c->out (or finish a stream), and write out
 * what waits unless more pipelined requests are buffered.  0 or the
 * write's error. */
int http_resp_finish(eddy_http_resp *resp);
/* Answer with status and a short text body, closing the connection. */
int http_resp_error(eddy_http_resp *resp, int status);
/* Write out every byte waiting in c->out.  0 or the write's error. */
int http_conn_flush(struct http_conn *c);

/* ---- http_date.c ---- */
#define HTTP_DATE_LEN 29 /* "Sun, 06 Nov 1994 08:49:37 GMT" */
/* The current time as an IMF-fixdate, cached per thread for a second. */
const char *http_date_now(void);

/* ---- http_body.c ---- */
/* Frame the body from the parsed head. */
void http_body_start(eddy_http_req *req, const struct eddy_http_head *head);
/* Read and drop what the handler left of the body, up to a bound: 0 when
 * the connection can carry another request, else the reason it cannot. */
int http_body_drain(eddy_http_req *req);
/* Whether the rest of the body is too much to drain. */
bool http_body_too_long_to_drain(const eddy_http_req *req);

/* ---- http_conn.c ---- */
/* Write out what waits, then read more into c->rd (growing its buffer up
 * to what a head may need); as eddy_reader_fill. */
ssize_t http_conn_fill(struct http_conn *c, uint64_t timeout_ns);

/* ---- http_middleware.c ---- */
struct http_mw {
	eddy_http_middleware fn;
	void *arg;
};

struct eddy_http_next {
	const struct http_mw *mw; /* middleware still to run, outermost first */
	size_t n;
	eddy_http_handler handler;
	void *arg;
};

#endif
