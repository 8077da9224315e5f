/*
 * Writing everything: short writes forced by small socket buffers and a
 * slow reader task, vectors of small, large and empty buffers, a peer that
 * does not read, a peer that closed, and descriptors that are not sockets.
 */
#define _GNU_SOURCE
#include "net_common.h"

#include <fcntl.h>
#include <netinet/tcp.h>
#include <string.h>

EDDY_SUITE(net_write_all);

#define BIG (1 << 20)

/* Reads n bytes in small pieces, yielding between them, and checks that
 * byte i is (char)(i * 7). */
static void *slow_reader(void *arg)
{
	int fd = (int)N(arg);
	char buf[1000];
	long got = 0;
	ssize_t n;
	while ((n = eddy_recv(fd, buf, sizeof buf, 0)) > 0) {
		for (ssize_t i = 0; i < n; i++)
			cr_assert_eq(buf[i], (char)((got + i) * 7));
		got += n;
		eddy_yield();
	}
	return V(got);
}

static char *pattern(size_t n)
{
	char *p = malloc(n);
	cr_assert_not_null(p);
	for (size_t i = 0; i < n; i++)
		p[i] = (char)(i * 7);
	return p;
}

/* A pair whose buffers are small, so that sends are short. */
static void small_buffers(int c[2])
{
	int small = 4096;
	cr_assert_eq(setsockopt(c[0], SOL_SOCKET, SO_SNDBUF, &small,
				sizeof small), 0);
	cr_assert_eq(setsockopt(c[1], SOL_SOCKET, SO_RCVBUF, &small,
				sizeof small), 0);
}

/* Write the BIG-byte pattern p to fd in one call, as the test chooses. */
typedef ssize_t (*write_fn)(int fd, char *p);

/* A pair with small buffers and a slow reader: write(c[0], pattern)
 * must send all BIG bytes, in order, through short writes. */
static void send_big(write_fn write)
{
	int port, c[2];
	int lfd = listener("127.0.0.1", &port);
	connected_pair(lfd, "127.0.0.1", port, c);
	small_buffers(c);
	char *p = pattern(BIG);
	eddy_task *r = eddy_spawn(slow_reader, V(c[1]));
	cr_assert_eq(write(c[0], p), BIG);
	cr_assert_eq(eddy_tcp_shutdown(c[0], SHUT_WR), 0);
	void *got;
	cr_assert_eq(eddy_join(r, &got), 0);
	cr_assert_eq(N(got), BIG);
	free(p);
	close_pair(c);
	close(lfd);
}

static ssize_t write_whole(int fd, char *p)
{
	return eddy_write_all(fd, p, BIG, LONG_NS);
}

LOOP_TEST(net_write_all, write_all_sends_everything_through_short_writes)
{
	send_big(write_whole);
}

/* Small and large pieces, and empty ones, back to back. */
static ssize_t write_pieces(int fd, char *p)
{
	size_t sizes[] = { 10, 0, 200, 5000, 1, 100000, 3, 4096, 0, 70000 };
	struct iovec iov[64];
	int n = 0;
	size_t off = 0;
	while (off < BIG) {
		size_t l = sizes[n % 10];
		if (l > BIG - off || n == 63)
			l = BIG - off;
		iov[n++] = (struct iovec){ p + off, l };
		off += l;
	}
	return eddy_writev_all(fd, iov, n, LONG_NS);
}

LOOP_TEST(net_write_all, writev_all_sends_every_buffer_in_order)
{
	send_big(write_pieces);
}

LOOP_TEST(net_write_all, write_all_to_a_peer_that_does_not_read_times_out)
{
	int port, c[2];
	int lfd = listener("127.0.0.1", &port);
	connected_pair(lfd, "127.0.0.1", port, c);
	small_buffers(c);
	char *p = pattern(BIG);
	/* nobody reads c[1] */
	cr_assert_eq(eddy_write_all(c[0], p, BIG, SHORT_NS), -ETIMEDOUT);
	free(p);
	close_pair(c);
	close(lfd);
}

LOOP_TEST(net_write_all, write_all_to_a_closed_peer_is_an_error_not_sigpipe)
{
	int port, c[2];
	int lfd = listener("127.0.0.1", &port);
	connected_pair(lfd, "127.0.0.1", port, c);
	close(c[1]);
	char buf[4096] = { 0 };
	ssize_t r;
	/* the first write may still be taken; the reset comes back */
	for (int i = 0; i < 100; i++)
		if ((r = eddy_write_all(c[0], buf, sizeof buf, LONG_NS)) < 0)
			break;
	cr_assert(r == -EPIPE || r == -ECONNRESET, "%s", eddy_strerror(r));
	close(c[0]);
	close(lfd);
}

LOOP_TEST(net_write_all, write_all_writes_to_descriptors_that_are_not_sockets)
{
	int p[2];
	cr_assert_eq(pipe(p), 0);
	struct iovec iov[2] = { { "ab", 2 }, { "cde", 3 } };
	cr_assert_eq(eddy_write_all(p[1], "xyz", 3, 0), 3);
	cr_assert_eq(eddy_writev_all(p[1], iov, 2, 0), 5);
	char buf[16] = { 0 };
	cr_assert_eq(eddy_read(p[0], buf, sizeof buf), 8);
	cr_assert_str_eq(buf, "xyzabcde");
	close(p[0]);
	close(p[1]);
}

/* An empty buffer may have no address (an empty body between a head and
 * a trailer): it is skipped, wherever it stands. */
LOOP_TEST(net_write_all, writev_all_skips_empty_buffers_without_an_address)
{
	int p[2];
	cr_assert_eq(pipe(p), 0);
	struct iovec iov[4] = { { NULL, 0 }, { "ab", 2 }, { NULL, 0 },
				{ "cd", 2 } };
	cr_assert_eq(eddy_writev_all(p[1], iov, 4, 0), 4);
	char buf[8] = { 0 };
	cr_assert_eq(eddy_read(p[0], buf, sizeof buf), 4);
	cr_assert_str_eq(buf, "abcd");
	close(p[0]);
	close(p[1]);
}
