/*
 * What the tests of the forum demos share: where the Makefile says the
 * built demos and the sources are, and reading a whole stream.
 */
#ifndef EDDY_TESTS_FORUM_COMMON_H
#define EDDY_TESTS_FORUM_COMMON_H

#include <stdio.h>
#include <stdlib.h>

#include "check.h"

#ifndef FORUM_BIN_DIR
#error "the Makefile defines FORUM_BIN_DIR: the built demos' folder"
#endif
#ifndef EDDY_SRC_DIR
#error "the Makefile defines EDDY_SRC_DIR: the source tree"
#endif

/* All of stream, NUL-terminated, in a buffer the caller frees. */
static inline char *read_all(FILE *stream)
{
	size_t len = 0, size = 4096;
	char *buf = malloc(size);
	cr_assert_not_null(buf);
	size_t n;
	while ((n = fread(buf + len, 1, size - len - 1, stream)) > 0) {
		len += n;
		if (size - len == 1) {
			buf = realloc(buf, size *= 2);
			cr_assert_not_null(buf);
		}
	}
	buf[len] = '\0';
	return buf;
}

#endif
