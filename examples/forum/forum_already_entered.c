/*
 * Running the caller's own context in a worker thread: "already entered",
 * and how SHARE avoids it.
 *
 * One participant proposed taking the task's own context object and
 * running the blocking function in it on the executor, reasoning that a
 * task waiting on an await is not using its context.  Tried on PyPy
 * (CPython's accelerated Task does not expose the attribute), it failed
 * with RuntimeError "cannot enter context: ... is already entered", the
 * error CPython 3.11 gives as well: a pure-Python task enters its context
 * for each step and leaves it when the step ends, and a worker can get
 * there before the step that started it has ended.
 *
 * In eddy a task holds its context from its first run to its end, even
 * while suspended, so the same attempt fails every time with -EBUSY, not
 * only when the worker wins a race.  EDDY_SHARE is the supported way: the
 * loop lends the suspended task's context to the worker, and holds back
 * every task that runs in it until the worker has left, while tasks in
 * other contexts go on running.  The timeline at the end shows the
 * hold-back without sleeps: pipes make each step wait for the one before.
 *
 * Exit status 0 when the results are the ones predicted.
 */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "eddy.h"

static eddy_var *user;
static int differs;

static void expect(const char *what, const char *got, const char *want)
{
	if (strcmp(got, want)) {
		printf("differs: %s is %s, expected %s\n", what, got, want);
		differs = 1;
	}
}

/* True, after saying so, when a call that had to succeed failed. */
static bool failed(const char *call, int err)
{
	if (err) {
		printf("differs: %s failed: %s\n", call, eddy_strerror(err));
		differs = 1;
	}
	return err != 0;
}

static const char *user_now(void)
{
	return eddy_var_get_or(user, "<unset>");
}

/* ---- 1. COPY, then entering the task's context: -EBUSY ------------------ */

static void *set_user(void *name)
{
	eddy_var_set(user, name, NULL);
	return NULL;
}

/* On the worker: context.run(my_sync_func) with the task's context. */
static void *run_in_task_context(void *task_ctx)
{
	return (void *)(long)eddy_ctx_run(task_ctx, set_user, "adrian", NULL);
}

/* The task hands its own context to a COPY worker, which tries to run it:
 * what eddy_ctx_run returned there. */
static int run_own_context_on_copy_worker(void)
{
	eddy_ctx *mine = eddy_task_ctx(eddy_self());
	void *result;
	int err = eddy_to_thread(run_in_task_context, mine, EDDY_COPY, &result);
	return err ? err : (int)(long)result;
}

static void entering_fails_under_copy(void)
{
	int ran = run_own_context_on_copy_worker();
	const char *code = ran == -EBUSY ? "-EBUSY" : ran ? "an error" : "0";
	printf("COPY worker, eddy_ctx_run(the task's context): %s\n", code);
	puts("  (PEP 567's RuntimeError: the task holds its context while it "
	     "waits)");
	printf("  the task then sees user=%s\n", user_now());
	expect("eddy_ctx_run's result", code, "-EBUSY");
	expect("user after the COPY worker", user_now(), "<unset>");
}

/* ---- 2. SHARE: the worker runs in the task's context itself ------------- */

struct shared_visit {
	eddy_ctx *task_ctx;
	bool was_current; /* the worker's current context was the task's */
};

static void *set_user_in_place(void *arg)
{
	struct shared_visit *v = arg;
	v->was_current = eddy_ctx_current() == v->task_ctx;
	return set_user("adrian");
}

static void share_lends_the_context(void)
{
	struct shared_visit v = { .task_ctx = eddy_task_ctx(eddy_self()) };
	int err = eddy_to_thread(set_user_in_place, &v, EDDY_SHARE, NULL);
	if (failed("eddy_to_thread under SHARE", err))
		return;
	printf("SHARE worker: its current context is the task's own: %s\n",
	       v.was_current ? "yes" : "no");
	printf("  the task then sees user=%s\n", user_now());
	expect("the SHARE worker's context", v.was_current ? "the task's" :
	       "another", "the task's");
	expect("user after the SHARE worker", user_now(), "adrian");
}

/* ---- 3. The hold-back, as a timeline ------------------------------------ */

/*
 * Steps, each recorded when it happens.  Pipes order the worker and the
 * task in a context of its own; nothing but the loop's hold-back orders
 * the task that shares the worker's context, which was spawned first and
 * so would run first if the loop let it.
 */
enum { MAX_STEPS = 8 };
static const char *timeline[MAX_STEPS];
static atomic_int steps;
static int to_sibling[2], to_worker[2]; /* pipes: [0] read, [1] write */

static void step(const char *what)
{
	int n = atomic_fetch_add(&steps, 1);
	if (n < MAX_STEPS)
		timeline[n] = what;
}

static void *worker_in_shared_context(void *unused)
{
	(void)unused;
	char byte = 0;
	step("the worker enters the task's context");
	if (write(to_sibling[1], &byte, 1) != 1 ||
	    read(to_worker[0], &byte, 1) != 1)
		return (void *)(long)-EPIPE;
	step("the worker leaves it");
	return NULL;
}

static void *sibling_sharing_context(void *unused)
{
	(void)unused;
	step("a task sharing that context runs");
	return NULL;
}

static void *sibling_in_own_context(void *unused)
{
	(void)unused;
	char byte = 0;
	if (eddy_read(to_sibling[0], &byte, 1) == 1)
		step("a task in a context of its own runs");
	eddy_write(to_worker[1], &byte, 1); /* even after a failure */
	return NULL;
}

static int spawn_and_offload(void)
{
	eddy_task *sharing = eddy_spawn_with(sibling_sharing_context, NULL,
		&(eddy_spawn_opts){ .policy = EDDY_SHARE });
	if (!sharing)
		return -errno;
	eddy_task *own = eddy_spawn_with(sibling_in_own_context, NULL,
		&(eddy_spawn_opts){ .policy = EDDY_COPY });
	int err = own ? 0 : -errno;
	void *result = NULL;
	if (!err)
		err = eddy_to_thread(worker_in_shared_context, NULL, EDDY_SHARE,
				     &result);
	eddy_join(sharing, NULL);
	if (own)
		eddy_join(own, NULL);
	return err ? err : (int)(long)result;
}

static void share_holds_back_tasks_in_the_context(void)
{
	if (failed("pipe", pipe(to_sibling) || pipe(to_worker) ? -errno : 0))
		return;
	int err = spawn_and_offload();
	for (int i = 0; i < 2; i++) {
		close(to_sibling[i]);
		close(to_worker[i]);
	}
	if (failed("the SHARE offload with two more tasks", err))
		return;

	static const char *const predicted[] = {
		"the worker enters the task's context",
		"a task in a context of its own runs",
		"the worker leaves it",
		"a task sharing that context runs",
	};
	enum { PREDICTED = sizeof predicted / sizeof predicted[0] };
	puts("SHARE worker, with two more tasks ready to run:");
	int n = atomic_load(&steps);
	for (int i = 0; i < n && i < MAX_STEPS; i++)
		printf("  %d. %s\n", i + 1, timeline[i]);
	if (n != PREDICTED) {
		printf("differs: %d steps, expected %d\n", n, (int)PREDICTED);
		differs = 1;
	}
	for (int i = 0; i < PREDICTED && i < n; i++)
		expect("a step of the timeline", timeline[i], predicted[i]);
}

static void *main_task(void *unused)
{
	(void)unused;
	entering_fails_under_copy();
	share_lends_the_context();
	share_holds_back_tasks_in_the_context();
	return NULL;
}

int main(void)
{
	user = eddy_var_new("user");
	if (!user)
		return 1;
	int err = eddy_run(main_task, NULL, NULL);
	if (err) {
		printf("forum_already_entered: %s\n", eddy_strerror(err));
		return 1;
	}
	if (!differs)
		puts("\nA task's context cannot be entered from another "
		     "thread while the task holds it.\nSHARE hands it over "
		     "instead, and no task runs in it until the worker is\n"
		     "done.");
	eddy_var_free(user);
	return differs;
}
