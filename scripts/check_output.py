#!/usr/bin/python3
"""Run a program and check its output against a pattern file of guaranteed orderings.

usage: scripts/check_output.py EXPECTED.txt [--timeout S] -- PROGRAM [ARGS...]

The examples' tests (examples/<name>.cmake -> cmake/CheckOutput.cmake) run through this: the
program must exit 0 and its output (stdout and stderr, merged) must satisfy EXPECTED.txt.
Standard library only (Debian's /usr/bin/python3).

EXPECTED.txt holds what the semantics guarantee about the output, never timings. One item a
line; blank lines and lines starting with '#' are ignored. Every REGEX must match a whole
output line (re.fullmatch).

  REGEX                an ordered chain: each line of the current chain must match an output
                       line that comes after the one its predecessor matched (other lines may
                       come in between)
  @chain               start a new, independent chain (a partial order is a set of chains)
  @count N REGEX       exactly N output lines match REGEX
  @order A >>> B       every line matching A comes before every line matching B (and each
                       matches at least one line): e.g. all jobs started before any ended
  @strict              every output line must match some REGEX of this file (no stray
                       output: an error message, a line nobody expected)

Exit status 0 when everything holds; otherwise 1, with the output and every failed check.
"""

import re
import subprocess
import sys


def parse(path):
    chains, counts, orders, strict = [[]], [], [], False
    with open(path, encoding="utf-8") as f:
        for n, raw in enumerate(f, 1):
            line = raw.rstrip("\n")
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            where = f"{path}:{n}"
            try:
                if line == "@chain":
                    chains.append([])
                elif line == "@strict":
                    strict = True
                elif line.startswith("@count "):
                    _, num, rx = line.split(" ", 2)
                    counts.append((where, int(num), re.compile(rx)))
                elif line.startswith("@order "):
                    a, b = line[len("@order "):].split(" >>> ")
                    orders.append((where, re.compile(a), re.compile(b)))
                elif line.startswith("@"):
                    raise ValueError("unknown directive")
                else:
                    chains[-1].append((where, re.compile(line)))
            except (ValueError, re.error) as e:
                sys.exit(f"check_output: {where}: bad line {line!r}: {e}")
    return [c for c in chains if c], counts, orders, strict


def check(lines, chains, counts, orders, strict):
    failures = []
    for chain in chains:
        pos = 0  # greedy earliest match: finds an embedding whenever one exists
        for k, (where, rx) in enumerate(chain):
            while pos < len(lines) and not rx.fullmatch(lines[pos]):
                pos += 1
            if pos == len(lines):
                prev = f" after output line {pos_prev + 1} (/{chain[k - 1][1].pattern}/)" if k else ""
                failures.append(f"{where}: no output line matches /{rx.pattern}/{prev}")
                break
            pos_prev = pos
            pos += 1
    for where, num, rx in counts:
        got = sum(1 for l in lines if rx.fullmatch(l))
        if got != num:
            failures.append(f"{where}: {got} output lines match /{rx.pattern}/, expected {num}")
    for where, a, b in orders:
        ia = [i for i, l in enumerate(lines) if a.fullmatch(l)]
        ib = [i for i, l in enumerate(lines) if b.fullmatch(l)]
        if not ia or not ib:
            failures.append(f"{where}: @order needs lines matching both /{a.pattern}/ and /{b.pattern}/")
        elif max(ia) > min(ib):
            failures.append(f"{where}: output line {max(ia) + 1} matches /{a.pattern}/ but comes after "
                            f"line {min(ib) + 1}, which matches /{b.pattern}/")
    if strict:
        every = [rx for chain in chains for _, rx in chain] + [rx for _, _, rx in counts] + \
            [rx for _, a, b in orders for rx in (a, b)]
        for i, l in enumerate(lines):
            if not any(rx.fullmatch(l) for rx in every):
                failures.append(f"@strict: output line {i + 1} matches no pattern: {l!r}")
    return failures


def main(argv):
    if "--" not in argv or argv.index("--") < 1:
        sys.exit(__doc__)
    sep = argv.index("--")
    opts, cmd = argv[:sep], argv[sep + 1:]
    timeout = None
    if "--timeout" in opts:
        i = opts.index("--timeout")
        timeout = float(opts[i + 1])
        del opts[i:i + 2]
    if len(opts) != 1 or not cmd:
        sys.exit(__doc__)
    chains, counts, orders, strict = parse(opts[0])
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
        out, rc = p.stdout, p.returncode
    except subprocess.TimeoutExpired as e:
        out, rc = e.stdout or b"", None
    text = out.decode("utf-8", "replace")
    sys.stdout.write(text)
    lines = text.splitlines()
    failures = [] if rc == 0 else [f"the program was killed after {timeout} s (a hang?)" if rc is None
                                   else f"the program's exit status is {rc}, not 0"]
    failures += check(lines, chains, counts, orders, strict)
    if failures:
        print(f"\ncheck_output: FAILED against {opts[0]}:")
        for f in failures:
            print("  " + f)
        return 1
    n = sum(len(c) for c in chains) + len(counts) + len(orders)
    print(f"check_output: OK, {len(lines)} lines satisfy {n} checks in {opts[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
