/*
 * Writing everything.  A socket takes what fits in its send buffer and
 * says how much; these loops offer the rest until all is sent.
 *
 * Sockets are written with send(MSG_NOSIGNAL), so that a peer that went
 * away is -EPIPE for the task rather than SIGPIPE for the process; other
 * descriptors (pipes, files), which send refuses, with write.  The loop
 * has no sendmsg, so a vector is sent by gathering small buffers into one
 * on the stack (one system call for an HTTP head and a small body) and
 * sending large ones as they are, with MSG_MORE while more follows so
 * that TCP still packs them into full segments.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/socket.h>

#include "deadline.h"
#include "net.h"

/* Buffers smaller than this are gathered. */
#define GATHER_MAX 4096

/* One send, or one write when fd is not a socket (*not_socket is then
 * set for the calls after). */
static ssize_t send_some(int fd, const void *buf, size_t len, int more,
			 int *not_socket, uint64_t timeout_ns)
{
	if (!*not_socket) {
		ssize_t n = eddy_send_timeout(fd, buf, len,
					      MSG_NOSIGNAL | (more ? MSG_MORE : 0),
					      timeout_ns);
		if (n != -ENOTSOCK)
			return n;
		*not_socket = 1;
	}
	return eddy_write_timeout(fd, buf, len, timeout_ns);
}

ssize_t eddy_write_all(int fd, const void *buf, size_t len,
		       uint64_t timeout_ns)
{
	if (len > SSIZE_MAX)
		return -EINVAL;
	uint64_t deadline = net_deadline(timeout_ns), left;
	const char *p = buf;
	size_t done = 0;
	int not_socket = 0;
	while (done < len) {
		int err = net_time_left(deadline, &left);
		if (err)
			return err;
		ssize_t n = send_some(fd, p + done, len - done, 0, &not_socket,
				      left);
		if (n < 0)
			return n;
		if (n == 0)
			return -EIO; /* a write of more than 0 bytes made none */
		done += (size_t)n;
	}
	return (ssize_t)len;
}

/* Drop n written bytes from the front of *iov / *iovcnt. */
static void iov_advance(struct iovec **iov, int *iovcnt, size_t n)
{
	while (*iovcnt > 0 && n >= (*iov)->iov_len) {
		n -= (*iov)->iov_len;
		(*iov)++;
		(*iovcnt)--;
	}
	if (n) {
		(*iov)->iov_base = (char *)(*iov)->iov_base + n;
		(*iov)->iov_len -= n;
	}
}

/* Copy the leading small buffers into gather (up to GATHER_MAX bytes);
 * 0 when the first buffer is large and goes as it is. */
static size_t gather_small(const struct iovec *iov, int iovcnt, char *gather)
{
	size_t used = 0;
	for (int i = 0; i < iovcnt; i++) {
		size_t l = iov[i].iov_len;
		if (l > GATHER_MAX - used)
			break;
		if (!l)
			continue; /* its iov_base may be NULL, which memcpy
				   * may not be given even for 0 bytes */
		memcpy(gather + used, iov[i].iov_base, l);
		used += l;
	}
	return used;
}

ssize_t eddy_writev_all(int fd, struct iovec *iov, int iovcnt,
			uint64_t timeout_ns)
{
	if (iovcnt < 0 || iovcnt > IOV_MAX || (iovcnt && !iov))
		return -EINVAL;
	size_t total = 0;
	for (int i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len > SSIZE_MAX - total)
			return -EINVAL;
		total += iov[i].iov_len;
	}
	uint64_t deadline = net_deadline(timeout_ns), left;
	char gather[GATHER_MAX];
	size_t done = 0;
	int not_socket = 0;
	while (done < total) {
		int err = net_time_left(deadline, &left);
		if (err)
			return err;
		while (iovcnt && !iov->iov_len) {
			iov++;
			iovcnt--;
		}
		size_t len = gather_small(iov, iovcnt, gather);
		const void *p = gather;
		if (!len) {
			p = iov->iov_base;
			len = iov->iov_len;
		}
		ssize_t n = send_some(fd, p, len, done + len < total,
				      &not_socket, left);
		if (n < 0)
			return n;
		if (n == 0)
			return -EIO;
		done += (size_t)n;
		iov_advance(&iov, &iovcnt, (size_t)n);
	}
	return (ssize_t)total;
}
