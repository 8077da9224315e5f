/*
 * The buffered reader: reading exactly n bytes, reading up to a delimiter
 * within a limit, across several fills, at EOF, past a timeout, and with
 * a full buffer.
 *
 * The reader reads a socketpair's end; the bytes come from the test
 * itself (written before the read) or from a writer task that sends its
 * pieces one at a time, yielding between them, so that a record arrives
 * over several reads.
 */
#define _GNU_SOURCE
#include "check.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "eddy.h"
#include "net_common.h" /* LOOP_TEST, SHORT_NS, LONG_NS */

EDDY_SUITE(net_reader);

static int sp[2]; /* sp[0] is read, sp[1] written */

/* Each test's .init and .fini: the pair it reads and writes. */
static void pair_open(void)
{
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
}

static void pair_close(void)
{
	close(sp[0]);
	if (sp[1] >= 0)
		close(sp[1]);
}

static void put(const char *s)
{
	size_t n = strlen(s);
	cr_assert_eq(eddy_write_all(sp[1], s, n, LONG_NS), (ssize_t)n);
}

/* The writer: each piece of a NULL-terminated list, then EOF when the
 * list's owner asked for it. */
struct pieces {
	const char *const *list;
	int eof;
};

static void *writer(void *arg)
{
	struct pieces *p = arg;
	for (const char *const *s = p->list; *s; s++) {
		put(*s);
		eddy_yield();
	}
	if (p->eof) {
		close(sp[1]);
		sp[1] = -1;
	}
	return NULL;
}

static eddy_task *write_pieces(struct pieces *p)
{
	eddy_task *t = eddy_spawn(writer, p);
	cr_assert_not_null(t);
	return t;
}

/* ---- read_exact -------------------------------------------------------- */

LOOP_TEST(net_reader, read_exact_gathers_n_bytes_across_reads, .init = pair_open, .fini = pair_close)
{
	char buf[16], out[32] = { 0 };
	eddy_reader r;
	eddy_reader_init(&r, sp[0], buf, sizeof buf);
	static const char *const list[] = { "abc", "defg", "hij", NULL };
	struct pieces p = { list, 0 };
	eddy_task *w = write_pieces(&p);
	cr_assert_eq(eddy_reader_read_exact(&r, out, 5, LONG_NS), 5);
	cr_assert_str_eq(out, "abcde");
	memset(out, 0, sizeof out);
	cr_assert_eq(eddy_reader_read_exact(&r, out, 5, LONG_NS), 5);
	cr_assert_str_eq(out, "fghij");
	cr_assert_eq(eddy_join(w, NULL), 0);
}

LOOP_TEST(net_reader, read_exact_larger_than_the_buffer, .init = pair_open, .fini = pair_close)
{
	char buf[8], out[64] = { 0 };
	eddy_reader r;
	eddy_reader_init(&r, sp[0], buf, sizeof buf);
	put("0123456789");
	size_t n;
	cr_assert_eq(eddy_reader_fill(&r, LONG_NS), 8);
	put("abcdefghijklmnopqrstuvwxyz");
	/* 8 buffered bytes, then the rest straight into out */
	cr_assert_eq(eddy_reader_read_exact(&r, out, 30, LONG_NS), 30);
	cr_assert_str_eq(out, "0123456789abcdefghijklmnopqrst");
	eddy_reader_data(&r, &n);
	cr_assert_eq(n, 0);
}

/* Zero bytes need no destination and read nothing, even from a reader
 * that has no buffer. */
Test(net_reader, read_exact_of_zero_bytes_takes_a_null_destination)
{
	eddy_reader r;
	eddy_reader_init(&r, -1, NULL, 0);
	cr_assert_eq(eddy_reader_read_exact(&r, NULL, 0, 0), 0);
}

LOOP_TEST(net_reader, read_exact_cut_short_by_eof_is_epipe, .init = pair_open, .fini = pair_close)
{
	char buf[16], out[16];
	eddy_reader r;
	eddy_reader_init(&r, sp[0], buf, sizeof buf);
	static const char *const list[] = { "abc", NULL };
	struct pieces p = { list, 1 };
	eddy_task *w = write_pieces(&p);
	cr_assert_eq(eddy_reader_read_exact(&r, out, 5, LONG_NS), -EPIPE);
	cr_assert_eq(eddy_join(w, NULL), 0);
}

LOOP_TEST(net_reader, read_exact_times_out, .init = pair_open, .fini = pair_close)
{
	char buf[16], out[16];
	eddy_reader r;
	eddy_reader_init(&r, sp[0], buf, sizeof buf);
	put("ab");
	cr_assert_eq(eddy_reader_read_exact(&r, out, 5, SHORT_NS), -ETIMEDOUT);
}

/* ---- read_until -------------------------------------------------------- */

LOOP_TEST(net_reader, read_until_finds_a_delimiter_split_across_reads, .init = pair_open, .fini = pair_close)
{
	char buf[64];
	const char *line;
	eddy_reader r;
	eddy_reader_init(&r, sp[0], buf, sizeof buf);
	/* the delimiter itself is split between two reads */
	static const char *const list[] = { "GET / HTTP/1.1\r", "\nHost: x",
					    "\r\n\r\n", NULL };
	struct pieces p = { list, 0 };
	eddy_task *w = write_pieces(&p);
	ssize_t n = eddy_reader_read_until(&r, "\r\n", 2, 0, &line, LONG_NS);
	cr_assert_eq(n, 16);
	cr_assert_eq(memcmp(line, "GET / HTTP/1.1\r\n", 16), 0);
	n = eddy_reader_read_until(&r, "\r\n", 2, 0, &line, LONG_NS);
	cr_assert_eq(n, 9);
	cr_assert_eq(memcmp(line, "Host: x\r\n", 9), 0);
	n = eddy_reader_read_until(&r, "\r\n", 2, 0, &line, LONG_NS);
	cr_assert_eq(n, 2);
	cr_assert_eq(eddy_join(w, NULL), 0);
}

LOOP_TEST(net_reader, read_until_returns_buffered_records_in_order, .init = pair_open, .fini = pair_close)
{
	char buf[64];
	const char *line;
	size_t left;
	eddy_reader r;
	eddy_reader_init(&r, sp[0], buf, sizeof buf);
	put("one\ntwo\nthr");
	cr_assert_eq(eddy_reader_read_until(&r, "\n", 1, 0, &line, LONG_NS), 4);
	cr_assert_eq(memcmp(line, "one\n", 4), 0);
	cr_assert_eq(eddy_reader_read_until(&r, "\n", 1, 0, &line, LONG_NS), 4);
	cr_assert_eq(memcmp(line, "two\n", 4), 0);
	const char *rest = eddy_reader_data(&r, &left);
	cr_assert_eq(left, 3);
	cr_assert_eq(memcmp(rest, "thr", 3), 0);
}

LOOP_TEST(net_reader, read_until_past_the_limit_is_emsgsize_and_consumes_nothing, .init = pair_open, .fini = pair_close)
{
	char buf[64];
	const char *line;
	size_t left;
	eddy_reader r;
	eddy_reader_init(&r, sp[0], buf, sizeof buf);
	put("0123456789\n");
	/* the record is 11 bytes: past a limit of 10, within 11 */
	cr_assert_eq(eddy_reader_read_until(&r, "\n", 1, 10, &line, LONG_NS),
		     -EMSGSIZE);
	eddy_reader_data(&r, &left);
	cr_assert_eq(left, 11); /* nothing consumed */
	cr_assert_eq(eddy_reader_read_until(&r, "\n", 1, 11, &line, LONG_NS),
		     11);
	/* no delimiter in the first 10 bytes and more to come: the reader
	 * does not wait for more */
	put("abcdefghijklmnop");
	cr_assert_eq(eddy_reader_read_until(&r, "\n", 1, 10, &line, LONG_NS),
		     -EMSGSIZE);
}

LOOP_TEST(net_reader, read_until_longer_than_the_buffer_is_emsgsize, .init = pair_open, .fini = pair_close)
{
	char buf[8];
	const char *line;
	eddy_reader r;
	eddy_reader_init(&r, sp[0], buf, sizeof buf);
	put("abcdefghij\n");
	/* a limit above the buffer's size is the buffer's size */
	cr_assert_eq(eddy_reader_read_until(&r, "\n", 1, 100, &line, LONG_NS),
		     -EMSGSIZE);
}

LOOP_TEST(net_reader, read_until_cut_short_by_eof_is_epipe, .init = pair_open, .fini = pair_close)
{
	char buf[64];
	const char *line;
	eddy_reader r;
	eddy_reader_init(&r, sp[0], buf, sizeof buf);
	static const char *const list[] = { "no newline", NULL };
	struct pieces p = { list, 1 };
	eddy_task *w = write_pieces(&p);
	cr_assert_eq(eddy_reader_read_until(&r, "\n", 1, 0, &line, LONG_NS),
		     -EPIPE);
	cr_assert_eq(eddy_join(w, NULL), 0);
}

LOOP_TEST(net_reader, read_until_times_out, .init = pair_open, .fini = pair_close)
{
	char buf[64];
	const char *line;
	eddy_reader r;
	eddy_reader_init(&r, sp[0], buf, sizeof buf);
	put("partial");
	cr_assert_eq(eddy_reader_read_until(&r, "\n", 1, 0, &line, SHORT_NS),
		     -ETIMEDOUT);
}

Test(net_reader, read_until_refuses_an_empty_delimiter)
{
	char buf[8];
	const char *line;
	eddy_reader r;
	eddy_reader_init(&r, -1, buf, sizeof buf);
	cr_assert_eq(eddy_reader_read_until(&r, "", 0, 0, &line, 0), -EINVAL);
}

/* ---- fill, data, consume ----------------------------------------------- */

LOOP_TEST(net_reader, fill_at_eof_returns_0_and_keeps_what_was_read, .init = pair_open, .fini = pair_close)
{
	char buf[16];
	size_t n;
	eddy_reader r;
	eddy_reader_init(&r, sp[0], buf, sizeof buf);
	put("xy");
	close(sp[1]);
	sp[1] = -1;
	cr_assert_eq(eddy_reader_fill(&r, LONG_NS), 2);
	cr_assert_eq(eddy_reader_fill(&r, LONG_NS), 0);
	const char *d = eddy_reader_data(&r, &n);
	cr_assert_eq(n, 2);
	cr_assert_eq(memcmp(d, "xy", 2), 0);
}

LOOP_TEST(net_reader, fill_times_out, .init = pair_open, .fini = pair_close)
{
	char buf[16];
	eddy_reader r;
	eddy_reader_init(&r, sp[0], buf, sizeof buf);
	cr_assert_eq(eddy_reader_fill(&r, SHORT_NS), -ETIMEDOUT);
}

LOOP_TEST(net_reader, fill_of_a_full_buffer_is_enobufs_until_bytes_are_consumed, .init = pair_open, .fini = pair_close)
{
	char buf[8];
	size_t n;
	eddy_reader r;
	eddy_reader_init(&r, sp[0], buf, sizeof buf);
	put("0123456789");
	cr_assert_eq(eddy_reader_fill(&r, LONG_NS), 8);
	cr_assert_eq(eddy_reader_fill(&r, LONG_NS), -ENOBUFS);
	/* consumed bytes make room: the rest moves to the front */
	eddy_reader_consume(&r, 6);
	cr_assert_eq(eddy_reader_fill(&r, LONG_NS), 2);
	const char *d = eddy_reader_data(&r, &n);
	cr_assert_eq(n, 4);
	cr_assert_eq(memcmp(d, "6789", 4), 0);
	cr_assert_eq(d, buf);
}

Test(net_reader, consume_stops_at_what_is_buffered)
{
	char buf[8];
	size_t n;
	eddy_reader r;
	eddy_reader_init(&r, -1, buf, sizeof buf);
	eddy_reader_consume(&r, 5);
	eddy_reader_data(&r, &n);
	cr_assert_eq(n, 0);
	cr_assert_eq(r.start, 0);
}
