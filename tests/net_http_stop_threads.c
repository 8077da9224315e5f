/*
 * Stopping an HTTP server run by eddy_server: a request in flight when
 * the stop comes finishes, and its response says "Connection: close";
 * then eddy_server_run returns 0.  The client is a plain thread with
 * blocking sockets, since eddy_server_run owns the test's thread.
 */
#define _GNU_SOURCE
#include "check.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <string.h>
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

static void *client(void *arg)
{
	int port = (int)(intptr_t)arg;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_geq(fd, 0);
	struct timeval limit = { 10, 0 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
	struct sockaddr_in to = { .sin_family = AF_INET,
				  .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	cr_assert_eq(connect(fd, (struct sockaddr *)&to, sizeof to), 0);
	static const char req[] = "GET /slow HTTP/1.1\r\nHost: a\r\n\r\n";
	cr_assert_eq(write(fd, req, sizeof req - 1), (ssize_t)sizeof req - 1);
	char ch;
	cr_assert_eq(read(started[0], &ch, 1), 1);
	cr_assert_eq(eddy_server_stop(server), 0);
	static char got[4096];
	size_t len = 0;
	ssize_t n;
	while ((n = read(fd, got + len, sizeof got - 1 - len)) > 0)
		len += (size_t)n;
	cr_assert_eq(n, 0, "no EOF after the response");
	got[len] = '\0';
	cr_expect(!strncmp(got, "HTTP/1.1 200 OK\r\n", 17), "%s", got);
	cr_expect_not_null(strstr(got, "\r\nConnection: close\r\n"), "%s", got);
	cr_expect_not_null(strstr(got, "\r\n\r\nfinished"), "%s", got);
	close(fd);
	return NULL;
}

Test(net_http_stop_threads, a_request_in_flight_finishes_when_the_server_stops)
{
	cr_assert_eq(pipe(started), 0);
	eddy_http_server *http = eddy_http_server_new(&(eddy_http_opts){
		.handler = slow });
	cr_assert_not_null(http);
	server = eddy_server_new(&(eddy_server_opts){
		.host = "127.0.0.1", .port = "0", .grace_ns = 5000 * MS,
		.on_conn = eddy_http_serve_conn, .arg = http });
	cr_assert_not_null(server);
	pthread_t t;
	cr_assert_eq(pthread_create(&t, NULL, client,
				    (void *)(intptr_t)eddy_server_port(server)),
		     0);
	cr_expect_eq(eddy_server_run(server), 0);
	pthread_join(t, NULL);
	eddy_server_free(server);
	eddy_http_server_free(http);
	close(started[0]);
	close(started[1]);
}
