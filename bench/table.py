#!/usr/bin/python3
"""Comparison tables from Google Benchmark JSON files (bench/README.md, "Reading the table").

usage: bench/table.py [--out FILE] [--note TEXT]... PATH...

PATH is a JSON file written with --benchmark_out_format=json, or a folder of them. Names follow
"<family>/<workload>/<impl>/<arg>:<value>..." (Google Benchmark's own suffixes such as
/real_time are dropped). One table per family/workload; one row per argument set and
implementation, with medians over the repetitions found in the files:

  ns/item   median of the time_per_item counter (or 1e9 / items_per_second)
  items/s   median items_per_second
  x<impl>   throughput ratio to <impl> (median items/s divided by <impl>'s at the same
            arguments; > 1 is faster). The columns come from the JSON context key
            "handoff.compare:<family>/<workload>" = "baseline,reference,..." that the suite
            declares (bench_common.hpp, declare_comparison)
  hwm       high-water mark of items in flight, the maximum over repetitions
  min_share median of the least-served producer's share x P (1 = fair; near 0 = one producer
            hardly ran, so the run had effectively fewer producers)
  p50 us .. p999 us   latency percentiles (medians over repetitions), shown when a suite
            reports the counters p50, p90, p99, p999 (seconds; bench/latency_histogram.hpp)
  blocked   median share of operations in which the waiting thread slept (when reported)
  same_cpu  median share of operations answered on the waiting thread's CPU (when reported)
  spread    (max - min) / median of ns/item over the repetitions, in percent
  n         repetitions

Runs that failed their checks show as ERROR rows; the exit status is then 1. Standard library
only, so Debian's /usr/bin/python3 runs it as it is.
"""

import argparse
import json
import math
import os
import statistics
import sys

GB_SUFFIX_PREFIXES = ("real_time", "process_time", "manual_time", "min_time:",
                      "min_warmup_time:", "iterations:", "repeats:", "threads:")
TIME_UNIT_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}
# Optional per-run counters shown as columns when any run of a table has them:
# counter -> (header, scale, digits). Latency percentiles are reported in seconds.
OPTIONAL = {
    "p50": ("p50 us", 1e6, 2),
    "p90": ("p90 us", 1e6, 2),
    "p99": ("p99 us", 1e6, 2),
    "p999": ("p999 us", 1e6, 2),
    "blocked": ("blocked", 1.0, 2),
    "same_cpu": ("same_cpu", 1.0, 2),
}


def json_files(paths):
    for path in paths:
        if os.path.isdir(path):
            for name in sorted(os.listdir(path)):
                if name.endswith(".json"):
                    yield os.path.join(path, name)
        else:
            yield path


def split_name(run_name):
    """ "fam/work/impl/P:2/real_time" -> ("fam/work", "impl", (("P", "2"),)) """
    parts = [p for p in run_name.split("/") if not p.startswith(GB_SUFFIX_PREFIXES)]
    head = [p for p in parts if ":" not in p]
    args = tuple(tuple(p.split(":", 1)) for p in parts if ":" in p)
    if len(head) >= 3:
        return "/".join(head[:2]), "/".join(head[2:]), args
    if len(head) == 2:  # no workload level: "family/impl"
        return head[0], head[1], args
    return "(unnamed)", "/".join(head) or run_name, args


def ns_per_item(run):
    if "time_per_item" in run:
        return run["time_per_item"] * 1e9
    if run.get("items_per_second"):
        return 1e9 / run["items_per_second"]
    return None


def items_per_second(run):
    if run.get("items_per_second"):
        return run["items_per_second"]
    if "time_per_item" in run and run["time_per_item"] > 0:
        return 1.0 / run["time_per_item"]
    return None


class Cell:
    """All repetitions of one implementation at one argument set."""

    def __init__(self):
        self.runs = []
        self.aggregate_medians = []
        self.errors = []
        self.suites = set()  # file stems the runs came from (bench/report.py's noise marks)


def load(paths):
    contexts, compare = [], {}
    groups = {}  # family/workload -> {args -> {impl -> Cell}}
    order = {}   # impl -> first index seen, for a stable row order
    for path in json_files(paths):
        with open(path, encoding="utf-8") as f:
            try:
                doc = json.load(f)
            except ValueError:  # e.g. empty: a filter that matched none of a binary's benchmarks
                print(f"table.py: {path}: not JSON (empty?), skipped", file=sys.stderr)
                continue
        if not isinstance(doc, dict) or "benchmarks" not in doc:
            continue  # not Google Benchmark's output (e.g. the results folder's env.json)
        ctx = doc.get("context", {})
        ctx["_file"] = os.path.basename(path)
        contexts.append(ctx)
        for key, value in ctx.items():
            if key.startswith("handoff.compare:"):
                compare[key.split(":", 1)[1]] = [v for v in value.split(",") if v]
        for run in doc.get("benchmarks", []):
            fw, impl, args = split_name(run.get("run_name", run["name"]))
            # registration order (Google Benchmark's family_index), not the interleaved order
            rank = (run.get("family_index", 1 << 30), len(order))
            order[impl] = min(order.get(impl, rank), rank)
            cell = groups.setdefault(fw, {}).setdefault(args, {}).setdefault(impl, Cell())
            cell.suites.add(os.path.splitext(os.path.basename(path))[0])
            if run.get("error_occurred"):
                cell.errors.append(run.get("error_message", "error"))
            elif run.get("run_type") == "aggregate":
                if run.get("aggregate_name") == "median":
                    cell.aggregate_medians.append(run)
            else:
                cell.runs.append(run)
    return contexts, compare, groups, order


def summarize(cell):
    runs = cell.runs or cell.aggregate_medians  # files written with aggregates only
    ns = [v for v in (ns_per_item(r) for r in runs) if v is not None]
    ips = [v for v in (items_per_second(r) for r in runs) if v is not None]
    hwm = [r["hwm"] for r in runs if "hwm" in r]
    threads = [r["os_threads"] for r in runs if "os_threads" in r]
    share = [r["min_share"] for r in runs if "min_share" in r]
    extra = {k: [r[k] for r in runs if k in r] for k in OPTIONAL}
    s = {
        "ns": statistics.median(ns) if ns else None,
        "ips": statistics.median(ips) if ips else None,
        "hwm": max(hwm) if hwm else None,
        "threads": int(threads[0]) if threads else None,
        "share": statistics.median(share) if share else None,
        "n": len(cell.runs) if cell.runs else None,
        "spread": None,
    }
    for k, vs in extra.items():
        s[k] = statistics.median(vs) if vs else None
    if len(ns) >= 2 and s["ns"]:
        s["spread"] = 100.0 * (max(ns) - min(ns)) / s["ns"]
    return s


def si(v):
    if v is None:
        return ""
    for factor, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= factor:
            return f"{v / factor:.3g}{suffix}"
    return f"{v:.3g}"


def fixed(v, digits=1):
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"


def arg_key(args):
    def num(v):
        try:
            return (0, float(v), v)
        except ValueError:
            return (1, 0.0, v)
    return tuple((k, num(v)) for k, v in args)


def render(rows):
    """rows[0] is the header; plain text aligned in columns, also a Markdown table."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    right = [i for i in range(len(rows[0])) if rows[0][i] not in ("impl",)]

    def line(r):
        cells = [c.rjust(w) if i in right else c.ljust(w)
                 for i, (c, w) in enumerate(zip(r, widths))]
        return "| " + " | ".join(cells) + " |"

    sep = "|" + "|".join(("-" * (w + 1) + ":") if i in right else ("-" * (w + 2))
                         for i, w in enumerate(widths)) + "|"
    return [line(rows[0]), sep] + [line(r) for r in rows[1:]]


def table(fw, by_args, refs, order):
    out, errors = [], 0
    arg_names = []
    for args in by_args:
        for k, _ in args:
            if k not in arg_names:
                arg_names.append(k)
    have = {"hwm": False, "threads": False, "share": False}
    have.update({k: False for k in OPTIONAL})
    summaries = {}
    for args, cells in by_args.items():
        for impl, cell in cells.items():
            s = summaries[(args, impl)] = summarize(cell)
            have["hwm"] |= s["hwm"] is not None
            have["threads"] |= s["threads"] is not None
            have["share"] |= s["share"] is not None
            for k in OPTIONAL:
                have[k] |= s[k] is not None
    header = arg_names + ["impl"] + (["threads"] if have["threads"] else []) + \
        ["ns/item", "items/s"] + ["x" + r for r in refs] + \
        [OPTIONAL[k][0] for k in OPTIONAL if have[k]] + \
        (["hwm"] if have["hwm"] else []) + (["min_share"] if have["share"] else []) + \
        ["spread%", "n"]
    optional = [k for k in OPTIONAL if have[k]]
    rows = [header]
    notes = []
    for args in sorted(by_args, key=arg_key):
        cells = by_args[args]
        argd = dict(args)
        for impl in sorted(cells, key=lambda i: order[i]):
            cell, s = cells[impl], summaries[(args, impl)]
            row = [argd.get(k, "") for k in arg_names] + [impl]
            if have["threads"]:
                row.append(str(s["threads"]) if s["threads"] is not None else "")
            if cell.errors:
                errors += 1
                notes.append(f"ERROR {impl} {' '.join(':'.join(a) for a in args)}: "
                             f"{cell.errors[0]}")
                row += ["ERROR", ""] + [""] * len(refs) + [""] * len(optional) + \
                    ([""] if have["hwm"] else []) + \
                    ([""] if have["share"] else []) + ["", str(len(cell.errors))]
                rows.append(row)
                continue
            row += [fixed(s["ns"]), si(s["ips"])]
            for ref in refs:
                r = summaries.get((args, ref))
                ok = r and r["ips"] and s["ips"] and not cells[ref].errors
                row.append(f"{s['ips'] / r['ips']:.2f}" if ok else "")
            for k in optional:
                _, scale, digits = OPTIONAL[k]
                row.append("" if s[k] is None else fixed(s[k] * scale, digits))
            if have["hwm"]:
                row.append("" if s["hwm"] is None else str(int(s["hwm"])))
            if have["share"]:
                row.append(fixed(s["share"], 2))
            row += [fixed(s["spread"], 0), "" if s["n"] is None else str(s["n"])]
            rows.append(row)
    out.append(f"## {fw}")
    out.append("")
    out += render(rows)
    if notes:
        out.append("")
        out += notes
    return out, errors


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("paths", nargs="+", help="JSON files or folders of them")
    ap.add_argument("--out", help="also write the tables to this file (Markdown)")
    ap.add_argument("--note", action="append", default=[],
                    help="a line for the header (e.g. the machine's load)")
    opts = ap.parse_args(argv)

    contexts, compare, groups, order = load(opts.paths)
    if not groups:
        print("table.py: no benchmark runs in " + " ".join(opts.paths), file=sys.stderr)
        return 1
    lines = []
    c = contexts[0]
    lines.append(f"# handoff benchmarks — {c.get('date', '?')} on {c.get('host_name', '?')}")
    lines.append("")
    lines.append(f"- cpus: {c.get('num_cpus', '?')} at {c.get('mhz_per_cpu', '?')} MHz; "
                 f"load average at start of each binary: " +
                 "; ".join(f"{x['_file']}: " + ", ".join(f"{v:.2f}" for v in x.get("load_avg", []))
                           for x in contexts))
    if any(x.get("library_build_type") == "debug" for x in contexts):  # not only the first file's
        lines.append("- Google Benchmark library built without NDEBUG (Debian's package): "
                     "affects only its bookkeeping outside the timed loop")
    for note in opts.note:
        lines.append(f"- {note}")
    lines.append("- ns/item, items/s: medians over repetitions; xIMPL: throughput ratio "
                 "to IMPL (>1 = faster); hwm: max items in flight; min_share: least-served producer's share x P (1 = fair); "
                 "spread: (max-min)/median of ns/item")
    if any("p50" in x for fw in groups.values() for cells in fw.values()
           for cell in cells.values() for x in cell.runs):
        lines.append("- latency tables: ns/item = mean latency, items/s = 1/mean; p50 us .. p999 us: "
                     "percentiles from the suite's histogram (medians over repetitions); "
                     "blocked: share of operations in which the waiting thread slept; "
                     "same_cpu: share answered on the waiting thread's CPU")
    total_errors = 0
    for fw in sorted(groups):
        lines.append("")
        refs = [r for r in compare.get(fw, [])]
        t, errors = table(fw, groups[fw], refs, order)
        lines += t
        total_errors += errors
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    if opts.out:
        with open(opts.out, "w", encoding="utf-8") as f:
            f.write(text)
    if total_errors:
        print(f"table.py: {total_errors} failed run(s)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
