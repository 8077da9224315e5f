"""asyncio's side of bench/threads: asyncio.to_thread of a no-op function.

bench/threads starts this script and reads its report from standard output:
"python VERSION", then "to_thread NS", the best over REPS runs of CALLS
calls made one after another from one task, in ns per call.  The default
executor is warmed up (its first thread started) before any run is timed,
as bench/threads warms its pool.
"""
import asyncio
import sys
import time

REPS = 7
CALLS = 1000


def noop():
    pass


async def best_to_thread():
    to_thread = asyncio.to_thread
    await to_thread(noop)
    best = float("inf")
    for _ in range(REPS):
        t0 = time.perf_counter_ns()
        for _ in range(CALLS):
            await to_thread(noop)
        best = min(best, (time.perf_counter_ns() - t0) / CALLS)
    return best


def main():
    print("python", sys.version.split()[0], flush=True)
    print("to_thread", f"{asyncio.run(best_to_thread()):.1f}", flush=True)


if __name__ == "__main__":
    main()
