/*
 * Waking a loop from other threads, internal.  wake.c explains it.
 */
#ifndef EDDY_LOOP_WAKE_H
#define EDDY_LOOP_WAKE_H

#include <stdatomic.h>
#include <stdint.h>

#include "io.h"

/* Something another thread hands to the loop; deliver runs on the loop.
 * drop (may be NULL) runs instead for a message the loop never took, when
 * it is freed. */
struct wake_msg {
	struct wake_msg *next;
	void (*deliver)(eddy_loop *loop, struct wake_msg *msg);
	void (*drop)(struct wake_msg *msg);
};

struct wake {
	int efd;
	uint64_t count;                   /* what the armed read fills */
	struct io_op read;                /* armed on efd while the loop runs */
	bool armed;
	_Atomic(struct wake_msg *) inbox; /* newest first */
	atomic_bool called_in;            /* a foreign thread posted, ever */
};

/* At loop creation: 0 or -errno. */
int wake_init(struct wake *w);
/* On the loop's thread, as a run starts: deliver what arrived while the
 * loop was not running, and arm the read unless it still is. */
void wake_arm(eddy_loop *loop);
/* From any thread: queue msg for the loop and wake it if it sleeps. */
void wake_post(struct wake *w, struct wake_msg *msg);
/* Drop the messages never delivered and close the eventfd, after the
 * loop's backend let go of the read. */
void wake_fini(struct wake *w);

#endif
