#!/usr/bin/python3
"""The asyncio tutorial's thread -> coroutine pattern, measured as bench/channel_bench.cpp measures handoff's.

usage: bench/asyncio_channel_bench.py [--benchmark_repetitions=N] [--benchmark_min_time=S]
           [--benchmark_filter=RE] [--benchmark_out=FILE.json]
           [--benchmark_enable_random_interleaving=true]

The peer of channel_bench's channel/stream and channel/latency tables (impl "asyncio");
bench/README.md ("channel_bench") describes the workloads. A producer thread (this script's
main thread) puts items into a queue.Queue; a consumer coroutine on an asyncio loop running in
its own thread (run_forever, the coroutine submitted with run_coroutine_threadsafe) gets them
with `await loop.run_in_executor(None, q.get)`, the tutorial's pattern:

  channel/stream/asyncio               a continuous stream, at most 1024 items in flight
                                       (queue.Queue(maxsize=1024): put() blocks when full);
                                       items/s from the first timed put until the consumer has
                                       the last item; p50..p999 of put -> coroutine latency
  channel/latency/asyncio/idle_us:0    one item at a time: put, wait until the coroutine has it
                                       (a threading.Event), latency put -> coroutine
  channel/latency/asyncio/idle_us:1000 the same after time.sleep(0.001) (outside the sample)

Each item is (sequence number, time.perf_counter_ns() just before the put); the consumer
checks the sequence (a gap or repeat fails the run) and records perf_counter_ns() minus the
stamp (CLOCK_MONOTONIC, as the C++ suite's steady_clock). The default executor is asyncio's
(min(32, cpus + 4) threads, the C++ baseline's pool size). Each repetition gets a fresh loop,
thread and executor, runs a warm-up (4096 items streaming; 200 or 2 items one at a time), then
until min_time has passed. Percentiles are exact (the ceil(q*n)-th smallest sample; the C++
histogram reports its bucket's upper bound, <= 3.1 % above).

Output: a console line per run and, with --benchmark_out, Google Benchmark's JSON (context, one
"iteration" record per repetition with the counters time_per_item, items_per_second, p50, p90,
p99, p999, max, samples in seconds), which bench/table.py reads with the C++ suites' files.
Other --benchmark_* flags are accepted and ignored. Standard library only: Debian's
/usr/bin/python3 runs it as it is.
"""

import asyncio
import queue
import sys
import threading
import time

import asyncio_common as common  # bench/: the shared command line, percentiles, JSON

FAMILY_INDEX_BASE = 1000  # after the C++ suites' implementations in the table's row order
CAP = 1024
CHUNK = 1024  # items between two looks at the clock (the C++ suite's iteration)
STALL_S = 10.0


def parse_args(argv):
    return common.parse_args(argv, __doc__.split("\n\n")[0])


class LoopThread:
    """An asyncio loop in its own thread, the consumer coroutine on it (the tutorial's setup)."""

    def __init__(self, maxsize=0):
        self.q = queue.Queue(maxsize=maxsize)
        self.samples = []
        self.consumed = 0
        self.bad = 0
        self.ack = threading.Event()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, name="loop")
        self.thread.start()
        self.done = asyncio.run_coroutine_threadsafe(self._consume(), self.loop)

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    async def _consume(self):
        loop = asyncio.get_running_loop()
        q = self.q
        while True:
            item = await loop.run_in_executor(None, q.get)
            if item is None:
                return
            seq, stamp = item
            self.samples.append(time.perf_counter_ns() - stamp)
            if seq != self.consumed:
                self.bad += 1
            self.consumed += 1
            self.ack.set()

    def put(self, seq):
        self.q.put((seq, time.perf_counter_ns()))

    def finish(self):
        self.q.put(None)  # the tutorial's sentinel: end of stream
        self.done.result(timeout=STALL_S)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.run_until_complete(self.loop.shutdown_default_executor())
        self.loop.close()


def wait_consumed(lt, n):
    deadline = time.perf_counter() + STALL_S
    while lt.consumed < n:
        if time.perf_counter() > deadline:
            raise RuntimeError(f"the consumer stalled at {lt.consumed} of {n} items")
        time.sleep(0.0001)


def result(samples, counters):
    s = sorted(samples)
    r = {"p50": common.percentile(s, 0.50) * 1e-9, "p90": common.percentile(s, 0.90) * 1e-9,
         "p99": common.percentile(s, 0.99) * 1e-9, "p999": common.percentile(s, 0.999) * 1e-9,
         "max": s[-1] * 1e-9, "samples": len(s)}
    r.update(counters)
    return r


def run_stream(opts):
    lt = LoopThread(maxsize=CAP)
    seq = 0
    for _ in range(4 * CAP):
        lt.put(seq)
        seq += 1
    wait_consumed(lt, seq)
    lt.samples.clear()  # the consumer waits in q.get(): it does not touch the list now
    first = seq
    iterations = 0
    start = time.perf_counter()
    while iterations == 0 or time.perf_counter() - start < opts.benchmark_min_time:
        for _ in range(CHUNK):
            lt.put(seq)
            seq += 1
        iterations += 1
    wait_consumed(lt, seq)
    elapsed = time.perf_counter() - start
    lt.finish()
    if lt.bad or lt.consumed != seq:
        raise RuntimeError(f"items lost or out of order ({lt.bad} bad, {lt.consumed} of {seq})")
    n = seq - first
    return result(lt.samples, {"iterations": iterations, "real_time": elapsed / iterations * 1e6,
                               "time_unit": "us", "time_per_item": elapsed / n,
                               "items_per_second": n / elapsed})


def run_latency(opts, idle_us):
    lt = LoopThread()
    seq = 0
    for _ in range(2 if idle_us else 200):
        lt.ack.clear()
        lt.put(seq)
        seq += 1
        if not lt.ack.wait(STALL_S):
            raise RuntimeError("the consumer stalled")
    lt.samples.clear()
    start = time.perf_counter()
    while seq == 0 or len(lt.samples) == 0 or time.perf_counter() - start < opts.benchmark_min_time:
        if idle_us:
            time.sleep(idle_us * 1e-6)
        lt.ack.clear()
        lt.put(seq)
        seq += 1
        if not lt.ack.wait(STALL_S):
            raise RuntimeError("the consumer stalled")
    elapsed = time.perf_counter() - start
    lt.finish()
    if lt.bad:
        raise RuntimeError(f"items out of order ({lt.bad})")
    mean_s = sum(lt.samples) / len(lt.samples) * 1e-9
    return result(lt.samples, {"iterations": len(lt.samples),
                               "real_time": elapsed / len(lt.samples) * 1e6, "time_unit": "us",
                               "time_per_item": mean_s,
                               "items_per_second": 1.0 / mean_s if mean_s > 0 else 0.0})


def benchmarks(opts):
    """(family_index, run_name, function) for every benchmark of this suite."""
    return [
        (FAMILY_INDEX_BASE + 0, "channel/stream/asyncio", lambda: run_stream(opts)),
        (FAMILY_INDEX_BASE + 1, "channel/latency/asyncio/idle_us:0", lambda: run_latency(opts, 0)),
        (FAMILY_INDEX_BASE + 1, "channel/latency/asyncio/idle_us:1000", lambda: run_latency(opts, 1000)),
    ]


def main(argv):
    opts = parse_args(argv)
    return common.run_main("asyncio_channel_bench", opts, benchmarks, "default executor")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
