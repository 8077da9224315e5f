/*
 * The HTTP/1.1 request parser, internal to net/: pure code, no I/O, no
 * allocation.  http_parse.c explains the grammar, the states and the
 * defences; docs/http_parse.md lists every refusal and its status.
 *
 * Pull-style and zero-copy: the caller owns a buffer that grows as bytes
 * arrive and calls eddy_http_parse_head on it after each read.  Nothing is
 * copied: on success the head's pointers point into that buffer, so the
 * buffer must not move or change while they are used.  Between calls on
 * an incomplete head the buffer MAY move (be compacted or reallocated):
 * the parser keeps offsets, never pointers, across calls.
 *
 * Errors are not errnos here but HTTP statuses: -400 means "answer 400 and
 * close the connection".  After any negative return the connection is not
 * in a state where another request could be found in it: close it.
 */
#ifndef EDDY_HTTP_PARSE_H
#define EDDY_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One field line of the head, as sent: name without the colon (its case as
 * sent), value without the optional whitespace around it.  Neither is
 * NUL-terminated. */
struct eddy_http_header {
	const char *name;
	size_t name_len;
	const char *value;
	size_t value_len;
};

/* What a request may use.  Zero in a field means its default below. */
struct eddy_http_limits {
	/* Request line (method SP target SP version, without CRLF) longer
	 * than this: 414.  Never more than max_head - 2. */
	size_t max_request_line;
	/* The head (request line, fields, the empty line; not counting the
	 * empty lines allowed before the request line) longer than this:
	 * 431.  Also bounds a chunked body's trailer section (431). */
	size_t max_head;
	/* More field lines than this (or than the caller's array holds):
	 * 431. */
	size_t max_headers;
	/* A Content-Length above this, or chunked data adding up to more:
	 * 413. */
	uint64_t max_body;
};

#define EDDY_HTTP_MAX_REQUEST_LINE 8192
#define EDDY_HTTP_MAX_HEAD 8192
#define EDDY_HTTP_MAX_HEADERS 100
#define EDDY_HTTP_MAX_BODY (1u << 20)
/* Bytes of chunk extensions (and leading zeros of chunk sizes) a whole
 * chunked body may carry: beyond it 400.  Extensions carry no meaning
 * here; the bound stops a peer from sending unbounded framing around a
 * tiny body. */
#define EDDY_HTTP_MAX_CHUNK_EXT 4096
/* Empty lines (CRLF) accepted before a request line (RFC 9112 section 2.2):
 * a 9th is 400. */
#define EDDY_HTTP_MAX_EMPTY_LINES 8

/* How the request's body is framed (RFC 9112 section 6.3). */
enum eddy_http_body {
	EDDY_HTTP_BODY_NONE,	/* neither Content-Length nor Transfer-Encoding:
				   no body */
	EDDY_HTTP_BODY_LENGTH,	/* content_length bytes follow the head (maybe 0) */
	EDDY_HTTP_BODY_CHUNKED, /* decode with eddy_http_chunked_decode */
};

/*
 * A parsed request head.  The caller provides the array of headers and
 * calls eddy_http_head_init before the first eddy_http_parse_head of each
 * request (a pipelined request is a new one).  The fields below the line
 * are the parser's progress between calls; do not touch them.
 */
struct eddy_http_head {
	const char *method, *target; /* into the buffer; not NUL-terminated */
	size_t method_len, target_len;
	int minor;		     /* 0 for HTTP/1.0, 1 for HTTP/1.1 (and 1.x) */
	struct eddy_http_header *headers; /* the caller's array */
	size_t n_headers, cap_headers;
	enum eddy_http_body body;
	uint64_t content_length; /* when body is EDDY_HTTP_BODY_LENGTH */
	bool keep_alive;	 /* may the connection serve another request */
	bool expect_continue;	 /* HTTP/1.1 "Expect: 100-continue" */
	/* ------ private ------ */
	size_t start_;	    /* offset of the request line */
	size_t line_start_; /* offset of the line being scanned */
	size_t scanned_;    /* bytes already searched for the head's end */
	bool started_;	    /* the empty lines before the request are skipped */
};

/* Readies head for a new request, with the caller's array of cap headers
 * (head keeps the pointer; the array must outlive the head's use). */
void eddy_http_head_init(struct eddy_http_head *head,
			 struct eddy_http_header *headers, size_t cap);

/*
 * Parses the request head at the start of buf[0, len).  Returns:
 *   > 0   the head is complete and this many bytes long (body, or the next
 *         pipelined request, starts at buf + result); head is filled in;
 *   0     incomplete: call again with the same bytes and more after them;
 *   < 0   -STATUS (-400, -413, -414, -417, -431, -501 or -505): answer
 *         STATUS and close the connection.
 * lim may be NULL for the defaults.  Reads nothing at or past buf + len.
 * Across the calls of one request the work done is O(final length): a
 * call only scans the bytes that are new since the previous one.  The
 * result for a given byte sequence is the same however it was split
 * across calls.
 */
int eddy_http_parse_head(const char *buf, size_t len,
			 const struct eddy_http_limits *lim,
			 struct eddy_http_head *head);

#ifdef EDDY_TEST_HOOKS
/* Bytes of heads this thread's calls have looked at so far (the empty lines
 * before a request aside): the scans for the head's end and the parse of
 * complete heads. */
size_t eddy_http_parse_looked_at(void);
#endif

/* The first field whose name equals name (a NUL-terminated string, any
 * case), or NULL. */
const struct eddy_http_header *
eddy_http_head_find(const struct eddy_http_head *head, const char *name);

/*
 * A chunked body decoder (RFC 9112 section 7.1), incremental: feed it the
 * bytes after the head as they arrive.  Chunk extensions are checked and
 * skipped (bounded by EDDY_HTTP_MAX_CHUNK_EXT in total); the trailer
 * section is checked like header fields and discarded (bounded by
 * max_head).  The fields are private.
 */
struct eddy_http_chunked {
	uint64_t max_body;  /* 413 beyond */
	uint64_t total;	    /* data bytes declared so far */
	uint64_t remaining; /* data bytes left in the current chunk */
	size_t max_trailer; /* 431 beyond */
	size_t trailer;	    /* bytes of the trailer section so far */
	size_t ext;	    /* extension bytes so far */
	unsigned digits;    /* significant hex digits of the size line */
	int state;
};

/* Readies c for one body, with lim's max_body and max_head (lim may be NULL
 * for the defaults). */
void eddy_http_chunked_init(struct eddy_http_chunked *c,
			    const struct eddy_http_limits *lim);

/*
 * Decodes in[0, in_len): the chunk data found goes to out (at most out_cap
 * bytes; out may equal in, to decode in place, as the output never
 * overtakes the input), *consumed and *produced say how many bytes were
 * read and written.  Returns:
 *   1     the body is complete (last chunk, trailers, final CRLF): it ended
 *         at in + *consumed, where the next pipelined request starts;
 *   0     more input is needed, or out is full (then *consumed < in_len
 *         and the caller calls again with the rest);
 *   < 0   -STATUS (-400, -413 or -431): answer STATUS and close.
 * Never reads past in + in_len; *produced <= *consumed always.
 */
int eddy_http_chunked_decode(struct eddy_http_chunked *c, const char *in,
			     size_t in_len, size_t *consumed, char *out,
			     size_t out_cap, size_t *produced);

#endif
