/*
 * Stopping an HTTP server run by eddy_server: a request in flight when
 * the stop comes finishes, and its response says "Connection: close";
 * a kept-alive connection idle between requests is closed at once; then
 * eddy_server_run returns 0.  The client is a plain thread with blocking
 * sockets, since eddy_server_run owns the test's thread.
 */
#define _GNU_SOURCE
#include "check.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <string.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "eddy.h"

EDDY_SUITE(net_http_stop_threads);

#define MS 1000000ull

static int started[2]; /* the handler says it runs: a pipe */
static eddy_server *server;

/* Holds the request until the server stops, then answers. */
static int slow(eddy_http_req *req, eddy_http_resp *resp, void *arg)
{
	(void)req;
	(void)arg;
	cr_assert_eq(write(started[1], "s", 1), 1);
	for (int i = 0; i < 5000 && !eddy_server_stopping(); i++)
		eddy_sleep(MS);
	cr_assert(eddy_server_stopping());
	return eddy_http_resp_body(resp, "finished", 8);
}

static int connect_to(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_geq(fd, 0);
	/* a bound on every read: an idle connection left waiting for the
	 * grace period (an hour) fails the test instead of hanging it */
	struct timeval limit = { 10, 0 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
	struct sockaddr_in to = { .sin_family = AF_INET,
				  .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	cr_assert_eq(connect(fd, (struct sockaddr *)&to, sizeof to), 0);
	return fd;
}

static void send_text(int fd, const char *text)
{
	ssize_t len = (ssize_t)strlen(text);
	cr_assert_eq(write(fd, text, (size_t)len), len);
}

/* Everything until EOF, NUL-terminated; the read's result at the end
 * (0: EOF, -1: the bound ran out). */
static ssize_t read_to_eof(int fd, char *got, size_t cap)
{
	size_t len = 0;
	ssize_t n;
	while ((n = read(fd, got + len, cap - 1 - len)) > 0)
		len += (size_t)n;
	got[len] = '\0';
	return n;
}

static void *client(void *arg)
{
	int fd = connect_to((int)(intptr_t)arg);
	send_text(fd, "GET /slow HTTP/1.1\r\nHost: a\r\n\r\n");
	char ch;
	cr_assert_eq(read(started[0], &ch, 1), 1);
	cr_assert_eq(eddy_server_stop(server), 0);
	static char got[4096];
	cr_assert_eq(read_to_eof(fd, got, sizeof got), 0,
		     "no EOF after the response");
	cr_expect(!strncmp(got, "HTTP/1.1 200 OK\r\n", 17), "%s", got);
	cr_expect_not_null(strstr(got, "\r\nConnection: close\r\n"), "%s", got);
	cr_expect_not_null(strstr(got, "\r\n\r\nfinished"), "%s", got);
	close(fd);
	return NULL;
}

/* Serve handler on this thread, with client on another, until stopped. */
static void serve_with(eddy_http_handler handler, uint64_t grace_ns,
		       void *(*client_fn)(void *))
{
	cr_assert_eq(pipe(started), 0);
	eddy_http_server *http = eddy_http_server_new(&(eddy_http_opts){
		.handler = handler });
	cr_assert_not_null(http);
	server = eddy_server_new(&(eddy_server_opts){
		.host = "127.0.0.1", .port = "0", .grace_ns = grace_ns,
		.on_conn = eddy_http_serve_conn, .arg = http });
	cr_assert_not_null(server);
	pthread_t t;
	cr_assert_eq(pthread_create(&t, NULL, client_fn,
				    (void *)(intptr_t)eddy_server_port(server)),
		     0);
	cr_expect_eq(eddy_server_run(server), 0);
	pthread_join(t, NULL);
	eddy_server_free(server);
	eddy_http_server_free(http);
	close(started[0]);
	close(started[1]);
}

Test(net_http_stop_threads, a_request_in_flight_finishes_when_the_server_stops)
{
	serve_with(slow, 5000 * MS, client);
}

/* ---- an idle keep-alive connection does not wait out the grace -------- */

static int release[2]; /* lets the in-flight request finish: a pipe */

/* /slow waits for the client's word; anything else answers at once. */
static int held(eddy_http_req *req, eddy_http_resp *resp, void *arg)
{
	(void)arg;
	if (strcmp(eddy_http_req_path(req), "/slow"))
		return eddy_http_resp_body(resp, "fast", 4);
	cr_assert_eq(write(started[1], "s", 1), 1);
	char ch;
	cr_assert_eq(eddy_read(release[0], &ch, 1), 1);
	return eddy_http_resp_body(resp, "finished", 8);
}

static void *idle_client(void *arg)
{
	int port = (int)(intptr_t)arg;
	/* idle: one request answered, then nothing */
	int idle = connect_to(port);
	send_text(idle, "GET /fast HTTP/1.1\r\nHost: a\r\n\r\n");
	char got[4096];
	ssize_t n = read(idle, got, sizeof got - 1);
	cr_assert_gt(n, 0);
	got[n] = '\0';
	cr_assert_not_null(strstr(got, "\r\n\r\nfast"), "%s", got);
	/* busy: a request held in its handler */
	int busy = connect_to(port);
	send_text(busy, "GET /slow HTTP/1.1\r\nHost: a\r\n\r\n");
	char ch;
	cr_assert_eq(read(started[0], &ch, 1), 1);
	cr_assert_eq(eddy_server_stop(server), 0);
	/* the idle connection ends while the request is still held */
	cr_assert_eq(read_to_eof(idle, got, sizeof got), 0,
		     "the idle connection was not closed");
	cr_expect_str_empty(got);
	struct pollfd p = { .fd = busy, .events = POLLIN };
	cr_expect_eq(poll(&p, 1, 0), 0, "the held request was answered");
	cr_assert_eq(write(release[1], "r", 1), 1);
	cr_assert_eq(read_to_eof(busy, got, sizeof got), 0);
	cr_expect(!strncmp(got, "HTTP/1.1 200 OK\r\n", 17), "%s", got);
	cr_expect_not_null(strstr(got, "\r\nConnection: close\r\n"), "%s", got);
	cr_expect_not_null(strstr(got, "\r\n\r\nfinished"), "%s", got);
	close(idle);
	close(busy);
	return NULL;
}

Test(net_http_stop_threads,
     an_idle_connection_closes_at_once_and_a_request_in_flight_finishes)
{
	cr_assert_eq(pipe(release), 0);
	/* an hour: nothing may wait it out */
	serve_with(held, 3600000 * MS, idle_client);
	close(release[0]);
	close(release[1]);
}
