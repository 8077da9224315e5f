/*
 * A TCP echo server: every byte a client sends comes back.
 *
 *   build/examples/echo/server --port 0 --threads 2
 *   listening on 127.0.0.1:40123
 *
 * Options: --host H (default 127.0.0.1; "" for every address), --port N
 * (0 picks a free port), --threads N (loops, one per core you give it).
 * SIGINT or SIGTERM stops it: connections get 2 s to finish, then it
 * exits 0.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eddy.h"

static int echo(int fd, const struct sockaddr *peer, void *arg)
{
	(void)peer;
	(void)arg;
	char buf[16384];
	ssize_t n;
	while ((n = eddy_recv(fd, buf, sizeof buf, 0)) > 0)
		if ((n = eddy_write_all(fd, buf, (size_t)n, 0)) < 0)
			break;
	return n < 0 ? (int)n : 0;
}

static void usage(const char *prog)
{
	fprintf(stderr, "usage: %s [--host H] [--port N] [--threads N]\n",
		prog);
	exit(2);
}

int main(int argc, char **argv)
{
	const char *host = "127.0.0.1", *port = "7007";
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
	eddy_server *srv = eddy_server_new(&(eddy_server_opts){
		.host = host, .port = port, .threads = threads,
		.grace_ns = 2000000000, .handle_signals = 1, .on_conn = echo });
	if (!srv) {
		fprintf(stderr, "echo server: %s\n", eddy_strerror(-errno));
		return 1;
	}
	/* The listeners are bound and queue connections from here on. */
	printf("listening on %s:%d\n", *host ? host : "[::]",
	       eddy_server_port(srv));
	fflush(stdout);
	int err = eddy_server_run(srv);
	eddy_server_free(srv);
	if (err) {
		fprintf(stderr, "echo server: %s\n", eddy_strerror(err));
		return 1;
	}
	return 0;
}
