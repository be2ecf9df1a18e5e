#!/usr/bin/env python3
"""gpu-kernel-times.py — sum Nsight Compute's per-kernel durations into a table per kernel name.

Reads the CSV that `ncu --csv --metrics gpu__time_duration.sum` prints (from a file or stdin),
groups kernels by name (template arguments and parameter lists cut off), and prints, largest
first: total microseconds, launches, share of the total and microseconds per training step.
Steps are counted as launches of the fused SGD kernel (one per step), so a window that starts
or ends mid-step is off by at most one step's share.

    python3 scripts/gpu-kernel-times.py ncu.csv [--top N]

scripts/gpu-run.sh's `profile` step runs ncu and then this. A measuring aid only: nothing in
the product uses it.
"""
import argparse
import collections
import csv
import re
import sys

UNITS = {"nsecond": 1e-3, "ns": 1e-3, "usecond": 1.0, "us": 1.0, "msecond": 1e3, "ms": 1e3,
         "second": 1e6, "s": 1e6}


def short_name(name):
    name = re.sub(r"^void ", "", name)
    name = re.sub(r"\(anonymous namespace\)::", "", name)
    depth, out = 0, []
    for ch in name:  # drop <...> and (...) groups, nested ones included
        if ch in "<(":
            depth += 1
        elif ch in ">)":
            depth = max(0, depth - 1)
        elif depth == 0:
            out.append(ch)
    return "".join(out).strip()[:90]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("csv", nargs="?", default="-")
    ap.add_argument("--top", type=int, default=25)
    a = ap.parse_args()
    f = sys.stdin if a.csv == "-" else open(a.csv, newline="")
    rows = [line for line in f if line.startswith('"')]
    if not rows:
        sys.exit("gpu-kernel-times: no CSV rows in the input (did ncu profile any kernel?)")
    total = collections.Counter()
    launches = collections.Counter()
    for r in csv.DictReader(rows):
        if r.get("Metric Name") != "gpu__time_duration.sum":
            continue
        us = float(r["Metric Value"].replace(",", "")) * UNITS.get(r["Metric Unit"], 1.0)
        n = short_name(r["Kernel Name"])
        total[n] += us
        launches[n] += 1
    steps = sum(c for n, c in launches.items() if "sgd" in n.lower()) or 1
    grand = sum(total.values())
    print(f"{sum(launches.values())} kernels, {grand:.0f} us of GPU time, {steps} SGD launches "
          f"(steps): {grand / steps:.0f} us per step")
    print(f"{'us/step':>9} {'share':>6} {'launches':>8}  kernel")
    for n, us in total.most_common(a.top):
        print(f"{us / steps:9.1f} {100 * us / grand:5.1f}% {launches[n]:8d}  {n}")


if __name__ == "__main__":
    main()
