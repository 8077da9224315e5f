/*
 * SIGINT and SIGTERM as events of a loop, internal to net/.
 *
 * A signal handler may call almost nothing (async-signal-safe functions
 * only), and a stop needs locks and the loop.  So the signals are blocked
 * and read from a signalfd, which the loop polls like any descriptor: the
 * stop then runs as ordinary code in a task.  A blocked signal stays
 * pending for the process until some thread reads it, as long as every
 * thread blocks it: the threads the server starts inherit the mask of the
 * thread that made it.
 */
#ifndef EDDY_NET_SIGNALS_H
#define EDDY_NET_SIGNALS_H

#include <signal.h>

/* Block SIGINT and SIGTERM in this thread (the mask before goes to *old)
 * and return a signalfd for them, or -errno with the mask unchanged. */
int net_signals_open(sigset_t *old);

/* Block SIGINT and SIGTERM in this thread, the mask before to *old (for
 * pthread_sigmask to put back).  0 or -errno. */
int net_signals_block(sigset_t *old);

/* Close the signalfd and put back the mask net_signals_open found. */
void net_signals_close(int sfd, const sigset_t *old);

/* Read and drop the signals pending for this thread and the process, so
 * that unblocking them next delivers none.  Never suspends. */
void net_signals_drop(int sfd);

/* In a task: suspend until SIGINT or SIGTERM arrives, and return it, or
 * -errno (-ECANCELED). */
int net_signals_wait(int sfd);

#endif
