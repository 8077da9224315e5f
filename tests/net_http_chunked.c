/*
 * The chunked body decoder (RFC 9112 section 7.1): data out, extensions and
 * trailers checked and dropped, the body's end found exactly, and each
 * refusal with its status.  Every body here is also decoded in two calls
 * split at every byte, in pieces of every size from 1 to 8 bytes with the
 * output space handed out in pieces as small, and in place, and must
 * decode the same (net_http_check.h).
 */
#include "check.h"

#define HTTP_CHECK(cond) cr_assert(cond, "%s", #cond)
#include "net_http_check.h"

EDDY_SUITE(net_http_chunked);

static char out[4096];
static size_t used, made;

/* Decodes s[0, n) in one call into out, after checking that every piece
 * size decodes the same: the result, with used and made. */
static int decode_with(const char *s, size_t n,
		       const struct eddy_http_limits *lim)
{
	for (size_t step = 1; step <= 8; step++)
		http_check_chunked(s, n, step, lim, &used);
	http_check_chunked_every_split(s, n, lim);
	cr_assert_lt(n, sizeof out);
	return http_chunked_pieces(s, n, n ? n : 1, sizeof out, lim, out,
				   &used, &made);
}

#define decode(literal) decode_with(literal, sizeof literal - 1, NULL)
#define decode_lim(literal, lim) decode_with(literal, sizeof literal - 1, lim)

static bool made_is(const char *want)
{
	return made == strlen(want) && memcmp(out, want, made) == 0;
}

Test(net_http_chunked, chunks_are_joined_into_the_body)
{
	static const char body[] = "5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n";
	cr_assert_eq(decode(body), 1);
	cr_assert_eq(used, sizeof body - 1);
	cr_assert(made_is("hello, world"));
}

Test(net_http_chunked, sizes_are_hex_in_any_case)
{
	cr_assert_eq(decode("A\r\n0123456789\r\nb\r\n0123456789a\r\n0\r\n\r\n"), 1);
	cr_assert_eq(made, 21);
}

Test(net_http_chunked, an_empty_body_is_the_last_chunk_alone)
{
	cr_assert_eq(decode("0\r\n\r\n"), 1);
	cr_assert_eq(made, 0);
	cr_assert_eq(used, 5);
}

Test(net_http_chunked, leading_zeros_in_a_size_are_accepted)
{
	cr_assert_eq(decode("0003\r\nabc\r\n000\r\n\r\n"), 1);
	cr_assert(made_is("abc"));
}

Test(net_http_chunked, chunk_extensions_are_skipped)
{
	cr_assert_eq(decode("3;name=value\r\nabc\r\n"
			    "2 ; a ; b=\"q;\\\"s\"\r\nde\r\n0;last\r\n\r\n"),
		     1);
	cr_assert(made_is("abcde"));
}

Test(net_http_chunked, trailers_are_checked_and_dropped)
{
	static const char body[] = "3\r\nabc\r\n0\r\nExpires: never\r\n"
				   "X-Sum:  12 \r\nY:\r\n\r\n";
	cr_assert_eq(decode(body), 1);
	cr_assert_eq(used, sizeof body - 1);
	cr_assert(made_is("abc"));
}

Test(net_http_chunked, the_body_ends_where_the_next_request_starts)
{
	static const char two[] = "3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n";
	cr_assert_eq(decode(two), 1);
	cr_assert_eq(used, 13);
	cr_assert(made_is("abc"));
}

Test(net_http_chunked, a_body_cut_short_needs_more)
{
	cr_assert_eq(decode("5\r\nhel"), 0);
	cr_assert(made_is("hel"));
	cr_assert_eq(decode("5\r\nhello\r\n0\r\n\r"), 0);
	cr_assert_eq(decode("5\r\nhello\r\n0\r\nX: y\r\n"), 0);
}

Test(net_http_chunked, a_full_output_returns_with_input_left)
{
	static const char body[] = "5\r\nhello\r\n0\r\n\r\n";
	struct eddy_http_chunked c;
	char small[2];
	size_t consumed, produced;
	eddy_http_chunked_init(&c, NULL);
	cr_assert_eq(eddy_http_chunked_decode(&c, body, sizeof body - 1,
					      &consumed, small, 2, &produced),
		     0);
	cr_assert_eq(consumed, 5);
	cr_assert_eq(produced, 2);
	cr_assert_eq(memcmp(small, "he", 2), 0);
}

Test(net_http_chunked, a_finished_body_takes_no_more_bytes)
{
	struct eddy_http_chunked c;
	size_t consumed, produced;
	eddy_http_chunked_init(&c, NULL);
	cr_assert_eq(eddy_http_chunked_decode(&c, "0\r\n\r\n", 5, &consumed,
					      out, sizeof out, &produced),
		     1);
	cr_assert_eq(eddy_http_chunked_decode(&c, "0\r\n\r\n", 5, &consumed,
					      out, sizeof out, &produced),
		     1);
	cr_assert_eq(consumed, 0);
	cr_assert_eq(produced, 0);
}

Test(net_http_chunked, a_size_that_is_not_hex_is_400)
{
	cr_assert_eq(decode("g\r\n"), -400);
	cr_assert_eq(decode("0x5\r\nhello\r\n0\r\n\r\n"), -400);
	cr_assert_eq(decode("-5\r\nhello\r\n0\r\n\r\n"), -400);
	cr_assert_eq(decode("+5\r\nhello\r\n0\r\n\r\n"), -400);
	cr_assert_eq(decode("\r\nhello\r\n0\r\n\r\n"), -400);
	cr_assert_eq(decode(" 5\r\nhello\r\n0\r\n\r\n"), -400);
}

Test(net_http_chunked, whitespace_after_a_size_without_extension_is_400)
{
	cr_assert_eq(decode("5 \r\nhello\r\n0\r\n\r\n"), -400);
	cr_assert_eq(decode("5\t\r\nhello\r\n0\r\n\r\n"), -400);
}

Test(net_http_chunked, an_overflowing_size_is_400)
{
	struct eddy_http_limits huge = { .max_body = UINT64_MAX };
	/* 16 digits fit in 64 bits, 17 do not */
	cr_assert_eq(decode_lim("fffffffffffffffff\r\n", &huge), -400);
	cr_assert_eq(decode_lim("10000000000000000\r\n", &huge), -400);
	cr_assert_eq(decode_lim("ffffffffffffffff\r\nab", &huge), 0);
}

Test(net_http_chunked, data_past_max_body_is_413)
{
	struct eddy_http_limits lim = { .max_body = 8 };
	cr_assert_eq(decode_lim("4\r\nabcd\r\n4\r\nefgh\r\n0\r\n\r\n", &lim), 1);
	cr_assert_eq(decode_lim("4\r\nabcd\r\n5\r\nefghi\r\n0\r\n\r\n", &lim), -413);
	/* known from the size line, before any data */
	cr_assert_eq(decode_lim("9\r\n", &lim), -413);
	cr_assert_eq(decode("ffffffffffffffff\r\n"), -413);
}

Test(net_http_chunked, data_not_followed_by_crlf_is_400)
{
	cr_assert_eq(decode("3\r\nabcd\r\n0\r\n\r\n"), -400);
	cr_assert_eq(decode("3\r\nabc\n0\r\n\r\n"), -400);
	cr_assert_eq(decode("3\r\nabc\r0\r\n\r\n"), -400);
}

Test(net_http_chunked, bare_lf_or_cr_in_framing_is_400)
{
	cr_assert_eq(decode("3\nabc\r\n0\r\n\r\n"), -400);
	cr_assert_eq(decode("3\rabc\r\n0\r\n\r\n"), -400);
	cr_assert_eq(decode("3;x\nabc\r\n0\r\n\r\n"), -400);
	cr_assert_eq(decode("0\r\n\n"), -400);
	cr_assert_eq(decode("0\r\nX: y\n\r\n"), -400);
}

Test(net_http_chunked, control_bytes_in_an_extension_are_400)
{
	cr_assert_eq(decode("3;a\0b\r\nabc\r\n0\r\n\r\n"), -400);
	cr_assert_eq(decode("3;a\x7f\r\nabc\r\n0\r\n\r\n"), -400);
}

Test(net_http_chunked, extensions_beyond_their_bound_are_400)
{
	static char body[2 * EDDY_HTTP_MAX_CHUNK_EXT];
	size_t n = 0;
	/* one-byte chunks, each with a 100-byte extension */
	while (n + 110 < sizeof body) {
		memcpy(body + n, "1;", 2);
		memset(body + n + 2, 'e', 100);
		memcpy(body + n + 102, "\r\nx\r\n", 5);
		n += 107;
	}
	struct eddy_http_chunked c;
	size_t consumed, produced;
	eddy_http_chunked_init(&c, NULL);
	cr_assert_eq(eddy_http_chunked_decode(&c, body, n, &consumed, out,
					      sizeof out, &produced),
		     -400);
	cr_assert_lt(consumed, EDDY_HTTP_MAX_CHUNK_EXT + 500);
}

Test(net_http_chunked, leading_zeros_beyond_their_bound_are_400)
{
	static char body[EDDY_HTTP_MAX_CHUNK_EXT + 16];
	memset(body, '0', sizeof body);
	struct eddy_http_chunked c;
	size_t consumed, produced;
	eddy_http_chunked_init(&c, NULL);
	cr_assert_eq(eddy_http_chunked_decode(&c, body, sizeof body, &consumed,
					      out, sizeof out, &produced),
		     -400);
}

Test(net_http_chunked, a_trailer_section_too_large_is_431)
{
	struct eddy_http_limits lim = { .max_head = 16 };
	/* "X: 0123456789\r\n" and the final CRLF: 17 bytes */
	cr_assert_eq(decode_lim("0\r\nX: 012345678\r\n\r\n", &lim), 1);
	cr_assert_eq(decode_lim("0\r\nX: 0123456789\r\n\r\n", &lim), -431);
}

Test(net_http_chunked, a_malformed_trailer_field_is_400)
{
	cr_assert_eq(decode("0\r\nX : y\r\n\r\n"), -400);
	cr_assert_eq(decode("0\r\nX: y\r\n z\r\n\r\n"), -400);
	cr_assert_eq(decode("0\r\n: y\r\n\r\n"), -400);
	cr_assert_eq(decode("0\r\nX y\r\n\r\n"), -400);
	cr_assert_eq(decode("0\r\nX: a\0b\r\n\r\n"), -400);
}
