/*
 * The HTTP/1.1 connection loop: one task per connection, reading requests
 * one after the other and answering each in order.
 *
 *   ┌─▶ read a head ── a parser refusal ─▶ answer its status, close
 *   │     │  (idle wait, then the header timeout from the first byte)
 *   │     ▼
 *   │   copy it into the request, frame the body
 *   │     ▼
 *   │   run the handler in a fresh context ── it reads the body itself
 *   │     ▼
 *   │   send the response (held back while pipelined requests wait)
 *   │     ▼
 *   └── drain what is left of the body; close instead when the client
 *       or the server asked to, or something went wrong
 *
 * Pipelined requests need nothing special: they wait in the reader's
 * buffer, and the loop takes them in order.  A refusal is always the last
 * thing said on a connection: after a malformed head, where the next
 * request would start is unknown, and guessing is how requests are
 * smuggled.
 *
 * Timeouts.  The header timeout covers the whole head, not each read, so
 * a client trickling a byte at a time (slowloris) is cut when it runs out
 * however often it sends.  It starts at the accept for a connection's
 * first request, and at the first byte for a kept-alive connection's next
 * one; before that byte the idle timeout applies, which ends the
 * connection without a word.  That wait is also where a kept-alive
 * connection is idle for eddy_server: a server stopping closes it at
 * once instead of letting it wait out the grace period.
 *
 * Contexts.  Each request's handler runs in a new context copied from the
 * server's (O(1): the mapping is shared until written).  The connection
 * task holds it the way a task holds its own (task/task.c): claimed, and
 * made current with a swap, so a handler may suspend, offload to a worker
 * under any policy, or spawn tasks that share it.  Nothing it sets
 * survives into the next request.
 */
#define _GNU_SOURCE /* clock_gettime in deadline.h */
#include <errno.h>
#include <string.h>

#include "ctx/alloc.h"
#include "net/deadline.h"
#include "net/http_conn.h"

/* A connection's first read buffer; it grows to what a head may need. */
#define RBUF_FIRST 4096
/* Room beyond head_max for the empty lines a request may start with. */
#define RBUF_SLACK 64

static int grow_reader(struct http_conn *c)
{
	size_t max = c->srv->opts.head_max + RBUF_SLACK;
	if (c->rd.cap >= max)
		return -ENOBUFS;
	size_t cap = c->rd.cap * 2 < max ? c->rd.cap * 2 : max;
	size_t len;
	const char *data = eddy_reader_data(&c->rd, &len);
	char *buf = eddy_alloc(cap);
	if (!buf)
		return -ENOMEM;
	memcpy(buf, data, len);
	eddy_free(c->rd.buf);
	/* the reader owns no memory: its buffer is ours to replace */
	c->rd.buf = buf;
	c->rd.cap = cap;
	c->rd.start = 0;
	c->rd.end = len;
	return 0;
}

ssize_t http_conn_fill(struct http_conn *c, uint64_t timeout_ns)
{
	int err = http_conn_flush(c);
	if (err)
		return err;
	ssize_t n = eddy_reader_fill(&c->rd, timeout_ns);
	if (n == -ENOBUFS && !(err = grow_reader(c)))
		n = eddy_reader_fill(&c->rd, timeout_ns);
	return err ? err : n;
}

/*
 * The wait of a kept-alive connection for its next request's first byte:
 * the connection is idle meanwhile (eddy_server_idle), so a server that
 * stops ends it at once rather than after its grace period.  What
 * http_conn_fill returns; -ECANCELED when the stop came first.
 */
static ssize_t idle_fill(struct http_conn *c, uint64_t timeout_ns)
{
	/* responses held back go out first: a stop must not cut them */
	int err = http_conn_flush(c);
	if (err)
		return err;
	err = eddy_server_idle(c->fd, 1);
	if (err == -ECANCELED)
		return err;
	ssize_t n = http_conn_fill(c, timeout_ns);
	if (!err && eddy_server_idle(c->fd, 0) == -ECANCELED)
		return -ECANCELED;
	return n;
}

/*
 * Read and parse the next head.  deadline: when the head must be in, or
 * 0 to start the header timeout at its first byte.  The head's length;
 * 0 to close without a word (the peer left, the idle timeout, an error
 * reading); -STATUS for a refusal.
 */
static int read_head(struct http_conn *c, struct eddy_http_head *head,
		     uint64_t deadline)
{
	const eddy_http_opts *o = &c->srv->opts;
	for (;;) {
		size_t len;
		const char *data = eddy_reader_data(&c->rd, &len);
		if (len) {
			if (!deadline)
				deadline = net_deadline(o->header_timeout_ns);
			int r = eddy_http_parse_head(data, len, &c->srv->parse,
						     head);
			if (r)
				return r;
		}
		uint64_t left = o->idle_timeout_ns;
		if (deadline && net_time_left(deadline, &left))
			return -408;
		ssize_t n = deadline ? http_conn_fill(c, left)
				     : idle_fill(c, left);
		if (n == -ENOBUFS)
			return -431;
		if (n == -ENOMEM)
			return -503;
		if (n == -ETIMEDOUT && deadline)
			return -408;
		if (n <= 0)
			return 0;
	}
}

/* The next request, read and framed: 1, 0 to close, or -STATUS. */
static int next_request(struct http_conn *c, uint64_t deadline)
{
	/* sized by the limit, which is at most HTTP_FIELDS_MAX: each page of
	 * a task's stack that is touched stays with the task */
	struct eddy_http_header fields[c->srv->opts.fields_max];
	struct eddy_http_head head;
	eddy_http_head_init(&head, fields, c->srv->opts.fields_max);
	int len = read_head(c, &head, deadline);
	if (len <= 0)
		return len;
	if (http_request_copy(c, &head, (size_t)len))
		return -503;
	eddy_reader_consume(&c->rd, (size_t)len);
	http_body_start(&c->req, &head);
	return 1;
}

/* The handler, in a fresh context copied from the server's. */
static int run_handler(struct http_conn *c)
{
	eddy_ctx *ctx = eddy_ctx_copy(c->srv->ctx);
	if (!ctx)
		return -ENOMEM;
	int err = eddy_ctx_claim(ctx);
	if (err) {
		eddy_ctx_unref(ctx);
		return err;
	}
	eddy_ctx *outside = eddy_ctx_swap_current(ctx);
	err = c->srv->opts.handler(&c->req, &c->resp, c->srv->opts.arg);
	eddy_ctx_swap_current(outside);
	eddy_ctx_release(ctx);
	eddy_ctx_unref(ctx);
	return err;
}

static void serve_request(struct http_conn *c)
{
	eddy_http_req *req = &c->req;
	eddy_http_resp *resp = &c->resp;
	http_resp_reset(resp, c);
	int err = run_handler(c);
	if (req->body_status && resp->status < 400)
		err = http_resp_error(resp, req->body_status);
	else if (err < 0 && resp->head_sent)
		c->close = true; /* the client sees the stream cut short */
	else if (err < 0) {
		http_resp_reset(resp, c);
		resp->status = 500;
		err = eddy_http_resp_body(resp, "Internal Server Error\n", 22);
		err = err ? http_resp_error(resp, 500) : http_resp_finish(resp);
	} else
		err = http_resp_finish(resp);
	if (err)
		c->close = true;
	if (!c->close && http_body_drain(req))
		c->close = true;
}

int eddy_http_serve_conn(int fd, const struct sockaddr *peer, void *arg)
{
	const eddy_http_server *srv = arg;
	if (!srv || fd < 0)
		return -EINVAL;
	struct http_conn c = { .fd = fd, .peer = peer, .srv = srv };
	char *rbuf = eddy_alloc(RBUF_FIRST);
	if (!rbuf)
		return -ENOMEM;
	eddy_reader_init(&c.rd, fd, rbuf, RBUF_FIRST);
	c.req.conn = &c;
	c.resp.conn = &c;
	/* a new connection's first head is due header_timeout after the
	 * accept, however slowly its first byte comes */
	uint64_t deadline = net_deadline(srv->opts.header_timeout_ns);
	while (!c.close && !eddy_server_stopping()) {
		int r = next_request(&c, deadline);
		deadline = 0;
		if (r == 0)
			break;
		if (r < 0) {
			http_resp_error(&c.resp, -r);
			break;
		}
		serve_request(&c);
	}
	int err = http_conn_flush(&c);
	eddy_free(c.rd.buf);
	http_buf_free(&c.head);
	http_buf_free(&c.out);
	http_buf_free(&c.resp.fields);
	http_buf_free(&c.resp.body);
	eddy_free(c.fields);
	return err;
}
