"""asyncio's side of bench/loop: the same workloads on CPython's event loop.

bench/loop starts this script once and reads its report from standard
output: first "python VERSION", then one line per row, "key value ...".
Each row matches one of bench/loop.c, which describes the workload:

  spawn_join NS        asyncio.create_task of an empty coroutine, awaited
  yield NS             one `await asyncio.sleep(0)` of two tasks taking turns
  pipe NS              a one-byte round trip through two pipes, two tasks
  sleepers S MAXRSS    N tasks asleep at once: wall time, peak RSS in KiB

The micro rows are the best of REPS repetitions, as bench/loop's own.  The
sleepers row runs in a child process of its own (multiprocessing's fork),
so that its peak RSS is not this process's; `--sleepers N` sets N.
"""
import asyncio
import gc
import os
import resource
import sys
import time

REPS = 5
SPAWNS = 20_000
YIELDS = 50_000
PINGS = 5_000


def best(fn, n):
    """Best ns per operation over REPS runs of fn(n)."""
    result = float("inf")
    for _ in range(REPS):
        t0 = time.perf_counter_ns()
        asyncio.run(fn(n))
        result = min(result, (time.perf_counter_ns() - t0) / n)
    return result


async def empty():
    pass


async def spawn_join(n):
    create_task = asyncio.create_task
    for _ in range(n):
        await create_task(empty())


async def ping(n):
    sleep = asyncio.sleep
    for _ in range(n):
        await sleep(0)


async def two_yielders(n):
    # n yields in all, half by each task
    await asyncio.gather(ping(n // 2), ping(n // 2))


async def pipe_ping_pong(n):
    loop = asyncio.get_running_loop()
    ab_r, ab_w = os.pipe()
    ba_r, ba_w = os.pipe()

    async def streams(rfd, wfd):
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(rfd, "rb", 0))
        transport, protocol = await loop.connect_write_pipe(
            asyncio.streams.FlowControlMixin, os.fdopen(wfd, "wb", 0))
        writer = asyncio.StreamWriter(transport, protocol, reader, loop)
        return reader, writer

    a_in, a_out = await streams(ba_r, ab_w)
    b_in, b_out = await streams(ab_r, ba_w)

    async def first():
        for _ in range(n):
            a_out.write(b"x")
            await a_in.readexactly(1)

    async def second():
        for _ in range(n):
            b_out.write(await b_in.readexactly(1))

    await asyncio.gather(first(), second())
    a_out.close()
    b_out.close()


async def sleepers(n):
    sleep = asyncio.sleep
    tasks = [asyncio.create_task(sleep(0.001)) for _ in range(n)]
    await asyncio.gather(*tasks)


def sleepers_row(n):
    """Wall seconds and peak RSS (KiB) of n concurrent sleepers, measured
    in a forked child."""
    rd, wr = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(rd)
        t0 = time.perf_counter()
        asyncio.run(sleepers(n))
        wall = time.perf_counter() - t0
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        os.write(wr, f"{wall} {rss}".encode())
        os._exit(0)
    os.close(wr)
    out = os.read(rd, 100).decode()
    os.close(rd)
    os.waitpid(pid, 0)
    return out


def main():
    n_sleepers = 1_000_000
    if "--sleepers" in sys.argv:
        n_sleepers = int(sys.argv[sys.argv.index("--sleepers") + 1])
    print("python", sys.version.split()[0], flush=True)
    gc.disable()  # as bench/loop allocates nothing it must collect
    print("spawn_join", best(spawn_join, SPAWNS), flush=True)
    print("yield", best(two_yielders, YIELDS), flush=True)
    print("pipe", best(pipe_ping_pong, PINGS), flush=True)
    gc.enable()
    print("sleepers", sleepers_row(n_sleepers), flush=True)


if __name__ == "__main__":
    main()
