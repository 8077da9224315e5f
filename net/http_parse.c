/*
 * The HTTP/1.1 request parser (RFC 9112), pure code: bytes in, a head or a
 * status out.  No I/O, no allocation, no copy.
 *
 * What a request looks like on the wire (RFC 9112 sections 2 to 7):
 *
 *     *( CRLF )                        empty lines a client may send first
 *     method SP request-target SP HTTP-version CRLF
 *     *( field-name ":" OWS field-value OWS CRLF )
 *     CRLF
 *     [ message body ]                 framed by Content-Length or chunked
 *
 * How the head is parsed.  A server reads whatever the kernel gives it, so
 * a head arrives in pieces split at any byte.  Re-parsing the whole buffer
 * after every read would be quadratic in the worst case (a client sending
 * one byte per packet makes 8 KiB cost 32 MiB of work), so parsing runs in
 * three states kept in struct eddy_http_head as offsets (the buffer may
 * move between calls):
 *
 *   EMPTY   skipping the CRLFs allowed before the request line (section
 *           2.2 says a server SHOULD ignore at least one; we take 8);
 *   SCAN    looking for the empty line that ends the head with memchr for
 *           LF, only through the bytes new since the last call, and
 *           enforcing the size limits as soon as they are certainly
 *           exceeded: the request line past max_request_line is 414, the
 *           head past max_head is 431;
 *   PARSE   once the whole head is in the buffer, one strict pass over it:
 *           the request line, each field line, then what the fields mean
 *           for framing.  Every line is known to end in LF, so the pass
 *           never needs a length check to stay inside the head.
 *
 * Each byte is thus looked at twice at most, and a result depends only on
 * the bytes, never on how they were split (tests check every split).  The
 * request line's limit is kept below the head's so that, of the two size
 * errors, the one reached first in the byte stream is always the same.
 *
 * Request smuggling, and why the parser is strict.  A request usually
 * crosses a proxy before it reaches us.  If the proxy and we disagree on
 * where a request's body ends, the bytes one of us takes for body the other
 * takes for the next request: an attacker hides a second request inside
 * the first, the proxy forwards it unseen (past its access rules), and
 * worse, the hidden request may be glued onto the front of another user's
 * request, whose response (and cookies) then go to the attacker.  Every
 * disagreement starts with an ambiguity, so each one is refused rather
 * than resolved, and the connection is closed, because after a refusal we
 * no longer know where the next request would begin:
 *
 *   - Content-Length and Transfer-Encoding together (the classic CL.TE and
 *     TE.CL attacks): 400.  Section 6.1 allows this refusal; answering by
 *     Transfer-Encoding alone would trust the proxy to have done the same.
 *   - Content-Length not plain digits ("+5", "-1", "0x5", "5 5"), too large
 *     for 64 bits, or two different values (in one list or two fields):
 *     400 (section 6.3 item 5).  The same value repeated ("5, 5") is
 *     accepted as that value, as RFC 9110 section 8.6 allows: every reader
 *     that accepts it at all gets the same length.
 *   - Transfer-Encoding whose last coding is not chunked, or chunked twice,
 *     or an empty element: 400 (section 6.3 item 4: the length cannot be
 *     known); chunked last after a coding we do not implement: 501
 *     (section 6.1).  In an HTTP/1.0 request: 400 (section 6.1: framing
 *     faulty).
 *   - Lines end in CRLF only: a bare LF or bare CR anywhere in the head is
 *     400.  Section 2.2 lets a recipient accept bare LF, but parsers that
 *     split lines differently are what smuggling feeds on.
 *   - A field named Content_Length or Transfer_Encoding: 400.  Not in the
 *     RFC, but a gateway that turns "_" into "-" (CGI does, for its
 *     environment) would frame the body by a field we ignored.
 *   - Whitespace between a field name and its colon ("Content-Length :"):
 *     400 (section 5.1 says MUST); a line folded onto the previous one
 *     (obs-fold) or whitespace after the request line: 400 (sections 5.2
 *     and 2.2).
 *   - Control bytes (NUL, CR, anything below 0x20 but HTAB, DEL) in the
 *     request line or a field: 400.  RFC 9110 section 5.5 requires it for
 *     NUL, CR and LF; the others serve nobody.
 *   - One SP exactly between the request line's three parts, a method that
 *     is a token, a target of visible ASCII: else 400 (section 3).
 *   - HTTP/1.1 without Host, or any request with two Host fields or an
 *     invalid Host: 400 (section 3.2).
 *   - A version other than HTTP/1.x: 505; not of the form HTTP/d.d: 400.
 *     HTTP/1.2 and up are read as 1.1 (RFC 9110 section 2.5).
 *   - An Expect other than 100-continue in HTTP/1.1: 417 (RFC 9110 10.1.1).
 *   - A body declared larger than max_body: 413.
 *
 * Keep-alive (section 9.3): HTTP/1.1 keeps the connection unless a
 * Connection field lists "close"; HTTP/1.0 closes unless one lists
 * "keep-alive" (and not "close"), which clients such as ApacheBench send;
 * the server then says "Connection: keep-alive" in its answer.
 *
 * The chunked decoder (section 7.1) is a byte-at-a-time state machine, as
 * a body is long and arrives in any pieces; chunk data is copied in runs.
 * Its defences: a size that is not hex or has more than 16 significant
 * digits (would overflow 64 bits): 400; data adding up past max_body: 413,
 * known as soon as the size line says so; chunk extensions and leading
 * zeros bounded in total (a peer could otherwise send endless framing
 * around one byte of body): 400; trailer fields checked like header
 * fields and bounded by max_head: 431; CRLF only, as in the head.
 */
#include "http_parse.h"

#include <assert.h>
#include <limits.h>
#include <string.h>

/* Character classes of RFC 9110 section 5.6.2 and 5.5 and RFC 3986. */
enum {
	C_TCHAR = 1,  /* token: a method, a field name, a coding */
	C_TARGET = 2, /* the request target: visible ASCII */
	C_VALUE = 4,  /* a field value: VCHAR, obs-text, SP, HTAB */
	C_HOST = 8,   /* a Host value: reg-name, IP literal, port */
};

static const unsigned char cls[256] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	4, 15, 6, 7, 15, 15, 15, 15, 14, 14, 15, 15, 14, 15, 15, 6,
	15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 14, 14, 6, 14, 6, 6,
	6, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15,
	15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 14, 6, 14, 7, 15,
	7, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15,
	15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 6, 7, 6, 15, 0,
	4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
	4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
	4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
	4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
	4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
	4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
	4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
	4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
};

static inline bool is(char c, int class)
{
	return cls[(unsigned char)c] & class;
}

static inline bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

static inline char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c + ('a' - 'A')) : c;
}

/* s[0, n) equals the lower-case word, in any case (ASCII, not locale). */
static bool equals_word(const char *s, size_t n, const char *word)
{
	size_t i = 0;
	for (; i < n && word[i]; i++)
		if (lower(s[i]) != word[i])
			return false;
	return i == n && !word[i];
}

/* s[0, n) would equal word if its underscores were dashes: the name a
 * gateway that maps "_" to "-" (as CGI-style environments do) reads as
 * word. */
static bool twin_of_word(const char *s, size_t n, const char *word)
{
	size_t i = 0;
	for (; i < n && word[i]; i++)
		if ((s[i] == '_' ? '-' : lower(s[i])) != word[i])
			return false;
	return i == n && !word[i];
}

#ifdef EDDY_TEST_HOOKS
/* Bytes this thread's calls have looked at, for the test that a head
 * costs O(its length) however it is split. */
static _Thread_local size_t looked_at;
#define LOOKED_AT(n) (looked_at += (n))
size_t eddy_http_parse_looked_at(void)
{
	return looked_at;
}
#else
#define LOOKED_AT(n) ((void)0)
#endif

/* The limits in force: lim's, its zeros replaced by defaults, clamped so
 * that results fit an int and a request line never outgrows its head. */
struct limits {
	size_t max_request_line, max_head, max_headers;
	uint64_t max_body;
};

static struct limits limits_of(const struct eddy_http_limits *lim)
{
	struct limits l = { EDDY_HTTP_MAX_REQUEST_LINE, EDDY_HTTP_MAX_HEAD,
			    EDDY_HTTP_MAX_HEADERS, EDDY_HTTP_MAX_BODY };
	if (lim) {
		if (lim->max_request_line)
			l.max_request_line = lim->max_request_line;
		if (lim->max_head)
			l.max_head = lim->max_head;
		if (lim->max_headers)
			l.max_headers = lim->max_headers;
		if (lim->max_body)
			l.max_body = lim->max_body;
	}
	if (l.max_head > INT_MAX / 2)
		l.max_head = INT_MAX / 2;
	if (l.max_request_line > l.max_head - 2)
		l.max_request_line = l.max_head > 2 ? l.max_head - 2 : 0;
	return l;
}

void eddy_http_head_init(struct eddy_http_head *head,
			 struct eddy_http_header *headers, size_t cap)
{
	memset(head, 0, sizeof *head);
	head->headers = headers;
	head->cap_headers = cap;
}

/* --- EMPTY and SCAN ---------------------------------------------------- */

/* Skips the CRLFs before the request line: 1 when it starts in buf, 0 when
 * more bytes are needed, -400 for a bare CR or LF or too many lines. */
static int skip_empty_lines(const char *buf, size_t len,
			    struct eddy_http_head *h)
{
	size_t p = h->start_;
	while (p < len && (buf[p] == '\r' || buf[p] == '\n')) {
		if (buf[p] == '\n')
			return -400;
		if (p + 1 == len)
			return 0;
		if (buf[p + 1] != '\n')
			return -400;
		p += 2;
		if (p / 2 > EDDY_HTTP_MAX_EMPTY_LINES)
			return -400;
		h->start_ = p;
	}
	if (p == len)
		return 0;
	h->started_ = true;
	h->line_start_ = h->scanned_ = p;
	return 1;
}

/* Finds the line that ends the head: 1 and *end (the offset after its LF),
 * 0 when it is not in buf yet, or -414 or -431 as soon as a limit is
 * certainly exceeded. */
static int find_head_end(const char *buf, size_t len, const struct limits *l,
			 struct eddy_http_head *h, size_t *end)
{
	for (;;) {
		bool request_line = h->line_start_ == h->start_;
		const char *nl = memchr(buf + h->scanned_, '\n',
					len - h->scanned_);
		LOOKED_AT((nl ? (size_t)(nl - buf) + 1 : len) - h->scanned_);
		if (!nl) {
			h->scanned_ = len;
			/* The last byte may be the CR of the line's CRLF. */
			if (request_line &&
			    len - h->line_start_ > l->max_request_line + 1)
				return -414;
			if (len - h->start_ > l->max_head)
				return -431;
			return 0;
		}
		size_t lf = (size_t)(nl - buf);
		size_t line = lf - h->line_start_;
		if (request_line &&
		    line - (line && buf[lf - 1] == '\r') > l->max_request_line)
			return -414;
		if (lf + 1 - h->start_ > l->max_head)
			return -431;
		if (!request_line &&
		    (line == 0 || (line == 1 && buf[lf - 1] == '\r'))) {
			*end = lf + 1;
			return 1;
		}
		h->line_start_ = h->scanned_ = lf + 1;
	}
}

/* --- PARSE: the request line ------------------------------------------- */

/* "HTTP/" DIGIT "." DIGIT CRLF at v: the minor version, -505 for another
 * major version, -400 for anything else.  Stops at the first byte that
 * differs, so it never passes the line's LF. */
static int parse_version(const char *v)
{
	if (!(v[0] == 'H' && v[1] == 'T' && v[2] == 'T' && v[3] == 'P' &&
	      v[4] == '/' && v[5] >= '0' && v[5] <= '9' && v[6] == '.' &&
	      v[7] >= '0' && v[7] <= '9' && v[8] == '\r' && v[9] == '\n'))
		return -400;
	if (v[5] != '1')
		return -505;
	return v[7] == '0' ? 0 : 1;
}

/* The request line at buf + *p: 0 and *p after its CRLF, or -STATUS. */
static int parse_request_line(const char *buf, size_t *p,
			      struct eddy_http_head *h)
{
	size_t q = *p;
	while (is(buf[q], C_TCHAR))
		q++;
	if (q == *p || buf[q] != ' ')
		return -400;
	h->method = buf + *p;
	h->method_len = q - *p;
	size_t t = ++q;
	while (is(buf[q], C_TARGET))
		q++;
	if (q == t || buf[q] != ' ')
		return -400;
	h->target = buf + t;
	h->target_len = q - t;
	int minor = parse_version(buf + q + 1);
	if (minor < 0)
		return minor;
	h->minor = minor;
	*p = q + 1 + 10;
	return 0;
}

/* --- PARSE: field lines ------------------------------------------------ */

/* One field line at buf + *p (which is not the empty line): 0, *f and *p
 * after its CRLF, or -400. */
static int parse_field_line(const char *buf, size_t *p,
			    struct eddy_http_header *f)
{
	size_t q = *p;
	/* A name is a token: this also refuses a line starting with
	 * whitespace (obs-fold) and whitespace before the colon. */
	while (is(buf[q], C_TCHAR))
		q++;
	if (q == *p || buf[q] != ':')
		return -400;
	f->name = buf + *p;
	f->name_len = q - *p;
	q++;
	while (is_ows(buf[q]))
		q++;
	size_t v = q;
	while (is(buf[q], C_VALUE))
		q++;
	if (buf[q] != '\r' || buf[q + 1] != '\n')
		return -400;
	size_t v_end = q;
	while (v_end > v && is_ows(buf[v_end - 1]))
		v_end--;
	f->value = buf + v;
	f->value_len = v_end - v;
	*p = q + 2;
	return 0;
}

/*
 * What the framing fields said, gathered over all field lines (a list may
 * be split over several lines with the same name, RFC 9110 section 5.3).
 */
struct framing {
	unsigned hosts;
	bool bad_host;
	bool has_length, bad_length;
	uint64_t length;
	unsigned codings, chunked; /* Transfer-Encoding elements, chunked ones */
	bool last_chunked, bad_coding, unknown_coding;
	bool close, keep_alive;
	bool expect_continue, bad_expect;
	bool framing_twin; /* Content_Length or Transfer_Encoding */
};

/* The next element of a comma-separated list v[*i, n): its bounds, OWS
 * trimmed (may be empty); false when the list is done. */
static bool next_element(const char *v, size_t n, size_t *i, size_t *s,
			 size_t *e)
{
	if (*i > n)
		return false;
	size_t a = *i;
	while (a < n && is_ows(v[a]))
		a++;
	size_t b = a;
	while (b < n && v[b] != ',')
		b++;
	*i = b + 1;
	*s = a;
	while (b > a && is_ows(v[b - 1]))
		b--;
	*e = b;
	return true;
}

/* Content-Length: 1*DIGIT, or the same number repeated in a list. */
static void note_length(struct framing *fr, const char *v, size_t n)
{
	size_t i = 0, s, e;
	while (next_element(v, n, &i, &s, &e)) {
		uint64_t x = 0;
		if (s == e)
			fr->bad_length = true;
		for (size_t k = s; k < e; k++) {
			unsigned d = (unsigned)(v[k] - '0');
			if (d > 9 || x > (UINT64_MAX - d) / 10) {
				fr->bad_length = true;
				break;
			}
			x = x * 10 + d;
		}
		if (fr->has_length && x != fr->length)
			fr->bad_length = true;
		fr->has_length = true;
		fr->length = x;
	}
}

/* Transfer-Encoding: a list of transfer-coding, in the order applied. */
static void note_codings(struct framing *fr, const char *v, size_t n)
{
	size_t i = 0, s, e;
	while (next_element(v, n, &i, &s, &e)) {
		size_t t = s;
		while (t < e && is(v[t], C_TCHAR))
			t++;
		fr->codings++;
		if (t == s) {
			fr->bad_coding = true;
			continue;
		}
		/* A coding with parameters (";q=...") is not chunked, and not
		 * one we implement: no need to read them further. */
		fr->last_chunked = t == e && equals_word(v + s, t - s, "chunked");
		if (fr->last_chunked)
			fr->chunked++;
		else
			fr->unknown_coding = true;
	}
}

static void note_connection(struct framing *fr, const char *v, size_t n)
{
	size_t i = 0, s, e;
	while (next_element(v, n, &i, &s, &e)) {
		fr->close |= equals_word(v + s, e - s, "close");
		fr->keep_alive |= equals_word(v + s, e - s, "keep-alive");
	}
}

static void note_expect(struct framing *fr, const char *v, size_t n)
{
	size_t i = 0, s, e;
	while (next_element(v, n, &i, &s, &e)) {
		if (s == e)
			continue;
		if (equals_word(v + s, e - s, "100-continue"))
			fr->expect_continue = true;
		else
			fr->bad_expect = true;
	}
}

static void note_host(struct framing *fr, const char *v, size_t n)
{
	fr->hosts++;
	for (size_t i = 0; i < n; i++)
		if (!is(v[i], C_HOST))
			fr->bad_host = true;
}

/* Looks at the fields that decide framing and the connection's fate; the
 * length of the name picks the candidate before any comparison. */
static void note_field(struct framing *fr, const struct eddy_http_header *f)
{
	const char *n = f->name, *v = f->value;
	size_t len = f->name_len, vlen = f->value_len;
	switch (len) {
	case 4:
		if (equals_word(n, len, "host"))
			note_host(fr, v, vlen);
		break;
	case 6:
		if (equals_word(n, len, "expect"))
			note_expect(fr, v, vlen);
		break;
	case 10:
		if (equals_word(n, len, "connection"))
			note_connection(fr, v, vlen);
		break;
	case 14:
		if (equals_word(n, len, "content-length"))
			note_length(fr, v, vlen);
		else
			fr->framing_twin |= twin_of_word(n, len, "content-length");
		break;
	case 17:
		if (equals_word(n, len, "transfer-encoding"))
			note_codings(fr, v, vlen);
		else
			fr->framing_twin |=
				twin_of_word(n, len, "transfer-encoding");
		break;
	}
}

/* The framing the fields add up to (RFC 9112 section 6.3), or -STATUS. */
static int decide_framing(const struct framing *fr, const struct limits *l,
			  struct eddy_http_head *h)
{
	if (fr->hosts > 1 || fr->bad_host || (h->minor && !fr->hosts) ||
	    fr->framing_twin)
		return -400;
	if (fr->codings) {
		if (!h->minor || fr->has_length || fr->bad_coding ||
		    fr->chunked != 1 || !fr->last_chunked)
			return -400;
		if (fr->unknown_coding)
			return -501;
		h->body = EDDY_HTTP_BODY_CHUNKED;
	} else if (fr->has_length) {
		if (fr->bad_length)
			return -400;
		if (fr->length > l->max_body)
			return -413;
		h->body = EDDY_HTTP_BODY_LENGTH;
		h->content_length = fr->length;
	} else {
		h->body = EDDY_HTTP_BODY_NONE;
	}
	if (h->minor) {
		if (fr->bad_expect)
			return -417;
		h->expect_continue = fr->expect_continue;
	}
	h->keep_alive = !fr->close && (h->minor || fr->keep_alive);
	return 0;
}

/* The complete head [start_, end): end, or -STATUS. */
static int parse_head(const char *buf, size_t end, const struct limits *l,
		      struct eddy_http_head *h)
{
	size_t p = h->start_;
	LOOKED_AT(end - p);
	int r = parse_request_line(buf, &p, h);
	if (r)
		return r;
	size_t cap = h->cap_headers < l->max_headers ? h->cap_headers
						      : l->max_headers;
	struct framing fr = { 0 };
	h->n_headers = 0;
	/* buf[p + 1] is inside the head when buf[p] is a CR: a LF ends it. */
	while (!(buf[p] == '\r' && buf[p + 1] == '\n')) {
		struct eddy_http_header f;
		r = parse_field_line(buf, &p, &f);
		if (r)
			return r;
		if (h->n_headers == cap)
			return -431;
		h->headers[h->n_headers++] = f;
		note_field(&fr, &f);
	}
	assert(p + 2 == end);
	r = decide_framing(&fr, l, h);
	return r ? r : (int)end;
}

int eddy_http_parse_head(const char *buf, size_t len,
			 const struct eddy_http_limits *lim,
			 struct eddy_http_head *head)
{
	struct limits l = limits_of(lim);
	int r;
	/* The bytes of earlier calls are still there, with more after them. */
	assert(len >= head->scanned_ && len >= head->start_);
	if (!head->started_ && (r = skip_empty_lines(buf, len, head)) <= 0)
		return r;
	size_t end;
	if ((r = find_head_end(buf, len, &l, head, &end)) <= 0)
		return r;
	return parse_head(buf, end, &l, head);
}

const struct eddy_http_header *
eddy_http_head_find(const struct eddy_http_head *head, const char *name)
{
	size_t n = strlen(name);
	for (size_t i = 0; i < head->n_headers; i++) {
		const struct eddy_http_header *f = &head->headers[i];
		if (f->name_len == n) {
			size_t k = 0;
			while (k < n && lower(f->name[k]) == lower(name[k]))
				k++;
			if (k == n)
				return f;
		}
	}
	return NULL;
}

/* --- the chunked body -------------------------------------------------- */

/* Where the decoder is in
 *   chunked-body = *chunk last-chunk trailer-section CRLF
 *   chunk        = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
 * one state per position a byte can arrive at. */
enum chunk_state {
	CH_SIZE_FIRST, /* the first hex digit of a size */
	CH_SIZE,       /* more hex digits, or what follows them */
	CH_SIZE_WS,    /* whitespace after the size: only ";" may follow */
	CH_EXT,	       /* inside the extensions, up to CR */
	CH_SIZE_LF,    /* the LF of the size line */
	CH_DATA,
	CH_DATA_CR,    /* the CRLF after a chunk's data */
	CH_DATA_LF,
	CH_FIELD_START, /* a trailer field, or the final CRLF */
	CH_FIELD_NAME,
	CH_FIELD_VALUE,
	CH_FIELD_LF,
	CH_END_LF,     /* the LF of the final CRLF */
	CH_DONE,
};

void eddy_http_chunked_init(struct eddy_http_chunked *c,
			    const struct eddy_http_limits *lim)
{
	struct limits l = limits_of(lim);
	memset(c, 0, sizeof *c);
	c->max_body = l.max_body;
	c->max_trailer = l.max_head;
	c->state = CH_SIZE_FIRST;
}

static int hex_value(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	ch = lower(ch);
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

/* One hex digit of a chunk size: 0 or -STATUS. */
static int size_digit(struct eddy_http_chunked *c, int d)
{
	if (c->remaining == 0 && d == 0) {
		/* A leading zero: framing without meaning, so bounded. */
		if (c->state == CH_SIZE && ++c->ext > EDDY_HTTP_MAX_CHUNK_EXT)
			return -400;
		return 0;
	}
	if (++c->digits > 16)
		return -400;
	c->remaining = c->remaining << 4 | (unsigned)d;
	if (c->remaining > c->max_body - c->total)
		return -413;
	return 0;
}

/* The end of a size line: the data, or the trailers after the last chunk. */
static void size_line_done(struct eddy_http_chunked *c)
{
	c->total += c->remaining;
	c->digits = 0;
	c->state = c->remaining ? CH_DATA : CH_FIELD_START;
}

/* One byte of framing (anything but chunk data): 0, 1 when the body ends
 * with it, or -STATUS. */
static int framing_byte(struct eddy_http_chunked *c, char ch)
{
	int d;
	if (c->state >= CH_FIELD_START && ++c->trailer > c->max_trailer)
		return -431;
	switch ((enum chunk_state)c->state) {
	case CH_SIZE_FIRST:
	case CH_SIZE:
		if ((d = hex_value(ch)) >= 0) {
			int r = size_digit(c, d);
			c->state = CH_SIZE;
			return r;
		}
		if (c->state == CH_SIZE_FIRST)
			return -400;
		if (ch == '\r')
			c->state = CH_SIZE_LF;
		else if (ch == ';')
			c->state = CH_EXT;
		else if (is_ows(ch))
			c->state = CH_SIZE_WS;
		else
			return -400;
		return 0;
	case CH_SIZE_WS:
		if (++c->ext > EDDY_HTTP_MAX_CHUNK_EXT)
			return -400;
		if (ch == ';')
			c->state = CH_EXT;
		else if (!is_ows(ch))
			return -400;
		return 0;
	case CH_EXT:
		if (ch == '\r') {
			c->state = CH_SIZE_LF;
			return 0;
		}
		if (++c->ext > EDDY_HTTP_MAX_CHUNK_EXT || !is(ch, C_VALUE))
			return -400;
		return 0;
	case CH_SIZE_LF:
		if (ch != '\n')
			return -400;
		size_line_done(c);
		return 0;
	case CH_DATA_CR:
		c->state = CH_DATA_LF;
		return ch == '\r' ? 0 : -400;
	case CH_DATA_LF:
		c->state = CH_SIZE_FIRST;
		return ch == '\n' ? 0 : -400;
	case CH_FIELD_START:
		if (ch == '\r')
			c->state = CH_END_LF;
		else if (is(ch, C_TCHAR))
			c->state = CH_FIELD_NAME;
		else
			return -400;
		return 0;
	case CH_FIELD_NAME:
		if (ch == ':')
			c->state = CH_FIELD_VALUE;
		else if (!is(ch, C_TCHAR))
			return -400;
		return 0;
	case CH_FIELD_VALUE:
		if (ch == '\r')
			c->state = CH_FIELD_LF;
		else if (!is(ch, C_VALUE))
			return -400;
		return 0;
	case CH_FIELD_LF:
		c->state = CH_FIELD_START;
		return ch == '\n' ? 0 : -400;
	case CH_END_LF:
		if (ch != '\n')
			return -400;
		c->state = CH_DONE;
		return 1;
	case CH_DATA:
	case CH_DONE:
		break;
	}
	assert(0 && "no framing byte in this state");
	return -400;
}

int eddy_http_chunked_decode(struct eddy_http_chunked *c, const char *in,
			     size_t in_len, size_t *consumed, char *out,
			     size_t out_cap, size_t *produced)
{
	size_t i = 0, o = 0;
	int r = c->state == CH_DONE;
	while (!r && i < in_len) {
		if (c->state != CH_DATA) {
			r = framing_byte(c, in[i++]);
			continue;
		}
		size_t n = in_len - i;
		if (n > c->remaining)
			n = (size_t)c->remaining;
		if (n > out_cap - o)
			n = out_cap - o;
		if (n == 0)
			break; /* out is full */
		/* memmove: out may be in, a little behind the input. */
		memmove(out + o, in + i, n);
		i += n;
		o += n;
		c->remaining -= n;
		if (c->remaining == 0)
			c->state = CH_DATA_CR;
	}
	*consumed = i;
	*produced = o;
	return r;
}
