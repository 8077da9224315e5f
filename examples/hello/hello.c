/*
 * "Hello, World!" over HTTP/1.1, kept alive: the server bench/http
 * measures against nginx.
 *
 *   build/examples/hello/hello --port 0 --threads 1
 *   listening on 127.0.0.1:40123
 *   curl http://127.0.0.1:40123/      -> Hello, World!
 *
 * Options: --host H (default 127.0.0.1; "" for every address), --port N
 * (0 picks a free port; default 8080), --threads N (loops, one per core
 * you give it; default 1).  SIGINT or SIGTERM stops it: requests in
 * flight get 2 s to finish, then it exits 0.  SIGUSR1 prints the first
 * loop's counters (eddy_loop_stats) on stderr:
 *
 *   kill -USR1 $(pidof hello)   -> eddy stats: tasks 51 alive, ...
 */
#define _POSIX_C_SOURCE 200809L /* sigset_t, pthread_sigmask */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eddy.h"

static int hello(eddy_http_req *req, eddy_http_resp *resp, void *arg)
{
	(void)req;
	(void)arg;
	int err = eddy_http_resp_header(resp, "Content-Type", "text/plain");
	return err ? err : eddy_http_resp_body(resp, "Hello, World!", 13);
}

/* The first loop reads SIGUSR1 through its ring; the signal is blocked
 * in every thread before any starts (main), so that none dies of it. */
static int on_loop(eddy_loop *loop, unsigned index, void *arg)
{
	(void)arg;
	return index ? 0 : eddy_loop_stats_on_signal(loop, SIGUSR1, stderr);
}

static void usage(const char *prog)
{
	fprintf(stderr, "usage: %s [--host H] [--port N] [--threads N]\n",
		prog);
	exit(2);
}

int main(int argc, char **argv)
{
	const char *host = "127.0.0.1", *port = "8080";
	unsigned threads = 1;
	for (int i = 1; i < argc; i++) {
		if (i + 1 >= argc)
			usage(argv[0]);
		if (!strcmp(argv[i], "--host"))
			host = argv[++i];
		else if (!strcmp(argv[i], "--port"))
			port = argv[++i];
		else if (!strcmp(argv[i], "--threads"))
			threads = (unsigned)strtoul(argv[++i], NULL, 10);
		else
			usage(argv[0]);
	}
	sigset_t usr1;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &usr1, NULL);
	eddy_http_server *http = eddy_http_server_new(&(eddy_http_opts){
		.handler = hello });
	eddy_server *srv = http ? eddy_server_new(&(eddy_server_opts){
		.host = host, .port = port, .threads = threads,
		.grace_ns = 2000000000, .handle_signals = 1,
		.on_conn = eddy_http_serve_conn, .on_loop = on_loop,
		.arg = http }) : NULL;
	if (!srv) {
		fprintf(stderr, "hello: %s\n", eddy_strerror(-errno));
		eddy_http_server_free(http);
		return 1;
	}
	/* The listeners are bound and queue connections from here on. */
	printf("listening on %s:%d\n", *host ? host : "[::]",
	       eddy_server_port(srv));
	fflush(stdout);
	int err = eddy_server_run(srv);
	eddy_server_free(srv);
	eddy_http_server_free(http);
	if (err) {
		fprintf(stderr, "hello: %s\n", eddy_strerror(err));
		return 1;
	}
	return 0;
}
