/*
 * One HTTP server on two loops (eddy_server with two threads), under
 * ThreadSanitizer too: every request's context is copied from the same
 * server context on both threads at once, and each request sends its
 * endpoint to a worker thread under SHARE, which sets a variable the
 * request then reads back.  Four client threads with blocking sockets
 * each make their requests on one kept-alive connection, each with its
 * own X-User, and every answer must name the request's own user.
 */
#define _GNU_SOURCE
#include "check.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "eddy.h"

EDDY_SUITE(net_http_threads);

#define CLIENTS 4
#define REQUESTS 50

static eddy_var *user;
static eddy_server *server;

static void *authenticate(void *req)
{
	const char *who = eddy_http_req_header(req, "X-User");
	return (void *)(intptr_t)eddy_var_set(user, (void *)who, NULL);
}

static int whoami(eddy_http_req *req, eddy_http_resp *resp, void *arg)
{
	(void)arg;
	void *r;
	int err = eddy_to_thread(authenticate, req, EDDY_SHARE, &r);
	if (err || (err = (int)(intptr_t)r))
		return err;
	const char *who = eddy_var_get_or(user, "<unset>");
	return eddy_http_resp_body(resp, who, strlen(who));
}

struct client {
	int port, index;
	int right; /* answers naming this client's user */
};

/* One response's body (Content-Length framed), read whole. */
static void read_body(int fd, char *body, size_t size)
{
	static _Thread_local char buf[4096];
	size_t len = 0;
	for (;;) {
		ssize_t n = read(fd, buf + len, sizeof buf - 1 - len);
		cr_assert_gt(n, 0, "the server closed or timed out");
		len += (size_t)n;
		buf[len] = '\0';
		char *end = strstr(buf, "\r\n\r\n");
		const char *cl = strstr(buf, "Content-Length: ");
		if (!end || !cl)
			continue;
		size_t blen = strtoul(cl + 16, NULL, 10);
		if (len < (size_t)(end + 4 - buf) + blen)
			continue;
		cr_assert_lt(blen, size);
		memcpy(body, end + 4, blen);
		body[blen] = '\0';
		return; /* one request at a time: nothing follows */
	}
}

static void *client(void *arg)
{
	struct client *c = arg;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_geq(fd, 0);
	struct timeval limit = { 10, 0 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
	struct sockaddr_in to = { .sin_family = AF_INET,
				  .sin_port = htons((uint16_t)c->port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	cr_assert_eq(connect(fd, (struct sockaddr *)&to, sizeof to), 0);
	char req[128], want[16], body[64];
	snprintf(want, sizeof want, "user%d", c->index);
	int len = snprintf(req, sizeof req, "GET / HTTP/1.1\r\nHost: a\r\n"
			   "X-User: %s\r\n\r\n", want);
	for (int i = 0; i < REQUESTS; i++) {
		cr_assert_eq(write(fd, req, (size_t)len), len);
		read_body(fd, body, sizeof body);
		c->right += !strcmp(body, want);
	}
	close(fd);
	return NULL;
}

static void *run_server(void *srv)
{
	return (void *)(intptr_t)eddy_server_run(srv);
}

Test(net_http_threads, requests_on_two_loops_each_see_their_own_context)
{
	user = eddy_var_new("user");
	cr_assert_not_null(user);
	eddy_http_server *http = eddy_http_server_new(&(eddy_http_opts){
		.handler = whoami });
	cr_assert_not_null(http);
	server = eddy_server_new(&(eddy_server_opts){
		.host = "127.0.0.1", .port = "0", .threads = 2,
		.grace_ns = 1000000000, .on_conn = eddy_http_serve_conn,
		.arg = http });
	cr_assert_not_null(server);
	pthread_t run, t[CLIENTS];
	struct client c[CLIENTS];
	cr_assert_eq(pthread_create(&run, NULL, run_server, server), 0);
	for (int i = 0; i < CLIENTS; i++) {
		c[i] = (struct client){ eddy_server_port(server), i, 0 };
		cr_assert_eq(pthread_create(&t[i], NULL, client, &c[i]), 0);
	}
	for (int i = 0; i < CLIENTS; i++) {
		pthread_join(t[i], NULL);
		cr_expect_eq(c[i].right, REQUESTS, "client %d: %d right", i,
			     c[i].right);
	}
	cr_assert_eq(eddy_server_stop(server), 0);
	void *r;
	pthread_join(run, &r);
	cr_expect_null(r);
	eddy_server_free(server);
	eddy_http_server_free(http);
	eddy_var_free(user);
}
