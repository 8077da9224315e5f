/*
 * What the HTTP server's tests share: a server and its clients as tasks
 * of one loop, and a small HTTP/1.1 response reader for the clients.
 *
 * The server side is what eddy_server does for one loop, without threads:
 * a listener on a free loopback port, an acceptor task, and a detached
 * task per connection running eddy_http_serve_conn then a graceful close.
 * Clients speak raw bytes through eddy_tcp_connect, so a test can send
 * anything, slowly or all at once, and see exactly what comes back.
 * Every wait is bounded by WAIT_NS: a server that does not answer fails
 * the test instead of hanging it.
 */
#ifndef EDDY_TESTS_NET_HTTP_HARNESS_H
#define EDDY_TESTS_NET_HTTP_HARNESS_H

#include "check.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eddy.h"
#include "net_common.h" /* run_net, V, N */

#define WAIT_NS 5000000000ull /* 5 s: any answer comes long before */
#define MS 1000000ull

struct harness {
	eddy_http_server *http;
	int lfd;
	char port[8];
	eddy_task *acceptor;
	int live;          /* connection tasks running */
	eddy_event *ended; /* set whenever live drops to 0 */
};

struct conn_job {
	struct harness *h;
	int fd;
};

static inline void *serve_one(void *arg)
{
	struct conn_job job = *(struct conn_job *)arg;
	free(arg);
	eddy_http_serve_conn(job.fd, NULL, job.h->http);
	eddy_tcp_close(job.fd, 100 * MS);
	if (!--job.h->live)
		eddy_event_set(job.h->ended);
	return NULL;
}

static inline void *accept_loop(void *arg)
{
	struct harness *h = arg;
	for (;;) {
		int fd = eddy_tcp_accept(h->lfd, NULL, NULL);
		if (fd < 0)
			return NULL; /* cancelled at the test's end */
		struct conn_job *job = malloc(sizeof *job);
		cr_assert_not_null(job);
		*job = (struct conn_job){ h, fd };
		h->live++;
		eddy_event_clear(h->ended);
		eddy_task *t = eddy_spawn(serve_one, job);
		cr_assert_not_null(t);
		eddy_detach(t);
	}
}

/* Start serving with opts (the handler and limits), from a task. */
static inline void harness_start(struct harness *h,
				 const eddy_http_opts *opts)
{
	h->http = eddy_http_server_new(opts);
	cr_assert_not_null(h->http);
	h->live = 0;
	h->ended = eddy_event_new();
	cr_assert_not_null(h->ended);
	h->lfd = eddy_tcp_listen("127.0.0.1", "0", NULL);
	cr_assert_geq(h->lfd, 0);
	snprintf(h->port, sizeof h->port, "%d", eddy_tcp_local_port(h->lfd));
	h->acceptor = eddy_spawn(accept_loop, h);
	cr_assert_not_null(h->acceptor);
}

/* Stop accepting, wait for the connections to end (their clients have
 * closed), and free the server. */
static inline void harness_stop(struct harness *h)
{
	eddy_cancel(h->acceptor);
	eddy_join(h->acceptor, NULL);
	eddy_close(h->lfd);
	if (h->live)
		cr_assert_eq(eddy_event_wait_timeout(h->ended, WAIT_NS), 0,
			     "%d connections did not end", h->live);
	eddy_event_free(h->ended);
	eddy_http_server_free(h->http);
}

/* ---- the client side ----------------------------------------------------- */

static inline int client_connect(const struct harness *h)
{
	int fd = eddy_tcp_connect("127.0.0.1", h->port, WAIT_NS);
	cr_assert_geq(fd, 0, "connect: %s", eddy_strerror(fd));
	return fd;
}

/* A client connection and a reader over it. */
struct client {
	int fd;
	eddy_reader rd;
	char buf[16384];
};

static inline void client_open(struct client *c, const struct harness *h)
{
	c->fd = client_connect(h);
	eddy_reader_init(&c->rd, c->fd, c->buf, sizeof c->buf);
}

static inline void client_send(int fd, const char *text)
{
	ssize_t n = eddy_write_all(fd, text, strlen(text), WAIT_NS);
	cr_assert_eq(n, (ssize_t)strlen(text), "send: %s",
		     eddy_strerror((int)n));
}

struct response {
	int status;
	char head[4096]; /* the whole head, NUL-terminated */
	char body[65536];
	size_t body_len;
};

/* The value of field name in a response head, copied to out, or NULL. */
static inline const char *response_field(const struct response *r,
					 const char *name, char *out,
					 size_t size)
{
	size_t nlen = strlen(name);
	for (const char *line = strstr(r->head, "\r\n"); line && line[2];
	     line = strstr(line + 2, "\r\n")) {
		const char *at = line + 2;
		if (!strncasecmp(at, name, nlen) && at[nlen] == ':') {
			at += nlen + 1;
			while (*at == ' ')
				at++;
			size_t len = strcspn(at, "\r");
			snprintf(out, size, "%.*s", (int)len, at);
			return out;
		}
	}
	return NULL;
}

/* Append exactly n bytes from the reader to the body. */
static inline void read_body_bytes(eddy_reader *rd, struct response *r,
				   size_t n)
{
	cr_assert_lt(r->body_len + n, sizeof r->body);
	ssize_t got = eddy_reader_read_exact(rd, r->body + r->body_len, n,
					     WAIT_NS);
	cr_assert_eq(got, (ssize_t)n, "body: %s", eddy_strerror((int)got));
	r->body_len += n;
}

static inline void read_chunked_body(eddy_reader *rd, struct response *r)
{
	for (;;) {
		const char *line;
		ssize_t n = eddy_reader_read_until(rd, "\r\n", 2, 64, &line,
						   WAIT_NS);
		cr_assert_gt(n, 0, "chunk size: %s", eddy_strerror((int)n));
		size_t size = strtoul(line, NULL, 16);
		if (size)
			read_body_bytes(rd, r, size);
		char crlf[2];
		cr_assert_eq(eddy_reader_read_exact(rd, crlf, 2, WAIT_NS), 2);
		if (!size)
			return;
	}
}

/*
 * Read one response: 0 with *r filled in, or -EPIPE when the server
 * closed before a response began.  A HEAD response (head_only) has no
 * body whatever its fields say.
 */
static inline int read_response(eddy_reader *rd, struct response *r,
				bool head_only)
{
	const char *head;
	ssize_t n = eddy_reader_read_until(rd, "\r\n\r\n", 4, sizeof r->head,
					   &head, WAIT_NS);
	size_t left;
	eddy_reader_data(rd, &left);
	if (n == -EPIPE && !left)
		return -EPIPE;
	cr_assert_gt(n, 0, "response head: %s", eddy_strerror((int)n));
	memcpy(r->head, head, (size_t)n);
	r->head[n] = '\0';
	cr_assert(!strncmp(r->head, "HTTP/1.1 ", 9), "not a response: %s",
		  r->head);
	r->status = atoi(r->head + 9);
	r->body_len = 0;
	char value[64];
	if (head_only || r->status < 200 || r->status == 204 ||
	    r->status == 304)
		return 0;
	if (response_field(r, "Content-Length", value, sizeof value))
		read_body_bytes(rd, r, strtoul(value, NULL, 10));
	else if (response_field(r, "Transfer-Encoding", value, sizeof value))
		read_chunked_body(rd, r);
	r->body[r->body_len] = '\0';
	return 0;
}

/* Whether the server closed: EOF with nothing more said. */
static inline bool closed_after(eddy_reader *rd)
{
	size_t len;
	eddy_reader_data(rd, &len);
	if (len)
		return false;
	ssize_t n = eddy_reader_fill(rd, WAIT_NS);
	return n == 0 || n == -ECONNRESET;
}

#endif
