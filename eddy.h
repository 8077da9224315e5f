/*
 * eddy: an io_uring async runtime for C whose tasks each own a PEP 567
 * context.  Include this header for the whole public API.
 */
#ifndef EDDY_H
#define EDDY_H

#include "ctx/common.h"
#include "ctx/ctx.h"
#include "task/task.h"
#include "loop/loop.h"
#include "loop/sync.h"
#include "loop/observe.h"
#include "net/net.h"
#include "net/http.h"

#endif
