/*
 * The I/O calls, each on the kinds of descriptor it is for: pipes,
 * socketpairs, loopback TCP and temporary files.  Every call's _timeout
 * variant returns -ETIMEDOUT where the operation can block, and the
 * operation's own result where it completes in time.  Short counts come
 * back as they are, and a full submission queue never fails a caller.
 *
 * Tests run inside eddy_run: run_io(fn) runs fn as the main task, which
 * asserts as it goes and returns NULL.  Timeouts that must fire are a few
 * milliseconds; those that must not are an hour.
 */
#define _GNU_SOURCE
#include "check.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "accept_queue.h"
#include "eddy.h"
#include "refused_port.h"

EDDY_SUITE(loop_io);

#define V(n) ((void *)(intptr_t)(n))
#define N(p) ((long)(intptr_t)(p))

#define SHORT_NS 5000000ull              /* 5 ms: must fire */
#define HOUR_NS (3600ull * 1000000000ull) /* must not */

static void run_io(eddy_fn fn)
{
	void *r = V(-1);
	cr_assert_eq(eddy_run(fn, NULL, &r), 0);
	cr_assert_null(r);
}

static void make_pipe(int fds[2])
{
	cr_assert_eq(pipe(fds), 0);
}

static void make_socketpair(int fds[2])
{
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
}

static void close_pair(int fds[2])
{
	close(fds[0]);
	close(fds[1]);
}

/* An unlinked temporary file in /tmp, open for reading and writing. */
static int temp_file(void)
{
	char path[] = "/tmp/eddy-loop-io-XXXXXX";
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	unlink(path);
	return fd;
}

/* Writes into fd until the kernel's buffer is full, so that the next
 * blocking write must wait. */
static void fill(int fd)
{
	static char junk[65536];
	int flags = fcntl(fd, F_GETFL);
	cr_assert_eq(fcntl(fd, F_SETFL, flags | O_NONBLOCK), 0);
	while (write(fd, junk, sizeof junk) > 0)
		;
	cr_assert_eq(errno, EAGAIN);
	cr_assert_eq(fcntl(fd, F_SETFL, flags), 0);
}

/* A listening socket on 127.0.0.1, an ephemeral port; *addr gets it. */
static int tcp_listener(struct sockaddr_in *addr, int backlog)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_geq(fd, 0);
	*addr = (struct sockaddr_in){ .sin_family = AF_INET,
				      .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof *addr;
	cr_assert_eq(bind(fd, (struct sockaddr *)addr, len), 0);
	cr_assert_eq(listen(fd, backlog), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)addr, &len), 0);
	return fd;
}

static int tcp_socket(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_geq(fd, 0);
	return fd;
}

/* ---- read and write ---------------------------------------------------- */

static void *pipe_round_trip(void *arg)
{
	(void)arg;
	int p[2];
	char buf[16] = { 0 };
	make_pipe(p);
	cr_assert_eq(eddy_write(p[1], "hello", 5), 5);
	cr_assert_eq(eddy_read(p[0], buf, sizeof buf), 5);
	cr_assert_str_eq(buf, "hello");
	cr_assert_eq(eddy_write_timeout(p[1], "again", 5, HOUR_NS), 5);
	memset(buf, 0, sizeof buf);
	cr_assert_eq(eddy_read_timeout(p[0], buf, sizeof buf, HOUR_NS), 5);
	cr_assert_str_eq(buf, "again");
	close_pair(p);
	return NULL;
}

Test(loop_io, read_and_write_move_bytes_through_a_pipe)
{
	run_io(pipe_round_trip);
}

static void *writes_later(void *fd)
{
	eddy_yield();
	return V(eddy_write((int)N(fd), "late", 4));
}

static void *read_waits_for_a_writer(void *arg)
{
	(void)arg;
	int p[2];
	char buf[8] = { 0 };
	make_pipe(p);
	eddy_task *w = eddy_spawn(writes_later, V(p[1]));
	cr_assert_eq(eddy_read(p[0], buf, sizeof buf), 4);
	cr_assert_str_eq(buf, "late");
	void *r;
	cr_assert_eq(eddy_join(w, &r), 0);
	cr_assert_eq(N(r), 4);
	close_pair(p);
	return NULL;
}

Test(loop_io, read_suspends_until_another_task_writes)
{
	run_io(read_waits_for_a_writer);
}

static void *short_read(void *arg)
{
	(void)arg;
	int p[2];
	char buf[100];
	make_pipe(p);
	cr_assert_eq(write(p[1], "abc", 3), 3);
	cr_assert_eq(eddy_read(p[0], buf, sizeof buf), 3);
	close_pair(p);
	return NULL;
}

Test(loop_io, short_read_is_returned_as_it_is)
{
	run_io(short_read);
}

/* A full pipe with one page read out of it takes one page of a large
 * non-blocking write. */
static void *short_write(void *arg)
{
	(void)arg;
	int p[2];
	make_pipe(p);
	fill(p[1]);
	char page[4096];
	cr_assert_eq(read(p[0], page, sizeof page), (ssize_t)sizeof page);
	cr_assert_eq(fcntl(p[1], F_SETFL, O_NONBLOCK), 0);
	static char big[1 << 20];
	cr_assert_eq(eddy_write(p[1], big, sizeof big), (ssize_t)sizeof page);
	close_pair(p);
	return NULL;
}

Test(loop_io, short_write_is_returned_as_it_is)
{
	run_io(short_write);
}

static void *read_at_eof(void *arg)
{
	(void)arg;
	int p[2];
	char c;
	make_pipe(p);
	close(p[1]);
	cr_assert_eq(eddy_read(p[0], &c, 1), 0);
	close(p[0]);
	return NULL;
}

Test(loop_io, read_at_end_of_file_returns_zero)
{
	run_io(read_at_eof);
}

static void *bad_descriptor(void *arg)
{
	(void)arg;
	char c = 0;
	int p[2];
	make_pipe(p);
	close_pair(p); /* p[0] and p[1] name nothing now */
	cr_assert_eq(eddy_read(p[0], &c, 1), -EBADF);
	cr_assert_eq(eddy_write(p[1], &c, 1), -EBADF);
	cr_assert_eq(eddy_fsync(p[0]), -EBADF);
	return NULL;
}

Test(loop_io, operations_on_a_closed_descriptor_are_ebadf)
{
	run_io(bad_descriptor);
}

static void *read_times_out(void *arg)
{
	(void)arg;
	int p[2];
	char c;
	make_pipe(p);
	cr_assert_eq(eddy_read_timeout(p[0], &c, 1, SHORT_NS), -ETIMEDOUT);
	/* the pipe works as before */
	cr_assert_eq(write(p[1], "y", 1), 1);
	cr_assert_eq(eddy_read_timeout(p[0], &c, 1, SHORT_NS), 1);
	cr_assert_eq(c, 'y');
	close_pair(p);
	return NULL;
}

Test(loop_io, read_timeout_on_an_empty_pipe_is_etimedout)
{
	run_io(read_times_out);
}

static void *write_times_out(void *arg)
{
	(void)arg;
	int p[2];
	make_pipe(p);
	fill(p[1]);
	cr_assert_eq(eddy_write_timeout(p[1], "z", 1, SHORT_NS), -ETIMEDOUT);
	close_pair(p);
	return NULL;
}

Test(loop_io, write_timeout_on_a_full_pipe_is_etimedout)
{
	run_io(write_times_out);
}

static void *tcp_read_write(void *arg)
{
	(void)arg;
	struct sockaddr_in addr;
	int l = tcp_listener(&addr, 4), c = tcp_socket();
	cr_assert_eq(eddy_connect(c, (struct sockaddr *)&addr, sizeof addr), 0);
	int s = eddy_accept(l, NULL, NULL, 0);
	cr_assert_geq(s, 0);
	char buf[8] = { 0 };
	cr_assert_eq(eddy_write(c, "ping", 4), 4);
	cr_assert_eq(eddy_read(s, buf, sizeof buf), 4);
	cr_assert_str_eq(buf, "ping");
	cr_assert_eq(eddy_read_timeout(s, buf, sizeof buf, SHORT_NS),
		     -ETIMEDOUT);
	close(s);
	close(c);
	close(l);
	return NULL;
}

Test(loop_io, read_and_write_work_on_tcp_sockets)
{
	run_io(tcp_read_write);
}

/* ---- positional read and write ----------------------------------------- */

static void *positional(void *arg)
{
	(void)arg;
	int fd = temp_file();
	char buf[8] = { 0 };
	cr_assert_eq(eddy_pwrite(fd, "0123456789", 10, 0), 10);
	cr_assert_eq(eddy_pwrite_timeout(fd, "ab", 2, 4, HOUR_NS), 2);
	cr_assert_eq(eddy_pread(fd, buf, 4, 3), 4);
	cr_assert_str_eq(buf, "3ab6");
	memset(buf, 0, sizeof buf);
	cr_assert_eq(eddy_pread_timeout(fd, buf, 4, 8, HOUR_NS), 2);
	cr_assert_str_eq(buf, "89"); /* short at the end of the file */
	cr_assert_eq(eddy_pread(fd, buf, 4, 100), 0);
	/* positional calls leave the file offset alone */
	cr_assert_eq(lseek(fd, 0, SEEK_CUR), 0);
	close(fd);
	return NULL;
}

Test(loop_io, pread_and_pwrite_address_a_file_by_offset)
{
	run_io(positional);
}

/* ---- vectored read and write --------------------------------------------- */

static void *vectored_socketpair(void *arg)
{
	(void)arg;
	int s[2];
	make_socketpair(s);
	struct iovec out[2] = { { "head", 4 }, { "-tail", 5 } };
	cr_assert_eq(eddy_writev(s[0], out, 2), 9);
	char a[3] = { 0 }, b[7] = { 0 };
	struct iovec in[2] = { { a, 2 }, { b, 6 } };
	cr_assert_eq(eddy_readv(s[1], in, 2), 8);
	cr_assert_eq(memcmp(a, "he", 2), 0);
	cr_assert_str_eq(b, "ad-tai");
	cr_assert_eq(eddy_readv_timeout(s[1], in, 1, HOUR_NS), 1);
	cr_assert_eq(a[0], 'l');
	cr_assert_eq(eddy_writev_timeout(s[0], out, 1, HOUR_NS), 4);
	close_pair(s);
	return NULL;
}

Test(loop_io, readv_and_writev_gather_and_scatter_on_a_socketpair)
{
	run_io(vectored_socketpair);
}

static void *vectored_file(void *arg)
{
	(void)arg;
	int fd = temp_file();
	struct iovec out[3] = { { "one ", 4 }, { "two ", 4 }, { "three", 5 } };
	cr_assert_eq(eddy_writev(fd, out, 3), 13);
	cr_assert_eq(lseek(fd, 0, SEEK_SET), 0);
	char buf[14] = { 0 };
	struct iovec in[1] = { { buf, sizeof buf - 1 } };
	cr_assert_eq(eddy_readv(fd, in, 1), 13);
	cr_assert_str_eq(buf, "one two three");
	close(fd);
	return NULL;
}

Test(loop_io, writev_then_readv_follow_a_files_offset)
{
	run_io(vectored_file);
}

static void *vectored_times_out(void *arg)
{
	(void)arg;
	int s[2];
	char c;
	make_socketpair(s);
	struct iovec in = { &c, 1 };
	cr_assert_eq(eddy_readv_timeout(s[0], &in, 1, SHORT_NS), -ETIMEDOUT);
	fill(s[1]);
	struct iovec out = { "x", 1 };
	cr_assert_eq(eddy_writev_timeout(s[1], &out, 1, SHORT_NS), -ETIMEDOUT);
	close_pair(s);
	return NULL;
}

Test(loop_io, readv_and_writev_timeouts_on_a_blocked_socket_are_etimedout)
{
	run_io(vectored_times_out);
}

static void *negative_iovcnt(void *arg)
{
	(void)arg;
	struct iovec v = { NULL, 0 };
	cr_assert_eq(eddy_readv(0, &v, -1), -EINVAL);
	cr_assert_eq(eddy_writev(1, &v, -1), -EINVAL);
	return NULL;
}

Test(loop_io, readv_and_writev_with_a_negative_count_are_einval)
{
	run_io(negative_iovcnt);
}

/* ---- recv and send ------------------------------------------------------- */

static void *recv_send(void *arg)
{
	(void)arg;
	int s[2];
	char buf[8] = { 0 };
	make_socketpair(s);
	cr_assert_eq(eddy_send(s[0], "peek", 4, 0), 4);
	cr_assert_eq(eddy_recv(s[1], buf, sizeof buf, MSG_PEEK), 4);
	memset(buf, 0, sizeof buf);
	cr_assert_eq(eddy_recv(s[1], buf, sizeof buf, 0), 4); /* still there */
	cr_assert_str_eq(buf, "peek");
	cr_assert_eq(eddy_send_timeout(s[0], "t", 1, 0, HOUR_NS), 1);
	cr_assert_eq(eddy_recv_timeout(s[1], buf, 1, 0, HOUR_NS), 1);
	cr_assert_eq(buf[0], 't');
	close_pair(s);
	return NULL;
}

Test(loop_io, recv_and_send_pass_their_flags_on_a_socketpair)
{
	run_io(recv_send);
}

static void *recv_send_time_out(void *arg)
{
	(void)arg;
	int s[2];
	char c;
	make_socketpair(s);
	cr_assert_eq(eddy_recv_timeout(s[0], &c, 1, 0, SHORT_NS), -ETIMEDOUT);
	fill(s[1]);
	cr_assert_eq(eddy_send_timeout(s[1], "x", 1, 0, SHORT_NS), -ETIMEDOUT);
	close_pair(s);
	return NULL;
}

Test(loop_io, recv_and_send_timeouts_on_a_blocked_socket_are_etimedout)
{
	run_io(recv_send_time_out);
}

static void *tcp_recv_send(void *arg)
{
	(void)arg;
	struct sockaddr_in addr;
	int l = tcp_listener(&addr, 4), c = tcp_socket();
	cr_assert_eq(eddy_connect(c, (struct sockaddr *)&addr, sizeof addr), 0);
	int s = eddy_accept(l, NULL, NULL, 0);
	cr_assert_geq(s, 0);
	char buf[8] = { 0 };
	cr_assert_eq(eddy_send(s, "pong", 4, MSG_NOSIGNAL), 4);
	cr_assert_eq(eddy_recv(c, buf, sizeof buf, 0), 4);
	cr_assert_str_eq(buf, "pong");
	close(s);
	cr_assert_eq(eddy_recv(c, buf, sizeof buf, 0), 0); /* peer closed */
	close(c);
	close(l);
	return NULL;
}

Test(loop_io, recv_and_send_work_on_tcp_sockets)
{
	run_io(tcp_recv_send);
}

/* ---- accept and connect ---------------------------------------------------- */

static void *connects_to(void *addr)
{
	int c = tcp_socket();
	int r = eddy_connect(c, addr, sizeof(struct sockaddr_in));
	cr_assert_eq(eddy_write(c, "hi", 2), 2);
	close(c);
	return V(r);
}

static void *accept_connect(void *arg)
{
	(void)arg;
	struct sockaddr_in addr, peer;
	int l = tcp_listener(&addr, 4);
	eddy_task *t = eddy_spawn(connects_to, &addr);
	socklen_t len = sizeof peer;
	int s = eddy_accept(l, (struct sockaddr *)&peer, &len, SOCK_CLOEXEC);
	cr_assert_geq(s, 0);
	cr_assert_eq(len, sizeof peer);
	cr_assert_eq(peer.sin_addr.s_addr, htonl(INADDR_LOOPBACK));
	cr_assert(fcntl(s, F_GETFD) & FD_CLOEXEC); /* the flags went through */
	char buf[2];
	cr_assert_eq(eddy_read(s, buf, 2), 2);
	void *r;
	cr_assert_eq(eddy_join(t, &r), 0);
	cr_assert_eq(N(r), 0);
	close(s);
	close(l);
	return NULL;
}

Test(loop_io, accept_and_connect_pair_up_over_loopback_tcp)
{
	run_io(accept_connect);
}

static void *connect_refused(void *arg)
{
	(void)arg;
	struct sockaddr_in addr;
	int held = refused_port(&addr); /* nobody listens there */
	int c = tcp_socket();
	cr_assert_eq(eddy_connect(c, (struct sockaddr *)&addr, sizeof addr),
		     -ECONNREFUSED);
	close(c);
	close(held);
	return NULL;
}

Test(loop_io, connect_to_a_closed_port_is_econnrefused)
{
	run_io(connect_refused);
}

static void *accept_times_out(void *arg)
{
	(void)arg;
	struct sockaddr_in addr;
	int l = tcp_listener(&addr, 4);
	cr_assert_eq(eddy_accept_timeout(l, NULL, NULL, 0, SHORT_NS),
		     -ETIMEDOUT);
	int c = tcp_socket();
	cr_assert_eq(eddy_connect_timeout(c, (struct sockaddr *)&addr,
					  sizeof addr, HOUR_NS), 0);
	int s = eddy_accept_timeout(l, NULL, NULL, 0, HOUR_NS);
	cr_assert_geq(s, 0);
	close(s);
	close(c);
	close(l);
	return NULL;
}

Test(loop_io, accept_timeout_without_a_client_is_etimedout)
{
	run_io(accept_times_out);
}

/*
 * A listener whose accept queue is full drops new handshakes, so a connect
 * to it waits for retransmissions, seconds away.  Fill the queue with
 * non-blocking connects until the listener says it is full (a connect's
 * EINPROGRESS does not: see accept_queue.h), then one more connect must
 * time out.
 */
static void *connect_times_out(void *arg)
{
	(void)arg;
	enum { MAX_FILL = 64 };
	struct sockaddr_in addr;
	int l = tcp_listener(&addr, 0), fill_fds[MAX_FILL], n = 0;
	for (; n < MAX_FILL && !accept_queue_wait(l, (unsigned)n); n++) {
		fill_fds[n] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		cr_assert_geq(fill_fds[n], 0);
		int r = connect(fill_fds[n], (struct sockaddr *)&addr,
				sizeof addr);
		cr_assert(r == 0 || errno == EINPROGRESS, "%s", strerror(errno));
	}
	cr_assert_lt(n, MAX_FILL);
	int c = tcp_socket();
	cr_assert_eq(eddy_connect_timeout(c, (struct sockaddr *)&addr,
					  sizeof addr, SHORT_NS),
		     -ETIMEDOUT);
	close(c);
	for (int i = 0; i < n; i++)
		close(fill_fds[i]);
	close(l);
	return NULL;
}

Test(loop_io, connect_timeout_to_a_full_listener_is_etimedout)
{
	run_io(connect_times_out);
}

/* ---- close ------------------------------------------------------------------ */

static void *closes(void *arg)
{
	(void)arg;
	int p[2], s[2];
	make_pipe(p);
	make_socketpair(s);
	int f = temp_file();
	cr_assert_eq(eddy_close(p[0]), 0);
	cr_assert_eq(eddy_close(p[1]), 0);
	cr_assert_eq(eddy_close(s[0]), 0);
	cr_assert_eq(eddy_close(s[1]), 0);
	cr_assert_eq(eddy_close(f), 0);
	cr_assert_eq(fcntl(p[0], F_GETFD), -1);
	cr_assert_eq(fcntl(f, F_GETFD), -1);
	cr_assert_eq(eddy_close(f), -EBADF);
	return NULL;
}

Test(loop_io, close_releases_pipes_sockets_and_files)
{
	run_io(closes);
}

/* ---- poll ---------------------------------------------------------------------- */

static void *polls(void *arg)
{
	(void)arg;
	int p[2];
	make_pipe(p);
	cr_assert_eq(eddy_poll(p[1], POLLOUT) & POLLOUT, POLLOUT);
	eddy_task *w = eddy_spawn(writes_later, V(p[1]));
	cr_assert_eq(eddy_poll(p[0], POLLIN) & POLLIN, POLLIN);
	cr_assert_eq(eddy_join(w, NULL), 0);
	cr_assert_eq(eddy_poll_timeout(p[0], POLLIN, HOUR_NS) & POLLIN, POLLIN);
	close(p[1]);
	cr_assert(eddy_poll(p[0], POLLIN) & (POLLIN | POLLHUP));
	close(p[0]);
	return NULL;
}

Test(loop_io, poll_waits_for_readiness_and_reports_it)
{
	run_io(polls);
}

static void *poll_times_out(void *arg)
{
	(void)arg;
	int p[2];
	make_pipe(p);
	cr_assert_eq(eddy_poll_timeout(p[0], POLLIN, SHORT_NS), -ETIMEDOUT);
	fill(p[1]);
	cr_assert_eq(eddy_poll_timeout(p[1], POLLOUT, SHORT_NS), -ETIMEDOUT);
	close_pair(p);
	return NULL;
}

Test(loop_io, poll_timeout_on_a_descriptor_never_ready_is_etimedout)
{
	run_io(poll_times_out);
}

/* ---- fsync and openat ---------------------------------------------------------- */

static void *fsyncs(void *arg)
{
	(void)arg;
	int fd = temp_file();
	cr_assert_eq(eddy_write(fd, "durable", 7), 7);
	cr_assert_eq(eddy_fsync(fd), 0);
	cr_assert_eq(eddy_fsync_timeout(fd, HOUR_NS), 0);
	close(fd);
	return NULL;
}

Test(loop_io, fsync_of_a_written_file_succeeds)
{
	run_io(fsyncs);
}

struct temp_dir {
	char path[32];
	int fd;
};

static void temp_dir_open(struct temp_dir *d)
{
	strcpy(d->path, "/tmp/eddy-loop-io-XXXXXX");
	cr_assert_not_null(mkdtemp(d->path));
	d->fd = open(d->path, O_RDONLY | O_DIRECTORY);
	cr_assert_geq(d->fd, 0);
}

static void temp_dir_remove(struct temp_dir *d, const char *entry)
{
	cr_assert_eq(unlinkat(d->fd, entry, 0), 0);
	close(d->fd);
	cr_assert_eq(rmdir(d->path), 0);
}

static void *opens(void *arg)
{
	(void)arg;
	struct temp_dir d;
	temp_dir_open(&d);
	int fd = eddy_openat(d.fd, "file", O_CREAT | O_RDWR | O_EXCL, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(eddy_write(fd, "x", 1), 1);
	close(fd);
	cr_assert_eq(eddy_openat(d.fd, "file", O_CREAT | O_RDWR | O_EXCL, 0600),
		     -EEXIST);
	cr_assert_eq(eddy_openat(d.fd, "missing", O_RDONLY, 0), -ENOENT);
	fd = eddy_openat_timeout(d.fd, "file", O_RDONLY, 0, HOUR_NS);
	cr_assert_geq(fd, 0);
	struct stat st;
	cr_assert_eq(fstat(fd, &st), 0);
	cr_assert_eq(st.st_size, 1);
	cr_assert_eq(st.st_mode & 0777, 0600);
	close(fd);
	temp_dir_remove(&d, "file");
	return NULL;
}

Test(loop_io, openat_opens_and_creates_relative_to_a_directory)
{
	run_io(opens);
}

/* ---- many operations at once ----------------------------------------------------- */

enum { READERS = 64 };

struct pending_read {
	int fds[2];
	uint64_t timeout_ns;
	char got;
};

static void *reads_one_byte(void *arg)
{
	struct pending_read *p = arg;
	return V(eddy_read_timeout(p->fds[0], &p->got, 1, p->timeout_ns));
}

/* Every reader's SQE waits in the kernel before any pipe is written; the
 * ring has room for a few. */
static void *many_reads_on_a_small_ring(void *arg)
{
	uint64_t timeout_ns = *(uint64_t *)arg;
	static struct pending_read p[READERS];
	eddy_task *t[READERS];
	for (int i = 0; i < READERS; i++) {
		make_pipe(p[i].fds);
		p[i].timeout_ns = timeout_ns;
		p[i].got = 0;
		t[i] = eddy_spawn(reads_one_byte, &p[i]);
		cr_assert_not_null(t[i]);
	}
	eddy_yield(); /* every read is queued */
	eddy_yield(); /* and in the kernel */
	for (int i = 0; i < READERS; i++) {
		char c = (char)('A' + i % 26);
		cr_assert_eq(eddy_write(p[i].fds[1], &c, 1), 1);
	}
	for (int i = 0; i < READERS; i++) {
		void *r;
		cr_assert_eq(eddy_join(t[i], &r), 0);
		cr_assert_eq(N(r), 1);
		cr_assert_eq(p[i].got, 'A' + i % 26);
		close_pair(p[i].fds);
	}
	return NULL;
}

static void run_on_a_small_ring(unsigned entries, uint64_t timeout_ns)
{
	eddy_loop_config cfg = { .ring_entries = entries };
	eddy_loop *loop = eddy_loop_new(&cfg);
	cr_assert_not_null(loop);
	void *r = V(-1);
	cr_assert_eq(eddy_loop_run(loop, many_reads_on_a_small_ring,
				   &timeout_ns, &r),
		     0);
	cr_assert_null(r);
	eddy_loop_free(loop);
}

Test(loop_io, a_full_submission_queue_is_submitted_and_retried)
{
	run_on_a_small_ring(4, 0);
}

Test(loop_io, a_full_submission_queue_takes_timed_operations_too)
{
	run_on_a_small_ring(4, HOUR_NS);
}

/* A timed operation takes one SQE, as an untimed one (its timeout is a
 * loop timer): a ring of one runs them. */
Test(loop_io, a_ring_of_one_entry_takes_timed_operations)
{
	run_on_a_small_ring(1, HOUR_NS);
}

/* Timeouts that did not fire leave nothing behind: a later wait still
 * waits, and a later timeout still fires. */
static void *unfired_timeouts(void *arg)
{
	(void)arg;
	int p[2];
	char c;
	make_pipe(p);
	for (int i = 0; i < 100; i++) {
		cr_assert_eq(write(p[1], "x", 1), 1);
		cr_assert_eq(eddy_read_timeout(p[0], &c, 1, SHORT_NS), 1);
	}
	cr_assert_eq(eddy_sleep(2 * SHORT_NS), 0);
	cr_assert_eq(eddy_read_timeout(p[0], &c, 1, SHORT_NS), -ETIMEDOUT);
	close_pair(p);
	return NULL;
}

Test(loop_io, timeouts_of_operations_that_completed_leave_no_trace)
{
	run_io(unfired_timeouts);
}
