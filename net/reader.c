/*
 * The buffered reader.  One buffer, the caller's, holds what was read and
 * not yet consumed between start and end:
 *
 *   buf                start            end                 cap
 *   |  consumed        |  buffered      |  free             |
 *
 * Consuming moves start; reading appends at end.  When the free tail is
 * used up, the buffered bytes move to the front (one memmove of what is
 * left, usually a few bytes of the next request) so that a stream of any
 * length flows through a fixed buffer; only a single record longer than
 * the buffer cannot.  Nothing is allocated, so a reader lives on a task's
 * stack and costs no more than its buffer.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "deadline.h"
#include "net.h"

void eddy_reader_init(eddy_reader *r, int fd, void *buf, size_t cap)
{
	*r = (eddy_reader){ .fd = fd, .buf = buf, .cap = cap };
}

static void compact(eddy_reader *r)
{
	if (r->start == 0)
		return;
	memmove(r->buf, r->buf + r->start, r->end - r->start);
	r->end -= r->start;
	r->start = 0;
}

ssize_t eddy_reader_fill(eddy_reader *r, uint64_t timeout_ns)
{
	if (r->end == r->cap)
		compact(r);
	if (r->end == r->cap)
		return -ENOBUFS;
	ssize_t n = eddy_read_timeout(r->fd, r->buf + r->end, r->cap - r->end,
				      timeout_ns);
	if (n > 0)
		r->end += (size_t)n;
	return n;
}

const char *eddy_reader_data(const eddy_reader *r, size_t *len)
{
	*len = r->end - r->start;
	return r->buf + r->start;
}

void eddy_reader_consume(eddy_reader *r, size_t n)
{
	size_t have = r->end - r->start;
	r->start += n < have ? n : have;
	if (r->start == r->end)
		r->start = r->end = 0; /* empty: the whole buffer is free */
}

ssize_t eddy_reader_read_exact(eddy_reader *r, void *dst, size_t n,
			       uint64_t timeout_ns)
{
	if (n > SSIZE_MAX)
		return -EINVAL;
	uint64_t deadline = net_deadline(timeout_ns), left;
	char *out = dst;
	size_t have = r->end - r->start, done = have < n ? have : n;
	if (done) { /* memcpy's pointers must be valid even for 0 bytes */
		memcpy(out, r->buf + r->start, done);
		eddy_reader_consume(r, done);
	}
	/* The rest goes straight to dst: no copy through the buffer. */
	while (done < n) {
		int err = net_time_left(deadline, &left);
		if (err)
			return err;
		ssize_t got = eddy_read_timeout(r->fd, out + done, n - done,
						left);
		if (got < 0)
			return got;
		if (got == 0)
			return -EPIPE;
		done += (size_t)got;
	}
	return (ssize_t)n;
}

ssize_t eddy_reader_read_until(eddy_reader *r, const char *delim, size_t dlen,
			       size_t limit, const char **line,
			       uint64_t timeout_ns)
{
	if (!delim || !dlen || !line)
		return -EINVAL;
	if (!limit || limit > r->cap)
		limit = r->cap;
	uint64_t deadline = net_deadline(timeout_ns), left;
	size_t scanned = 0; /* bytes after start known to hold no match */
	for (;;) {
		size_t have = r->end - r->start;
		size_t from = scanned >= dlen - 1 ? scanned - (dlen - 1) : 0;
		const char *hit = memmem(r->buf + r->start + from, have - from,
					 delim, dlen);
		if (hit) {
			size_t len = (size_t)(hit - (r->buf + r->start)) + dlen;
			if (len > limit)
				return -EMSGSIZE;
			*line = r->buf + r->start;
			eddy_reader_consume(r, len);
			/* consume may reset start to 0: *line is still
			 * where the bytes are, as nothing moved them */
			return (ssize_t)len;
		}
		if (have >= limit)
			return -EMSGSIZE;
		scanned = have;
		int err = net_time_left(deadline, &left);
		if (err)
			return err;
		ssize_t n = eddy_reader_fill(r, left);
		if (n < 0)
			return n;
		if (n == 0)
			return -EPIPE;
	}
}
