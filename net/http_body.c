/*
 * The request body, read by the handler through the request: framed by
 * Content-Length (a count of bytes still to come) or chunked (the parser's
 * incremental decoder, fed from the connection's reader), in both cases
 * out of the same buffer the head came in, so a small body that arrived
 * with its head costs no read.
 *
 * A failed read remembers the status the client deserves (413 past the
 * limit, 408 on a timeout, 400 for a broken chunked framing): if the
 * handler then answers nothing, that is the answer, and the connection
 * closes, because where the next request would start is unknown.
 *
 * What the handler leaves unread is drained after the response, up to
 * DRAIN_MAX, so a kept-alive connection can go on; past that, closing is
 * cheaper than reading, and the response says "Connection: close".
 */
#include <errno.h>
#include <string.h>

#include "net/http_conn.h"

#define DRAIN_MAX (64 * 1024)

void http_body_start(eddy_http_req *req, const struct eddy_http_head *head)
{
	req->body = head->body;
	req->body_done = false;
	req->body_status = req->body_err = 0;
	req->expect_continue = head->expect_continue;
	req->continue_sent = false;
	switch (head->body) {
	case EDDY_HTTP_BODY_NONE:
		req->content_length = 0;
		req->body_done = true;
		break;
	case EDDY_HTTP_BODY_LENGTH:
		req->content_length = (int64_t)head->content_length;
		req->body_left = head->content_length;
		req->body_done = !head->content_length;
		break;
	case EDDY_HTTP_BODY_CHUNKED:
		req->content_length = -1;
		eddy_http_chunked_init(&req->chunked,
				       &req->conn->srv->parse);
		break;
	}
}

bool http_body_too_long_to_drain(const eddy_http_req *req)
{
	return !req->body_done && req->body == EDDY_HTTP_BODY_LENGTH &&
	       req->body_left > DRAIN_MAX;
}

/* Remember why the body cannot be read, and say it to every later read. */
static ssize_t body_failed(eddy_http_req *req, int status, int err)
{
	req->body_status = status;
	req->body_err = err;
	req->conn->close = true;
	return err;
}

/* More bytes in the reader, or the reason there are none. */
static ssize_t body_fill(eddy_http_req *req)
{
	ssize_t n = http_conn_fill(req->conn, req->conn->srv->opts.io_timeout_ns);
	if (n > 0)
		return n;
	if (n == 0 || n == -ECONNRESET)
		return body_failed(req, 400, -EPIPE); /* nobody will read it */
	if (n == -ETIMEDOUT)
		return body_failed(req, 408, -ETIMEDOUT);
	return body_failed(req, 500, (int)n);
}

static ssize_t read_length(eddy_http_req *req, char *buf, size_t len)
{
	size_t avail;
	const char *data = eddy_reader_data(&req->conn->rd, &avail);
	if (!avail) {
		ssize_t n = body_fill(req);
		if (n < 0)
			return n;
		data = eddy_reader_data(&req->conn->rd, &avail);
	}
	size_t n = avail < len ? avail : len;
	if (n > req->body_left)
		n = (size_t)req->body_left;
	memcpy(buf, data, n);
	eddy_reader_consume(&req->conn->rd, n);
	req->body_left -= n;
	req->body_done = !req->body_left;
	return (ssize_t)n;
}

static ssize_t read_chunked(eddy_http_req *req, char *buf, size_t len)
{
	for (;;) {
		size_t avail, used, made;
		const char *data = eddy_reader_data(&req->conn->rd, &avail);
		int r = avail ? eddy_http_chunked_decode(&req->chunked, data,
							 avail, &used, buf,
							 len, &made)
			      : 0;
		if (r < 0)
			return body_failed(req, -r,
					   r == -413 ? -EMSGSIZE : -EPROTO);
		if (avail)
			eddy_reader_consume(&req->conn->rd, used);
		if (r == 1)
			req->body_done = true;
		if (made || r == 1)
			return (ssize_t)made;
		if (avail && used < avail)
			continue; /* framing only, more to decode */
		ssize_t n = body_fill(req);
		if (n < 0)
			return n;
	}
}

/* Tell a client that waits with its body to send it (RFC 9110 10.1.1). */
static int invite_body(eddy_http_req *req)
{
	struct http_conn *c = req->conn;
	req->continue_sent = true;
	static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
	int err = http_buf_append(&c->out, cont, sizeof cont - 1);
	return err ? err : http_conn_flush(c);
}

ssize_t eddy_http_req_read(eddy_http_req *req, void *buf, size_t len)
{
	if (!req || (!buf && len))
		return -EINVAL;
	if (req->body_err)
		return req->body_err;
	if (req->body_done || !len)
		return 0;
	if (!eddy_task_current())
		return -EPERM;
	if (req->expect_continue && !req->continue_sent &&
	    !req->conn->resp.head_sent) {
		int err = invite_body(req);
		if (err)
			return err;
	}
	return req->body == EDDY_HTTP_BODY_LENGTH ? read_length(req, buf, len)
						  : read_chunked(req, buf, len);
}

int http_body_drain(eddy_http_req *req)
{
	char sink[4096];
	size_t drained = 0;
	while (!req->body_done) {
		if (drained > DRAIN_MAX)
			return -EMSGSIZE;
		ssize_t n = eddy_http_req_read(req, sink, sizeof sink);
		if (n < 0)
			return (int)n;
		drained += (size_t)n;
	}
	return 0;
}
