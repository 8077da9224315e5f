/*
 * The HTTP/1.1 request parser: a stub while the real one is written, so
 * that net/http can build against net/http_parse.h.
 */
#include "http_parse.h"

#include <string.h>
#include <strings.h>

void eddy_http_head_init(struct eddy_http_head *head,
			 struct eddy_http_header *headers, size_t cap)
{
	memset(head, 0, sizeof *head);
	head->headers = headers;
	head->cap_headers = cap;
}

int eddy_http_parse_head(const char *buf, size_t len,
			 const struct eddy_http_limits *lim,
			 struct eddy_http_head *head)
{
	(void)buf, (void)len, (void)lim, (void)head;
	return -501;
}

const struct eddy_http_header *
eddy_http_head_find(const struct eddy_http_head *head, const char *name)
{
	size_t n = strlen(name);
	for (size_t i = 0; i < head->n_headers; i++) {
		const struct eddy_http_header *h = &head->headers[i];
		if (h->name_len == n && strncasecmp(h->name, name, n) == 0)
			return h;
	}
	return NULL;
}

void eddy_http_chunked_init(struct eddy_http_chunked *c,
			    const struct eddy_http_limits *lim)
{
	(void)lim;
	memset(c, 0, sizeof *c);
}

int eddy_http_chunked_decode(struct eddy_http_chunked *c, const char *in,
			     size_t in_len, size_t *consumed, char *out,
			     size_t out_cap, size_t *produced)
{
	(void)c, (void)in, (void)in_len, (void)out, (void)out_cap;
	*consumed = *produced = 0;
	return -501;
}
