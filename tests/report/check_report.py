#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""ctest driver for scripts/report.py (label "report").

    check_report.py --generator scripts/report.py --fixtures tests/report --work DIR [--bench bench_tokens]

Checks, on the checked-in fixture rows (tests/report/rows.jsonl, status.jsonl):
  - the summary has one row per operation with arenakit's median, each peer's
    median and the ratio (peer / arenakit), and the failed run is named;
  - the per-scenario table has the ratio against the scenario's first
    arenakit row; targets print met / MISS / n/a;
  - a peer the binary was built without is listed as "not measured" with its
    package;
  - without gnuplot the report says the chart is skipped and exits 0; with
    gnuplot, chart.svg is an SVG;
  - every file in tests/report/malformed/ is refused with exit status 2 and a
    message naming file:line, and the report written before is left as it was.
With --bench, also runs that bench binary for a moment with --arenakit_report
and checks the generator reads what table.hpp writes.
Exit 0 when all hold, 1 with the list of what failed.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys

failures = []


def check(cond, what):
    if cond:
        print(f"  ok    {what}")
    else:
        print(f"  FAIL  {what}")
        failures.append(what)


def run(cmd):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


def has_line(text, pattern):
    return re.search(pattern, text, re.MULTILINE) is not None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--generator", required=True)
    ap.add_argument("--fixtures", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--bench", default=None)
    args = ap.parse_args()
    py = sys.executable
    gen = args.generator
    rows = os.path.join(args.fixtures, "rows.jsonl")
    status = os.path.join(args.fixtures, "status.jsonl")
    shutil.rmtree(args.work, ignore_errors=True)
    os.makedirs(args.work)

    print("fixture report, gnuplot forced missing:")
    out = os.path.join(args.work, "nognuplot")
    p = run([py, gen, "--out", out, "--mode", "fixture", "--commit", "fixture123", "--gnuplot",
             "/nonexistent/gnuplot", rows, status])
    check(p.returncode == 0, f"generator exits 0 (got {p.returncode}: {p.stderr.strip()})")
    readme = os.path.join(out, "README.md")
    text = open(readme, encoding="utf-8").read() if os.path.exists(readme) else ""
    check(has_line(text, r"^\| bench_fixture \| pair_4k_1t \| arenakit_cache \| 4 ns \| "
                         r"rte_mempool_cache: 6 ns \(1\.5×\)<br>glibc_malloc: 48 ns \(12×\) \| "
                         r"boost_pool \(needs libboost-dev\) \|$"),
          "summary: one row for pair_4k_1t, arenakit 4 ns next to rte_mempool 6 ns = 1.5x, boost_pool not measured")
    check(has_line(text, r"^\| bench_fixture \| close_1024 \| arenakit \| 10 µs \| scrub_every_page: 4 ms \(400×\) \|"),
          "summary: close_1024 row with the 400x ratio")
    check("ratio = peer / arenakit" in text, "the ratio's direction is stated")
    check(has_line(text, r"^\| rte_mempool_cache \| peer: dpdk \(libdpdk-dev\) \| 6 ns \| 1\.5× \| 167 Mitems/s \| 3 \| 1\.5% \|"),
          "scenario table: peer row with median, ratio, rate, repetitions, spread")
    check(has_line(text, r"^\| \*\*arenakit_cache\*\* \| arenakit \| 4 ns \| 1× \|"),
          "scenario table: the reference arenakit row is marked")
    check(has_line(text, r"^\| arenakit_direct \| arenakit \| 30 ns \| 7\.5× \|"),
          "scenario table: another arenakit variant against the reference")
    check(has_line(text, r"^\| \*\*arenakit_cache\*\* \| arenakit \| 4 ns \| 1× \| .* \| 35\.3 / 1 \|$")
          and has_line(text, r"^\| glibc_malloc \| .* \| 120 / 0 \|$")
          and has_line(text, r"^\| arenakit_direct \| .* \| — \|$"),
          "scenario table: instructions / locked per item from callgrind counts, — where none")
    check("counted by callgrind" in text, "the report says where the instruction counts come from")
    check(has_line(text, r"^- \*\*boost_pool: not measured\*\* — built without peer boost_pool: "
                         r"not found when configured \(Debian package libboost-dev\)\.$"),
          "scenario: 'not measured' line with the package")
    check(has_line(text, r"^- bench_fixture close_1024/judy_walk_free: not measured — .*libjudy-dev"),
          "'Peers not measured' section lists judy")
    check(has_line(text, r"^- \*\*scrub_read_first failed:\*\* mmap failed"), "a failed benchmark run is named")
    check(has_line(text, r"^\| met \| pair at or below rte_mempool \|"), "target met")
    check(has_line(text, r"^\| \*\*MISS\*\* \| close 1000x faster than a scrub \| 10 µs \| 4 ms \| 0\.0025× \| 0\.001× \|$"),
          "target MISS with ours, reference, ratio and limit")
    check(has_line(text, r"^\| n/a \| pair at or below Boost\.Pool — not measured: .*libboost-dev"), "target n/a with the reason")
    check(has_line(text, r"^\| `bench_fixture` \| benchmark \| \*\*FAILED \(exit 3\)\*\* \|"), "failed program in the runs table")
    check(has_line(text, r"^\| git commit \| fixture123 \|$") and has_line(text, r"^\| compiler \| g\+\+ 12\.2\.0 \|$")
          and has_line(text, r"^\| kernel \| ") and has_line(text, r"^\| CPU \| "),
          "machine section: CPU, kernel, compiler, commit")
    check("chart skipped" in text and "gnuplot-nox" in text, "no gnuplot: the report says the chart is skipped")
    check(not os.path.exists(os.path.join(out, "chart.svg")), "no gnuplot: no chart.svg")

    if shutil.which("gnuplot"):
        print("fixture report with gnuplot:")
        out2 = os.path.join(args.work, "gnuplot")
        p = run([py, gen, "--out", out2, "--commit", "fixture123", rows, status])
        check(p.returncode == 0, f"generator exits 0 (got {p.returncode}: {p.stderr.strip()})")
        svg = os.path.join(out2, "chart.svg")
        body = open(svg, encoding="utf-8").read() if os.path.exists(svg) else ""
        check("<svg" in body and "rte_mempool_cache" in body, "chart.svg is an SVG naming the peer rows")
        check("![peer / arenakit ratios](chart.svg)" in open(os.path.join(out2, "README.md"), encoding="utf-8").read(),
              "the report links the chart")
    else:
        print("gnuplot not installed: the chart check is not run (install gnuplot-nox)")

    print("malformed input is refused and the previous report is kept:")
    before = open(readme, "rb").read() if os.path.exists(readme) else b""
    bad_dir = os.path.join(args.fixtures, "malformed")
    bad_files = sorted(os.listdir(bad_dir))
    check(len(bad_files) >= 5, f"there are malformed fixtures ({len(bad_files)})")
    for name in bad_files:
        path = os.path.join(bad_dir, name)
        p = run([py, gen, "--out", out, "--gnuplot", "/nonexistent/gnuplot", path])
        line_named = re.search(re.escape(name) + r"(:\d+)?: ", p.stderr) is not None
        check(p.returncode == 2 and "malformed input" in p.stderr and (line_named or name == "empty.jsonl")
              and "nothing written" in p.stderr,
              f"{name}: exit 2 with a clear message (got {p.returncode}: {p.stderr.strip()})")
        check(open(readme, "rb").read() == before, f"{name}: the previous README.md is unchanged")
    p = run([py, gen, "--out", out, rows, os.path.join(bad_dir, "torn_line.jsonl")])
    check(p.returncode == 2 and "torn_line.jsonl:4" in p.stderr,
          "good rows plus one torn file: refused as a whole, naming the torn line")
    check(open(readme, "rb").read() == before, "...and the previous README.md is unchanged")
    check(not [f for f in os.listdir(out) if f.startswith(".report-")], "no scratch folder left behind")

    if args.bench:
        print(f"rows written by {os.path.basename(args.bench)} (table.hpp) are read by the generator:")
        jsonl = os.path.join(args.work, "bench.jsonl")
        p = run([args.bench, "--benchmark_filter=^deliver_return_seq/(arenakit|flat_binding_array)$",
                 "--benchmark_repetitions=2", "--benchmark_min_time=0.001", f"--arenakit_report={jsonl}"])
        check(p.returncode == 0, f"bench exits 0 (got {p.returncode}: {p.stderr.strip()[-300:]})")
        out3 = os.path.join(args.work, "bench")
        p = run([py, gen, "--out", out3, "--gnuplot", "/nonexistent/gnuplot", jsonl])
        check(p.returncode == 0, f"generator reads the bench's rows (got {p.returncode}: {p.stderr.strip()})")
        text = open(os.path.join(out3, "README.md"), encoding="utf-8").read() if p.returncode == 0 else ""
        check(has_line(text, r"^\| bench_tokens \| deliver_return_seq \| arenakit \| [0-9.]+ (ns|µs) \| "
                             r"flat_binding_array: [0-9.]+ (ns|µs) \([0-9.e+]+×\) \|"),
              "summary row from the bench: arenakit next to flat_binding_array with a ratio")
        p = run([args.bench, "--arenakit_report=/nonexistent-dir/x.jsonl", "--benchmark_filter=^$"])
        check(p.returncode == 1 and "cannot write report /nonexistent-dir/x.jsonl" in p.stderr,
              f"bench refuses a report path it cannot write, before running (got {p.returncode}: {p.stderr.strip()})")

    if failures:
        print(f"\n{len(failures)} check(s) failed:")
        for f in failures:
            print(f"  - {f}")
        return 1
    print("\nall report checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
