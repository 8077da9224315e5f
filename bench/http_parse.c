/*
 * bench/http_parse: the request head parser against Node's classic
 * http_parser (Joyent's, the Debian package libhttp-parser-dev, 2.9.4),
 * timed in the same run, and against a floor: memmem finding the head's
 * end, which any parser must at least do.
 *
 * Each row is one head, parsed whole from one buffer, as a server does
 * when a read brings it in one piece.  eddy fills its array of field
 * spans; http_parser is given the callbacks a server would need for the
 * same result (the target, each field's name and value spans) and stops
 * at the end of the head.  The three take turns, a repetition each, so a
 * change in the machine's load reaches all alike; a repetition runs the
 * parse n times, n doubling until it lasts 15 ms, and a result is the
 * median of eleven repetitions.  Every parse is checked (length, fields
 * seen), so none can be optimised away.
 */
#define _GNU_SOURCE /* memmem */

#include <http_parser.h>
#include <string.h>

#include "bench/common.h"
#include "net/http_parse.h"

#define REPS 11
#define MIN_NS 15e6
#define MAX_FIELDS 64

static const char curl[] = "GET /index.html HTTP/1.1\r\n"
			   "Host: localhost:8080\r\n"
			   "User-Agent: curl/7.88.1\r\n"
			   "Accept: */*\r\n"
			   "\r\n";

static const char browser[] =
	"GET /docs/index.html?lang=en HTTP/1.1\r\n"
	"Host: www.example.com\r\n"
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:109.0) "
	"Gecko/20100101 Firefox/115.0\r\n"
	"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,"
	"image/avif,image/webp,*/*;q=0.8\r\n"
	"Accept-Language: en-US,en;q=0.5\r\n"
	"Accept-Encoding: gzip, deflate, br\r\n"
	"Connection: keep-alive\r\n"
	"Cookie: session=4f2a9c81d0e2b7aa; theme=dark; consent=yes\r\n"
	"Upgrade-Insecure-Requests: 1\r\n"
	"Sec-Fetch-Dest: document\r\n"
	"Sec-Fetch-Mode: navigate\r\n"
	"Sec-Fetch-Site: none\r\n"
	"Sec-Fetch-User: ?1\r\n"
	"\r\n";

static const char post[] = "POST /api/v1/items HTTP/1.1\r\n"
			   "Host: api.example.com\r\n"
			   "Content-Type: application/json\r\n"
			   "Content-Length: 27\r\n"
			   "Authorization: Bearer abcdef0123456789\r\n"
			   "\r\n";

static const struct row {
	const char *what;
	const char *head;
	size_t len;
	size_t fields;
} rows[] = {
	{ "curl GET", curl, sizeof curl - 1, 3 },
	{ "browser GET", browser, sizeof browser - 1, 12 },
	{ "API POST", post, sizeof post - 1, 4 },
};
#define NROWS (sizeof rows / sizeof rows[0])

/* ---- the three parses: each n times, a count of failures ------------- */

static long eddy(const struct row *r, long n)
{
	struct eddy_http_header fields[MAX_FIELDS];
	struct eddy_http_head h;
	long bad = 0;
	for (long i = 0; i < n; i++) {
		eddy_http_head_init(&h, fields, MAX_FIELDS);
		int len = eddy_http_parse_head(r->head, r->len, NULL, &h);
		bad += len != (int)r->len || h.n_headers != r->fields;
	}
	return bad;
}

/* What a server keeps from http_parser's callbacks: the spans. */
struct spans {
	const char *target;
	size_t target_len;
	struct eddy_http_header fields[MAX_FIELDS];
	size_t n;
};

static int on_url(http_parser *p, const char *at, size_t len)
{
	struct spans *s = p->data;
	s->target = at;
	s->target_len = len;
	return 0;
}

static int on_field(http_parser *p, const char *at, size_t len)
{
	struct spans *s = p->data;
	if (s->n == MAX_FIELDS)
		return 1;
	s->fields[s->n].name = at;
	s->fields[s->n].name_len = len;
	return 0;
}

static int on_value(http_parser *p, const char *at, size_t len)
{
	struct spans *s = p->data;
	s->fields[s->n].value = at;
	s->fields[s->n++].value_len = len;
	return 0;
}

/* Tells http_parser to stop after the head: 2 means no body follows. */
static int on_headers_complete(http_parser *p)
{
	(void)p;
	return 2;
}

static long joyent(const struct row *r, long n)
{
	http_parser_settings settings = {
		.on_url = on_url,
		.on_header_field = on_field,
		.on_header_value = on_value,
		.on_headers_complete = on_headers_complete,
	};
	http_parser p;
	struct spans s;
	long bad = 0;
	for (long i = 0; i < n; i++) {
		s.n = 0;
		http_parser_init(&p, HTTP_REQUEST);
		p.data = &s;
		size_t len = http_parser_execute(&p, &settings, r->head, r->len);
		bad += len != r->len || s.n != r->fields;
	}
	return bad;
}

static long floor_memmem(const struct row *r, long n)
{
	long bad = 0;
	for (long i = 0; i < n; i++) {
		/* memmem is pure: without the barrier the compiler would
		 * call it once for the whole loop. */
		const char *head = r->head;
		__asm__ volatile("" : "+r"(head));
		const char *end = memmem(head, r->len, "\r\n\r\n", 4);
		bad += end != head + r->len - 4;
	}
	return bad;
}

/* ---- timing -------------------------------------------------------------- */

typedef long parse_fn(const struct row *r, long n);

/* One repetition: ns per parse, n doubled until it lasts MIN_NS. */
static double repetition(parse_fn *fn, const struct row *r, long *n)
{
	for (;;) {
		double t0 = now_ns();
		if (fn(r, *n))
			fail("bench/http_parse: a parse gave a wrong result");
		double t = now_ns() - t0;
		if (t >= MIN_NS)
			return t / (double)*n;
		*n *= 2;
	}
}

static int by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double *v)
{
	qsort(v, REPS, sizeof *v, by_value);
	return v[REPS / 2];
}

int main(void)
{
	printf("bench/http_parse: ns to parse one request head, median of %d "
	       "(lower is better)\n\n",
	       REPS);
	printf("%-12s %6s %9s %12s %9s %8s %10s\n", "head", "bytes", "eddy",
	       "http_parser", "memmem", "ratio", "eddy GB/s");
	for (size_t i = 0; i < NROWS; i++) {
		const struct row *r = &rows[i];
		double e[REPS], j[REPS], m[REPS];
		long ne = 1, nj = 1, nm = 1;
		for (int k = 0; k < REPS; k++) {
			e[k] = repetition(eddy, r, &ne);
			j[k] = repetition(joyent, r, &nj);
			m[k] = repetition(floor_memmem, r, &nm);
		}
		double te = median(e), tj = median(j), tm = median(m);
		printf("%-12s %6zu %9.1f %12.1f %9.1f %7.2fx %10.2f\n", r->what,
		       r->len, te, tj, tm, tj / te, (double)r->len / te);
	}
	printf("\nratio: http_parser's time / eddy's (above 1: eddy is "
	       "faster).  memmem: finding the end of the head, a floor.\n");
	return 0;
}
