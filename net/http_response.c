/*
 * The response writer: what a handler builds (status, fields, body) turns
 * into bytes on the connection, with the fields HTTP/1.1 framing needs
 * (Date, Content-Length or Transfer-Encoding, Connection) written here and
 * nowhere else.
 *
 * A built response goes out whole when the handler returns: the head is
 * formatted into the connection's out buffer and a small body copied after
 * it, so that one write carries both.  When the client has pipelined more
 * requests (bytes wait in the reader), the write is held back: the next
 * response joins it in out, and the connection writes before it next waits
 * to read, so a burst of pipelined requests is answered by one write.  A
 * large body is not copied; it goes in the same writev as out.
 *
 * A streamed response writes its head at the first eddy_http_resp_write
 * and each write as one chunk at once: a stream is for data the client
 * should see as it comes.
 */
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "net/http_conn.h"

/* Bodies up to this size are copied into out; larger ones are written
 * from where they are. */
#define COPY_BODY_MAX 4096

void http_resp_reset(eddy_http_resp *resp, struct http_conn *c)
{
	resp->conn = c;
	resp->status = 200;
	resp->fields.len = 0;
	resp->body.len = 0;
	resp->head_sent = resp->chunked = resp->ended = false;
}

int eddy_http_resp_status(eddy_http_resp *resp, int status)
{
	if (!resp || status < 100 || status > 999)
		return -EINVAL;
	if (resp->head_sent || resp->ended)
		return -EALREADY;
	resp->status = status;
	return 0;
}

int eddy_http_resp_status_code(const eddy_http_resp *resp)
{
	return resp ? resp->status : 0;
}

/* RFC 9110 5.6.2: tchar, as a table (a field name is checked per
 * character on every response). */
static const bool tchar[256] = {
	['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1,
	['*'] = 1, ['+'] = 1, ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1,
	['`'] = 1, ['|'] = 1, ['~'] = 1,
	['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1,
	['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1,
	['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1,
	['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1,
	['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1,
	['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1,
	['Y'] = 1, ['Z'] = 1,
	['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1,
	['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1,
	['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1,
	['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1,
	['y'] = 1, ['z'] = 1,
};

/* The name's length if it is a token, else 0. */
static size_t token_len(const char *s)
{
	size_t n = 0;
	while (tchar[(unsigned char)s[n]])
		n++;
	return s[n] ? 0 : n;
}

/* The fields eddy writes itself; each starts with C, D or T. */
static bool is_reserved(const char *name)
{
	static const char *const ours[] = { "Date", "Content-Length",
					    "Transfer-Encoding", "Connection" };
	char first = (char)(name[0] | 0x20);
	if (first != 'c' && first != 'd' && first != 't')
		return false;
	for (size_t i = 0; i < sizeof ours / sizeof ours[0]; i++)
		if (!strcasecmp(name, ours[i]))
			return true;
	return false;
}

int eddy_http_resp_header(eddy_http_resp *resp, const char *name,
			  const char *value)
{
	size_t nlen = name ? token_len(name) : 0;
	if (!resp || !nlen || !value || strpbrk(value, "\r\n"))
		return -EINVAL;
	if (is_reserved(name))
		return -EPERM;
	if (resp->head_sent || resp->ended)
		return -EALREADY;
	size_t vlen = strlen(value);
	struct http_buf *f = &resp->fields;
	int err = http_buf_reserve(f, nlen + vlen + 4);
	if (err)
		return err;
	memcpy(f->p + f->len, name, nlen);
	memcpy(f->p + f->len + nlen, ": ", 2);
	memcpy(f->p + f->len + nlen + 2, value, vlen);
	memcpy(f->p + f->len + nlen + 2 + vlen, "\r\n", 2);
	f->len += nlen + vlen + 4;
	return 0;
}

int eddy_http_resp_body(eddy_http_resp *resp, const void *data, size_t len)
{
	if (!resp || (!data && len))
		return -EINVAL;
	if (resp->head_sent || resp->ended)
		return -EALREADY;
	return http_buf_append(&resp->body, data, len);
}

/* ---- formatting the head ------------------------------------------------ */

enum framing { FRAME_LENGTH, FRAME_CHUNKED, FRAME_UNTIL_CLOSE, FRAME_NONE };

/* Decimal digits of v at the end of buf[21]; returns where they start. */
static char *format_u64(char *end, uint64_t v)
{
	do
		*--end = (char)('0' + v % 10);
	while (v /= 10);
	return end;
}

/* Whether the connection must close after this response: the client or
 * the server said so, or what is left of the body cannot be skipped. */
static bool must_close(const eddy_http_req *req)
{
	if (req->close || eddy_server_stopping())
		return true;
	if (req->body_done)
		return false;
	/* a body the client was told to wait with never comes: we cannot
	 * tell where the next request starts */
	if (req->expect_continue && !req->continue_sent)
		return true;
	return http_body_too_long_to_drain(req);
}

static int put_head(eddy_http_resp *resp, enum framing framing,
		    uint64_t length)
{
	struct http_conn *c = resp->conn;
	if (must_close(&c->req) || framing == FRAME_UNTIL_CLOSE)
		c->close = true;
	const char *reason = eddy_http_reason(resp->status);
	size_t rlen = strlen(reason);
	/* status line, Date, fields, framing, Connection, blank line */
	size_t room = 13 + rlen + 2 + 6 + HTTP_DATE_LEN + 2 + resp->fields.len +
		      40 + 19 + 2;
	int err = http_buf_reserve(&c->out, room);
	if (err)
		return err;
	char *p = c->out.p + c->out.len;
	memcpy(p, "HTTP/1.1 ", 9);
	p[9] = (char)('0' + resp->status / 100);
	p[10] = (char)('0' + resp->status / 10 % 10);
	p[11] = (char)('0' + resp->status % 10);
	p[12] = ' ';
	p += 13;
	memcpy(p, reason, rlen);
	p += rlen;
	memcpy(p, "\r\nDate: ", 8);
	memcpy(p + 8, http_date_now(), HTTP_DATE_LEN);
	memcpy(p + 8 + HTTP_DATE_LEN, "\r\n", 2);
	p += 10 + HTTP_DATE_LEN;
	if (resp->fields.len)
		memcpy(p, resp->fields.p, resp->fields.len);
	p += resp->fields.len;
	if (framing == FRAME_LENGTH) {
		char digits[21], *d = format_u64(digits + sizeof digits, length);
		size_t dlen = (size_t)(digits + sizeof digits - d);
		memcpy(p, "Content-Length: ", 16);
		memcpy(p + 16, d, dlen);
		memcpy(p + 16 + dlen, "\r\n", 2);
		p += 18 + dlen;
	} else if (framing == FRAME_CHUNKED) {
		memcpy(p, "Transfer-Encoding: chunked\r\n", 28);
		p += 28;
	}
	if (c->close) {
		memcpy(p, "Connection: close\r\n", 19);
		p += 19;
	}
	memcpy(p, "\r\n", 2);
	p += 2;
	c->out.len = (size_t)(p - c->out.p);
	return 0;
}

/* 1xx, 204 and 304 responses have no body (RFC 9112 6.3). */
static bool has_no_body(int status)
{
	return status < 200 || status == 204 || status == 304;
}

/* ---- writing -------------------------------------------------------------- */

/* out, then iov[1..n): one writev.  out is emptied. */
static int write_out(struct http_conn *c, struct iovec *iov, int n)
{
	if (c->broken)
		return -EPIPE;
	iov[0] = (struct iovec){ c->out.p, c->out.len };
	ssize_t r = eddy_writev_all(c->fd, iov, n,
				    c->srv->opts.io_timeout_ns);
	c->out.len = 0;
	if (r < 0) {
		c->broken = c->close = true;
		return (int)r;
	}
	return 0;
}

int http_conn_flush(struct http_conn *c)
{
	if (!c->out.len)
		return 0;
	struct iovec iov[1];
	return write_out(c, iov, 1);
}

int http_resp_finish(eddy_http_resp *resp)
{
	struct http_conn *c = resp->conn;
	if (resp->ended)
		return 0;
	if (resp->head_sent)
		return eddy_http_resp_end(resp);
	resp->ended = true;
	bool bodiless = has_no_body(resp->status);
	int err = put_head(resp, bodiless ? FRAME_NONE : FRAME_LENGTH,
			   resp->body.len);
	if (err)
		return err;
	size_t blen = bodiless || c->req.is_head ? 0 : resp->body.len;
	if (blen > COPY_BODY_MAX) {
		struct iovec iov[2] = { [1] = { resp->body.p, blen } };
		return write_out(c, iov, 2);
	}
	if ((err = http_buf_append(&c->out, resp->body.p, blen)))
		return err;
	size_t buffered;
	eddy_reader_data(&c->rd, &buffered);
	if (buffered && !c->close)
		return 0; /* pipelined requests wait: answer them together */
	return http_conn_flush(c);
}

int http_resp_error(eddy_http_resp *resp, int status)
{
	struct http_conn *c = resp->conn;
	c->close = true;
	if (resp->head_sent)
		return 0; /* too late to say anything: closing says it */
	http_resp_reset(resp, c);
	resp->status = status;
	const char *reason = eddy_http_reason(status);
	int err = http_buf_append(&resp->body, reason, strlen(reason));
	if (!err)
		err = http_buf_append(&resp->body, "\n", 1);
	if (!err)
		err = http_resp_finish(resp);
	return err;
}

/* The head of a stream, and what eddy_http_resp_body gave before it. */
static int start_stream(eddy_http_resp *resp)
{
	struct http_conn *c = resp->conn;
	resp->head_sent = true;
	enum framing framing = FRAME_CHUNKED;
	if (has_no_body(resp->status))
		framing = FRAME_NONE;
	else if (c->req.version < 11)
		framing = FRAME_UNTIL_CLOSE;
	resp->chunked = framing == FRAME_CHUNKED;
	int err = put_head(resp, framing, 0);
	if (err)
		return err;
	if (framing == FRAME_NONE || c->req.is_head) {
		resp->body.len = 0;
		return 0;
	}
	size_t pending = resp->body.len;
	resp->body.len = 0;
	ssize_t n = pending ? eddy_http_resp_write(resp, resp->body.p, pending)
			    : 0;
	return n < 0 ? (int)n : 0;
}

ssize_t eddy_http_resp_write(eddy_http_resp *resp, const void *data,
			     size_t len)
{
	if (!resp || (!data && len))
		return -EINVAL;
	struct http_conn *c = resp->conn;
	if (resp->ended)
		return -EALREADY;
	if (!resp->head_sent) {
		int err = start_stream(resp);
		if (err)
			return err;
	}
	bool bodiless = c->req.is_head || has_no_body(resp->status);
	if (!len || bodiless) {
		int err = http_conn_flush(c);
		return err ? err : (ssize_t)len;
	}
	struct iovec iov[3] = { [1] = { (void *)data, len } };
	int n = 2;
	if (resp->chunked) {
		char line[20], *d = line + 18;
		static const char hex[] = "0123456789abcdef";
		line[18] = '\r';
		line[19] = '\n';
		for (size_t v = len; v; v >>= 4)
			*--d = hex[v & 15];
		int err = http_buf_append(&c->out, d,
					  (size_t)(line + sizeof line - d));
		if (err)
			return err;
		iov[n++] = (struct iovec){ "\r\n", 2 };
	}
	int err = write_out(c, iov, n);
	return err ? err : (ssize_t)len;
}

int eddy_http_resp_end(eddy_http_resp *resp)
{
	if (!resp)
		return -EINVAL;
	if (resp->ended)
		return 0;
	struct http_conn *c = resp->conn;
	if (!resp->head_sent) {
		int err = start_stream(resp);
		if (err)
			return err;
	}
	resp->ended = true;
	if (resp->chunked && !c->req.is_head) {
		int err = http_buf_append(&c->out, "0\r\n\r\n", 5);
		if (err)
			return err;
	}
	return http_conn_flush(c);
}
