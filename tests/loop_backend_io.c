/*
 * I/O behaviours that both of the loop's backends must show alike: each
 * test runs once on io_uring (when this machine allows it) and once on
 * epoll.  loop_backend.c covers how a backend is chosen, and
 * loop_backend_close.c an eddy_close under waiting operations,
 * loop_backend_blocking.c the calls that may block (a FIFO open).
 *
 * Tasks record what they saw; the assertions read it after the run.
 * Nothing sleeps, nothing is timed, every loop is bounded.
 */
#define _GNU_SOURCE
#include "check.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "ctx/alloc.h"
#include "eddy.h"

#define BACKEND_SUITE loop_backend_io
#include "loop_backend_common.h"
#include "refused_port.h"

EDDY_SUITE(loop_backend_io);

/* ---- I/O on both backends: pipes ----------------------------------------- */

#define ROUNDS 100

struct ping_pong {
	int there[2], back[2];
	int rounds_seen;
};

static void *ponger(void *arg)
{
	struct ping_pong *p = arg;
	for (int i = 0; i < ROUNDS; i++) {
		unsigned char c;
		if (eddy_read(p->there[0], &c, 1) != 1)
			break;
		c++;
		if (eddy_write(p->back[1], &c, 1) != 1)
			break;
	}
	return NULL;
}

static void *pinger(void *arg)
{
	struct ping_pong *p = arg;
	eddy_task *t = eddy_spawn(ponger, p);
	unsigned char c = 0;
	for (int i = 0; i < ROUNDS; i++) {
		unsigned char sent = (unsigned char)i;
		if (eddy_write(p->there[1], &sent, 1) != 1 ||
		    eddy_read(p->back[0], &c, 1) != 1 ||
		    c != (unsigned char)(sent + 1))
			break;
		p->rounds_seen++;
	}
	eddy_join(t, NULL);
	return NULL;
}

BACKEND_TEST(pipe_ping_pong_between_two_tasks)
{
	EACH_BACKEND(b)
	{
		struct ping_pong p = { .rounds_seen = 0 };
		make_pipe(p.there);
		make_pipe(p.back);
		if (run_on(b, pinger, &p))
			cr_expect_eq(p.rounds_seen, ROUNDS, "%s",
				     backend_name(b));
		close_both(p.there);
		close_both(p.back);
	}
}

struct io_result {
	int fds[2];
	long r;
	char buf[16];
};

static void *reads_with_timeout(void *arg)
{
	struct io_result *s = arg;
	s->r = eddy_read_timeout(s->fds[0], s->buf, sizeof s->buf, 1000000);
	return NULL;
}

BACKEND_TEST(read_with_timeout_on_an_empty_pipe_is_etimedout)
{
	EACH_BACKEND(b)
	{
		struct io_result s = { .r = 0 };
		make_pipe(s.fds);
		if (run_on(b, reads_with_timeout, &s))
			cr_expect_eq(s.r, -ETIMEDOUT, "%s: %ld",
				     backend_name(b), s.r);
		close_both(s.fds);
	}
}

struct cancelled_read {
	int fds[2];
	bool started;
	long r, after;
	char c;
};

static void *blocked_reader(void *arg)
{
	struct cancelled_read *s = arg;
	s->started = true;
	s->r = eddy_read(s->fds[0], &s->c, 1);
	return NULL;
}

static void *cancels_a_blocked_reader(void *arg)
{
	struct cancelled_read *s = arg;
	eddy_task *t = eddy_spawn(blocked_reader, s);
	for (int i = 0; i < 10 && !s->started; i++)
		eddy_yield();
	eddy_cancel(t);
	eddy_join(t, NULL);
	/* The fd still works, and the cancelled read took nothing. */
	if (eddy_write(s->fds[1], "y", 1) == 1)
		s->after = eddy_read(s->fds[0], &s->c, 1);
	return NULL;
}

BACKEND_TEST(cancel_of_a_task_blocked_in_read_is_ecanceled_and_the_fd_stays_usable)
{
	EACH_BACKEND(b)
	{
		struct cancelled_read s = { .started = false };
		make_pipe(s.fds);
		if (run_on(b, cancels_a_blocked_reader, &s)) {
			cr_expect(s.started, "%s", backend_name(b));
			cr_expect_eq(s.r, -ECANCELED, "%s: %ld",
				     backend_name(b), s.r);
			cr_expect_eq(s.after, 1, "%s", backend_name(b));
			cr_expect_eq(s.c, 'y', "%s", backend_name(b));
		}
		close_both(s.fds);
	}
}

struct two_readers {
	int fds[2];
	long r[2];
	char c[2];
};

static void *reader_one(void *arg)
{
	struct two_readers *s = arg;
	s->r[0] = eddy_read(s->fds[0], &s->c[0], 1);
	return NULL;
}

static void *reader_two(void *arg)
{
	struct two_readers *s = arg;
	s->r[1] = eddy_read(s->fds[0], &s->c[1], 1);
	return NULL;
}

static void *two_readers_then_a_write(void *arg)
{
	struct two_readers *s = arg;
	eddy_task *a = eddy_spawn(reader_one, s);
	eddy_task *b = eddy_spawn(reader_two, s);
	eddy_yield(); /* both are waiting on the empty pipe now */
	eddy_write(s->fds[1], "ab", 2);
	eddy_join(a, NULL);
	eddy_join(b, NULL);
	return NULL;
}

/* Which reader gets which byte is the kernel's business under io_uring. */
BACKEND_TEST(two_readers_of_one_pipe_each_get_a_byte)
{
	EACH_BACKEND(b)
	{
		struct two_readers s = { .r = { 0, 0 } };
		make_pipe(s.fds);
		if (run_on(b, two_readers_then_a_write, &s)) {
			cr_expect_eq(s.r[0], 1, "%s", backend_name(b));
			cr_expect_eq(s.r[1], 1, "%s", backend_name(b));
			cr_expect(s.c[0] + s.c[1] == 'a' + 'b' &&
				      s.c[0] != s.c[1],
				  "%s", backend_name(b));
		}
		close_both(s.fds);
	}
}

/* ---- I/O on both backends: a stream in both directions ------------------- */

/* More than a socket's or a pipe's buffer: writers must wait for readers. */
#define STREAM_BYTES (1u << 20)
#define CHUNK 4096

static unsigned char pattern(size_t i, int stream)
{
	return (unsigned char)(i * 7 + (size_t)stream * 13);
}

struct stream {
	int fd_in, fd_out; /* read from one, write to the other */
	int id;
	size_t moved;
	bool intact;
};

/* Offers the whole rest of the stream to each write. */
static void *writes_stream(void *arg)
{
	struct stream *s = arg;
	unsigned char *buf = malloc(STREAM_BYTES);
	if (!buf)
		return NULL;
	for (size_t i = 0; i < STREAM_BYTES; i++)
		buf[i] = pattern(i, s->id);
	/* Each call moves at least a byte or fails: bounded by the count. */
	for (size_t n = 0; s->moved < STREAM_BYTES && n < STREAM_BYTES; n++) {
		ssize_t r = eddy_write(s->fd_out, buf + s->moved,
				       STREAM_BYTES - s->moved);
		if (r <= 0)
			break;
		s->moved += (size_t)r;
	}
	free(buf);
	return NULL;
}

static void *reads_stream(void *arg)
{
	struct stream *s = arg;
	unsigned char buf[CHUNK];
	s->intact = true;
	for (size_t n = 0; s->moved < STREAM_BYTES && n < STREAM_BYTES; n++) {
		ssize_t r = eddy_read(s->fd_in, buf, sizeof buf);
		if (r <= 0)
			break;
		for (ssize_t i = 0; i < r; i++)
			if (buf[i] != pattern(s->moved + (size_t)i, s->id))
				s->intact = false;
		s->moved += (size_t)r;
	}
	return NULL;
}

/* Four tasks: on each end of the pair, one reads while another writes. */
struct duplex {
	int sv[2];
	struct stream w[2], r[2];
};

static void *runs_duplex(void *arg)
{
	struct duplex *d = arg;
	eddy_task *t[4];
	for (int i = 0; i < 2; i++) {
		d->r[i] = (struct stream){ .fd_in = d->sv[i], .id = 1 - i };
		d->w[i] = (struct stream){ .fd_out = d->sv[i], .id = i };
		t[2 * i] = eddy_spawn(reads_stream, &d->r[i]);
		t[2 * i + 1] = eddy_spawn(writes_stream, &d->w[i]);
	}
	for (int i = 0; i < 4; i++)
		eddy_join(t[i], NULL);
	return NULL;
}

BACKEND_TEST(readers_and_writers_share_each_end_of_a_socketpair)
{
	EACH_BACKEND(b)
	{
		struct duplex d;
		memset(&d, 0, sizeof d);
		cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
					d.sv),
			     0);
		if (run_on(b, runs_duplex, &d)) {
			for (int i = 0; i < 2; i++) {
				cr_expect_eq(d.w[i].moved, STREAM_BYTES,
					     "%s", backend_name(b));
				cr_expect_eq(d.r[i].moved, STREAM_BYTES,
					     "%s", backend_name(b));
				cr_expect(d.r[i].intact, "%s",
					  backend_name(b));
			}
		}
		close_both(d.sv);
	}
}

static void *runs_pipe_stream(void *arg)
{
	struct stream *s = arg; /* s[0] writes, s[1] reads */
	eddy_task *w = eddy_spawn(writes_stream, &s[0]);
	eddy_task *r = eddy_spawn(reads_stream, &s[1]);
	eddy_join(w, NULL);
	eddy_join(r, NULL);
	return NULL;
}

BACKEND_TEST(a_write_larger_than_a_blocking_pipe_does_not_block_the_loop)
{
	EACH_BACKEND(b)
	{
		int fds[2];
		make_pipe(fds); /* blocking, as the user made it */
		struct stream s[2] = { { .fd_out = fds[1] },
				       { .fd_in = fds[0] } };
		if (run_on(b, runs_pipe_stream, s)) {
			cr_expect_eq(s[1].moved, STREAM_BYTES, "%s",
				     backend_name(b));
			cr_expect(s[1].intact, "%s", backend_name(b));
		}
		cr_expect_eq(fcntl(fds[1], F_GETFL) & O_NONBLOCK, 0);
		close_both(fds);
	}
}

/* A pty refuses RWF_NOWAIT, as pipes do on older kernels: under epoll
 * its reads wait for readiness and make one plain read per event. */
struct pty {
	int master, slave;
	struct two_readers readers;
	long wrote;
};

static void *two_readers_of_a_pty(void *arg)
{
	struct pty *p = arg;
	eddy_task *a = eddy_spawn(reader_one, &p->readers);
	eddy_task *b = eddy_spawn(reader_two, &p->readers);
	eddy_yield();
	/* One byte for two readers: the second must wait, not block the
	 * loop in read(2).  The second byte comes when the first is taken
	 * (or after many rounds: io_uring's reads of a tty complete from a
	 * worker thread). */
	p->wrote = eddy_write(p->slave, "a", 1);
	for (int i = 0; i < 100000 && !p->readers.r[0] && !p->readers.r[1];
	     i++)
		eddy_yield();
	p->wrote += eddy_write(p->slave, "b", 1);
	eddy_join(a, NULL);
	eddy_join(b, NULL);
	return NULL;
}

BACKEND_TEST(two_readers_of_a_tty_each_get_a_byte)
{
	EACH_BACKEND(b)
	{
		struct pty p = { .wrote = 0 };
		p.master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
		if (p.master < 0)
			cr_skip_test("no pseudo-terminals here");
		cr_assert_eq(grantpt(p.master), 0);
		cr_assert_eq(unlockpt(p.master), 0);
		p.slave = open(ptsname(p.master), O_RDWR | O_NOCTTY | O_CLOEXEC);
		cr_assert_geq(p.slave, 0);
		struct termios raw;
		cr_assert_eq(tcgetattr(p.slave, &raw), 0);
		cfmakeraw(&raw);
		cr_assert_eq(tcsetattr(p.slave, TCSANOW, &raw), 0);
		p.readers.fds[0] = p.master;
		if (run_on(b, two_readers_of_a_pty, &p)) {
			const char *n = backend_name(b);
			cr_expect_eq(p.wrote, 2, "%s", n);
			cr_expect_eq(p.readers.r[0], 1, "%s", n);
			cr_expect_eq(p.readers.r[1], 1, "%s", n);
			cr_expect(p.readers.c[0] + p.readers.c[1] == 'a' + 'b',
				  "%s", n);
		}
		close(p.slave);
		close(p.master);
	}
}

struct reused_fd {
	int fds[2];
	long timed_out, r;
	char c;
};

static void *reads_one_byte(void *arg)
{
	struct reused_fd *s = arg;
	s->r = eddy_read(s->fds[0], &s->c, 1);
	return NULL;
}

static void *times_out_then_reuses_the_fd(void *arg)
{
	struct reused_fd *s = arg;
	char c;
	s->timed_out = eddy_read_timeout(s->fds[0], &c, 1, 1000000);
	/* close(2) behind the loop's back; the next pipe gets the numbers */
	close_both(s->fds);
	make_pipe(s->fds);
	eddy_task *t = eddy_spawn(reads_one_byte, s);
	eddy_yield();
	eddy_write(s->fds[1], "z", 1);
	eddy_join(t, NULL);
	return NULL;
}

BACKEND_TEST(an_fd_number_reused_after_a_timed_out_read_works)
{
	EACH_BACKEND(b)
	{
		struct reused_fd s = { .r = 0 };
		make_pipe(s.fds);
		if (run_on(b, times_out_then_reuses_the_fd, &s)) {
			cr_expect_eq(s.timed_out, -ETIMEDOUT, "%s",
				     backend_name(b));
			cr_expect_eq(s.r, 1, "%s", backend_name(b));
			cr_expect_eq(s.c, 'z', "%s", backend_name(b));
		}
		close_both(s.fds);
	}
}

/*
 * A timeout past the clock's range never fires, on either backend (as
 * eddy_sleep(UINT64_MAX) never ends): the read waits for its byte.
 */
static void *reads_with_the_longest_timeout(void *arg)
{
	struct io_result *s = arg;
	s->r = eddy_read_timeout(s->fds[0], s->buf, 1, UINT64_MAX);
	return NULL;
}

static void *writes_after_a_reader_with_the_longest_timeout(void *arg)
{
	struct io_result *s = arg;
	eddy_task *t = eddy_spawn(reads_with_the_longest_timeout, s);
	for (int i = 0; i < 10; i++)
		eddy_yield(); /* the read waits in the backend */
	eddy_write(s->fds[1], "w", 1);
	eddy_join(t, NULL);
	return NULL;
}

BACKEND_TEST(read_with_a_timeout_of_uint64_max_waits_for_its_data)
{
	EACH_BACKEND(b)
	{
		struct io_result s = { .r = 0 };
		make_pipe(s.fds);
		if (run_on(b, writes_after_a_reader_with_the_longest_timeout,
			   &s)) {
			cr_expect_eq(s.r, 1, "%s: %ld", backend_name(b), s.r);
			cr_expect_eq(s.buf[0], 'w', "%s", backend_name(b));
		}
		close_both(s.fds);
	}
}

/*
 * A timeout the loop cannot arm (epoll: its timer heap cannot grow) fails
 * the call with -ENOMEM before the operation starts: nothing is read, and
 * nothing is left behind in the backend pointing into the call's frame.
 * (io_uring arms no loop timer for an operation: the read just succeeds.)
 */
struct unarmed_timeout {
	int fds[2];
	long polled, r;
	bool failed;
	int left;
	char c;
};

static void *reads_with_a_timeout_that_cannot_be_armed(void *arg)
{
	struct unarmed_timeout *s = arg;
	/* epoll makes the fd's record on first use: before the failure */
	s->polled = eddy_poll(s->fds[0], POLLIN);
	/* the loop's first timed wait allocates its timer heap */
	eddy_alloc_fail_nth(1);
	s->r = eddy_read_timeout(s->fds[0], &s->c, 1, 3600000000000ull);
	s->failed = eddy_alloc_failed();
	eddy_alloc_fail_nth(0);
	cr_assert_eq(ioctl(s->fds[0], FIONREAD, &s->left), 0);
	return NULL;
}

BACKEND_TEST(read_whose_timeout_cannot_be_armed_is_enomem_and_reads_nothing)
{
	EACH_BACKEND(b)
	{
		struct unarmed_timeout s = { .r = 0 };
		make_pipe(s.fds);
		cr_assert_eq(write(s.fds[1], "x", 1), 1);
		if (run_on(b, reads_with_a_timeout_that_cannot_be_armed, &s)) {
			const char *n = backend_name(b);
			cr_expect_eq(s.polled, POLLIN, "%s", n);
			if (s.r == -ENOMEM) {
				cr_expect(s.failed, "%s", n);
				cr_expect_eq(s.left, 1, "%s: the byte was read "
					     "by a call that failed", n);
			} else {
				cr_expect_eq(s.r, 1, "%s: %ld", n, s.r);
				cr_expect_eq(s.c, 'x', "%s", n);
				cr_expect_eq(s.left, 0, "%s", n);
			}
		}
		close_both(s.fds);
	}
}

/* ---- I/O on both backends: TCP on loopback ------------------------------- */

static int listener(struct sockaddr_in *addr)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(fd, 0);
	*addr = (struct sockaddr_in){ .sin_family = AF_INET,
				      .sin_addr.s_addr =
					      htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof *addr;
	cr_assert_eq(bind(fd, (struct sockaddr *)addr, len), 0);
	cr_assert_eq(listen(fd, 8), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)addr, &len), 0);
	return fd;
}

struct tcp {
	int lfd, client;
	struct sockaddr_in addr;
	long accepted, connected, sent, got;
	char buf[8];
};

static void *server(void *arg)
{
	struct tcp *s = arg;
	int fd = eddy_accept(s->lfd, NULL, NULL, SOCK_CLOEXEC);
	s->accepted = fd;
	if (fd >= 0) {
		s->got = eddy_recv(fd, s->buf, sizeof s->buf, 0);
		eddy_close(fd);
	}
	return NULL;
}

static void *client_and_server(void *arg)
{
	struct tcp *s = arg;
	eddy_task *t = eddy_spawn(server, s);
	s->connected = eddy_connect(s->client, (struct sockaddr *)&s->addr,
				    sizeof s->addr);
	if (s->connected == 0)
		s->sent = eddy_send(s->client, "hello", 5, MSG_NOSIGNAL);
	eddy_join(t, NULL);
	return NULL;
}

static void accept_and_connect(int client_flags)
{
	EACH_BACKEND(b)
	{
		struct tcp s = { .accepted = -1 };
		s.lfd = listener(&s.addr);
		s.client = socket(AF_INET,
				  SOCK_STREAM | SOCK_CLOEXEC | client_flags, 0);
		cr_assert_geq(s.client, 0);
		if (run_on(b, client_and_server, &s)) {
			const char *n = backend_name(b);
			cr_expect_eq(s.connected, 0, "%s: %ld", n, s.connected);
			cr_expect_geq(s.accepted, 0, "%s: %ld", n, s.accepted);
			cr_expect_eq(s.sent, 5, "%s", n);
			cr_expect_eq(s.got, 5, "%s", n);
			cr_expect_eq(memcmp(s.buf, "hello", 5), 0, "%s", n);
			cr_expect_eq(fcntl(s.client, F_GETFL) & O_NONBLOCK,
				     client_flags ? O_NONBLOCK : 0,
				     "%s: the fd's flags changed", n);
		}
		close(s.client);
		close(s.lfd);
	}
}

BACKEND_TEST(accept_and_connect_on_loopback)
{
	accept_and_connect(0);
}

BACKEND_TEST(accept_and_connect_on_loopback_with_a_non_blocking_socket)
{
	accept_and_connect(SOCK_NONBLOCK);
}

static void *connects(void *arg)
{
	struct tcp *s = arg;
	s->connected = eddy_connect(s->client, (struct sockaddr *)&s->addr,
				    sizeof s->addr);
	return NULL;
}

BACKEND_TEST(connect_to_a_closed_port_is_econnrefused)
{
	EACH_BACKEND(b)
	{
		struct tcp s;
		int held = refused_port(&s.addr); /* nobody listens there */
		s.client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		cr_assert_geq(s.client, 0);
		if (run_on(b, connects, &s))
			cr_expect_eq(s.connected, -ECONNREFUSED, "%s: %ld",
				     backend_name(b), s.connected);
		close(s.client);
		close(held);
	}
}

/* ---- I/O on both backends: regular files --------------------------------- */

struct file_io {
	char path[64];
	long opened, wrote, synced, polled, read_back, closed;
	char buf[16];
};

static void *uses_a_file(void *arg)
{
	struct file_io *s = arg;
	int fd = eddy_openat(AT_FDCWD, s->path, O_RDWR | O_CLOEXEC, 0);
	s->opened = fd;
	if (fd < 0)
		return NULL;
	s->wrote = eddy_pwrite(fd, "world", 5, 6);
	s->synced = eddy_fsync(fd);
	s->polled = eddy_poll(fd, POLLIN);
	s->read_back = eddy_pread(fd, s->buf, sizeof s->buf, 0);
	s->closed = eddy_close(fd);
	return NULL;
}

BACKEND_TEST(regular_file_open_pwrite_fsync_poll_pread_close)
{
	EACH_BACKEND(b)
	{
		struct file_io s = { .opened = -1 };
		const char *dir = getenv("TMPDIR");
		snprintf(s.path, sizeof s.path, "%s/eddy-backend-XXXXXX",
			 dir && strlen(dir) < 32 ? dir : "/tmp");
		int fd = mkstemp(s.path);
		cr_assert_geq(fd, 0);
		cr_assert_eq(write(fd, "hello ", 6), 6);
		close(fd);
		if (run_on(b, uses_a_file, &s)) {
			const char *n = backend_name(b);
			cr_expect_geq(s.opened, 0, "%s", n);
			cr_expect_eq(s.wrote, 5, "%s", n);
			cr_expect_eq(s.synced, 0, "%s", n);
			cr_expect_eq(s.polled, POLLIN, "%s", n);
			cr_expect_eq(s.read_back, 11, "%s", n);
			cr_expect_eq(memcmp(s.buf, "hello world", 11), 0, "%s",
				     n);
			cr_expect_eq(s.closed, 0, "%s", n);
		}
		unlink(s.path);
	}
}

#define FILE_TASKS 16
#define BLOCK 4096

struct file_blocks {
	int fd;
	long wrote[FILE_TASKS], read[FILE_TASKS];
	bool same[FILE_TASKS];
};

struct file_block {
	struct file_blocks *s;
	int i;
};

static void *writes_then_reads_its_block(void *arg)
{
	struct file_block *b = arg;
	struct file_blocks *s = b->s;
	unsigned char out[BLOCK], in[BLOCK];
	for (size_t k = 0; k < BLOCK; k++)
		out[k] = pattern(k, b->i);
	off_t off = (off_t)b->i * BLOCK;
	s->wrote[b->i] = eddy_pwrite(s->fd, out, BLOCK, off);
	s->read[b->i] = eddy_pread(s->fd, in, BLOCK, off);
	s->same[b->i] = memcmp(in, out, BLOCK) == 0;
	return NULL;
}

static void *runs_file_blocks(void *arg)
{
	struct file_block b[FILE_TASKS];
	eddy_task *t[FILE_TASKS];
	for (int i = 0; i < FILE_TASKS; i++) {
		b[i] = (struct file_block){ .s = arg, .i = i };
		t[i] = eddy_spawn(writes_then_reads_its_block, &b[i]);
	}
	for (int i = 0; i < FILE_TASKS; i++)
		eddy_join(t[i], NULL);
	return NULL;
}

BACKEND_TEST(many_tasks_pwrite_and_pread_their_own_blocks_of_one_file)
{
	EACH_BACKEND(b)
	{
		struct file_blocks s = { .fd = -1 };
		char path[64];
		const char *dir = getenv("TMPDIR");
		snprintf(path, sizeof path, "%s/eddy-blocks-XXXXXX",
			 dir && strlen(dir) < 32 ? dir : "/tmp");
		s.fd = mkstemp(path);
		cr_assert_geq(s.fd, 0);
		unlink(path);
		if (run_on(b, runs_file_blocks, &s)) {
			for (int i = 0; i < FILE_TASKS; i++) {
				cr_expect_eq(s.wrote[i], BLOCK, "%s: %d",
					     backend_name(b), i);
				cr_expect_eq(s.read[i], BLOCK, "%s: %d",
					     backend_name(b), i);
				cr_expect(s.same[i], "%s: %d",
					  backend_name(b), i);
			}
		}
		close(s.fd);
	}
}
