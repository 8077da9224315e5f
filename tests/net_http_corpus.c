/*
 * The fuzzer's seed corpus (tests/fuzz/corpus/http_parse), replayed on
 * every `make test`, so the seeds are checked without libFuzzer.  A seed's
 * name starts with what reading it as a connection must give: "ok" (every
 * request complete, the data ends after the last), "more" (the last
 * request incomplete) or the status that refuses a request ("400", ...).
 * Each seed also goes through the fuzzer's invariants (net_http_check.h),
 * with every split of every head.
 */
#include "check.h"

#include <dirent.h>
#include <stdio.h>

#define HTTP_CHECK(cond) cr_assert(cond, "%s", #cond)
#include "net_http_check.h"

#ifndef EDDY_HTTP_CORPUS
#error "the Makefile defines EDDY_HTTP_CORPUS: the seed corpus directory"
#endif

EDDY_SUITE(net_http_corpus);

/* What a seed's name says reading it gives, as http_check_stream says it. */
static int expected(const char *name)
{
	if (strncmp(name, "ok-", 3) == 0)
		return 0;
	if (strncmp(name, "more-", 5) == 0)
		return 1;
	return -atoi(name);
}

static char *slurp(const char *name, size_t *len)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s", EDDY_HTTP_CORPUS, name);
	FILE *f = fopen(path, "rb");
	cr_assert_not_null(f, "%s", path);
	static char data[65536];
	*len = fread(data, 1, sizeof data, f);
	cr_assert(feof(f), "%s is larger than 64 KiB", path);
	fclose(f);
	return http_copy(data, *len);
}

/* Calls check on every seed; the number of seeds. */
static size_t each_seed(void (*check)(const char *name, const char *data,
				      size_t len))
{
	DIR *d = opendir(EDDY_HTTP_CORPUS);
	cr_assert_not_null(d);
	size_t n = 0;
	for (struct dirent *e; (e = readdir(d));) {
		if (e->d_name[0] == '.')
			continue;
		size_t len;
		char *data = slurp(e->d_name, &len);
		check(e->d_name, data, len);
		free(data);
		n++;
	}
	closedir(d);
	return n;
}

static void gives_what_its_name_says(const char *name, const char *data,
				     size_t len)
{
	int want = expected(name);
	cr_assert(want == 0 || want == 1 || want <= -400,
		  "%s: a seed's name starts with ok-, more- or a status", name);
	int got = http_check_stream(data, len, NULL, len <= 2048, 0);
	cr_assert_eq(got, want, "%s: %d, its name says %d", name, got, want);
	for (unsigned seed = 1; seed < 64; seed++)
		http_check_stream(data, len, NULL, false, seed * 2654435761u);
}

Test(net_http_corpus, every_seed_gives_what_its_name_says)
{
	cr_assert_geq(each_seed(gives_what_its_name_says), 30);
}

static void keeps_the_invariants(const char *name, const char *data,
				 size_t len)
{
	(void)name;
	http_check_stream(data, len, &http_tight_limits, len <= 2048, 0);
}

Test(net_http_corpus, every_seed_keeps_the_invariants_under_tight_limits)
{
	cr_assert_geq(each_seed(keeps_the_invariants), 30);
}
