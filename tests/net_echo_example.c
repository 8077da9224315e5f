/*
 * examples/echo as a script uses it: the server, started with --port 0,
 * says where it listens on its first line; the client's words come back;
 * SIGTERM stops the server, which exits 0.
 */
#define _GNU_SOURCE
#include "check.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

EDDY_SUITE(net_echo_example);

/* Run argv with its standard output on a pipe, whose end *out gets, and
 * its standard input from in (-1: this process's). */
static pid_t spawn_from(char *const argv[], int in, int *out)
{
	int p[2];
	cr_assert_eq(pipe(p), 0);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		if (in >= 0)
			dup2(in, 0);
		dup2(p[1], 1);
		close(p[0]);
		close(p[1]);
		execv(argv[0], argv);
		_exit(127);
	}
	close(p[1]);
	*out = p[0];
	return pid;
}

static pid_t spawn(char *const argv[], int *out)
{
	return spawn_from(argv, -1, out);
}

/* Everything fd gives until EOF (at most cap - 1 bytes). */
static void read_all(int fd, char *buf, size_t cap)
{
	size_t have = 0;
	ssize_t n;
	while (have < cap - 1 && (n = read(fd, buf + have, cap - 1 - have)) > 0)
		have += (size_t)n;
	buf[have] = 0;
}

static int exit_code(pid_t pid)
{
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status), "status %d", status);
	return WEXITSTATUS(status);
}

/* The server on a free port: its pid, its output in *f, its port in
 * port_s. */
static pid_t start_server(FILE **f, char port_s[12])
{
	int out;
	pid_t srv = spawn((char *[]){ ECHO_BIN_DIR "/server", "--port", "0",
				      "--threads", "2", NULL },
			  &out);
	*f = fdopen(out, "r");
	cr_assert_not_null(*f);
	char line[128] = { 0 };
	cr_assert_not_null(fgets(line, sizeof line, *f));
	int port = 0;
	cr_assert_eq(sscanf(line, "listening on 127.0.0.1:%d", &port), 1,
		     "first line: %s", line);
	cr_assert_gt(port, 0);
	snprintf(port_s, 12, "%d", port);
	return srv;
}

/* SIGTERM stops the server, which exits 0. */
static void stop_server(pid_t srv, FILE *f)
{
	cr_assert_eq(kill(srv, SIGTERM), 0);
	cr_assert_eq(exit_code(srv), 0);
	fclose(f);
}

Test(net_echo_example, server_says_its_port_echoes_and_stops_on_sigterm)
{
	FILE *f;
	char port_s[12], got[128];
	pid_t srv = start_server(&f, port_s);
	int cout;
	pid_t cli = spawn((char *[]){ ECHO_BIN_DIR "/client", "--port", port_s,
				      "hello", "world", NULL },
			  &cout);
	read_all(cout, got, sizeof got);
	close(cout);
	cr_assert_eq(exit_code(cli), 0);
	cr_assert_str_eq(got, "hello\nworld\n");

	stop_server(srv, f);
}

/* Lines from standard input come back, the last one too when no newline
 * ends it (the client ends it, or it would wait for the echo of one). */
Test(net_echo_example, client_echoes_stdin_lines_and_a_last_unfinished_one)
{
	FILE *f;
	char port_s[12], got[128];
	pid_t srv = start_server(&f, port_s);
	int in[2];
	cr_assert_eq(pipe(in), 0);
	cr_assert_eq(write(in[1], "one\ntwo", 7), 7);
	close(in[1]);
	int cout;
	pid_t cli = spawn_from((char *[]){ ECHO_BIN_DIR "/client", "--port",
					   port_s, "--timeout-ms", "10000",
					   NULL },
			       in[0], &cout);
	close(in[0]);
	read_all(cout, got, sizeof got);
	close(cout);
	cr_assert_eq(exit_code(cli), 0);
	cr_assert_str_eq(got, "one\ntwo\n");
	stop_server(srv, f);
}
