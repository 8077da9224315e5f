/*
 * A TCP echo client: sends each line of its standard input (or each
 * argument after the options) and prints what comes back.
 *
 *   build/examples/echo/client --port 40123 hello world
 *   hello
 *   world
 *
 * Options: --host H (default 127.0.0.1), --port N, --timeout-ms N for
 * the connect and each reply (default 5000).  A last line without a
 * newline is sent with one; a line or word of 64 KiB or more is refused
 * (-EMSGSIZE), as its echo would not fit the reader's buffer.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eddy.h"

struct job {
	const char *host, *port;
	uint64_t timeout_ns;
	char **words; /* NULL: read standard input */
	int nwords;
};

/* Send line (ending in \n) and print the echo. */
static int round_trip(int fd, eddy_reader *r, const char *line, size_t len,
		      uint64_t timeout_ns)
{
	ssize_t n = eddy_write_all(fd, line, len, timeout_ns);
	if (n < 0)
		return (int)n;
	const char *back;
	n = eddy_reader_read_until(r, "\n", 1, 0, &back, timeout_ns);
	if (n < 0)
		return (int)n;
	fwrite(back, 1, (size_t)n, stdout);
	return 0;
}

static void *client(void *arg)
{
	struct job *j = arg;
	int fd = eddy_tcp_connect(j->host, j->port, j->timeout_ns);
	if (fd < 0)
		return (void *)(intptr_t)fd;
	char buf[65536], line[65536];
	eddy_reader r;
	eddy_reader_init(&r, fd, buf, sizeof buf);
	int err = 0;
	if (j->words) {
		for (int i = 0; i < j->nwords && !err; i++) {
			int len = snprintf(line, sizeof line, "%s\n",
					   j->words[i]);
			err = (size_t)len < sizeof line
				      ? round_trip(fd, &r, line, (size_t)len,
						   j->timeout_ns)
				      : -EMSGSIZE;
		}
	} else {
		/* stdin is read with stdio: a local, short blocking read */
		while (!err && fgets(line, sizeof line, stdin)) {
			size_t len = strlen(line);
			/* the echo is awaited up to a newline: a last line
			 * without one gets it, a longer line than fits is
			 * refused (its echo could not be told apart) */
			if (len && line[len - 1] != '\n') {
				if (len + 1 == sizeof line)
					err = -EMSGSIZE;
				else
					line[len++] = '\n';
			}
			if (!err)
				err = round_trip(fd, &r, line, len,
						 j->timeout_ns);
		}
	}
	int cerr = eddy_tcp_close(fd, j->timeout_ns);
	return (void *)(intptr_t)(err ? err : cerr);
}

int main(int argc, char **argv)
{
	struct job j = { .host = "127.0.0.1", .port = "7007",
			 .timeout_ns = 5000000000ull };
	int i = 1;
	for (; i + 1 < argc && !strncmp(argv[i], "--", 2); i += 2) {
		if (!strcmp(argv[i], "--host"))
			j.host = argv[i + 1];
		else if (!strcmp(argv[i], "--port"))
			j.port = argv[i + 1];
		else if (!strcmp(argv[i], "--timeout-ms"))
			j.timeout_ns = strtoull(argv[i + 1], NULL, 10) * 1000000;
		else
			break;
	}
	if (i < argc) {
		j.words = argv + i;
		j.nwords = argc - i;
	}
	void *r = NULL;
	int err = eddy_run(client, &j, &r);
	if (!err)
		err = (int)(intptr_t)r;
	fflush(stdout);
	if (err) {
		fprintf(stderr, "echo client: %s\n", eddy_strerror(err));
		return 1;
	}
	return 0;
}
