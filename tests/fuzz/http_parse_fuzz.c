/*
 * libFuzzer target for the request parser: `make fuzz` builds it with
 * clang -fsanitize=fuzzer,address,undefined and runs it on a copy of
 * tests/fuzz/corpus/http_parse.  The input is read as a connection's bytes
 * (heads, bodies, pipelined requests), once with the default limits and
 * once with tight ones, and every property of net_http_check.h is checked:
 * no read past the bytes given (AddressSanitizer), the same result however
 * a head is split, a result that stays when bytes are appended, a chunked
 * body decoding alike in one call, in pieces and in place, never producing
 * more than it consumed.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define HTTP_CHECK(cond)                                                   \
	do {                                                               \
		if (!(cond)) {                                             \
			fprintf(stderr, "%s:%d: check failed: %s\n",       \
				__FILE__, __LINE__, #cond);                \
			abort();                                           \
		}                                                          \
	} while (0)
#include "tests/net_http_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Where the heads are cut: from the input, so a crash replays. */
	unsigned seed = (unsigned)size * 2654435761u;
	for (size_t i = 0; i < size && i < 8; i++)
		seed = seed * 31 + data[i];
	const char *bytes = (const char *)data;
	http_check_stream(bytes, size, NULL, false, seed);
	http_check_stream(bytes, size, &http_tight_limits, false, seed >> 7);
	return 0;
}
