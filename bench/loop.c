/*
 * bench/loop: what the loop costs, against CPython's asyncio in the same
 * run.
 *
 * Rows, each timed the same way on both sides (bench/loop.py is asyncio's
 * half, started once under $PYTHON, default python3, and read back):
 *
 *   spawn+join    spawn an empty task and join it (asyncio: create_task of
 *                 an empty coroutine, awaited), one after another;
 *   yield         two tasks yield in turn; per yield (asyncio: await
 *                 asyncio.sleep(0)), with bench/task's floor switch and
 *                 glibc's swapcontext for scale.  A yield is one switch,
 *                 straight to the next task (docs/loop.md), and the run
 *                 queue;
 *   pipe          a one-byte round trip through two pipes between two
 *                 tasks, under each backend (asyncio: stream reader and
 *                 writer on the pipes);
 *   sleepers      a million tasks with 16 KiB stacks asleep at once, in a
 *                 child process of its own: wall time from the loop's
 *                 creation to its end, and peak RSS (ru_maxrss).  Beside it
 *                 the floor any stackful runtime pays, measured the same
 *                 way: touching one fresh page in each of a million 16 KiB
 *                 stacks of a new mapping.  asyncio runs fewer sleepers
 *                 (a million take it a minute on a busy machine); its row
 *                 is scaled per task.
 *
 * Micro rows are the best of REPS runs, to keep out the noise of a shared
 * machine.  Targets (issue 5) are printed beside their rows.  Run from the
 * repository root, as `make bench` does: the script is found by this
 * file's path.
 */
#define _GNU_SOURCE

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/loop_ops.h" /* spawns_and_joins, two_yielders */
#include "bench/switch.h"
#include "eddy.h"

enum {
	REPS = 7,
	SWITCHES = 500000,
	SWAPCONTEXTS = 20000,
	PINGS = 20000,
	SLEEPERS = 1000000,
	PY_SLEEPERS = 100000,
	SLEEPER_STACK = 16 * 1024,
};

/* Best ns per switch of a contender from bench/common.h. */
static double time_switch(void (*setup)(int), void (*rounds)(int), int n)
{
	double best = 1e30;
	setup(0);
	for (int r = 0; r < REPS; r++) {
		double t0 = now_ns();
		rounds(n);
		best = min_of(best, (now_ns() - t0) / (2.0 * n));
	}
	return best;
}

/* ---- pipe ping-pong ---------------------------------------------------- */

struct pipes {
	int ab[2], ba[2]; /* ping writes ab, pong writes ba */
	double ns;        /* per round trip */
};

static void *pongs(void *arg)
{
	struct pipes *p = arg;
	char c;
	for (int i = 0; i < PINGS; i++)
		if (eddy_read(p->ab[0], &c, 1) != 1 ||
		    eddy_write(p->ba[1], &c, 1) != 1)
			fail("pong");
	return NULL;
}

static void *pings(void *arg)
{
	struct pipes *p = arg;
	eddy_task *t = eddy_spawn(pongs, p);
	double t0 = now_ns();
	char c = 'x';
	for (int i = 0; i < PINGS; i++)
		if (eddy_write(p->ab[1], &c, 1) != 1 ||
		    eddy_read(p->ba[0], &c, 1) != 1)
			fail("ping");
	p->ns = (now_ns() - t0) / PINGS;
	if (!t || eddy_join(t, NULL))
		fail("ping-pong join");
	return NULL;
}

/* Best ns per round trip on a loop of this backend, or -1 when the
 * backend cannot be had here. */
static double ping_pong(enum eddy_backend backend)
{
	struct pipes p;
	if (pipe(p.ab) || pipe(p.ba))
		fail("pipe");
	eddy_loop_config cfg = { .backend = backend };
	eddy_loop *loop = eddy_loop_new(&cfg);
	double best = -1;
	if (loop && eddy_loop_backend(loop) == backend) {
		best = 1e30;
		for (int r = 0; r < REPS; r++) {
			if (eddy_loop_run(loop, pings, &p, NULL))
				fail("eddy_loop_run");
			best = min_of(best, p.ns);
		}
	}
	eddy_loop_free(loop);
	close(p.ab[0]);
	close(p.ab[1]);
	close(p.ba[0]);
	close(p.ba[1]);
	return best;
}

/* ---- a million sleepers, and the page-fault floor ---------------------- */

struct measure {
	double seconds;
	double rss_gib;  /* peak resident set, from ru_maxrss */
	long most_asleep; /* sleepers: the most asleep at once */
};

static long asleep, most_asleep;

static void *sleeps(void *arg)
{
	(void)arg;
	if (++asleep > most_asleep)
		most_asleep = asleep;
	eddy_sleep(1000000);
	asleep--;
	return NULL;
}

/* Spawns them all in its round: they all run, and fall asleep, in the
 * next, before any timer is looked at. */
static void *spawns_sleepers(void *arg)
{
	(void)arg;
	for (int i = 0; i < SLEEPERS; i++) {
		eddy_task *t = eddy_spawn(sleeps, NULL);
		if (!t || eddy_detach(t))
			fail("spawn a sleeper");
	}
	return NULL;
}

static void sleepers(struct measure *m)
{
	double t0 = now_ns();
	eddy_loop_config cfg = { .stack_size = SLEEPER_STACK };
	eddy_loop *loop = eddy_loop_new(&cfg);
	if (!loop || eddy_loop_run(loop, spawns_sleepers, NULL, NULL))
		fail("sleepers");
	eddy_loop_free(loop);
	m->seconds = (now_ns() - t0) / 1e9;
	m->most_asleep = most_asleep;
}

/* One fresh page touched in each of a million 16 KiB stacks, where a
 * task's control block and first frame would go. */
static void page_fault_floor(struct measure *m)
{
	size_t size = (size_t)SLEEPERS * SLEEPER_STACK;
	double t0 = now_ns();
	char *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		fail("mmap");
	for (size_t i = 1; i <= SLEEPERS; i++)
		p[i * SLEEPER_STACK - 64] = 1;
	m->seconds = (now_ns() - t0) / 1e9;
	munmap(p, size);
}

/* Runs fn in a child process, so that the peak RSS is fn's own. */
static struct measure in_child(void (*fn)(struct measure *))
{
	struct measure m = { -1, -1, 0 };
	int fds[2];
	if (pipe(fds))
		fail("pipe");
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0)
		fail("fork");
	if (pid == 0) {
		close(fds[0]);
		fn(&m);
		struct rusage ru;
		getrusage(RUSAGE_SELF, &ru);
		m.rss_gib = (double)ru.ru_maxrss / (1024.0 * 1024.0);
		_exit(write(fds[1], &m, sizeof m) == sizeof m ? 0 : 1);
	}
	close(fds[1]);
	if (read(fds[0], &m, sizeof m) != sizeof m)
		m.seconds = -1;
	close(fds[0]);
	waitpid(pid, NULL, 0);
	return m;
}

/* ---- asyncio's half ------------------------------------------------------ */

struct asyncio {
	char version[32];
	double spawn_join, yield, pipe; /* ns; -1 when missing */
	double sleepers_s, sleepers_kib;
};

/* Runs bench/loop.py (found beside this source) to the end and reads its
 * rows.  Missing rows stay -1. */
static void asyncio_run(struct asyncio *py)
{
	*py = (struct asyncio){ "-", -1, -1, -1, -1, -1 };
	const char *python = getenv("PYTHON") ? getenv("PYTHON") : "python3";
	char script[512], count[16];
	size_t len = strlen(__FILE__); /* ends in ".c" */
	if (len + 2 > sizeof script)
		return;
	memcpy(script, __FILE__, len - 1);
	strcpy(script + len - 1, "py");
	snprintf(count, sizeof count, "%d", PY_SLEEPERS);

	int out[2];
	if (pipe2(out, O_CLOEXEC))
		return;
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	char *argv[] = { (char *)python, script, "--sleepers", count, NULL };
	pid_t pid;
	int err = posix_spawnp(&pid, python, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(out[1]);
	if (err) {
		close(out[0]);
		return;
	}
	FILE *f = fdopen(out[0], "r");
	char line[128], key[32];
	double a, b;
	while (f && fgets(line, sizeof line, f)) {
		if (sscanf(line, "python %31s", py->version) == 1)
			continue;
		int n = sscanf(line, "%31s %lf %lf", key, &a, &b);
		if (n >= 2 && !strcmp(key, "spawn_join"))
			py->spawn_join = a;
		else if (n >= 2 && !strcmp(key, "yield"))
			py->yield = a;
		else if (n >= 2 && !strcmp(key, "pipe"))
			py->pipe = a;
		else if (n == 3 && !strcmp(key, "sleepers")) {
			py->sleepers_s = a;
			py->sleepers_kib = b;
		}
	}
	if (f)
		fclose(f);
	else
		close(out[0]);
	waitpid(pid, NULL, 0);
}

/* ---- report --------------------------------------------------------------- */

static int missed;

static void verdict(bool met)
{
	printf("  %s\n", met ? "met" : "MISSED");
	missed += !met;
}

/* A row of eddy against asyncio: ns each, and how many times faster. */
static void row(const char *what, double eddy, double theirs)
{
	printf("  %-34s %10.1f ns", what, eddy);
	if (theirs > 0)
		printf(" %10.1f ns %8.1fx", theirs, theirs / eddy);
	else
		printf(" %13s %9s", "-", "-");
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("bench/loop: best of %d runs; asyncio ratios are asyncio / eddy\n",
	       REPS);

	/* The big rows first, each in a fresh child, before anything else
	 * has grown this process. */
	struct measure floor = in_child(page_fault_floor);
	struct measure sleep = in_child(sleepers);

	double spawn = 1e30, yield = 1e30, ns;
	for (int r = 0; r < REPS; r++) {
		if (eddy_run(spawns_and_joins, &ns, NULL))
			fail("eddy_run");
		spawn = min_of(spawn, ns);
		if (eddy_run(two_yielders, &ns, NULL))
			fail("eddy_run");
		yield = min_of(yield, ns);
	}
	double fsw = time_switch(floor_setup, floor_rounds, SWITCHES);
	double swc = time_switch(swapcontext_setup, swapcontext_rounds,
				 SWAPCONTEXTS);
	double uring = ping_pong(EDDY_BACKEND_URING);
	double epoll = ping_pong(EDDY_BACKEND_EPOLL);

	struct asyncio py;
	asyncio_run(&py);

	printf("\n  %-34s %13s %13s %9s   (CPython %s)\n", "", "eddy",
	       "asyncio", "ratio", py.version);
	row("spawn+join of an empty task", spawn, py.spawn_join);
	if (py.spawn_join > 0)
		printf("   target >= 40x"), verdict(py.spawn_join / spawn >= 40);
	else
		printf("\n");
	row("yield between two tasks", yield, py.yield);
	printf("\n");
	printf("  %-34s %10.1f ns\n", "  floor switch (bench/task's)", fsw);
	printf("  %-34s %10.1f ns\n", "  glibc swapcontext, for scale", swc);
	printf("  %-34s %10.2f x    target <= 3x", "  yield / floor switch",
	       yield / fsw);
	verdict(yield / fsw <= 3);
	if (uring > 0) {
		row("pipe round trip, io_uring", uring, py.pipe);
		printf("\n");
	} else {
		printf("  %-34s skipped: io_uring cannot be set up here\n",
		       "pipe round trip, io_uring");
	}
	if (epoll > 0) {
		row("pipe round trip, epoll", epoll, py.pipe);
		printf("\n");
	} else {
		printf("  %-34s skipped: no epoll backend in this build\n",
		       "pipe round trip, epoll");
	}

	printf("\n  %d sleeping tasks, %d KiB stacks (each in a child process)\n",
	       SLEEPERS, SLEEPER_STACK / 1024);
	if (sleep.seconds < 0 || floor.seconds < 0) {
		printf("  could not be measured\n");
		return 1;
	}
	printf("  %-34s %10.2f s  %8.2f GiB peak RSS  (%ld asleep at once)\n",
	       "eddy", sleep.seconds, sleep.rss_gib, sleep.most_asleep);
	printf("  %-34s %10.2f s  %8.2f GiB peak RSS\n",
	       "floor: a fresh page per stack", floor.seconds, floor.rss_gib);
	double limit = 1.3 * floor.seconds + 1.5;
	printf("  %-34s %10.2f s   target <= 1.3 x floor + 1.5 s = %.2f s",
	       "  time", sleep.seconds, limit);
	verdict(sleep.seconds <= limit);
	printf("  %-34s %10.2f GiB target <= 8 GiB", "  memory", sleep.rss_gib);
	verdict(sleep.rss_gib <= 8);
	if (py.sleepers_s > 0) {
		double per = (double)SLEEPERS / PY_SLEEPERS;
		printf("  %-34s %10.2f s  %8.2f GiB peak RSS  (%d tasks, x%.0f)\n",
		       "asyncio, scaled to as many", py.sleepers_s * per,
		       py.sleepers_kib * per / (1024.0 * 1024.0), PY_SLEEPERS,
		       per);
	}
	printf("\nbench/loop: %s\n",
	       missed ? "some targets MISSED" : "every target met");
	return 0;
}
