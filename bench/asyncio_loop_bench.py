#!/usr/bin/python3
"""asyncio's cross-thread entry points, measured as bench/loop_bench.cpp measures EventLoop's.

usage: bench/asyncio_loop_bench.py [--benchmark_repetitions=N] [--benchmark_min_time=S]
           [--benchmark_filter=RE] [--benchmark_out=FILE.json]
           [--benchmark_enable_random_interleaving=true]

The peer of loop_bench's loop/call_soon_threadsafe, loop/round_trip and loop/rcts_round_trip
tables (impl "asyncio"); bench/README.md ("loop_bench") describes the workloads:

  loop/call_soon_threadsafe/asyncio/P:n          P = 1, 2, 4 threads stream
                                                 loop.call_soon_threadsafe(cb) into a loop
                                                 running in its own thread; at most 4096 in
                                                 flight (a threading.Semaphore the callback
                                                 releases, as loop_bench's InFlightCap); ns per
                                                 callback
  loop/round_trip/asyncio/idle_us:t/pin:0        this thread posts loop.call_soon_threadsafe(
                                                 event.set) and waits on the threading.Event
                                                 (t = 0 back to back, t = 1000 after
                                                 time.sleep(0.001), outside the sample)
  loop/rcts_round_trip/asyncio/idle_us:t         asyncio.run_coroutine_threadsafe(coro(), loop)
                                                 .result(), coro returns at once

The loop is asyncio's default (Linux: the selector loop on epoll), run_forever() in its own
thread, unpinned (pin:0 only: Python offers no portable sched_getcpu, so no same_cpu counter).
Each repetition gets a fresh loop and runs, after a warm-up (2^14 callbacks; 200 round trips
back to back, 2 after idle), until min_time has passed and at least one iteration ran.
Latencies are time.perf_counter_ns() around each round trip; percentiles are exact (the
ceil(q*n)-th smallest sample; the C++ histogram reports its bucket's upper bound, <= 3.1 %
above). Every callback posted must run, or the run fails.

Output: as bench/asyncio_executor_bench.py (bench/asyncio_common.py): a console line per run
and, with --benchmark_out, Google Benchmark's JSON with the counters time_per_item,
items_per_second (and p50, p90, p99, p999, max, samples in seconds for the round trips).
Standard library only: Debian's /usr/bin/python3 runs it as it is.
"""

import asyncio
import sys
import threading
import time

import asyncio_common as common  # bench/: the shared command line, percentiles, JSON

FAMILY_INDEX_BASE = 1000  # after the C++ suites' implementations in the table's row order
CHUNK = 1 << 14  # callbacks per iteration, as loop_bench's kChunk
CAP = 4096       # callbacks in flight, at most (loop_bench's kCap)
STALL_S = 10.0   # no progress this long: the run fails


def parse_args(argv):
    return common.parse_args(argv, __doc__.split("\n\n")[0])


class LoopThread:
    """An asyncio event loop running run_forever() in its own thread."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        started = threading.Event()
        self.loop.call_soon(started.set)
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        if not started.wait(STALL_S):
            raise RuntimeError("the loop did not start")

    def close(self):
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(STALL_S)
        if self.thread.is_alive():
            raise RuntimeError("the loop did not stop")
        self.loop.close()


def run_throughput(opts, producers):
    lt = LoopThread()
    gate = threading.Semaphore(CAP)
    ran = [0]          # loop thread only; read by this thread (a plain int under the GIL)
    pushed = [0] * producers
    stop = threading.Event()

    def cb():
        ran[0] += 1
        gate.release()

    def produce(p):
        post = lt.loop.call_soon_threadsafe
        n = 0
        while not stop.is_set():
            if gate.acquire(timeout=0.05):
                post(cb)
                n += 1
        pushed[p] = n

    def await_count(want):
        last, since = ran[0], time.perf_counter()
        while ran[0] < want:
            time.sleep(0.0005)
            if ran[0] != last:
                last, since = ran[0], time.perf_counter()
            elif time.perf_counter() - since > STALL_S:
                raise RuntimeError(f"no callback ran for {STALL_S} s")

    threads = [threading.Thread(target=produce, args=(p,), daemon=True) for p in range(producers)]
    for t in threads:
        t.start()
    try:
        await_count(CHUNK)  # warm-up
        c0, start = ran[0], time.perf_counter()
        while time.perf_counter() - start < opts.benchmark_min_time or ran[0] - c0 < CHUNK:
            time.sleep(0.001)
        c1, elapsed = ran[0], time.perf_counter() - start
    finally:
        stop.set()
        for t in threads:
            t.join()
    done = threading.Event()
    lt.loop.call_soon_threadsafe(done.set)  # behind every callback posted
    if not done.wait(STALL_S):
        raise RuntimeError("the final marker did not run")
    lt.close()
    total = sum(pushed)
    if ran[0] != total:
        raise RuntimeError(f"posted {total} callbacks, {ran[0]} ran")
    items = c1 - c0
    per_item = elapsed / items
    chunks = items / CHUNK
    return {
        "iterations": max(1, round(chunks)),
        "real_time": elapsed / chunks * 1e3,
        "time_unit": "ms",
        "time_per_item": per_item,
        "items_per_second": 1.0 / per_item,
        "os_threads": producers + 1,
        "min_share": min(pushed) * producers / max(total, 1),
    }


def latency_record(samples, elapsed):
    r = common.latency_record(samples, elapsed)
    r["os_threads"] = 2
    return r


def measure(opts, idle_us, once):
    """Warm up, then time once() until min_time has passed and at least one sample ran."""
    idle_s = idle_us * 1e-6
    for _ in range(2 if idle_s > 0 else 200):
        once()
    samples = []
    start = time.perf_counter()
    while not samples or time.perf_counter() - start < opts.benchmark_min_time:
        if idle_s > 0:
            time.sleep(idle_s)
        t0 = time.perf_counter_ns()
        once()
        samples.append(time.perf_counter_ns() - t0)
    return latency_record(samples, time.perf_counter() - start)


def run_round_trip(opts, idle_us):
    lt = LoopThread()
    answered = threading.Event()
    post = lt.loop.call_soon_threadsafe
    answer = answered.set

    def once():
        answered.clear()
        post(answer)
        if not answered.wait(STALL_S):
            raise RuntimeError(f"no answer for {STALL_S} s")

    try:
        return measure(opts, idle_us, once)
    finally:
        lt.close()


async def immediate():
    return 1


def run_rcts(opts, idle_us):
    lt = LoopThread()

    def once():
        if asyncio.run_coroutine_threadsafe(immediate(), lt.loop).result(STALL_S) != 1:
            raise RuntimeError("wrong result")

    try:
        return measure(opts, idle_us, once)
    finally:
        lt.close()


def benchmarks(opts):
    """(family_index, run_name, function) for every benchmark of this suite."""
    out = []
    for p in (1, 2, 4):
        out.append((FAMILY_INDEX_BASE + 0, f"loop/call_soon_threadsafe/asyncio/P:{p}",
                    lambda p=p: run_throughput(opts, p)))
    for t in (0, 1000):
        out.append((FAMILY_INDEX_BASE + 1, f"loop/round_trip/asyncio/idle_us:{t}/pin:0",
                    lambda t=t: run_round_trip(opts, t)))
    for t in (0, 1000):
        out.append((FAMILY_INDEX_BASE + 2, f"loop/rcts_round_trip/asyncio/idle_us:{t}",
                    lambda t=t: run_rcts(opts, t)))
    return out


def main(argv):
    opts = parse_args(argv)
    return common.run_main("asyncio_loop_bench", opts, benchmarks, "loop in its own thread")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
