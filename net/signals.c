/*
 * SIGINT and SIGTERM read through a signalfd (signals.h says why).
 *
 * The task polls the signalfd and reads it itself, non-blocking, rather
 * than handing the read to the loop: io_uring may make a read on one of
 * its own worker threads, and a signalfd read there would look at that
 * thread's signals, not the process's.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "net.h"
#include "signals.h"

static void stop_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
}

int net_signals_block(sigset_t *old)
{
	sigset_t set;
	stop_signals(&set);
	return -pthread_sigmask(SIG_BLOCK, &set, old);
}

int net_signals_open(sigset_t *old)
{
	sigset_t set;
	stop_signals(&set);
	int err = net_signals_block(old);
	if (err)
		return err;
	int sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sfd < 0) {
		err = -errno;
		pthread_sigmask(SIG_SETMASK, old, NULL);
		return err;
	}
	return sfd;
}

void net_signals_close(int sfd, const sigset_t *old)
{
	close(sfd);
	pthread_sigmask(SIG_SETMASK, old, NULL);
}

void net_signals_drop(int sfd)
{
	/* Standard signals do not queue: each read takes one of at most
	 * two per thread and two for the process. */
	struct signalfd_siginfo si;
	while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si)
		;
}

int net_signals_wait(int sfd)
{
	for (;;) {
		int ev = eddy_poll(sfd, POLLIN);
		if (ev < 0)
			return ev;
		struct signalfd_siginfo si;
		ssize_t n = read(sfd, &si, sizeof si);
		if (n == (ssize_t)sizeof si)
			return (int)si.ssi_signo;
		/* EAGAIN: another reader of the process's signals took it */
		if (n < 0 && errno != EAGAIN)
			return -errno;
	}
}
