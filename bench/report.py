#!/usr/bin/python3
"""The benchmark report of one results folder (bench/README.md, "The report").

usage: bench/report.py RESULTS_DIR [--max-other F] [--max-steal F] [--no-plots] [--elapsed S]
       bench/report.py --env RESULTS_DIR [--build BUILD_DIR] [--setting KEY=VALUE]...
       bench/report.py --self-test DIR

RESULTS_DIR is what scripts/bench writes: Google Benchmark JSON per suite (<suite>.json),
suites.jsonl (per suite: wall time, its own CPU time, /proc/stat before and after) and
env.json. The report writes into the same folder:

  results.csv   the tidy CSV, one row per (suite, workload, implementation, args, metric,
                stat): columns suite, workload, implementation, threads, args, metric, stat
                (median | min | max over the repetitions), value, unit, n (repetitions),
                contaminated (1 if the suite's noise was above the thresholds)
  report.md     the machine and the build, the noise guard, the calibration, then one table
                per workload (implementations as rows; ratio to the mutex baseline and to the
                best peer; latency percentiles and their multiple of the matching calibration
                round trip) with its plots
  plots/*.png   throughput vs producer/thread count (or per implementation when a workload has
                no thread axis) and latency distributions (p50/p90/p99/p999) of the round
                trips; one colour per implementation in every plot

and prints a short summary (one line per workload) to the terminal.

Ratios (> 1 = this row is faster): throughput workloads divide median items/s; latency
workloads (round_trip, latency, ping-pong) divide median p50 the other way (reference p50 / this
row's p50). The baseline is the first implementation a suite declares (declare_comparison, in
the JSON context); the peers are the others it declares, except the raw ping-pong references
(those are the calibration); "best peer" is the fastest peer at the same arguments.
"x futex" = this row's p50 / calibration_bench's futex_pingpong p50 at the same idle_us and pin
(0 when the workload has no such argument).

Noise guard: for every suite, other processes' CPU time = the machine's busy time (/proc/stat
user + nice + system + irq + softirq) minus the suite's own (its process tree, from the shell's
`times`), and the hypervisor's steal (/proc/stat steal), both as a share of the machine's CPU
time while the suite ran (wall x cores). Above --max-other (default 0.10) or --max-steal
(default 0.05) the suite's rows are marked contaminated.

Standard library, plus Debian's python3-matplotlib for the plots (without it the report says
so and has no plots). Run with Debian's /usr/bin/python3.
"""

import argparse
import csv
import datetime
import json
import math
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.realpath(__file__))
sys.path.insert(0, HERE)
import table as T  # noqa: E402  (bench/table.py: loading, naming, medians)

PERCENTILES = ("p50", "p90", "p99", "p999")
LATENCY_WORKLOAD = re.compile(r"round_trip|latency|ping_pong")
THREAD_ARGS = ("P", "T", "threads", "W")  # a workload's thread-count axis, if it has one
CALIBRATION = "calibration"
MARK = "⚠"  # contaminated
PEER_PACKAGES = ("libbenchmark-dev", "libconcurrentqueue-dev", "libuv1-dev", "libboost-dev",
                 "libtbb-dev", "python3", "python3-matplotlib", "g++", "clang", "cmake")
# Counters whose unit we know (the rest are per-item shares or counts: unit "").
UNITS = {"items_per_second": "items/s", "ns_per_item": "ns", "p50": "us", "p90": "us",
         "p99": "us", "p999": "us", "max": "us", "hwm": "items", "os_threads": "threads",
         "samples": "samples"}
SKIP_FIELDS = {"name", "run_name", "run_type", "repetitions", "repetition_index", "threads",
               "iterations", "real_time", "cpu_time", "time_unit", "family_index",
               "per_family_instance_index", "aggregate_name", "aggregate_unit",
               "error_occurred", "error_message", "label", "time_per_item", "items_per_second"}
# Fixed colours for the implementations we know, so a colour means the same thing in every
# plot of every report; others get the remaining colours in order of appearance.
KNOWN_IMPLS = (
    "MpscQueue", "MutexQueue", "moodycamel", "moodycamel_tok",
    "WorkStealingDeque", "MutexDeque", "EventCount", "MutexEventCount",
    "CountedMutexEventCount", "MutexEventCount_naive", "atomic_wait", "binary_semaphore",
    "EventLoop", "EventLoop_MutexInbox", "libuv", "asio",
    "ThreadPoolExecutor", "MutexThreadPool", "tbb_task_group", "asio_thread_pool", "tbb_arena_enqueue",
    "handoff", "mutex_config", "handoff_futures", "mutex_config_futures", "asyncio",
    "Channel", "queue_run_in_executor",
    "futex_pingpong", "atomic_pingpong", "spin_pingpong", "getppid", "futex_wake", "steady_clock_now",
)


# ---- the environment (scripts/bench calls this first) --------------------------------------------

def read(path, default=""):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return default


def run(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=20).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def git_commit(root):
    """HEAD's commit, read from .git's files (no git process: nothing takes the index lock)."""
    gitdir = os.path.join(root, ".git")
    if os.path.isfile(gitdir):  # a worktree: "gitdir: PATH"
        line = read(gitdir).strip()
        if line.startswith("gitdir:"):
            gitdir = os.path.join(root, line.split(":", 1)[1].strip())
    head = read(os.path.join(gitdir, "HEAD")).strip()
    if not head:
        return "?"
    if not head.startswith("ref:"):
        return head
    ref = head.split(":", 1)[1].strip()
    common = read(os.path.join(gitdir, "commondir")).strip()
    dirs = [gitdir] + ([os.path.join(gitdir, common)] if common else [])
    for d in dirs:
        value = read(os.path.join(d, ref)).strip()
        if value:
            return f"{value} ({ref.rsplit('/', 1)[-1]})"
    for d in dirs:
        for line in read(os.path.join(d, "packed-refs")).splitlines():
            if line.endswith(" " + ref):
                return f"{line.split()[0]} ({ref.rsplit('/', 1)[-1]})"
    return f"? ({ref})"


def cpu_info():
    model, mhz, cores = "?", "?", set()
    phys, core = None, None
    for line in read("/proc/cpuinfo").splitlines():
        key, _, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if key == "model name" and model == "?":
            model = value
        elif key == "cpu MHz" and mhz == "?":
            mhz = value
        elif key == "physical id":
            phys = value
        elif key == "core id":
            core = value
            cores.add((phys, core))
    return model, mhz, len(cores) or None


def cmake_cache(build):
    values = {}
    for line in read(os.path.join(build, "CMakeCache.txt")).splitlines():
        m = re.match(r"^([A-Za-z_0-9]+):[A-Z]+=(.*)$", line)
        if m:
            values[m.group(1)] = m.group(2)
    return values


def write_env(out, build, settings):
    root = os.path.dirname(HERE)
    model, mhz, cores = cpu_info()
    u = platform.uname()
    cache = cmake_cache(build) if build else {}
    cxx = cache.get("CMAKE_CXX_COMPILER", "")
    btype = cache.get("CMAKE_BUILD_TYPE", "")
    flags_make = read(os.path.join(build or "", "bench", "CMakeFiles", "mpsc_queue_bench.dir", "flags.make"))
    m = re.search(r"^CXX_FLAGS = (.*)$", flags_make, re.M)
    peers = run(["dpkg-query", "-W", "-f", "${Package} ${Version}\\n", *PEER_PACKAGES])
    env = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "host": socket.gethostname(),
        "cpu_model": model,
        "cpu_mhz": mhz,
        "logical_cpus": os.cpu_count(),
        "physical_cores": cores,
        "cpus_allowed": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "hypervisor": (read("/sys/hypervisor/type").strip() or
                       ("yes (cpuinfo flag)" if " hypervisor" in read("/proc/cpuinfo") else "none seen")),
        "cpuidle_driver": read("/sys/devices/system/cpu/cpuidle/current_driver").strip() or "?",
        "kernel": f"{u.system} {u.release} {u.version} {u.machine}",
        "os": next((l.split("=", 1)[1].strip('"') for l in read("/etc/os-release").splitlines()
                    if l.startswith("PRETTY_NAME=")), "?"),
        "compiler": (run([cxx, "--version"]).splitlines() or ["?"])[0] if cxx else "?",
        "compiler_path": cxx or "?",
        "build_dir": build or "?",
        "build_type": btype or "?",
        "cxx_flags": m.group(1) if m else " ".join(
            x for x in (cache.get("CMAKE_CXX_FLAGS", ""), cache.get(f"CMAKE_CXX_FLAGS_{btype.upper()}", "")) if x) or "?",
        "commit": git_commit(root),
        "python": sys.version.split()[0] + f" ({sys.executable})",
        "packages": dict(line.split(" ", 1) for line in peers.splitlines() if " " in line),
        "load_average": list(os.getloadavg()),
        "settings": dict(settings),
    }
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "env.json"), "w", encoding="utf-8") as f:
        json.dump(env, f, indent=2)
        f.write("\n")
    with open(os.path.join(out, "env.txt"), "w", encoding="utf-8") as f:
        for k, v in env.items():
            if isinstance(v, dict):
                for kk, vv in v.items():
                    f.write(f"{k}.{kk}: {vv}\n")
            else:
                f.write(f"{k}: {v}\n")
    return env


# ---- loading ------------------------------------------------------------------------------------------

def load_noise(folder, ncpu_default):
    """suite -> dict with other/steal shares of the machine's CPU time while it ran."""
    noise = {}
    for line in read(os.path.join(folder, "suites.jsonl")).splitlines():
        try:
            s = json.loads(line)
        except ValueError:
            continue
        cap = s.get("wall_s", 0) * (s.get("ncpu") or ncpu_default or 1)
        s["other_share"] = s.get("other_cpu_s", 0) / cap if cap > 0 else None
        s["steal_share"] = s.get("steal_s", 0) / cap if cap > 0 else None
        noise[s["suite"]] = s
    return noise


def mark_noise(noise, max_other, max_steal):
    for s in noise.values():
        why = []
        if s["other_share"] is not None and s["other_share"] > max_other:
            why.append(f"other processes {100 * s['other_share']:.0f}% > {100 * max_other:.0f}%")
        if s["steal_share"] is not None and s["steal_share"] > max_steal:
            why.append(f"steal {100 * s['steal_share']:.1f}% > {100 * max_steal:.0f}%")
        s["contaminated"] = bool(why)
        s["why"] = "; ".join(why)


def counter_values(runs, key):
    if key == "ns_per_item":
        vs = [T.ns_per_item(r) for r in runs]
    elif key == "items_per_second":
        vs = [T.items_per_second(r) for r in runs]
    elif key in ("p50", "p90", "p99", "p999", "max"):
        vs = [r[key] * 1e6 for r in runs if isinstance(r.get(key), (int, float))]
    else:
        vs = [r[key] for r in runs if isinstance(r.get(key), (int, float))]
    return [v for v in vs if v is not None and not (isinstance(v, float) and math.isnan(v))]


class Row:
    """One implementation at one argument set: medians and spreads of its metrics."""

    def __init__(self, fw, impl, args, cell):
        self.fw, self.impl, self.args, self.cell = fw, impl, args, cell
        self.errors = cell.errors
        runs = cell.runs or cell.aggregate_medians
        self.n = len(cell.runs)
        keys = ["items_per_second", "ns_per_item", "p50", "p90", "p99", "p999", "max"]
        for r in runs:
            for k, v in r.items():
                if k not in SKIP_FIELDS and k not in keys and isinstance(v, (int, float)) \
                        and not isinstance(v, bool):
                    keys.append(k)
        self.stats = {}
        for k in keys:
            vs = counter_values(runs, k)
            if vs:
                self.stats[k] = {"median": statistics.median(vs), "min": min(vs), "max": max(vs)}
        self.suites = sorted(cell.suites)
        d = dict(args)
        threads = self.med("os_threads")
        if threads is None:
            for a in THREAD_ARGS:
                if a in d:
                    threads = float(d[a])
                    break
        self.threads = int(threads) if threads is not None else ""
        self.contaminated = False
        self.x = {}  # ratio name -> value

    def med(self, k):
        s = self.stats.get(k)
        return s["median"] if s else None

    def spread(self, k):
        s = self.stats.get(k)
        if not s or not s["median"] or self.n < 2:
            return None
        return 100.0 * (s["max"] - s["min"]) / s["median"]

    def args_str(self, sep="/"):
        return sep.join(f"{k}:{v}" for k, v in self.args)


def is_latency(fw, rows):
    return bool(LATENCY_WORKLOAD.search(fw.split("/", 1)[-1])) and any(r.med("p50") for r in rows)


def load_rows(folder):
    contexts, compare, groups, order = T.load([folder])
    rows = {}  # fw -> [Row]
    for fw, by_args in groups.items():
        # Registration order within this workload's own suite (family_index is per binary), the
        # Python peers' rows after the C++ ones.
        rank = {}
        for cells in by_args.values():
            for impl, cell in cells.items():
                fam = min((r.get("family_index", 1 << 30) for r in cell.runs), default=1 << 30)
                py = any(s.startswith("asyncio_") for s in cell.suites)
                rank[impl] = min(rank.get(impl, (2, 0, 0)), (int(py), fam, order[impl]))
        for args in sorted(by_args, key=T.arg_key):
            for impl in sorted(by_args[args], key=lambda i: rank[i]):
                rows.setdefault(fw, []).append(Row(fw, impl, args, by_args[args][impl]))
    return contexts, compare, rows, order


# ---- ratios and calibration multiples ---------------------------------------------------------------

def speed(row, latency):
    """Bigger = faster: items/s, or 1 / p50 for latency workloads."""
    if latency:
        p = row.med("p50")
        return 1.0 / p if p else None
    return row.med("items_per_second")


def add_ratios(fw, rows, compare, calibration):
    latency = is_latency(fw, rows)
    refs = compare.get(fw, [])
    baseline = refs[0] if refs else None
    peers = [r for r in refs[1:] if "pingpong" not in r]
    by_args = {}
    for r in rows:
        by_args.setdefault(r.args, {})[r.impl] = r
    for args, impls in by_args.items():
        base = impls.get(baseline)
        best = None
        for p in peers:
            pr = impls.get(p)
            if pr and not pr.errors and speed(pr, latency):
                if best is None or speed(pr, latency) > speed(best, latency):
                    best = pr
        for r in impls.values():
            s = speed(r, latency)
            if s and base and not base.errors and speed(base, latency):
                r.x["baseline"] = s / speed(base, latency)
            if s and best:
                r.x["best_peer"] = s / speed(best, latency)
                r.x["best_peer_name"] = best.impl
            if latency and r.med("p50"):
                d = dict(args)
                cal = calibration.get((d.get("idle_us", "0"), d.get("pin", "0")))
                if cal:
                    r.x["futex"] = r.med("p50") / cal
    return latency, baseline, peers


def calibration_floor(rows):
    """(idle_us, pin) -> futex_pingpong p50 (us) from calibration/round_trip."""
    cal = {}
    for r in rows.get(f"{CALIBRATION}/round_trip", []):
        if r.impl == "futex_pingpong" and r.med("p50") and not r.errors:
            d = dict(r.args)
            cal[(d.get("idle_us", "0"), d.get("pin", "0"))] = r.med("p50")
    return cal


# ---- formatting ---------------------------------------------------------------------------------------

def g(v, digits=3):
    if v is None or v == "":
        return ""
    if isinstance(v, float) and math.isnan(v):
        return ""
    a = abs(v)
    if a >= 1e9:
        return f"{v / 1e9:.{digits}g}G"
    if a >= 1e6:
        return f"{v / 1e6:.{digits}g}M"
    if a >= 1e4:
        return f"{v / 1e3:.{digits}g}k"
    if a >= 100:
        return f"{v:.0f}"
    return f"{v:.{digits}g}"


def ratio(v):
    return "" if v is None else f"{v:.2f}"


def md_table(header, body):
    right = [i for i, h in enumerate(header) if h not in ("impl", "implementation", "suite", "args",
                                                           "measurement", "key", "value", "noise",
                                                           "best peer", "status", "workload")]
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("--:" if i in right else "---" for i in range(len(header))) + "|"]
    for b in body:
        lines.append("| " + " | ".join(str(c) for c in b) + " |")
    return lines


def slug(text):
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_")


# ---- plots ----------------------------------------------------------------------------------------------

def colour_map(all_impls):
    import matplotlib
    # Distinct neighbours: the implementations of one workload sit next to each other in KNOWN_IMPLS.
    palette = list(matplotlib.colormaps["tab10"].colors) + list(matplotlib.colormaps["Dark2"].colors) + \
        list(matplotlib.colormaps["Set1"].colors) + list(matplotlib.colormaps["tab20b"].colors)
    colours = {}
    for i, name in enumerate(KNOWN_IMPLS):
        colours[name] = palette[i % len(palette)]
    extra = len(KNOWN_IMPLS)
    for name in all_impls:
        if name not in colours:
            colours[name] = palette[extra % len(palette)]
            extra += 1
    return colours


def spans_decades(values, factor=20.0):
    vs = [v for v in values if v and v > 0]
    return len(vs) >= 2 and max(vs) / min(vs) >= factor


def plot_all(folder, rows, latency_of, colours):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import ScalarFormatter

    plots_dir = os.path.join(folder, "plots")
    os.makedirs(plots_dir, exist_ok=True)
    made = {}  # fw -> [relative paths]

    def save(fig, fw, name):
        path = os.path.join(plots_dir, name)
        fig.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(fig)
        made.setdefault(fw, []).append(os.path.join("plots", name))

    for fw, rs in sorted(rows.items()):
        rs = [r for r in rs if not r.errors]
        if not rs:
            continue
        n = max((r.n for r in rs), default=0)
        if latency_of[fw]:
            # Latency distribution: one panel per argument set, percentiles on x, one line per impl.
            arg_sets = []
            for r in rs:
                if r.args not in arg_sets:
                    arg_sets.append(r.args)
            cols = min(3, len(arg_sets))
            nrows = math.ceil(len(arg_sets) / cols)
            fig, axes = plt.subplots(nrows, cols, figsize=(5.2 * cols, 3.9 * nrows), squeeze=False)
            impls_seen = []
            for k, args in enumerate(arg_sets):
                ax = axes[k // cols][k % cols]
                for r in (x for x in rs if x.args == args):
                    ys = [r.med(p) for p in PERCENTILES]
                    if any(y is None for y in ys):
                        continue
                    ax.plot(range(len(PERCENTILES)), ys, marker="o", color=colours[r.impl], label=r.impl)
                    if r.impl not in impls_seen:
                        impls_seen.append(r.impl)
                ax.set_yscale("log")
                ax.set_xticks(range(len(PERCENTILES)), PERCENTILES)
                ax.set_title(" ".join(f"{a}={v}" for a, v in args) or "(no arguments)", fontsize=10)
                ax.set_xlabel("percentile")
                ax.set_ylabel("latency (µs, log scale)")
                ax.grid(True, which="both", alpha=0.3)
            for k in range(len(arg_sets), nrows * cols):
                axes[k // cols][k % cols].axis("off")
            handles = [plt.Line2D([], [], color=colours[i], marker="o", label=i) for i in impls_seen]
            fig.legend(handles=handles, loc="lower center", ncol=min(4, len(handles)),
                       bbox_to_anchor=(0.5, -0.02 - 0.03 * math.ceil(len(handles) / 4)))
            fig.suptitle(f"{fw}: latency percentiles (medians over {n} repetitions)")
            fig.tight_layout()
            save(fig, fw, f"{slug(fw)}_latency.png")
            continue
        if fw.startswith(CALIBRATION + "/"):  # syscall costs: a bar per call
            pass
        # Throughput: against the thread axis when the workload has one, else one bar per row.
        arg_names = []
        for r in rs:
            for a, _ in r.args:
                if a not in arg_names:
                    arg_names.append(a)
        axis = next((a for a in THREAD_ARGS if a in arg_names), None)
        values = [r.med("items_per_second") for r in rs]
        log = spans_decades(values)
        if axis and len({dict(r.args)[axis] for r in rs if axis in dict(r.args)}) >= 2:
            fig, ax = plt.subplots(figsize=(7, 4.5))
            series = {}
            for r in rs:
                d = dict(r.args)
                if axis not in d:
                    continue
                rest = " ".join(f"{a}={v}" for a, v in r.args if a != axis)
                series.setdefault((r.impl, rest), []).append((float(d[axis]), r))
            xs_all = set()
            for (impl, rest), pts in series.items():
                pts.sort(key=lambda p: p[0])
                xs = [p[0] for p in pts]
                xs_all.update(xs)
                ys = [p[1].med("items_per_second") for p in pts]
                lo = [y - p[1].stats["items_per_second"]["min"] for y, p in zip(ys, pts)]
                hi = [p[1].stats["items_per_second"]["max"] - y for y, p in zip(ys, pts)]
                ax.errorbar(xs, ys, yerr=[lo, hi], marker="o", capsize=3, color=colours[impl],
                            label=impl + (f" ({rest})" if rest else ""),
                            linestyle="-" if not rest else "--")
            ax.set_xscale("log", base=2)
            ax.set_xticks(sorted(xs_all), [f"{x:g}" for x in sorted(xs_all)])
            ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
            label = {"P": "producer threads (P)", "T": "thief threads (T)", "W": "worker threads (W)"}
            ax.set_xlabel(label.get(axis, axis))
            ax.set_ylabel("items per second" + (" (log scale)" if log else ""))
            if log:
                ax.set_yscale("log")
            else:
                ax.set_ylim(bottom=0)
                ax.yaxis.set_major_formatter(ScalarFormatter(useMathText=True))
            ax.set_title(f"{fw}: throughput (median; bars: min–max of {n} repetitions)", fontsize=10)
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=8)
            fig.tight_layout()
            save(fig, fw, f"{slug(fw)}_throughput.png")
        else:
            labels = [r.impl + (" " + " ".join(f"{a}={v}" for a, v in r.args) if r.args else "") for r in rs]
            fig, ax = plt.subplots(figsize=(7, 0.45 * len(rs) + 1.4))
            ys = list(range(len(rs)))[::-1]
            meds = [r.med("items_per_second") or 0 for r in rs]
            lo = [m - (r.stats["items_per_second"]["min"] if "items_per_second" in r.stats else m) for m, r in zip(meds, rs)]
            hi = [(r.stats["items_per_second"]["max"] if "items_per_second" in r.stats else m) - m for m, r in zip(meds, rs)]
            ax.barh(ys, meds, xerr=[lo, hi], color=[colours[r.impl] for r in rs], capsize=3)
            ax.set_yticks(ys, labels, fontsize=8)
            if log:
                ax.set_xscale("log")
            what = "calls per second" if fw.startswith(CALIBRATION + "/") else "items per second"
            ax.set_xlabel(what + (" (log scale)" if log else "") + f"; median, bars: min–max of {n} repetitions")
            ax.set_title(f"{fw}: throughput", fontsize=10)
            ax.grid(True, axis="x", which="both", alpha=0.3)
            fig.tight_layout()
            save(fig, fw, f"{slug(fw)}_throughput.png")
    return made


# ---- the report ------------------------------------------------------------------------------------------

def build_report(folder, max_other, max_steal, plots=True, elapsed=None, quiet=False):
    env = {}
    try:
        with open(os.path.join(folder, "env.json"), encoding="utf-8") as f:
            env = json.load(f)
    except (OSError, ValueError):
        pass
    contexts, compare, rows, order = load_rows(folder)
    if not rows:
        print(f"report.py: no benchmark runs in {folder}", file=sys.stderr)
        return 1
    noise = load_noise(folder, env.get("logical_cpus") or os.cpu_count())
    mark_noise(noise, max_other, max_steal)
    calibration = calibration_floor(rows)
    latency_of, bases = {}, {}
    for fw, rs in rows.items():
        for r in rs:
            r.contaminated = any(noise.get(s, {}).get("contaminated") for s in r.suites)
        latency, baseline, peers = add_ratios(fw, rs, compare, calibration)
        latency_of[fw] = latency
        bases[fw] = (baseline, peers)

    # The tidy CSV.
    with open(os.path.join(folder, "results.csv"), "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["suite", "workload", "implementation", "threads", "args", "metric", "stat",
                    "value", "unit", "n", "contaminated"])
        for fw in sorted(rows):
            for r in rows[fw]:
                suite = "+".join(r.suites)
                base = [suite, fw, r.impl, r.threads, r.args_str()]
                if r.errors:
                    w.writerow(base + ["error", "count", len(r.errors), "", r.n, int(r.contaminated)])
                    continue
                for k, s in r.stats.items():
                    for stat in ("median", "min", "max"):
                        w.writerow(base + [k, stat, f"{s[stat]:.6g}", UNITS.get(k, ""), r.n, int(r.contaminated)])
                for k in ("baseline", "best_peer", "futex"):
                    if k in r.x:
                        w.writerow(base + [f"x_{k}", "median", f"{r.x[k]:.4g}", "ratio", r.n, int(r.contaminated)])

    made = {}
    plot_note = ""
    if plots:
        try:
            import matplotlib  # noqa: F401
            all_impls = [i for i, _ in sorted(order.items(), key=lambda kv: kv[1])]
            made = plot_all(folder, rows, latency_of, colour_map(all_impls))
        except ImportError:
            plot_note = "No plots: matplotlib is not installed (Debian: python3-matplotlib; run with /usr/bin/python3)."
    else:
        plot_note = "Plots were not requested (--no-plots)."

    L = []
    settings = env.get("settings", {})
    date = env.get("date") or (contexts[0].get("date", "?") if contexts else "?")
    L.append(f"# handoff benchmark report — {date}")
    L.append("")
    L.append(f"Mode **{settings.get('mode', '?')}**: {settings.get('repetitions', '?')} repetitions × "
             f"min {settings.get('min_time_s', '?')} s per benchmark, randomly interleaved within each suite"
             + (f"; filter `{settings['filter']}`" if settings.get("filter") else "")
             + (f"; {elapsed // 60} min {elapsed % 60} s in all" if elapsed is not None else "") + ".")
    L.append("Values are medians over the repetitions; spread = (max − min) / median. "
             "Ratios > 1 mean faster than the reference (throughput: items/s; latency workloads: p50). "
             f"{MARK} = the suite ran while other processes or the hypervisor took more than the "
             "noise guard allows (below): read those rows with care.")
    L.append("")
    L.append("Files: `results.csv` (tidy: every metric's median/min/max), `table.md` (bench/table.py's table), "
             "`<suite>.json` (Google Benchmark's raw JSON, every repetition), `<suite>.log`, `env.json`, `suites.jsonl`.")
    L.append("")

    L.append("## Machine and build")
    L.append("")
    keys = [("cpu_model", "CPU"), ("cpu_mhz", "MHz"), ("logical_cpus", "logical CPUs"),
            ("physical_cores", "physical cores"), ("cpus_allowed", "CPUs allowed"), ("hypervisor", "hypervisor"),
            ("cpuidle_driver", "cpuidle driver"), ("kernel", "kernel"), ("os", "OS"), ("compiler", "compiler"),
            ("build_type", "build type"), ("cxx_flags", "C++ flags (bench targets)"), ("commit", "library commit"),
            ("python", "Python"), ("host", "host"), ("date", "date (UTC)")]
    body = [[label, str(env[k])] for k, label in keys if k in env]
    for pkg, ver in env.get("packages", {}).items():
        body.append([f"package {pkg}", ver])
    if settings:
        for k, v in settings.items():
            if v not in ("", None):
                body.append([f"setting {k}", str(v).strip().rstrip(";")])
    if not body:
        body = [["(no env.json)", ""]]
    L += md_table(["key", "value"], body)
    L.append("")

    L.append("## Noise guard")
    L.append("")
    if noise:
        L.append(f"Per suite, the CPU time other processes used while it ran and the time the hypervisor "
                 f"stole (/proc/stat), as shares of the machine's CPU time (wall × cores). Thresholds: "
                 f"other processes {100 * max_other:.0f}%, steal {100 * max_steal:.0f}%.")
        L.append("")
        body = []
        for name, s in noise.items():
            body.append([name, f"{s.get('wall_s', 0):.0f}", f"{s.get('own_cpu_s', 0):.1f}",
                         f"{100 * s['other_share']:.1f}" if s["other_share"] is not None else "",
                         f"{100 * s['steal_share']:.2f}" if s["steal_share"] is not None else "",
                         f"{s.get('load1_before', '')} → {s.get('load1_after', '')}",
                         (f"{MARK} contaminated: " + s["why"]) if s["contaminated"] else
                         ("failed (exit %s)" % s.get("exit_status") if s.get("exit_status") else "ok")])
        L += md_table(["suite", "wall s", "own CPU s", "other processes %", "steal %", "load (1 min)", "status"], body)
    else:
        L.append("No suites.jsonl in this folder: the noise of this run was not recorded.")
    L.append("")

    # Calibration first: the floor the handoffs are read against.
    L.append("## Calibration")
    L.append("")
    cal_fws = sorted(fw for fw in rows if fw.startswith(CALIBRATION + "/"))
    if not cal_fws:
        L.append("calibration_bench was not part of this run: no calibration figures, no multiples.")
        L.append("")
    for fw in cal_fws:
        rs = rows[fw]
        if latency_of[fw]:
            L.append(f"`{fw}` — a round trip between two threads (µs; `pin`: 0 = unpinned, 1 = one CPU, "
                     "2 = two CPUs; `idle_us`: sleep before each trip, outside the sample):")
            L.append("")
            body = [[r.impl, r.args_str(" "), g(r.med("p50")), g(r.med("p90")), g(r.med("p99")),
                     g(r.med("p999")), g(r.med("ns_per_item") and r.med("ns_per_item") / 1e3),
                     g(r.med("same_cpu"), 2), g(r.spread("p50"), 2), r.n,
                     MARK if r.contaminated else ""] if not r.errors else
                    [r.impl, r.args_str(" "), "ERROR"] + [""] * 7 + [""] for r in rs]
            L += md_table(["implementation", "args", "p50 µs", "p90 µs", "p99 µs", "p999 µs", "mean µs",
                           "same_cpu", "p50 spread %", "n", "noise"], body)
        else:
            L.append(f"`{fw}` — one call per iteration, back to back:")
            L.append("")
            body = [[r.impl, g(r.med("ns_per_item")), g(r.spread("ns_per_item"), 2), r.n,
                     MARK if r.contaminated else ""] for r in rs if not r.errors]
            L += md_table(["implementation", "ns per call", "spread %", "n", "noise"], body)
        L.append("")
        for p in made.get(fw, []):
            L.append(f"![{fw}]({p})")
            L.append("")

    # One table per workload.
    summary = []
    for fw in sorted(rows):
        if fw.startswith(CALIBRATION + "/"):
            continue
        rs = rows[fw]
        latency = latency_of[fw]
        baseline, peers = bases[fw]
        refs = set(compare.get(fw, []))
        subject = next((r.impl for r in sorted(rs, key=lambda r: order.get(r.impl, (0, 0)))
                        if r.impl not in refs and "pingpong" not in r.impl), rs[0].impl if rs else "")
        L.append(f"## {fw}")
        L.append("")
        desc = (f"Latency workload: ratios are p50 ratios; × futex = p50 ÷ calibration futex_pingpong p50 "
                f"at the same idle_us/pin." if latency else "Throughput workload: ratios are items/s ratios.")
        L.append(f"{desc} Baseline: `{baseline or '—'}`; peers: "
                 f"{', '.join('`' + p + '`' for p in peers) or '—'}. Suite(s): "
                 f"{', '.join(sorted({s for r in rs for s in r.suites}))}.")
        L.append("")
        arg_names = []
        for r in rs:
            for a, _ in r.args:
                if a not in arg_names:
                    arg_names.append(a)
        header = arg_names + ["implementation", "threads"]
        if latency:
            header += ["p50 µs", "p90 µs", "p99 µs", "p999 µs", "p50 spread %"]
        else:
            header += ["items/s", "ns/item", "spread %"]
            if any(r.med("p50") for r in rs):
                header += ["p50 µs", "p99 µs"]
        header += ["× baseline", "× best peer", "best peer"]
        if latency:
            header += ["× futex"]
        header += ["n", "noise"]
        body = []
        for r in rs:
            d = dict(r.args)
            row = [d.get(a, "") for a in arg_names] + [f"**{r.impl}**" if r.impl == subject else r.impl, r.threads]
            if r.errors:
                body.append(row + ["ERROR: " + r.errors[0][:60]] + [""] * (len(header) - len(row) - 1))
                continue
            if latency:
                row += [g(r.med(p)) for p in PERCENTILES] + [g(r.spread("p50"), 2)]
            else:
                row += [g(r.med("items_per_second")), g(r.med("ns_per_item")), g(r.spread("ns_per_item"), 2)]
                if "p50 µs" in header:
                    row += [g(r.med("p50")), g(r.med("p99"))]
            row += [ratio(r.x.get("baseline")), ratio(r.x.get("best_peer")), r.x.get("best_peer_name", "")]
            if latency:
                row += [ratio(r.x.get("futex"))]
            row += [r.n, MARK if r.contaminated else ""]
            body.append(row)
        L += md_table(header, body)
        L.append("")
        for p in made.get(fw, []):
            L.append(f"![{fw}]({p})")
            L.append("")
        # The terminal summary: the subject's ratios over the argument sets.
        xs_b = [r.x["baseline"] for r in rs if r.impl == subject and "baseline" in r.x]
        xs_p = [r.x["best_peer"] for r in rs if r.impl == subject and "best_peer" in r.x]
        xs_f = [r.x["futex"] for r in rs if r.impl == subject and "futex" in r.x]
        summary.append((fw, subject, len([r for r in rs if r.impl == subject]), xs_b, baseline, xs_p, xs_f,
                        any(r.contaminated for r in rs)))

    if plot_note:
        L.append(plot_note)
        L.append("")
    else:
        L.append("## Plots")
        L.append("")
        for fw in sorted(made):
            for p in made[fw]:
                L.append(f"- [{p}]({p})")
        L.append("")

    with open(os.path.join(folder, "report.md"), "w", encoding="utf-8") as f:
        f.write("\n".join(L) + "\n")

    if not quiet:
        def rng(xs):
            if not xs:
                return "—"
            lo, hi = min(xs), max(xs)
            return f"{lo:.2f}" if abs(hi - lo) < 0.005 else f"{lo:.2f}–{hi:.2f}"
        if summary:
            print("Summary (the first implementation of each workload; ranges over its argument sets; > 1 = faster):")
        rows_out = [["workload", "implementation", "sets", "× baseline", "× best peer", "× futex", "noise"]]
        for fw, subject, k, xb, base, xp, xf, cont in summary:
            rows_out.append([fw, subject, str(k), rng(xb) + (f" ({base})" if base else ""), rng(xp),
                             rng(xf) if xf else "", MARK if cont else ""])
        widths = [max(len(r[i]) for r in rows_out) for i in range(len(rows_out[0]))]
        for r in rows_out if summary else []:
            print("  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
        if calibration:
            c = calibration
            print("Calibration (futex ping-pong p50, µs): " +
                  ", ".join(f"idle_us={i} pin={p}: {g(v)}" for (i, p), v in sorted(c.items())))
        bad = [f"{n} ({s['why']})" for n, s in noise.items() if s["contaminated"]]
        if bad:
            print(f"{MARK} contaminated suites: " + "; ".join(bad))
        print(f"{sum(len(v) for v in made.values())} plots; {plot_note or 'plots in ' + os.path.join(folder, 'plots')}")
    return 0


# ---- self-test: a tiny synthetic results folder through the whole pipeline ------------------------------

def synthetic(folder):
    import random
    rnd = random.Random(6)
    os.makedirs(folder, exist_ok=True)

    def runs(name, reps, ips=None, p50=None, extra=None):
        out = []
        for rep in range(reps):
            r = {"name": name + "/real_time", "run_name": name + "/real_time", "run_type": "iteration",
                 "repetitions": reps, "repetition_index": rep, "family_index": 0, "threads": 1,
                 "iterations": 100, "real_time": 1.0, "cpu_time": 1.0, "time_unit": "ns"}
            f = 1 + rnd.uniform(-0.05, 0.05)
            if p50 is not None:
                mean = p50 * 1.2 * f
                r.update({"p50": p50 * f * 1e-6, "p90": p50 * 2 * f * 1e-6, "p99": p50 * 5 * f * 1e-6,
                          "p999": p50 * 20 * f * 1e-6, "max": p50 * 50 * 1e-6, "same_cpu": 0.5,
                          "time_per_item": mean * 1e-6, "items_per_second": 1 / (mean * 1e-6)})
            else:
                r.update({"items_per_second": ips * f, "time_per_item": 1 / (ips * f)})
            r.update(extra or {})
            out.append(r)
        return out

    suites = {
        "calibration_bench": ({"handoff.compare:calibration/round_trip": "futex_pingpong"},
                              [r for i in (0, 1000) for p in (0, 2) for r in
                               runs(f"calibration/round_trip/futex_pingpong/idle_us:{i}/pin:{p}", 3, p50=10 + i / 100)] +
                              runs("calibration/syscall/getppid", 3, ips=1e7)),
        "mpsc_queue_bench": ({"handoff.compare:mpsc_queue/push_pop": "MutexQueue,moodycamel_tok"},
                             [r for n, base in (("MpscQueue", 8e7), ("MutexQueue", 1e7), ("moodycamel_tok", 5e7))
                              for p in (1, 2, 4) for r in runs(f"mpsc_queue/push_pop/{n}/P:{p}", 3, ips=base / p,
                                                                extra={"os_threads": p + 1, "hwm": 4096})]),
        "loop_bench": ({"handoff.compare:loop/round_trip": "EventLoop_MutexInbox,futex_pingpong,libuv"},
                       [r for n, base in (("EventLoop", 5), ("EventLoop_MutexInbox", 8), ("libuv", 9), ("futex_pingpong", 10))
                        for i in (0, 1000) for p in (0, 2) for r in
                        runs(f"loop/round_trip/{n}/idle_us:{i}/pin:{p}", 3, p50=base + i / 100, extra={"os_threads": 2})]),
    }
    for i, (name, (ctx, bench_runs)) in enumerate(suites.items()):
        context = {"date": "2026-01-01T00:00:00+00:00", "host_name": "synthetic", "num_cpus": 2,
                   "mhz_per_cpu": 1000, "load_avg": [0.1, 0.1, 0.1], "library_build_type": "release"}
        context.update(ctx)
        with open(os.path.join(folder, name + ".json"), "w", encoding="utf-8") as f:
            json.dump({"context": context, "benchmarks": bench_runs}, f)
        with open(os.path.join(folder, "suites.jsonl"), "a", encoding="utf-8") as f:
            other = 0.5 if name == "loop_bench" else 0.0  # one contaminated suite
            f.write(json.dumps({"suite": name, "file": name + ".json", "exit_status": 0, "wall_s": 10.0,
                                "own_cpu_s": 15.0, "other_cpu_s": 20.0 * other, "steal_s": 0.0, "ncpu": 2,
                                "load1_before": 0.1, "load1_after": 1.5}) + "\n")
    write_env(folder, "", [("mode", "self-test"), ("repetitions", "3"), ("min_time_s", "0")])


def self_test(folder):
    if os.path.isdir(folder):
        shutil.rmtree(folder)
    a, b = os.path.join(folder, "a"), os.path.join(folder, "b")
    synthetic(a)
    if build_report(a, 0.10, 0.05) != 0:
        return 1
    problems = []
    with open(os.path.join(a, "results.csv"), encoding="utf-8") as f:
        csv_rows = list(csv.DictReader(f))
    if not any(r["workload"] == "mpsc_queue/push_pop" and r["metric"] == "x_baseline" for r in csv_rows):
        problems.append("results.csv has no x_baseline for mpsc_queue/push_pop")
    if not any(r["metric"] == "x_futex" for r in csv_rows):
        problems.append("results.csv has no x_futex (calibration multiple)")
    if not any(r["contaminated"] == "1" for r in csv_rows):
        problems.append("no row marked contaminated")
    text = read(os.path.join(a, "report.md"))
    for needle in ("## Calibration", "## Noise guard", "## mpsc_queue/push_pop", "## loop/round_trip",
                   "× best peer", MARK):
        if needle not in text:
            problems.append(f"report.md lacks {needle!r}")
    try:
        import matplotlib  # noqa: F401
        pngs = sorted(os.listdir(os.path.join(a, "plots")))
        for want in ("mpsc_queue_push_pop_throughput.png", "loop_round_trip_latency.png",
                     "calibration_round_trip_latency.png"):
            if want not in pngs:
                problems.append(f"plot {want} missing (have {pngs})")
    except ImportError:
        print("report.py --self-test: matplotlib missing, plots not checked", file=sys.stderr)
    # bench/compare: the folder against itself (nothing to flag), then against a copy 40 % slower.
    compare = os.path.join(HERE, "compare")
    same = subprocess.run([sys.executable, compare, a, a], capture_output=True, text=True)
    if same.returncode != 0:
        problems.append(f"compare A A: exit {same.returncode}: {same.stdout[-500:]}{same.stderr[-500:]}")
    shutil.copytree(a, b)
    path = os.path.join(b, "mpsc_queue_bench.json")
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    for r in doc["benchmarks"]:
        if "/MpscQueue/" in r["name"]:
            r["items_per_second"] *= 0.6
            r["time_per_item"] /= 0.6
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f)
    worse = subprocess.run([sys.executable, compare, a, b], capture_output=True, text=True)
    if worse.returncode != 1 or "REGRESSION" not in worse.stdout:
        problems.append(f"compare A B did not flag the 40 % regression: exit {worse.returncode}: {worse.stdout[-800:]}")
    for p in problems:
        print("report.py --self-test: " + p, file=sys.stderr)
    if not problems:
        print(f"report.py --self-test: ok ({folder})")
    return 1 if problems else 0


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder", nargs="?", help="a results folder (scripts/bench's output)")
    ap.add_argument("--env", action="store_true", help="record the machine and the build into FOLDER/env.json")
    ap.add_argument("--build", default="", help="with --env: the build folder (CMakeCache.txt)")
    ap.add_argument("--setting", action="append", default=[], help="with --env: KEY=VALUE, the run's settings")
    ap.add_argument("--self-test", metavar="DIR", help="run the pipeline on a synthetic folder in DIR")
    ap.add_argument("--max-other", type=float, default=0.10,
                    help="other processes' share of the machine's CPU time above which a suite is contaminated")
    ap.add_argument("--max-steal", type=float, default=0.05,
                    help="the hypervisor's steal share above which a suite is contaminated")
    ap.add_argument("--no-plots", action="store_true")
    ap.add_argument("--elapsed", type=int, help="the run's duration in seconds (for the header)")
    opts = ap.parse_args(argv)
    if opts.self_test:
        return self_test(opts.self_test)
    if not opts.folder:
        ap.error("a results folder is required")
    if opts.env:
        write_env(opts.folder, opts.build, [s.split("=", 1) if "=" in s else (s, "") for s in opts.setting])
        return 0
    return build_report(opts.folder, opts.max_other, opts.max_steal, plots=not opts.no_plots,
                        elapsed=opts.elapsed)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
