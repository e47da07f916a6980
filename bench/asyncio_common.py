"""What the asyncio reference benchmarks share (bench/asyncio_*_bench.py): Google Benchmark's
command line, exact percentiles, the machine's context, and the run loop that writes Google
Benchmark's JSON, so bench/table.py reads them with the C++ suites' files. Standard library only.
"""

import argparse
import datetime
import json
import math
import os
import random
import re
import socket
import sys


def parse_args(argv, description, extra=None):
    """Google Benchmark's flags (others --benchmark_* accepted and ignored), plus extra(ap)'s."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--benchmark_repetitions", type=int, default=1)
    ap.add_argument("--benchmark_min_time", default="0.5")
    ap.add_argument("--benchmark_filter", default="")
    ap.add_argument("--benchmark_out", default="")
    ap.add_argument("--benchmark_enable_random_interleaving", default="false")
    if extra is not None:
        extra(ap)
    opts, rest = ap.parse_known_args(argv)
    unknown = [a for a in rest if not a.startswith("--benchmark_")]
    if unknown:
        ap.error("unrecognized arguments: " + " ".join(unknown))
    mt = opts.benchmark_min_time
    # Google Benchmark also takes "0.5s" and an iteration count "100x" (here: one iteration).
    opts.benchmark_min_time = 0.0 if mt.endswith("x") else float(mt.rstrip("s"))
    return opts


def percentile(sorted_ns, q):
    """The ceil(q*n)-th smallest sample (exact)."""
    rank = max(1, math.ceil(q * len(sorted_ns)))
    return sorted_ns[rank - 1]


def latency_record(samples_ns, elapsed_s):
    """A latency run's Google Benchmark record: one iteration per sample, the mean as
    time_per_item, exact percentiles p50..p999 and max (seconds), samples."""
    s = sorted(samples_ns)
    mean_s = sum(s) / len(s) * 1e-9
    return {
        "iterations": len(s),
        "real_time": elapsed_s / len(s) * 1e6,
        "time_unit": "us",
        "time_per_item": mean_s,
        "items_per_second": 1.0 / mean_s if mean_s > 0 else 0.0,
        "p50": percentile(s, 0.50) * 1e-9,
        "p90": percentile(s, 0.90) * 1e-9,
        "p99": percentile(s, 0.99) * 1e-9,
        "p999": percentile(s, 0.999) * 1e-9,
        "max": s[-1] * 1e-9,
        "samples": len(s),
    }


def cpu_mhz():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("cpu MHz"):
                    return int(float(line.split(":")[1]))
    except OSError:
        pass
    return 0


def context():
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).astimezone().isoformat(timespec="seconds"),
        "host_name": socket.gethostname(),
        "executable": os.path.abspath(__file__),
        "num_cpus": os.cpu_count(),
        "mhz_per_cpu": cpu_mhz(),
        "load_avg": list(os.getloadavg()),
        "python": sys.version.split()[0],
        "library_build_type": "release",
    }


def fmt_time(seconds):
    for scale, unit in ((1e-9, "ns"), (1e-6, "us"), (1e-3, "ms")):
        if seconds < scale * 1000:
            return f"{seconds / scale:.3g}{unit}"
    return f"{seconds:.3g}s"


def run_main(name, opts, benchmarks, banner):
    """Run every chosen benchmark (repetitions, optionally interleaved); JSON to --benchmark_out."""
    pattern = re.compile(opts.benchmark_filter) if opts.benchmark_filter else None
    chosen = [b for b in benchmarks(opts) if pattern is None or pattern.search(b[1])]
    runs = [(b, r) for b in chosen for r in range(opts.benchmark_repetitions)]
    if opts.benchmark_enable_random_interleaving.lower() in ("true", "1", "yes"):
        random.shuffle(runs)
    ctx = context()
    print(f"{name}: Python {ctx['python']}, {banner}, "
          f"{opts.benchmark_repetitions} x {opts.benchmark_min_time} s, load average "
          + ", ".join(f"{v:.2f}" for v in ctx["load_avg"]), flush=True)
    records = []
    failed = 0
    for (family_index, run_name, fn), rep in runs:
        try:
            r = fn()
        except Exception as e:  # a failed run is reported, never timed
            failed += 1
            print(f"{run_name} (repetition {rep}): ERROR {e!r}", file=sys.stderr, flush=True)
            records.append({"name": run_name, "run_name": run_name, "run_type": "iteration",
                            "family_index": family_index, "repetitions": opts.benchmark_repetitions,
                            "repetition_index": rep, "error_occurred": True,
                            "error_message": repr(e)})
            continue
        rec = {"name": run_name + "/real_time", "run_name": run_name + "/real_time",
               "run_type": "iteration", "family_index": family_index,
               "repetitions": opts.benchmark_repetitions, "repetition_index": rep,
               "threads": 1, "cpu_time": r["real_time"]}
        rec.update(r)
        records.append(rec)
        extra = "".join(f" {k}={fmt_time(r[k])}" for k in ("p50", "p99", "p999") if k in r)
        print(f"{run_name:<48} {r['iterations']:>8} it  {fmt_time(r['time_per_item'])}/item{extra}",
              flush=True)
    if opts.benchmark_out:
        with open(opts.benchmark_out, "w", encoding="utf-8") as f:
            json.dump({"context": ctx, "benchmarks": records}, f, indent=2)
            f.write("\n")
    return 1 if failed else 0
