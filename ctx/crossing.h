/*
 * The thread's crossing, internal: which variables code on this thread
 * must not see (eddy_ctx_set_crossing).  Its own header, apart from the
 * context layout, because a task's resume in task/ reads it inline on
 * every switch and needs nothing else of ctx's internals.
 */
#ifndef EDDY_CTX_CROSSING_H
#define EDDY_CTX_CROSSING_H

/* The stays bits (var.h) of the variables hidden here; 0 for none. */
extern _Thread_local unsigned eddy_ctx_hiding
	__attribute__((tls_model("initial-exec")));

#endif
