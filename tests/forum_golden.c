/*
 * The forum demos (examples/forum/) print what they show, and nothing
 * that changes from run to run.  Each test here runs one built demo and
 * requires its exit status 0 (the demo agrees with what the thread
 * predicts) and its whole standard output equal to tests/golden/<name>.out,
 * so that the demos, the tutorial that quotes them and the runtime never
 * drift apart.  Each demo runs again on the epoll backend, where it must
 * print the same.
 *
 * docs/tutorial.md and README.md quote the demos and what they print;
 * the last tests check that each quote is still verbatim.
 *
 * The Makefile builds the demos before this test, and says where they are
 * (FORUM_BIN_DIR) and where the sources are (EDDY_SRC_DIR).
 */
#define _POSIX_C_SOURCE 200809L /* popen, glob */
#include "forum_common.h"

#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

EDDY_SUITE(forum_golden);

#define GOLDEN_DIR EDDY_SRC_DIR "/tests/golden"

/* Every demo, each with a test per backend. */
#define FORUM_DEMOS(X)                                                   \
	X(forum)                                                         \
	X(forum_thread_poc)                                              \
	X(forum_mutable_box)                                             \
	X(forum_already_entered)                                         \
	X(forum_run_current)                                             \
	X(forum_merge_rules)                                             \
	X(forum_group)                                                   \
	X(forum_var_rules)

static char *read_golden(const char *name)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s.out", GOLDEN_DIR, name);
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f, "no golden output %s for the demo %s", path,
			   name);
	char *text = read_all(f);
	fclose(f);
	return text;
}

/* The demo's standard output; its exit status must be 0. */
static char *run_demo(const char *name, const char *env)
{
	char cmd[640];
	snprintf(cmd, sizeof cmd, "%s '%s/%s'", env, FORUM_BIN_DIR, name);
	FILE *p = popen(cmd, "r");
	cr_assert_not_null(p, "cannot run %s", cmd);
	char *out = read_all(p);
	int status = pclose(p);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "%s failed (status %#x); it printed:\n%s", cmd, status, out);
	return out;
}

/* The first line where got and want differ, counting from 1. */
static int first_different_line(const char *got, const char *want)
{
	int line = 1;
	for (; *got && *got == *want; got++, want++)
		line += *got == '\n';
	return line;
}

/* Line n of text (from 1), and its length without the newline in *len. */
static const char *line_at(const char *text, int n, int *len)
{
	while (--n > 0 && (text = strchr(text, '\n')))
		text++;
	if (!text)
		text = "";
	const char *end = strchr(text, '\n');
	*len = end ? (int)(end - text) : (int)strlen(text);
	return text;
}

static void prints_its_golden_output(const char *name, const char *env)
{
	char *got = run_demo(name, env);
	char *want = read_golden(name);
	int n = first_different_line(got, want), got_len, want_len;
	const char *got_line = line_at(got, n, &got_len);
	const char *want_line = line_at(want, n, &want_len);
	cr_expect_str_eq(got, want,
			 "%s%s%s differs from %s/%s.out at line %d:\n"
			 "printed:  %.*s\nexpected: %.*s", env, *env ? " " : "",
			 name, GOLDEN_DIR, name, n, got_len, got_line,
			 want_len, want_line);
	free(got);
	free(want);
}

#define GOLDEN_TESTS(name)                                               \
	Test(forum_golden, name##_prints_its_golden_output)              \
	{                                                                \
		prints_its_golden_output(#name, "");                     \
	}                                                                \
	Test(forum_golden, name##_prints_the_same_on_epoll)              \
	{                                                                \
		prints_its_golden_output(#name, "EDDY_BACKEND=epoll");   \
	}
FORUM_DEMOS(GOLDEN_TESTS)

/* A new demo without a test here, or without a golden file, fails. */
Test(forum_golden, every_demo_has_a_golden_test)
{
#define NAME(name) #name,
	static const char *const tested[] = { FORUM_DEMOS(NAME) };
#undef NAME
	glob_t g;
	cr_assert_eq(glob(EDDY_SRC_DIR "/examples/forum/*.c", 0, NULL, &g), 0);
	for (size_t i = 0; i < g.gl_pathc; i++) {
		const char *file = strrchr(g.gl_pathv[i], '/') + 1;
		size_t len = strlen(file) - 2; /* without ".c" */
		bool found = false;
		for (size_t t = 0; t < sizeof tested / sizeof tested[0]; t++)
			found |= strlen(tested[t]) == len &&
				 !strncmp(tested[t], file, len);
		cr_expect(found, "examples/forum/%s has no golden test in "
			  "tests/forum_golden.c", file);
	}
	globfree(&g);
}

/* ---- quotes in the docs ------------------------------------------------- */

static char *read_source(const char *path)
{
	char full[512];
	snprintf(full, sizeof full, "%s/%s", EDDY_SRC_DIR, path);
	FILE *f = fopen(full, "r");
	cr_assert_not_null(f, "cannot open %s", full);
	char *text = read_all(f);
	fclose(f);
	return text;
}

#define VERBATIM "<!-- verbatim: "

/*
 * A fenced block right after "<!-- verbatim: PATH -->" in doc must appear
 * in PATH character for character: a quoted excerpt is code that compiles
 * in the demo it comes from, and a quoted output is what the demo prints
 * (its golden file).  Returns how many quotes doc has.
 */
static int quotes_are_verbatim(const char *doc)
{
	char *text = read_source(doc);
	int quotes = 0;
	for (char *at = strstr(text, VERBATIM); at;
	     at = strstr(at, VERBATIM)) {
		at += strlen(VERBATIM);
		char path[256];
		int len = (int)strcspn(at, " \n");
		cr_assert_lt(len, (int)sizeof path);
		snprintf(path, sizeof path, "%.*s", len, at);
		char *fence = strstr(at, "\n```");
		char *body = fence ? strchr(fence + 1, '\n') : NULL;
		char *end = body ? strstr(body, "\n```") : NULL;
		cr_assert_not_null(end, "%s: no fenced block after the quote of "
				   "%s", doc, path);
		*end = '\0';
		char *source = read_source(path);
		cr_expect_not_null(strstr(source, body + 1),
				   "%s quotes %s, which does not contain:\n%s",
				   doc, path, body + 1);
		free(source);
		quotes++;
		at = end + 1;
	}
	free(text);
	return quotes;
}

Test(forum_golden, tutorial_quotes_the_demos_verbatim)
{
	cr_expect_gt(quotes_are_verbatim("docs/tutorial.md"), 0);
}

Test(forum_golden, readme_quotes_the_table_verbatim)
{
	cr_expect_gt(quotes_are_verbatim("README.md"), 0);
}
