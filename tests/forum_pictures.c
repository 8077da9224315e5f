/*
 * The forum pictures: docs/tutorial.md and docs/observe.md show timelines
 * of the forum demo's routes, drawn by examples/trace/render.py from the
 * traces `forum --trace DIR` writes.  These tests trace the demo afresh,
 * check every trace is valid JSON, and redraw the pictures, which must
 * equal the committed ones byte for byte: a change to the runtime, the
 * tracer or the renderer that changes a picture fails here until
 * `make pictures` redraws them.  The renderer draws events in order, not
 * wall time, so the pictures are the same on every machine and backend.
 */
#define _GNU_SOURCE /* mkdtemp */
#include "forum_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

EDDY_SUITE(forum_pictures);

#define RENDER "python3 '" EDDY_SRC_DIR "/examples/trace/render.py'"

static const char *const pictured[] = {
	"forum-copy-sync-logged",  "forum-copy-async-in-task-logged",
	"forum-share-sync-logged", "forum-share-async-in-task-logged",
	"forum-merge-sync-logged", "forum-merge-async-in-task-logged",
};
#define PICTURES (sizeof pictured / sizeof pictured[0])

static char dir[] = "/tmp/eddy-pictures-XXXXXX";

static void run(const char *cmd)
{
	int status = system(cmd);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "failed (status %#x): %s", status, cmd);
}

/* The forum demo, traced into dir, with backend env (may be ""). */
static void trace_forum(const char *env)
{
	cr_assert_not_null(mkdtemp(dir));
	char cmd[1024];
	snprintf(cmd, sizeof cmd, "%s '%s/forum' --trace %s >/dev/null", env,
		 FORUM_BIN_DIR, dir);
	run(cmd);
}

static void remove_dir(void)
{
	char cmd[256];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	run(cmd);
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f, "cannot open %s", path);
	char *text = read_all(f);
	fclose(f);
	return text;
}

/* Valid JSON, and on every track each slice that begins ends, in order,
 * as Perfetto expects of B and E events. */
Test(forum_pictures, every_trace_of_the_demo_is_valid_and_balanced)
{
	trace_forum("");
	char cmd[1024];
	snprintf(cmd, sizeof cmd,
		 "cd %s && ls *.json | wc -l | grep -qx 12 && python3 -c '"
		 "import json, sys\n"
		 "for f in sys.argv[1:]:\n"
		 "    evs = sorted((e for e in json.load(open(f))[\"traceEvents\"]\n"
		 "                  if e[\"ph\"] in \"BE\"), key=lambda e: e[\"args\"][\"seq\"])\n"
		 "    depth = {}\n"
		 "    for e in evs:\n"
		 "        k = (e[\"pid\"], e[\"tid\"])\n"
		 "        depth[k] = depth.get(k, 0) + (1 if e[\"ph\"] == \"B\" else -1)\n"
		 "        assert depth[k] >= 0, (f, e)\n"
		 "    assert not any(depth.values()), (f, depth)\n"
		 "' *.json", dir);
	run(cmd);
	remove_dir();
}

static void pictures_match(const char *env)
{
	trace_forum(env);
	for (size_t i = 0; i < PICTURES; i++) {
		char cmd[1024], fresh[256], kept[512];
		snprintf(fresh, sizeof fresh, "%s/%s.svg", dir, pictured[i]);
		snprintf(kept, sizeof kept, "%s/docs/pictures/%s.svg",
			 EDDY_SRC_DIR, pictured[i]);
		snprintf(cmd, sizeof cmd, RENDER " %s/%s.json -o %s", dir,
			 pictured[i], fresh);
		run(cmd);
		char *got = slurp(fresh), *want = slurp(kept);
		cr_expect_str_eq(got, want, "%s%s%s differs from %s: if the "
				 "change is meant, run `make pictures`",
				 env, *env ? " " : "", fresh, kept);
		free(got);
		free(want);
	}
	remove_dir();
}

Test(forum_pictures, docs_pictures_match_fresh_ones)
{
	pictures_match("");
}

Test(forum_pictures, docs_pictures_match_fresh_ones_on_epoll)
{
	pictures_match("EDDY_BACKEND=epoll");
}

Test(forum_pictures, tutorial_shows_every_picture)
{
	char path[512];
	snprintf(path, sizeof path, "%s/docs/tutorial.md", EDDY_SRC_DIR);
	char *text = slurp(path);
	for (size_t i = 0; i < PICTURES; i++) {
		char ref[128];
		snprintf(ref, sizeof ref, "pictures/%s.svg", pictured[i]);
		cr_expect_not_null(strstr(text, ref), "docs/tutorial.md does "
				   "not show %s", ref);
	}
	free(text);
}
