/*
 * A growable byte buffer for what the HTTP code builds: a request head's
 * copy, response fields and bodies, and bytes waiting to be written.  It
 * doubles when it fills and never shrinks, so a kept-alive connection
 * stops allocating once its buffers fit its requests.
 */
#include <errno.h>
#include <string.h>

#include "ctx/alloc.h"
#include "net/http_conn.h"

int http_buf_reserve(struct http_buf *b, size_t more)
{
	if (b->cap - b->len >= more)
		return 0;
	if (more > SIZE_MAX / 2 - b->len)
		return -ENOMEM;
	size_t cap = b->cap ? b->cap : 256;
	while (cap - b->len < more)
		cap *= 2;
	char *p = eddy_alloc(cap);
	if (!p)
		return -ENOMEM;
	if (b->len)
		memcpy(p, b->p, b->len);
	eddy_free(b->p);
	b->p = p;
	b->cap = cap;
	return 0;
}

int http_buf_append(struct http_buf *b, const void *data, size_t len)
{
	int err = http_buf_reserve(b, len);
	if (err)
		return err;
	if (len)
		memcpy(b->p + b->len, data, len);
	b->len += len;
	return 0;
}

void http_buf_free(struct http_buf *b)
{
	eddy_free(b->p);
	*b = (struct http_buf){ 0 };
}
