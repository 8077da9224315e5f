"""CPython's side of bench/ctx: the same operations on contextvars.

bench/ctx starts this script with --serve and alternates with it: it times
one repetition of an operation on eddy, then writes the operation's key on
a line of the script's standard input and reads back "key ns_per_op", one
repetition timed on CPython, and so on, so that a change in the machine's
load reaches both sides alike.  The first line the script writes is
"python VERSION".  Run alone, it prints the median of REPS repetitions of
each operation, in the same format.

Each key matches a row of bench/ctx.c, which describes the operation.  Both
sides build the same contexts and time alike: a repetition lasts at least
MIN_NS.  Here a statement is repeated UNROLL times in the body of a loop
over itertools.repeat, in a function whose variables are locals, and the
cost of the empty loop is subtracted, so that what is left is what the
statement costs a Python program: the method call and the work behind it.
"""
import gc
import itertools
import statistics
import sys
import time
from contextvars import Context, ContextVar, copy_context

REPS = 11
MIN_NS = 15_000_000
UNROLL = 16

# The variables, created in the same order as bench/ctx.c creates eddy's.
vs = [ContextVar(f"v{i}") for i in range(1000)]
with_default = ContextVar("with_default", default=0)
no_default = ContextVar("no_default")
A, B = object(), object()


def noop():
    pass


# What the statements below see, as locals of the timed function.
ENV = {
    "v": vs[0], "w": vs[8], "d": with_default, "u": no_default, "fb": A,
    **{f"s{i}": vs[i] for i in range(16)}, "A": A, "B": B,
    "copy_context": copy_context, "other": Context(), "noop": noop,
}

SET_16 = "; ".join([f"s{i}.set(A)" for i in range(16)] +
                   [f"s{i}.set(B)" for i in range(16)])
COPY_SET = "c = copy_context(); v.set(A); c = copy_context(); v.set(B)"

# key: size of the context it runs in, statements, operations they do.
ROWS = {
    "get_1": (1, "v.get()", 1),
    "get_10": (10, "v.get()", 1),
    "get_100": (100, "v.get()", 1),
    "get_1000": (1000, "v.get()", 1),
    "get_miss": (1000, "v.get(); w.get()", 2),
    "get_default": (1000, "d.get()", 1),
    "get_or": (1000, "u.get(fb)", 1),
    "set": (1000, SET_16, 32),
    "copy_set_10": (10, COPY_SET, 2),
    "copy_set_1000": (1000, COPY_SET, 2),
    "set_reset": (1000, "t = v.set(A); v.reset(t)", 1),
    "copy_1": (1, "copy_context()", 1),
    "copy_10": (10, "copy_context()", 1),
    "copy_100": (100, "copy_context()", 1),
    "copy_1000": (1000, "copy_context()", 1),
    "run": (1000, "other.run(noop)", 1),
}


def context_of(n):
    """A new context in which vs[0] .. vs[n - 1] are set."""
    def fill():
        for i in range(n):
            vs[i].set(i)
    ctx = Context()
    ctx.run(fill)
    return ctx


def compile_loop(body):
    """f(n, *ENV): n passes over UNROLL copies of body."""
    params = ", ".join(("n",) + tuple(ENV))
    src = f"def f({params}):\n    for _ in repeat(None, n):\n"
    src += "".join(f"        {body}\n" for _ in range(UNROLL))
    scope = {"repeat": itertools.repeat}
    exec(src, scope)
    return scope["f"]


def ns_per_pass(f, n):
    args = tuple(ENV.values())
    t0 = time.perf_counter_ns()
    f(n, *args)
    return (time.perf_counter_ns() - t0) / n


def passes(f):
    """How many passes of f make a repetition of at least MIN_NS."""
    n = 1
    while ns_per_pass(f, n) * n < MIN_NS:
        n *= 2
    return n


class Operation:
    """One row: its loop, calibrated once, and a repetition on demand."""

    def __init__(self, key, contexts, empty):
        size, body, self.ops = ROWS[key]
        self.ctx = contexts[size]
        self.f = compile_loop(body)
        self.n = self.ctx.run(passes, self.f)
        self.empty = empty

    def repetition(self):
        ns = self.ctx.run(ns_per_pass, self.f, self.n)
        return (ns - self.empty) / (UNROLL * self.ops)


def main():
    print("python", sys.version.split()[0], flush=True)
    contexts = {n: context_of(n) for n in (1, 10, 100, 1000)}
    gc.disable()
    empty_loop = compile_loop("pass")
    n = passes(empty_loop)
    empty = statistics.median(ns_per_pass(empty_loop, n) for _ in range(REPS))
    ops = {}
    if "--serve" in sys.argv:
        for line in sys.stdin:
            key = line.strip()
            if key not in ROWS:
                print(key, "unknown", flush=True)
                continue
            if key not in ops:
                ops[key] = Operation(key, contexts, empty)
            print(f"{key} {ops[key].repetition():.3f}", flush=True)
    else:
        for key in ROWS:
            op = Operation(key, contexts, empty)
            ns = statistics.median(op.repetition() for _ in range(REPS))
            print(f"{key} {ns:.2f}", flush=True)


if __name__ == "__main__":
    main()
