/*
 * The HTTP/1.1 server on the wire: what a client sends, byte for byte,
 * and what comes back.  Refusals carry the status RFC 9112 names,
 * "Connection: close", and nothing after them, not even an answer to a
 * request smuggled in behind the bad one.  Keep-alive, pipelining, bodies
 * both ways, the timeouts, and a fresh context for every request.
 *
 * Each test's main task starts a server on a free loopback port
 * (net_http_harness.h) and plays its clients as tasks of the same loop.
 */
#define _GNU_SOURCE
#include "net_http_harness.h"

#include <netinet/in.h>
#include <sys/socket.h>

EDDY_SUITE(net_http_server);

/* ---- handlers -------------------------------------------------------------- */

/* "METHOD PATH[?QUERY]\n" followed by the request's whole body. */
static int echo(eddy_http_req *req, eddy_http_resp *resp, void *arg)
{
	(void)arg;
	char line[512], buf[4096];
	const char *q = eddy_http_req_query(req);
	int n = snprintf(line, sizeof line, "%s %s%s%s\n",
			 eddy_http_req_method(req), eddy_http_req_path(req),
			 q ? "?" : "", q ? q : "");
	int err = eddy_http_resp_body(resp, line, (size_t)n);
	ssize_t got;
	while (!err && (got = eddy_http_req_read(req, buf, sizeof buf)) > 0)
		err = eddy_http_resp_body(resp, buf, (size_t)got);
	return err ? err : (int)got;
}

/* Answers without reading the body. */
static int ignore_body(eddy_http_req *req, eddy_http_resp *resp, void *arg)
{
	(void)req;
	(void)arg;
	return eddy_http_resp_body(resp, "ignored\n", 8);
}

static void *serve(eddy_http_handler handler)
{
	static struct harness h;
	harness_start(&h, &(eddy_http_opts){ .handler = handler });
	return &h;
}

/* One request on a new connection: its response, then whether the server
 * closed the connection after it. */
static bool ask(struct harness *h, const char *request, struct response *r)
{
	struct client cl;
	client_open(&cl, h);
	client_send(cl.fd, request);
	cr_assert_eq(read_response(&cl.rd, r, !strncmp(request, "HEAD", 4)), 0);
	bool closed = closed_after(&cl.rd);
	eddy_close(cl.fd);
	return closed;
}

/* ---- a plain exchange ----------------------------------------------------- */

LOOP_TEST(net_http_server, a_get_is_answered_with_date_and_length_and_kept_alive)
{
	struct harness *h = serve(echo);
	struct response r;
	char value[64];
	struct client cl;
	client_open(&cl, h);
	client_send(cl.fd, "GET /hello?x=1 HTTP/1.1\r\nHost: a\r\n\r\n");
	cr_assert_eq(read_response(&cl.rd, &r, false), 0);
	cr_expect_eq(r.status, 200);
	cr_expect_str_eq(r.body, "GET /hello?x=1\n");
	cr_expect_str_eq(response_field(&r, "Content-Length", value,
					sizeof value), "15");
	cr_expect_not_null(response_field(&r, "Date", value, sizeof value));
	cr_expect_eq(strlen(value), 29, "Date: %s", value);
	cr_expect_null(response_field(&r, "Connection", value, sizeof value));
	/* kept alive: a second request on the same connection */
	client_send(cl.fd, "GET /again HTTP/1.1\r\nHost: a\r\n\r\n");
	cr_assert_eq(read_response(&cl.rd, &r, false), 0);
	cr_expect_str_eq(r.body, "GET /again\n");
	eddy_close(cl.fd);
	harness_stop(h);
}

/* ---- refusals ------------------------------------------------------------- */

/*
 * Each bad request is followed, in the same write, by a good one.  The
 * server must answer the bad one with its status and close: the good one
 * must never be answered (that would be a smuggled request).
 */
struct refusal {
	const char *request;
	int status;
};

static const struct refusal *refusal_now;

static void *refusal_main(void *arg)
{
	(void)arg;
	struct harness *h = serve(echo);
	int fd = client_connect(h);
	static char buf[65536];
	eddy_reader rd;
	eddy_reader_init(&rd, fd, buf, sizeof buf);
	client_send(fd, refusal_now->request);
	/* the server may close before reading all this: a reset then is
	 * fine, what matters is what it answered */
	eddy_write_all(fd, "GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n", 36,
		       WAIT_NS);
	struct response r;
	char value[64];
	cr_assert_eq(read_response(&rd, &r, false), 0);
	cr_expect_eq(r.status, refusal_now->status, "answered %d, not %d",
		     r.status, refusal_now->status);
	cr_expect_str_eq(response_field(&r, "Connection", value,
					sizeof value), "close");
	cr_expect(closed_after(&rd), "something followed the refusal");
	eddy_close(fd);
	harness_stop(h);
	return NULL;
}

static void refused(const char *request, int status)
{
	refusal_now = &(struct refusal){ request, status };
	run_net(refusal_main);
}

#define HOST "Host: a\r\n"

Test(net_http_server, a_malformed_request_line_is_400)
{
	refused("GET/ HTTP/1.1\r\n" HOST "\r\n", 400);
}

Test(net_http_server, a_missing_host_in_http_1_1_is_400)
{
	refused("GET / HTTP/1.1\r\n\r\n", 400);
}

Test(net_http_server, two_different_content_lengths_are_400)
{
	refused("POST / HTTP/1.1\r\n" HOST "Content-Length: 1\r\n"
		"Content-Length: 2\r\n\r\nab", 400);
}

Test(net_http_server, a_negative_content_length_is_400)
{
	refused("POST / HTTP/1.1\r\n" HOST "Content-Length: -1\r\n\r\n", 400);
}

Test(net_http_server, a_malformed_content_length_is_400)
{
	refused("POST / HTTP/1.1\r\n" HOST "Content-Length: 1x\r\n\r\n", 400);
}

Test(net_http_server, transfer_encoding_with_content_length_is_400)
{
	refused("POST / HTTP/1.1\r\n" HOST "Content-Length: 5\r\n"
		"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400);
}

Test(net_http_server, an_unknown_transfer_coding_is_501)
{
	refused("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: zip, chunked"
		"\r\n\r\n0\r\n\r\n", 501);
}

/* RFC 9112 6.3: the length cannot be known, so 400, not 501. */
Test(net_http_server, a_transfer_coding_without_chunked_last_is_400)
{
	refused("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: zip\r\n\r\n",
		400);
}

Test(net_http_server, whitespace_before_a_fields_colon_is_400)
{
	refused("GET / HTTP/1.1\r\n" HOST "X-A : b\r\n\r\n", 400);
}

Test(net_http_server, a_folded_field_line_is_400)
{
	refused("GET / HTTP/1.1\r\n" HOST "X-A: b\r\n c\r\n\r\n", 400);
}

Test(net_http_server, a_control_byte_in_a_field_is_400)
{
	refused("GET / HTTP/1.1\r\n" HOST "X-A: b\001c\r\n\r\n", 400);
}

Test(net_http_server, an_unknown_http_version_is_505)
{
	refused("GET / HTTP/2.0\r\n" HOST "\r\n", 505);
}

Test(net_http_server, a_request_line_over_the_limit_is_414)
{
	static char req[12000];
	int n = snprintf(req, sizeof req, "GET /");
	memset(req + n, 'a', 9000);
	snprintf(req + n + 9000, sizeof req - (size_t)n - 9000,
		 " HTTP/1.1\r\n" HOST "\r\n");
	refused(req, 414);
}

Test(net_http_server, a_head_over_8_kib_is_431)
{
	static char req[12000];
	int n = snprintf(req, sizeof req, "GET / HTTP/1.1\r\n" HOST);
	for (int i = 0; i < 100; i++)
		n += snprintf(req + n, sizeof req - (size_t)n,
			      "X-Field-%03d: %080d\r\n", i, i);
	snprintf(req + n, sizeof req - (size_t)n, "\r\n");
	refused(req, 431);
}

Test(net_http_server, a_content_length_over_the_limit_is_413)
{
	refused("POST / HTTP/1.1\r\n" HOST "Content-Length: 2000000\r\n\r\n",
		413);
}

Test(net_http_server, a_chunk_size_that_is_not_hex_is_400)
{
	refused("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked\r\n\r\n"
		"zz\r\nab\r\n0\r\n\r\n", 400);
}

/* Past 64 bits is past any body limit: refused before it can wrap. */
Test(net_http_server, a_chunk_size_that_overflows_is_413)
{
	refused("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked\r\n\r\n"
		"1ffffffffffffffffffff\r\nab\r\n0\r\n\r\n", 413);
}

Test(net_http_server, chunked_data_over_the_limit_is_413)
{
	refused("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked\r\n\r\n"
		"200000\r\n", 413);
}

/* ---- keep-alive, pipelining, closing ------------------------------------- */

LOOP_TEST(net_http_server, pipelined_requests_are_answered_in_order)
{
	struct harness *h = serve(echo);
	struct client cl;
	client_open(&cl, h);
	client_send(cl.fd, "GET /1 HTTP/1.1\r\n" HOST "\r\n"
			"POST /2 HTTP/1.1\r\n" HOST "Content-Length: 3\r\n\r\nabc"
			"GET /3 HTTP/1.1\r\n" HOST "\r\n"
			"POST /4 HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked"
			"\r\n\r\n1\r\nx\r\n0\r\n\r\n"
			"GET /5 HTTP/1.1\r\n" HOST "\r\n");
	static const char *const want[] = { "GET /1\n", "POST /2\nabc",
					     "GET /3\n", "POST /4\nx",
					     "GET /5\n" };
	for (int i = 0; i < 5; i++) {
		struct response r;
		cr_assert_eq(read_response(&cl.rd, &r, false), 0);
		cr_expect_str_eq(r.body, want[i], "response %d", i + 1);
	}
	eddy_close(cl.fd);
	harness_stop(h);
}

LOOP_TEST(net_http_server, http_1_0_closes_after_the_response)
{
	struct harness *h = serve(echo);
	struct response r;
	char value[64];
	cr_expect(ask(h, "GET /old HTTP/1.0\r\n\r\n", &r));
	cr_expect_str_eq(r.body, "GET /old\n");
	cr_expect_str_eq(response_field(&r, "Connection", value,
					sizeof value), "close");
	harness_stop(h);
}

LOOP_TEST(net_http_server, connection_close_closes_after_the_response)
{
	struct harness *h = serve(echo);
	struct response r;
	cr_expect(ask(h, "GET / HTTP/1.1\r\n" HOST "Connection: close\r\n\r\n",
		      &r));
	cr_expect_eq(r.status, 200);
	harness_stop(h);
}

/* ---- per-request contexts ------------------------------------------------- */

static eddy_var *seen;

/* Answers with the value `seen` has when the request starts, then sets
 * it to the path, which the next request must not see. */
static int remember(eddy_http_req *req, eddy_http_resp *resp, void *arg)
{
	(void)req;
	(void)arg;
	const char *before = eddy_var_get_or(seen, "<unset>");
	int err = eddy_http_resp_body(resp, before, strlen(before));
	eddy_sleep(MS); /* suspend inside the request: the context stays */
	if (!err)
		err = eddy_var_set(seen, (void *)"leaked", NULL);
	void *now;
	cr_expect_eq(eddy_var_get(seen, &now), 0);
	cr_expect_str_eq(now, "leaked");
	return err;
}

static void *context_main(void *arg)
{
	(void)arg;
	seen = eddy_var_new("seen");
	cr_assert_not_null(seen);
	/* the server's context, copied by every request */
	cr_assert_eq(eddy_var_set(seen, (void *)"server", NULL), 0);
	struct harness *h = serve(remember);
	/* what the starter sets afterwards is not the server's */
	cr_assert_eq(eddy_var_set(seen, (void *)"later", NULL), 0);
	struct client cl;
	client_open(&cl, h);
	for (int i = 0; i < 3; i++) {
		struct response r;
		client_send(cl.fd, "GET / HTTP/1.1\r\n" HOST "\r\n");
		cr_assert_eq(read_response(&cl.rd, &r, false), 0);
		cr_expect_str_eq(r.body, "server", "request %d saw %s", i + 1,
				 r.body);
	}
	eddy_close(cl.fd);
	harness_stop(h);
	return NULL;
}

Test(net_http_server, a_kept_alive_connection_gives_each_request_a_fresh_context)
{
	run_net(context_main);
	eddy_var_free(seen);
}

/* ---- bodies ----------------------------------------------------------------- */

LOOP_TEST(net_http_server, a_chunked_request_body_is_decoded)
{
	struct harness *h = serve(echo);
	struct response r;
	cr_expect(!ask(h, "POST /up HTTP/1.1\r\n" HOST
		       "Transfer-Encoding: chunked\r\n\r\n"
		       "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\n"
		       "Trailer-Field: x\r\n\r\n", &r));
	cr_expect_eq(r.status, 200);
	cr_expect_str_eq(r.body, "POST /up\nhello world");
	harness_stop(h);
}

LOOP_TEST(net_http_server, a_body_the_handler_did_not_read_is_skipped)
{
	struct harness *h = serve(ignore_body);
	struct client cl;
	client_open(&cl, h);
	static char req[40000];
	int n = snprintf(req, sizeof req, "POST / HTTP/1.1\r\n" HOST
			 "Content-Length: 30000\r\n\r\n");
	memset(req + n, 'b', 30000);
	req[n + 30000] = '\0';
	client_send(cl.fd, req);
	client_send(cl.fd, "POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked"
			"\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
	client_send(cl.fd, "GET / HTTP/1.1\r\n" HOST "\r\n");
	for (int i = 0; i < 3; i++) {
		struct response r;
		cr_assert_eq(read_response(&cl.rd, &r, false), 0);
		cr_expect_str_eq(r.body, "ignored\n");
	}
	eddy_close(cl.fd);
	harness_stop(h);
}

LOOP_TEST(net_http_server, expect_100_continue_is_invited_at_the_first_read)
{
	struct harness *h = serve(echo);
	struct client cl;
	client_open(&cl, h);
	client_send(cl.fd, "PUT /f HTTP/1.1\r\n" HOST "Content-Length: 4\r\n"
			"Expect: 100-continue\r\n\r\n");
	struct response r;
	cr_assert_eq(read_response(&cl.rd, &r, false), 0);
	cr_expect_eq(r.status, 100);
	client_send(cl.fd, "data");
	cr_assert_eq(read_response(&cl.rd, &r, false), 0);
	cr_expect_eq(r.status, 200);
	cr_expect_str_eq(r.body, "PUT /f\ndata");
	eddy_close(cl.fd);
	harness_stop(h);
}

/* ---- responses -------------------------------------------------------------- */

static int stream(eddy_http_req *req, eddy_http_resp *resp, void *arg)
{
	(void)req;
	(void)arg;
	int err = eddy_http_resp_body(resp, "one,", 4);
	for (int i = 0; !err && i < 3; i++) {
		ssize_t n = eddy_http_resp_write(resp, i < 2 ? "two," : "three",
						 i < 2 ? 4 : 5);
		err = n < 0 ? (int)n : 0;
	}
	return err;
}

LOOP_TEST(net_http_server, a_streamed_response_is_chunked_and_head_gets_no_body)
{
	struct harness *h = serve(stream);
	struct client cl;
	client_open(&cl, h);
	struct response r;
	char value[64];
	client_send(cl.fd, "GET / HTTP/1.1\r\n" HOST "\r\n");
	cr_assert_eq(read_response(&cl.rd, &r, false), 0);
	cr_expect_str_eq(response_field(&r, "Transfer-Encoding", value,
					sizeof value), "chunked");
	cr_expect_str_eq(r.body, "one,two,two,three");
	/* HEAD: the head alone, and the connection still usable */
	client_send(cl.fd, "HEAD / HTTP/1.1\r\n" HOST "\r\n");
	cr_assert_eq(read_response(&cl.rd, &r, true), 0);
	cr_expect_eq(r.status, 200);
	client_send(cl.fd, "GET / HTTP/1.1\r\n" HOST "\r\n");
	cr_assert_eq(read_response(&cl.rd, &r, false), 0);
	cr_expect_str_eq(r.body, "one,two,two,three");
	eddy_close(cl.fd);
	harness_stop(h);
}

LOOP_TEST(net_http_server, a_head_response_has_the_length_and_no_body)
{
	struct harness *h = serve(echo);
	struct client cl;
	client_open(&cl, h);
	struct response r;
	char value[64];
	client_send(cl.fd, "HEAD /x HTTP/1.1\r\n" HOST "\r\n"
			"GET /y HTTP/1.1\r\n" HOST "\r\n");
	cr_assert_eq(read_response(&cl.rd, &r, true), 0);
	cr_expect_str_eq(response_field(&r, "Content-Length", value,
					sizeof value), "8");
	cr_assert_eq(read_response(&cl.rd, &r, false), 0);
	cr_expect_str_eq(r.body, "GET /y\n", "the HEAD sent a body: %s",
			 r.body);
	eddy_close(cl.fd);
	harness_stop(h);
}

static int fail(eddy_http_req *req, eddy_http_resp *resp, void *arg)
{
	(void)req;
	(void)arg;
	eddy_http_resp_status(resp, 201);
	eddy_http_resp_body(resp, "half", 4);
	return -EIO;
}

LOOP_TEST(net_http_server, a_handler_error_is_answered_500_without_its_half_response)
{
	struct harness *h = serve(fail);
	struct response r;
	ask(h, "GET / HTTP/1.1\r\n" HOST "Connection: close\r\n\r\n", &r);
	cr_expect_eq(r.status, 500);
	cr_expect_str_eq(r.body, "Internal Server Error\n");
	harness_stop(h);
}

/* ---- timeouts --------------------------------------------------------------- */

struct slow_client {
	int fd;
	eddy_reader rd;
	char buf[4096];
	bool done;
	struct response r;
	bool closed;
};

/* Reads what the server says while the writer trickles. */
static void *slow_reader(void *arg)
{
	struct slow_client *c = arg;
	cr_assert_eq(read_response(&c->rd, &c->r, false), 0);
	c->closed = closed_after(&c->rd);
	c->done = true;
	return NULL;
}

LOOP_TEST(net_http_server, a_head_sent_slowly_is_cut_at_the_header_timeout)
{
	static struct harness h;
	harness_start(&h, &(eddy_http_opts){ .handler = echo,
					     .header_timeout_ns = 200 * MS });
	static struct slow_client c;
	c.fd = client_connect(&h);
	eddy_reader_init(&c.rd, c.fd, c.buf, sizeof c.buf);
	eddy_task *reader = eddy_spawn(slow_reader, &c);
	cr_assert_not_null(reader);
	/* a head that never ends, a byte every 10 ms: each read is quick,
	 * the head as a whole is not */
	client_send(c.fd, "GET / HTTP/1.1\r\n" HOST "X-Slow: ");
	for (int i = 0; i < 1000 && !c.done; i++) {
		if (eddy_write_all(c.fd, "a", 1, WAIT_NS) < 0)
			break; /* the server closed on us */
		eddy_sleep(10 * MS);
	}
	cr_assert_eq(eddy_join(reader, NULL), 0);
	char value[64];
	cr_expect_eq(c.r.status, 408);
	cr_expect_str_eq(response_field(&c.r, "Connection", value,
					sizeof value), "close");
	cr_expect(c.closed);
	eddy_close(c.fd);
	harness_stop(&h);
}

LOOP_TEST(net_http_server, an_idle_kept_alive_connection_is_closed_silently)
{
	static struct harness h;
	harness_start(&h, &(eddy_http_opts){ .handler = echo,
					     .idle_timeout_ns = 50 * MS });
	struct client cl;
	client_open(&cl, &h);
	struct response r;
	client_send(cl.fd, "GET / HTTP/1.1\r\n" HOST "\r\n");
	cr_assert_eq(read_response(&cl.rd, &r, false), 0);
	/* then nothing: the server hangs up without a word */
	cr_expect(closed_after(&cl.rd));
	eddy_close(cl.fd);
	harness_stop(&h);
}

/* ---- a peer that resets ----------------------------------------------------- */

static eddy_event *big_failed;

/* A response far larger than the socket buffers, streamed. */
static int big(eddy_http_req *req, eddy_http_resp *resp, void *arg)
{
	(void)arg;
	if (strcmp(eddy_http_req_path(req), "/big"))
		return echo(req, resp, NULL);
	static char chunk[65536];
	memset(chunk, 'z', sizeof chunk);
	for (int i = 0; i < 1024; i++) {
		ssize_t n = eddy_http_resp_write(resp, chunk, sizeof chunk);
		if (n < 0) {
			eddy_event_set(big_failed);
			return (int)n;
		}
	}
	return 0;
}

LOOP_TEST(net_http_server, a_peer_that_resets_mid_response_does_not_disturb_another)
{
	big_failed = eddy_event_new();
	cr_assert_not_null(big_failed);
	struct harness *h = serve(big);
	/* the other connection, opened before and used after */
	int other = client_connect(h);
	char buf[16384];
	eddy_reader rd;
	eddy_reader_init(&rd, other, buf, sizeof buf);
	struct response r;
	client_send(other, "GET /before HTTP/1.1\r\n" HOST "\r\n");
	cr_assert_eq(read_response(&rd, &r, false), 0);

	int rude = client_connect(h);
	client_send(rude, "GET /big HTTP/1.1\r\n" HOST "\r\n");
	char some[1024];
	cr_assert_gt(eddy_read_timeout(rude, some, sizeof some, WAIT_NS), 0);
	struct linger reset = { 1, 0 };
	cr_assert_eq(setsockopt(rude, SOL_SOCKET, SO_LINGER, &reset,
				sizeof reset), 0);
	eddy_close(rude); /* RST, mid-response */
	cr_assert_eq(eddy_event_wait_timeout(big_failed, WAIT_NS), 0);

	for (int i = 0; i < 3; i++) {
		client_send(other, "GET /after HTTP/1.1\r\n" HOST "\r\n");
		cr_assert_eq(read_response(&rd, &r, false), 0);
		cr_expect_str_eq(r.body, "GET /after\n");
	}
	eddy_close(other);
	harness_stop(h);
	eddy_event_free(big_failed);
}

/* ---- HTTP/1.0 streaming, and a body never invited ----------------------- */

LOOP_TEST(net_http_server, a_stream_to_an_http_1_0_client_ends_with_the_connection)
{
	struct harness *h = serve(stream);
	int fd = client_connect(h);
	client_send(fd, "GET / HTTP/1.0\r\n\r\n");
	static char got[4096];
	size_t len = 0;
	ssize_t n;
	while ((n = eddy_read_timeout(fd, got + len, sizeof got - 1 - len,
				      WAIT_NS)) > 0)
		len += (size_t)n;
	cr_assert_eq(n, 0, "no EOF: %s", eddy_strerror((int)n));
	got[len] = '\0';
	/* no chunked coding for a 1.0 client: the close ends the body */
	cr_expect_null(strstr(got, "Transfer-Encoding"), "%s", got);
	cr_expect_not_null(strstr(got, "\r\nConnection: close\r\n"), "%s", got);
	const char *body = strstr(got, "\r\n\r\n");
	cr_assert_not_null(body);
	cr_expect_str_eq(body + 4, "one,two,two,three");
	eddy_close(fd);
	harness_stop(h);
}

LOOP_TEST(net_http_server, a_body_never_invited_closes_the_connection)
{
	struct harness *h = serve(ignore_body);
	struct response r;
	char value[64];
	/* the client waits for 100 Continue, which never comes: the body
	 * may or may not follow, so the connection cannot go on */
	cr_expect(ask(h, "PUT /f HTTP/1.1\r\n" HOST "Content-Length: 4\r\n"
		      "Expect: 100-continue\r\n\r\n", &r));
	cr_expect_eq(r.status, 200);
	cr_expect_str_eq(response_field(&r, "Connection", value,
					sizeof value), "close");
	harness_stop(h);
}
