#!/usr/bin/python3
"""asyncio's run_in_executor, measured as bench/executor_bench.cpp measures handoff's.

usage: bench/asyncio_executor_bench.py [--benchmark_repetitions=N] [--benchmark_min_time=S]
           [--benchmark_filter=RE] [--benchmark_out=FILE.json]
           [--benchmark_enable_random_interleaving=true] [--jobs=N] [--workers=W]

The peer of executor_bench's executor/round_trip and executor/in_flight tables (impl
"asyncio"); bench/README.md ("executor_bench") describes the workloads:

  executor/round_trip/asyncio/idle_us:0      `await loop.run_in_executor(pool, noop)` back to back
  executor/round_trip/asyncio/idle_us:1000   the same after time.sleep(0.001) (outside the sample)
  executor/in_flight/asyncio/jobs:10000      `await asyncio.gather(*(loop.run_in_executor(pool,
                                             noop) for _ in range(10000)))`, ns per job

The pool is concurrent.futures.ThreadPoolExecutor(max_workers=W), W = os.cpu_count() (the same
W as executor_bench); the loop is asyncio's default (Linux: the selector loop on epoll) run by
asyncio.run in this thread. Each repetition gets a fresh loop and pool and runs, after a
warm-up (200 round trips back to back, 2 after idle, one batch of jobs), until min_time has
passed and at least one iteration ran, as Google Benchmark does. Latencies are
time.perf_counter_ns() around each await; percentiles are exact (the ceil(q*n)-th smallest
sample; the C++ histogram reports its bucket's upper bound, <= 3.1 % above).

Output: a console line per run and, with --benchmark_out, Google Benchmark's JSON (context,
one "iteration" record per repetition with the counters time_per_item, items_per_second,
p50, p90, p99, p999, max, samples in seconds), which bench/table.py reads with the C++ suites'
files. Other --benchmark_* flags (scripts/bench passes the same flags to every suite) are
accepted and ignored. Standard library only: Debian's /usr/bin/python3 runs it as it is.
"""

import asyncio
import concurrent.futures
import os
import sys
import time

import asyncio_common as common  # bench/: the shared command line, percentiles, JSON

FAMILY_INDEX_BASE = 1000  # after the C++ suites' implementations in the table's row order


def parse_args(argv):
    def extra(ap):
        ap.add_argument("--jobs", type=int, default=10_000, help="jobs in flight (in_flight)")
        ap.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="pool threads")
    return common.parse_args(argv, __doc__.split("\n\n")[0], extra)


def noop():
    pass


async def round_trips(workers, idle_s, min_time):
    loop = asyncio.get_running_loop()
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        for _ in range(2 if idle_s > 0 else 200):
            await loop.run_in_executor(pool, noop)
        samples = []
        start = time.perf_counter()
        while not samples or time.perf_counter() - start < min_time:
            if idle_s > 0:
                time.sleep(idle_s)
            t0 = time.perf_counter_ns()
            await loop.run_in_executor(pool, noop)
            samples.append(time.perf_counter_ns() - t0)
        elapsed = time.perf_counter() - start
    return samples, elapsed


async def in_flight(workers, jobs, min_time):
    loop = asyncio.get_running_loop()
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        async def batch():
            await asyncio.gather(*(loop.run_in_executor(pool, noop) for _ in range(jobs)))
        await batch()  # warm-up: every worker thread started
        iterations = 0
        start = time.perf_counter()
        while iterations == 0 or time.perf_counter() - start < min_time:
            await batch()
            iterations += 1
        elapsed = time.perf_counter() - start
    return iterations, elapsed


def run_round_trip(opts, idle_us):
    samples, elapsed = asyncio.run(round_trips(opts.workers, idle_us * 1e-6, opts.benchmark_min_time))
    return common.latency_record(samples, elapsed)


def run_in_flight(opts):
    iterations, elapsed = asyncio.run(in_flight(opts.workers, opts.jobs, opts.benchmark_min_time))
    per_job = elapsed / (iterations * opts.jobs)
    return {
        "iterations": iterations,
        "real_time": elapsed / iterations * 1e3,
        "time_unit": "ms",
        "time_per_item": per_job,
        "items_per_second": 1.0 / per_job,
        "os_threads": opts.workers + 1,
    }


def benchmarks(opts):
    """(family_index, run_name, function) for every benchmark of this suite."""
    return [
        (FAMILY_INDEX_BASE + 0, "executor/round_trip/asyncio/idle_us:0", lambda: run_round_trip(opts, 0)),
        (FAMILY_INDEX_BASE + 0, "executor/round_trip/asyncio/idle_us:1000", lambda: run_round_trip(opts, 1000)),
        (FAMILY_INDEX_BASE + 1, f"executor/in_flight/asyncio/jobs:{opts.jobs}", lambda: run_in_flight(opts)),
    ]


def main(argv):
    opts = parse_args(argv)
    return common.run_main("asyncio_executor_bench", opts, benchmarks, f"{opts.workers} pool threads")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
