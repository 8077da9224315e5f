/*
 * What every parse must satisfy, whatever the bytes: checked on each
 * request of the unit tests, on every seed of the fuzz corpus and on every
 * input the fuzzer makes up.  The includer defines HTTP_CHECK(cond), its
 * assertion (Criterion's in the tests, abort() in the fuzzer).
 *
 * The bytes are always handed to the parser as a fresh heap copy of
 * exactly the bytes available, so AddressSanitizer sees any read past len,
 * and the copy moves between calls, as a server's buffer may.
 */
#ifndef EDDY_TESTS_NET_HTTP_CHECK_H
#define EDDY_TESTS_NET_HTTP_CHECK_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/http_parse.h"

#define HTTP_CHECK_HEADERS 32

/* Limits small enough that short inputs reach every limit's path. */
static const struct eddy_http_limits http_tight_limits = {
	.max_request_line = 24, .max_head = 64, .max_headers = 3,
	.max_body = 8,
};

/* A result and the head it filled, as offsets into the buffer, so that
 * heads parsed from different copies compare equal. */
struct http_summary {
	int r;
	size_t method, method_len, target, target_len;
	int minor;
	size_t n_headers;
	size_t fields[HTTP_CHECK_HEADERS][4];
	enum eddy_http_body body;
	uint64_t content_length;
	bool keep_alive, expect_continue;
};

static inline void http_summarize(const char *buf, int r,
				  const struct eddy_http_head *h,
				  struct http_summary *s)
{
	memset(s, 0, sizeof *s);
	s->r = r;
	if (r <= 0)
		return;
	s->method = (size_t)(h->method - buf);
	s->method_len = h->method_len;
	s->target = (size_t)(h->target - buf);
	s->target_len = h->target_len;
	s->minor = h->minor;
	s->n_headers = h->n_headers;
	for (size_t i = 0; i < h->n_headers; i++) {
		s->fields[i][0] = (size_t)(h->headers[i].name - buf);
		s->fields[i][1] = h->headers[i].name_len;
		s->fields[i][2] = (size_t)(h->headers[i].value - buf);
		s->fields[i][3] = h->headers[i].value_len;
	}
	s->body = h->body;
	s->content_length = h->content_length;
	s->keep_alive = h->keep_alive;
	s->expect_continue = h->expect_continue;
}

static inline char *http_copy(const char *data, size_t len)
{
	char *b = malloc(len ? len : 1);
	HTTP_CHECK(b != NULL);
	memcpy(b, data, len);
	return b;
}

/* Parses data[0, len) with calls at each length of cuts (increasing, the
 * last being len), stopping at the first result that is not 0. */
static inline int http_parse_cuts(const char *data, const size_t *cuts,
				  size_t n_cuts,
				  const struct eddy_http_limits *lim,
				  struct http_summary *out)
{
	struct eddy_http_header fields[HTTP_CHECK_HEADERS];
	struct eddy_http_head h;
	eddy_http_head_init(&h, fields, HTTP_CHECK_HEADERS);
	int r = 0;
	for (size_t i = 0; i < n_cuts && !r; i++) {
		char *b = http_copy(data, cuts[i]);
		r = eddy_http_parse_head(b, cuts[i], lim, &h);
		HTTP_CHECK(r <= (int)cuts[i]);
		http_summarize(b, r, &h, out);
		free(b);
	}
	return r;
}

static inline int http_parse_whole(const char *data, size_t len,
				   const struct eddy_http_limits *lim,
				   struct http_summary *out)
{
	return http_parse_cuts(data, &len, 1, lim, out);
}

/* Two calls, the first with cut bytes, give what one call gives. */
static inline void http_check_cut(const char *data, size_t len, size_t cut,
				  const struct eddy_http_limits *lim,
				  const struct http_summary *whole)
{
	size_t cuts[2] = { cut, len };
	struct http_summary s;
	http_parse_cuts(data, cuts, 2, lim, &s);
	HTTP_CHECK(memcmp(&s, whole, sizeof s) == 0);
}

/* Every two-piece split and a byte-by-byte feed give what one call gives:
 * O(len^2), for the tests and the corpus. */
static inline void http_check_every_split(const char *data, size_t len,
					  const struct eddy_http_limits *lim)
{
	struct http_summary whole, s;
	http_parse_whole(data, len, lim, &whole);
	for (size_t cut = 0; cut < len; cut++)
		http_check_cut(data, len, cut, lim, &whole);
	size_t *cuts = malloc((len + 1) * sizeof *cuts);
	HTTP_CHECK(cuts != NULL);
	for (size_t k = 0; k <= len; k++)
		cuts[k] = k;
	http_parse_cuts(data, cuts, len + 1, lim, &s);
	free(cuts);
	HTTP_CHECK(memcmp(&s, &whole, sizeof s) == 0);
}

/* A result that is not "need more" stays when bytes are appended. */
static inline void http_check_append(const char *data, size_t len,
				     const struct eddy_http_limits *lim)
{
	struct http_summary whole, more;
	if (http_parse_whole(data, len, lim, &whole) == 0)
		return;
	char *b = malloc(len + 7);
	HTTP_CHECK(b != NULL);
	memcpy(b, data, len);
	memcpy(b + len, "\r\nX\0\n\r\n", 7);
	http_parse_whole(b, len + 7, lim, &more);
	free(b);
	HTTP_CHECK(memcmp(&more, &whole, sizeof more) == 0);
}

/* Decodes a chunked body from data[0, len) into out (cap bytes at least
 * len), handing the input over in pieces of at most step bytes and the
 * output space in pieces of at most out_step: the result, *used and
 * *made. */
static inline int http_chunked_pieces(const char *data, size_t len,
				      size_t step, size_t out_step,
				      const struct eddy_http_limits *lim,
				      char *out, size_t *used, size_t *made)
{
	struct eddy_http_chunked c;
	eddy_http_chunked_init(&c, lim);
	size_t i = 0, o = 0;
	int r = 0;
	while (r == 0 && i < len) {
		size_t n = len - i < step ? len - i : step;
		size_t room = out_step;
		char *b = http_copy(data + i, n);
		size_t consumed, produced;
		r = eddy_http_chunked_decode(&c, b, n, &consumed, out + o, room,
					     &produced);
		free(b);
		/* Some input is always taken while there is room. */
		HTTP_CHECK(consumed > 0 && consumed <= n &&
			   produced <= consumed && produced <= room);
		i += consumed;
		o += produced;
	}
	*used = i;
	*made = o;
	return r;
}

/* The chunked body at the start of data: decoding in one call, in place,
 * and in small pieces all agree.  The result; *used is where it ended. */
static inline int http_check_chunked(const char *data, size_t len,
				     size_t step,
				     const struct eddy_http_limits *lim,
				     size_t *used)
{
	char *whole = malloc(len + 1), *pieces = malloc(len + 1);
	HTTP_CHECK(whole && pieces);
	size_t made, used2, made2;
	int r = http_chunked_pieces(data, len, len ? len : 1, len + 1, lim,
				    whole, used, &made);
	int r2 = http_chunked_pieces(data, len, step, step, lim, pieces,
				     &used2, &made2);
	HTTP_CHECK(r2 == r && used2 == *used && made2 == made);
	HTTP_CHECK(memcmp(whole, pieces, made) == 0);
	/* In place: the output overwrites the input it has consumed. */
	struct eddy_http_chunked c;
	eddy_http_chunked_init(&c, lim);
	char *b = http_copy(data, len);
	size_t consumed, produced;
	int r3 = eddy_http_chunked_decode(&c, b, len, &consumed, b, len,
					  &produced);
	HTTP_CHECK(r3 == r && consumed == *used && produced == made);
	HTTP_CHECK(memcmp(b, whole, made) == 0);
	free(b);
	free(whole);
	free(pieces);
	return r;
}

/* Two calls, the first with the bytes before the cut, decode what one
 * call decodes, at every cut: O(len^2), for the tests and the corpus. */
static inline void http_check_chunked_every_split(
	const char *data, size_t len, const struct eddy_http_limits *lim)
{
	char *whole = malloc(len + 1), *split = malloc(len + 1);
	HTTP_CHECK(whole && split);
	size_t used, made;
	int r = http_chunked_pieces(data, len, len ? len : 1, len + 1, lim,
				    whole, &used, &made);
	for (size_t cut = 1; cut < len; cut++) {
		struct eddy_http_chunked c;
		eddy_http_chunked_init(&c, lim);
		size_t i = 0, o = 0, consumed, produced;
		int r2 = 0;
		const size_t piece[2][2] = { { 0, cut }, { cut, len } };
		for (int k = 0; k < 2 && !r2; k++) {
			size_t n = piece[k][1] - piece[k][0];
			char *b = http_copy(data + piece[k][0], n);
			r2 = eddy_http_chunked_decode(&c, b, n, &consumed,
						      split + o, len + 1 - o,
						      &produced);
			free(b);
			HTTP_CHECK(r2 || consumed == n);
			i += consumed;
			o += produced;
		}
		HTTP_CHECK(r2 == r && i == used && o == made);
		HTTP_CHECK(memcmp(split, whole, made) == 0);
	}
	free(whole);
	free(split);
}

/*
 * Reads data as a server reads a connection: a head, its body, the next
 * head, and so on, checking the properties above on each head (every split
 * when exhaustive, else the two cuts given by seed) and each chunked body.
 * Returns 0 when the data ends exactly after a complete request, 1 when
 * the last request is incomplete, or the -STATUS that refused one.
 * (Exhaustive also checks every split of each chunked body.)
 */
static inline int http_check_stream(const char *data, size_t len,
				    const struct eddy_http_limits *lim,
				    bool exhaustive, unsigned seed)
{
	size_t at = 0;
	for (unsigned requests = 0; at < len && requests < 1000; requests++) {
		const char *p = data + at;
		size_t n = len - at;
		struct http_summary head;
		int r = http_parse_whole(p, n, lim, &head);
		if (exhaustive) {
			http_check_every_split(p, n, lim);
		} else {
			http_check_cut(p, n, seed % (n + 1), lim, &head);
			http_check_cut(p, n, (seed >> 8) % (n + 1), lim, &head);
		}
		http_check_append(p, n, lim);
		if (r <= 0)
			return r == 0 ? 1 : r;
		at += (size_t)r;
		if (head.body == EDDY_HTTP_BODY_LENGTH) {
			if (head.content_length > len - at)
				return 1;
			at += (size_t)head.content_length;
		} else if (head.body == EDDY_HTTP_BODY_CHUNKED) {
			size_t used;
			if (exhaustive)
				http_check_chunked_every_split(data + at,
							       len - at, lim);
			r = http_check_chunked(data + at, len - at,
					       1 + seed % 7, lim, &used);
			at += used;
			if (r <= 0)
				return r == 0 ? 1 : r;
		}
	}
	return 0;
}

#endif
