/*
 * The request a handler sees: the parsed head, copied out of the
 * connection's read buffer into strings of its own.
 *
 * Why a copy: the parser points into the reader's buffer, and that buffer
 * moves (compaction, growth) as soon as the handler reads the body or the
 * next request arrives.  Copying the head once, with a NUL after each
 * string, makes every string the request hands out stable until the
 * handler returns and usable with the C library as it is.  A head is a
 * few hundred bytes; the copy costs less than formatting the response.
 */
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "ctx/alloc.h"
#include "net/http_conn.h"

/* Room for the field table: at least n entries. */
static int reserve_fields(struct http_conn *c, size_t n)
{
	if (n <= c->fields_cap)
		return 0;
	size_t cap = c->fields_cap ? c->fields_cap : 16;
	while (cap < n)
		cap *= 2;
	struct http_field *f = eddy_alloc(cap * sizeof *f);
	if (!f)
		return -ENOMEM;
	eddy_free(c->fields);
	c->fields = f;
	c->fields_cap = cap;
	return 0;
}

/* Copy s (len bytes) and a NUL to the end of b, which has room. */
static const char *put(struct http_buf *b, const char *s, size_t len)
{
	char *at = b->p + b->len;
	memcpy(at, s, len);
	at[len] = '\0';
	b->len += len + 1;
	return at;
}

int http_request_copy(struct http_conn *c, const struct eddy_http_head *head,
		      size_t head_len)
{
	/* every string of the head fits in head_len bytes plus their NULs
	 * (method, path, query, two per field) */
	struct http_buf *b = &c->head;
	b->len = 0;
	int err = http_buf_reserve(b, head_len + 3 + 2 * head->n_headers);
	if (!err)
		err = reserve_fields(c, head->n_headers);
	if (err)
		return err;
	eddy_http_req *req = &c->req;
	req->method = put(b, head->method, head->method_len);
	const char *q = memchr(head->target, '?', head->target_len);
	size_t plen = q ? (size_t)(q - head->target) : head->target_len;
	req->path = put(b, head->target, plen);
	req->query = q ? put(b, q + 1, head->target_len - plen - 1) : NULL;
	for (size_t i = 0; i < head->n_headers; i++) {
		const struct eddy_http_header *h = &head->headers[i];
		c->fields[i].name = put(b, h->name, h->name_len);
		c->fields[i].value = put(b, h->value, h->value_len);
	}
	req->fields = c->fields;
	req->nfields = head->n_headers;
	req->version = 10 + head->minor;
	req->route = NULL;
	req->is_head = !strcmp(req->method, "HEAD");
	req->close = !head->keep_alive;
	return 0;
}

const char *eddy_http_req_method(const eddy_http_req *req)
{
	return req ? req->method : NULL;
}

const char *eddy_http_req_path(const eddy_http_req *req)
{
	return req ? req->path : NULL;
}

const char *eddy_http_req_query(const eddy_http_req *req)
{
	return req ? req->query : NULL;
}

int eddy_http_req_version(const eddy_http_req *req)
{
	return req ? req->version : 0;
}

const char *eddy_http_req_header(const eddy_http_req *req, const char *name)
{
	if (!req || !name)
		return NULL;
	for (size_t i = 0; i < req->nfields; i++)
		if (!strcasecmp(req->fields[i].name, name))
			return req->fields[i].value;
	return NULL;
}

size_t eddy_http_req_header_count(const eddy_http_req *req)
{
	return req ? req->nfields : 0;
}

int eddy_http_req_header_at(const eddy_http_req *req, size_t i,
			    const char **name, const char **value)
{
	if (!req)
		return -EINVAL;
	if (i >= req->nfields)
		return -ERANGE;
	if (name)
		*name = req->fields[i].name;
	if (value)
		*value = req->fields[i].value;
	return 0;
}

const struct sockaddr *eddy_http_req_peer(const eddy_http_req *req)
{
	return req ? req->conn->peer : NULL;
}

const char *eddy_http_req_route(const eddy_http_req *req)
{
	return req ? req->route : NULL;
}

int64_t eddy_http_req_content_length(const eddy_http_req *req)
{
	return req ? req->content_length : 0;
}
