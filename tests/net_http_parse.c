/*
 * The request head parser against RFC 9112: what it accepts and what it
 * fills in, and each refusal with the status the RFC names.  Every request
 * here is also parsed split at every byte and fed byte by byte, and must
 * give the same result (net_http_check.h), so each test checks that
 * property too.
 */
#include "check.h"

#define HTTP_CHECK(cond) cr_assert(cond, "%s", #cond)
#include "net_http_check.h"

EDDY_SUITE(net_http_parse);

static struct eddy_http_header fields[HTTP_CHECK_HEADERS];
static struct eddy_http_head head;
static char *buf; /* the last request parsed, which head points into */

static void free_buf(void)
{
	free(buf);
	buf = NULL;
}

/* The result of parsing s[0, n) in one call, after checking that every
 * split gives the same and that appending bytes changes nothing. */
static int parse_with(const char *s, size_t n,
		      const struct eddy_http_limits *lim)
{
	if (n <= 1024) {
		http_check_every_split(s, n, lim);
	} else {
		struct http_summary whole;
		http_parse_whole(s, n, lim, &whole);
		for (size_t cut = 1; cut < n; cut += n / 61)
			http_check_cut(s, n, cut, lim, &whole);
	}
	http_check_append(s, n, lim);
	free(buf);
	buf = http_copy(s, n);
	eddy_http_head_init(&head, fields, HTTP_CHECK_HEADERS);
	return eddy_http_parse_head(buf, n, lim, &head);
}

#define parse(literal) parse_with(literal, sizeof literal - 1, NULL)
#define parse_lim(literal, lim) parse_with(literal, sizeof literal - 1, lim)

static bool text_is(const char *p, size_t n, const char *want)
{
	return n == strlen(want) && memcmp(p, want, n) == 0;
}

static bool field_is(size_t i, const char *name, const char *value)
{
	return i < head.n_headers &&
	       text_is(head.headers[i].name, head.headers[i].name_len, name) &&
	       text_is(head.headers[i].value, head.headers[i].value_len, value);
}

#define CURL "GET /index.html?q=1 HTTP/1.1\r\n" \
	     "Host: localhost:8080\r\n"        \
	     "User-Agent: curl/7.88.1\r\n"      \
	     "Accept: */*\r\n"                 \
	     "\r\n"

Test(net_http_parse, a_curl_request_is_parsed, .fini = free_buf)
{
	cr_assert_eq(parse(CURL), (int)sizeof CURL - 1);
	cr_assert(text_is(head.method, head.method_len, "GET"));
	cr_assert(text_is(head.target, head.target_len, "/index.html?q=1"));
	cr_assert_eq(head.minor, 1);
	cr_assert_eq(head.n_headers, 3);
	cr_assert(field_is(0, "Host", "localhost:8080"));
	cr_assert(field_is(1, "User-Agent", "curl/7.88.1"));
	cr_assert(field_is(2, "Accept", "*/*"));
	cr_assert_eq(head.body, EDDY_HTTP_BODY_NONE);
	cr_assert(head.keep_alive);
	cr_assert_not(head.expect_continue);
}

Test(net_http_parse, an_incomplete_head_needs_more_bytes, .fini = free_buf)
{
	cr_assert_eq(parse("GET / HTTP/1.1\r\nHost: a\r\n"), 0);
	cr_assert_eq(parse("GET / HTTP/1.1\r\nHost: a\r\n\r"), 0);
	cr_assert_eq(parse(""), 0);
}

Test(net_http_parse, field_names_are_found_in_any_case, .fini = free_buf)
{
	cr_assert_gt(parse("GET / HTTP/1.1\r\nhOsT: a\r\nX-Id: 7\r\n\r\n"), 0);
	cr_assert_eq(eddy_http_head_find(&head, "HOST"), &head.headers[0]);
	cr_assert_eq(eddy_http_head_find(&head, "x-id"), &head.headers[1]);
	cr_assert_null(eddy_http_head_find(&head, "x-i"));
	cr_assert_null(eddy_http_head_find(&head, "accept"));
}

Test(net_http_parse, field_values_lose_the_whitespace_around_them,
     .fini = free_buf)
{
	cr_assert_gt(parse("GET / HTTP/1.1\r\nHost:a\r\n"
			   "X: \t one  two \t \r\nY:\r\nZ:   \r\n\r\n"),
		     0);
	cr_assert(field_is(0, "Host", "a"));
	cr_assert(field_is(1, "X", "one  two"));
	cr_assert(field_is(2, "Y", ""));
	cr_assert(field_is(3, "Z", ""));
}

Test(net_http_parse, obs_text_in_a_field_value_is_accepted, .fini = free_buf)
{
	cr_assert_gt(parse("GET / HTTP/1.1\r\nHost: a\r\nX: caf\xc3\xa9\r\n\r\n"),
		     0);
	cr_assert(field_is(1, "X", "caf\xc3\xa9"));
}

Test(net_http_parse, pipelined_heads_parse_one_after_another,
     .fini = free_buf)
{
	static const char three[] =
		"GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
		"POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"
		"GET /c HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
	size_t at = 0, n = sizeof three - 1;
	int r = parse_with(three, n, NULL);
	cr_assert_eq(r, 28);
	cr_assert(text_is(head.target, head.target_len, "/a"));
	at += (size_t)r;
	r = parse_with(three + at, n - at, NULL);
	cr_assert_gt(r, 0);
	cr_assert(text_is(head.target, head.target_len, "/b"));
	cr_assert_eq(head.body, EDDY_HTTP_BODY_LENGTH);
	cr_assert_eq(head.content_length, 5);
	at += (size_t)r + 5;
	r = parse_with(three + at, n - at, NULL);
	cr_assert_eq(at + (size_t)r, n);
	cr_assert(text_is(head.target, head.target_len, "/c"));
	cr_assert_not(head.keep_alive);
}

Test(net_http_parse, empty_lines_before_the_request_line_are_skipped,
     .fini = free_buf)
{
	static const char req[] = "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
	cr_assert_eq(parse(req), (int)sizeof req - 1);
	cr_assert(text_is(head.method, head.method_len, "GET"));
	cr_assert_eq(parse("\r\n\r\n"), 0);
}

Test(net_http_parse, more_than_eight_empty_lines_before_a_request_is_400,
     .fini = free_buf)
{
	cr_assert_gt(parse("\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n"
			   "GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
		     0);
	cr_assert_eq(parse("\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n"
			   "GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
		     -400);
}

Test(net_http_parse, bare_lf_or_cr_before_the_request_line_is_400,
     .fini = free_buf)
{
	cr_assert_eq(parse("\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
	cr_assert_eq(parse("\rGET / HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
}

/* --- keep-alive ------------------------------------------------------ */

Test(net_http_parse, http11_keeps_the_connection_by_default, .fini = free_buf)
{
	cr_assert_gt(parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\n\r\n"), 0);
	cr_assert(head.keep_alive);
}

Test(net_http_parse, connection_close_closes, .fini = free_buf)
{
	cr_assert_gt(parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: CLOSE\r\n\r\n"), 0);
	cr_assert_not(head.keep_alive);
	cr_assert_gt(parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: te,, close \r\n\r\n"), 0);
	cr_assert_not(head.keep_alive);
	cr_assert_gt(parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: te\r\nConnection: close\r\n\r\n"), 0);
	cr_assert_not(head.keep_alive);
}

Test(net_http_parse, http10_closes_by_default, .fini = free_buf)
{
	cr_assert_gt(parse("GET / HTTP/1.0\r\n\r\n"), 0);
	cr_assert_eq(head.minor, 0);
	cr_assert_not(head.keep_alive);
}

Test(net_http_parse, http10_keeps_the_connection_when_asked, .fini = free_buf)
{
	cr_assert_gt(parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"), 0);
	cr_assert(head.keep_alive);
	cr_assert_gt(parse("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n"), 0);
	cr_assert_not(head.keep_alive);
}

Test(net_http_parse, http_1_2_is_read_as_http_1_1, .fini = free_buf)
{
	cr_assert_gt(parse("GET / HTTP/1.2\r\nHost: a\r\n\r\n"), 0);
	cr_assert_eq(head.minor, 1);
	cr_assert_eq(parse("GET / HTTP/1.9\r\n\r\n"), -400); /* no Host */
}

/* --- Expect ------------------------------------------------------------ */

Test(net_http_parse, expect_100_continue_is_noted, .fini = free_buf)
{
	cr_assert_gt(parse("PUT /f HTTP/1.1\r\nHost: a\r\nContent-Length: 9\r\n"
			   "Expect: 100-Continue\r\n\r\n"),
		     0);
	cr_assert(head.expect_continue);
}

Test(net_http_parse, expect_in_http10_is_ignored, .fini = free_buf)
{
	cr_assert_gt(parse("PUT /f HTTP/1.0\r\nExpect: 100-continue\r\n\r\n"), 0);
	cr_assert_not(head.expect_continue);
	cr_assert_gt(parse("PUT /f HTTP/1.0\r\nExpect: teapot\r\n\r\n"), 0);
}

Test(net_http_parse, an_unknown_expectation_is_417, .fini = free_buf)
{
	cr_assert_eq(parse("GET / HTTP/1.1\r\nHost: a\r\nExpect: teapot\r\n\r\n"), -417);
	cr_assert_eq(parse("GET / HTTP/1.1\r\nHost: a\r\n"
			   "Expect: 100-continue, x\r\n\r\n"),
		     -417);
}

/* --- Content-Length ------------------------------------------------------ */

Test(net_http_parse, content_length_frames_the_body, .fini = free_buf)
{
	cr_assert_gt(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0012\r\n\r\n"), 0);
	cr_assert_eq(head.body, EDDY_HTTP_BODY_LENGTH);
	cr_assert_eq(head.content_length, 12);
	cr_assert_gt(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n"), 0);
	cr_assert_eq(head.body, EDDY_HTTP_BODY_LENGTH);
	cr_assert_eq(head.content_length, 0);
}

Test(net_http_parse, content_length_repeated_with_the_same_value_is_accepted,
     .fini = free_buf)
{
	cr_assert_gt(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 7 ,7\r\n\r\n"), 0);
	cr_assert_eq(head.content_length, 7);
	cr_assert_gt(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 7\r\n"
			   "content-length: 007\r\n\r\n"),
		     0);
	cr_assert_eq(head.content_length, 7);
}

Test(net_http_parse, content_length_list_with_different_values_is_400,
     .fini = free_buf)
{
	cr_assert_eq(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 7, 8\r\n\r\n"), -400);
}

Test(net_http_parse, content_length_twice_with_different_values_is_400,
     .fini = free_buf)
{
	cr_assert_eq(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 7\r\n"
			   "Content-Length: 8\r\n\r\n"),
		     -400);
}

Test(net_http_parse, malformed_content_length_is_400, .fini = free_buf)
{
	cr_assert_eq(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: abc\r\n\r\n"), -400);
	cr_assert_eq(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n"), -400);
	cr_assert_eq(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\n"), -400);
	cr_assert_eq(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5 5\r\n\r\n"), -400);
	cr_assert_eq(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5.0\r\n\r\n"), -400);
	cr_assert_eq(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n"), -400);
	cr_assert_eq(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5,\r\n\r\n"), -400);
	cr_assert_eq(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: ,5\r\n\r\n"), -400);
}

Test(net_http_parse, negative_content_length_is_400, .fini = free_buf)
{
	cr_assert_eq(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n"), -400);
}

Test(net_http_parse, overflowing_content_length_is_400, .fini = free_buf)
{
	/* 2^64 */
	cr_assert_eq(parse("POST / HTTP/1.1\r\nHost: a\r\n"
			   "Content-Length: 18446744073709551616\r\n\r\n"),
		     -400);
	/* 2^64 - 1 is a number, too large a body */
	cr_assert_eq(parse("POST / HTTP/1.1\r\nHost: a\r\n"
			   "Content-Length: 18446744073709551615\r\n\r\n"),
		     -413);
}

Test(net_http_parse, content_length_above_max_body_is_413, .fini = free_buf)
{
	struct eddy_http_limits lim = { .max_body = 100 };
	cr_assert_gt(parse_lim("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n", &lim), 0);
	cr_assert_eq(parse_lim("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 101\r\n\r\n", &lim), -413);
	cr_assert_eq(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1048577\r\n\r\n"), -413);
}

/* --- Transfer-Encoding -------------------------------------------------- */

Test(net_http_parse, chunked_transfer_encoding_frames_the_body,
     .fini = free_buf)
{
	cr_assert_gt(parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n"), 0);
	cr_assert_eq(head.body, EDDY_HTTP_BODY_CHUNKED);
}

Test(net_http_parse, transfer_encoding_with_content_length_is_400,
     .fini = free_buf)
{
	cr_assert_eq(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
			   "Transfer-Encoding: chunked\r\n\r\n"),
		     -400);
	cr_assert_eq(parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
			   "Content-Length: 5\r\n\r\n"),
		     -400);
}

Test(net_http_parse, a_transfer_coding_other_than_chunked_is_501,
     .fini = free_buf)
{
	cr_assert_eq(parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"), -501);
	cr_assert_eq(parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n"
			   "Transfer-Encoding: chunked\r\n\r\n"),
		     -501);
}

Test(net_http_parse, chunked_not_last_is_400, .fini = free_buf)
{
	cr_assert_eq(parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"), -400);
	cr_assert_eq(parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n"), -400);
	cr_assert_eq(parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n"), -400);
	cr_assert_eq(parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;x=1\r\n\r\n"), -400);
}

Test(net_http_parse, chunked_twice_is_400, .fini = free_buf)
{
	cr_assert_eq(parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n"), -400);
	cr_assert_eq(parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
			   "Transfer-Encoding: chunked\r\n\r\n"),
		     -400);
}

Test(net_http_parse, malformed_transfer_encoding_is_400, .fini = free_buf)
{
	cr_assert_eq(parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n\r\n"), -400);
	cr_assert_eq(parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked,\r\n\r\n"), -400);
	cr_assert_eq(parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ,chunked\r\n\r\n"), -400);
	cr_assert_eq(parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \"chunked\"\r\n\r\n"), -400);
	cr_assert_eq(parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked x\r\n\r\n"), -400);
}

Test(net_http_parse, transfer_encoding_in_http10_is_400, .fini = free_buf)
{
	cr_assert_eq(parse("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"), -400);
}

Test(net_http_parse, framing_fields_spelled_with_underscores_are_400,
     .fini = free_buf)
{
	cr_assert_eq(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
			   "Transfer_Encoding: chunked\r\n\r\n"),
		     -400);
	cr_assert_eq(parse("POST / HTTP/1.1\r\nHost: a\r\nContent_length: 3\r\n\r\n"), -400);
	cr_assert_gt(parse("POST / HTTP/1.1\r\nHost: a\r\nX_Content_Length: 3\r\n\r\n"), 0);
}

/* --- Host ------------------------------------------------------------------ */

Test(net_http_parse, missing_host_in_http11_is_400, .fini = free_buf)
{
	cr_assert_eq(parse("GET / HTTP/1.1\r\n\r\n"), -400);
	cr_assert_eq(parse("GET / HTTP/1.1\r\nHostname: a\r\n\r\n"), -400);
}

Test(net_http_parse, missing_host_in_http10_is_accepted, .fini = free_buf)
{
	cr_assert_gt(parse("GET / HTTP/1.0\r\nAccept: */*\r\n\r\n"), 0);
}

Test(net_http_parse, several_host_fields_is_400, .fini = free_buf)
{
	cr_assert_eq(parse("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"), -400);
	cr_assert_eq(parse("GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n"), -400);
}

Test(net_http_parse, an_invalid_host_is_400, .fini = free_buf)
{
	cr_assert_eq(parse("GET / HTTP/1.1\r\nHost: a b\r\n\r\n"), -400);
	cr_assert_eq(parse("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"), -400);
	cr_assert_eq(parse("GET / HTTP/1.1\r\nHost: a@b\r\n\r\n"), -400);
	cr_assert_gt(parse("GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n"), 0);
	cr_assert_gt(parse("GET / HTTP/1.1\r\nHost:\r\n\r\n"), 0);
}

/* --- field lines ------------------------------------------------------------ */

Test(net_http_parse, whitespace_between_field_name_and_colon_is_400,
     .fini = free_buf)
{
	cr_assert_eq(parse("GET / HTTP/1.1\r\nHost : a\r\n\r\n"), -400);
	cr_assert_eq(parse("GET / HTTP/1.1\r\nHost: a\r\nContent-Length\t: 5\r\n\r\n"), -400);
}

Test(net_http_parse, obs_fold_is_400, .fini = free_buf)
{
	cr_assert_eq(parse("GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n c\r\n\r\n"), -400);
	cr_assert_eq(parse("GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n\tc\r\n\r\n"), -400);
}

Test(net_http_parse, whitespace_after_the_request_line_is_400,
     .fini = free_buf)
{
	cr_assert_eq(parse("GET / HTTP/1.1\r\n Host: a\r\n\r\n"), -400);
}

Test(net_http_parse, a_field_line_without_a_colon_is_400, .fini = free_buf)
{
	cr_assert_eq(parse("GET / HTTP/1.1\r\nHost: a\r\nX\r\n\r\n"), -400);
}

Test(net_http_parse, an_empty_or_non_token_field_name_is_400,
     .fini = free_buf)
{
	cr_assert_eq(parse("GET / HTTP/1.1\r\nHost: a\r\n: x\r\n\r\n"), -400);
	cr_assert_eq(parse("GET / HTTP/1.1\r\nHost: a\r\nX(y): x\r\n\r\n"), -400);
	cr_assert_eq(parse("GET / HTTP/1.1\r\nHost: a\r\nX\xc3\xa9: x\r\n\r\n"), -400);
}

Test(net_http_parse, nul_in_a_field_is_400, .fini = free_buf)
{
	cr_assert_eq(parse("GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n"), -400);
	cr_assert_eq(parse("GET / HTTP/1.1\r\nHost: a\r\nX\0: ab\r\n\r\n"), -400);
}

Test(net_http_parse, control_bytes_in_a_field_are_400, .fini = free_buf)
{
	cr_assert_eq(parse("GET / HTTP/1.1\r\nHost: a\r\nX: a\x01" "b\r\n\r\n"), -400);
	cr_assert_eq(parse("GET / HTTP/1.1\r\nHost: a\r\nX: a\x7f\r\n\r\n"), -400);
	cr_assert_eq(parse("GET / HTTP/1.1\r\nHost: a\r\nX: \x1b[31m\r\n\r\n"), -400);
}

Test(net_http_parse, bare_cr_in_a_field_is_400, .fini = free_buf)
{
	cr_assert_eq(parse("GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n"), -400);
	cr_assert_eq(parse("GET / HTTP/1.1\r\nHost: a\r\nX: a\r\r\n\r\n"), -400);
}

Test(net_http_parse, bare_lf_ending_a_line_is_400, .fini = free_buf)
{
	cr_assert_eq(parse("GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n"), -400);
	cr_assert_eq(parse("GET / HTTP/1.1\nHost: a\r\n\r\n"), -400);
	cr_assert_eq(parse("GET / HTTP/1.1\r\nHost: a\r\n\n"), -400);
	cr_assert_eq(parse("GET / HTTP/1.1\nHost: a\n\n"), -400);
}

/* --- the request line ---------------------------------------------------- */

Test(net_http_parse, a_method_that_is_not_a_token_is_400, .fini = free_buf)
{
	cr_assert_eq(parse("G(T / HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
	cr_assert_eq(parse(" / HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
	cr_assert_eq(parse("G\xc3\x89T / HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
	cr_assert_gt(parse("M-SEARCH * HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
	cr_assert(text_is(head.method, head.method_len, "M-SEARCH"));
}

Test(net_http_parse, parts_not_separated_by_one_space_are_400,
     .fini = free_buf)
{
	cr_assert_eq(parse("GET  / HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
	cr_assert_eq(parse("GET /  HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
	cr_assert_eq(parse("GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
	cr_assert_eq(parse("GET / HTTP/1.1 \r\nHost: a\r\n\r\n"), -400);
	cr_assert_eq(parse("GET /\r\n\r\n"), -400); /* HTTP/0.9 */
}

Test(net_http_parse, control_bytes_in_the_request_line_are_400,
     .fini = free_buf)
{
	cr_assert_eq(parse("GET /a\0b HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
	cr_assert_eq(parse("GET /a\rb HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
	cr_assert_eq(parse("GET /a\x7f HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
	cr_assert_eq(parse("GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
}

Test(net_http_parse, another_major_version_is_505, .fini = free_buf)
{
	cr_assert_eq(parse("GET / HTTP/2.0\r\nHost: a\r\n\r\n"), -505);
	cr_assert_eq(parse("GET / HTTP/0.9\r\nHost: a\r\n\r\n"), -505);
	cr_assert_eq(parse("GET / HTTP/3.0\r\n\r\n"), -505);
}

Test(net_http_parse, a_garbage_version_is_400, .fini = free_buf)
{
	cr_assert_eq(parse("GET / HTTP/1.10\r\nHost: a\r\n\r\n"), -400);
	cr_assert_eq(parse("GET / http/1.1\r\nHost: a\r\n\r\n"), -400);
	cr_assert_eq(parse("GET / HTTP/1\r\nHost: a\r\n\r\n"), -400);
	cr_assert_eq(parse("GET / HTTP/2\r\nHost: a\r\n\r\n"), -400);
	cr_assert_eq(parse("GET / HTTP/x.1\r\nHost: a\r\n\r\n"), -400);
	cr_assert_eq(parse("GET / FTP/1.1\r\nHost: a\r\n\r\n"), -400);
}

/* --- limits ---------------------------------------------------------------- */

Test(net_http_parse, a_request_line_too_long_is_414, .fini = free_buf)
{
	/* "GET /aaaaaa HTTP/1.1" is 20 bytes */
	struct eddy_http_limits lim = { .max_request_line = 20 };
	cr_assert_gt(parse_lim("GET /aaaaaa HTTP/1.1\r\nHost: a\r\n\r\n", &lim), 0);
	cr_assert_eq(parse_lim("GET /aaaaaaa HTTP/1.1\r\nHost: a\r\n\r\n", &lim), -414);
	/* known before the line ends */
	cr_assert_eq(parse_lim("GET /aaaaaaaaaaaaaaaaaaa", &lim), -414);
}

Test(net_http_parse, a_request_line_of_8_kib_is_414_by_default,
     .fini = free_buf)
{
	size_t n = 9000;
	char *req = malloc(n);
	cr_assert_not_null(req);
	memset(req, 'a', n);
	memcpy(req, "GET /", 5);
	cr_assert_eq(parse_with(req, n, NULL), -414);
	free(req);
}

Test(net_http_parse, a_head_too_large_is_431, .fini = free_buf)
{
	/* 16 + 9 + 2 bytes */
	struct eddy_http_limits lim = { .max_head = 27 };
	cr_assert_eq(parse_lim("GET / HTTP/1.1\r\nHost: a\r\n\r\n", &lim), 27);
	cr_assert_eq(parse_lim("GET / HTTP/1.1\r\nHost: ab\r\n\r\n", &lim), -431);
	/* known before the head ends */
	cr_assert_eq(parse_lim("GET / HTTP/1.1\r\nHost: a\r\nX: 0123456789", &lim), -431);
}

Test(net_http_parse, a_head_of_8_kib_is_431_by_default, .fini = free_buf)
{
	size_t n = 9000;
	char *req = malloc(n);
	cr_assert_not_null(req);
	memset(req, 'a', n);
	memcpy(req, "GET / HTTP/1.1\r\nX: ", 19);
	cr_assert_eq(parse_with(req, n, NULL), -431);
	free(req);
}

Test(net_http_parse, too_many_fields_is_431, .fini = free_buf)
{
	struct eddy_http_limits lim = { .max_headers = 2 };
	cr_assert_gt(parse_lim("GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n\r\n", &lim), 0);
	cr_assert_eq(parse_lim("GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\nY: 2\r\n\r\n", &lim), -431);
}

Test(net_http_parse, more_fields_than_the_array_holds_is_431,
     .fini = free_buf)
{
	static const char req[] = "GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n\r\n";
	struct eddy_http_header two[2], one[1];
	struct eddy_http_head h;
	eddy_http_head_init(&h, two, 2);
	cr_assert_gt(eddy_http_parse_head(req, sizeof req - 1, NULL, &h), 0);
	eddy_http_head_init(&h, one, 1);
	cr_assert_eq(eddy_http_parse_head(req, sizeof req - 1, NULL, &h), -431);
}

Test(net_http_parse, a_head_fed_byte_by_byte_is_looked_at_twice_at_most)
{
	/* 8 KiB of fields, one byte more at each call, as a slow client
	 * sends them: re-reading the buffer each time would look at 32 MiB. */
	size_t n = 8000;
	char *req = malloc(n);
	cr_assert_not_null(req);
	memset(req, 'v', n);
	static const char start[] = "GET / HTTP/1.1\r\nHost: a\r\nX: ";
	memcpy(req, start, sizeof start - 1);
	for (size_t i = 100; i < n - 4; i += 100)
		memcpy(req + i, "\r\nX:", 4);
	memcpy(req + n - 4, "\r\n\r\n", 4);
	struct eddy_http_header f[HTTP_CHECK_HEADERS * 4];
	struct eddy_http_head h;
	eddy_http_head_init(&h, f, HTTP_CHECK_HEADERS * 4);
	size_t before = eddy_http_parse_looked_at();
	int r = 0;
	for (size_t len = 1; len <= n && r == 0; len++)
		r = eddy_http_parse_head(req, len, NULL, &h);
	cr_assert_eq(r, (int)n, "%d", r);
	cr_assert_eq(h.n_headers, 81);
	cr_assert_leq(eddy_http_parse_looked_at() - before, 2 * n);
	free(req);
}

Test(net_http_parse, the_buffer_may_move_between_calls, .fini = free_buf)
{
	/* The byte-by-byte feed of every test copies the bytes to a new
	 * buffer at each call; this one checks the pointers of the result
	 * point into the last buffer. */
	static const char req[] = "GET /x HTTP/1.1\r\nHost: a\r\n\r\n";
	char first[16], second[sizeof req];
	struct eddy_http_header f[4];
	struct eddy_http_head h;
	eddy_http_head_init(&h, f, 4);
	memcpy(first, req, sizeof first);
	cr_assert_eq(eddy_http_parse_head(first, sizeof first, NULL, &h), 0);
	memcpy(second, req, sizeof second);
	cr_assert_eq(eddy_http_parse_head(second, sizeof req - 1, NULL, &h),
		     (int)sizeof req - 1);
	cr_assert_eq(h.target, second + 4);
	cr_assert_eq(h.headers[0].value, second + 23);
}
