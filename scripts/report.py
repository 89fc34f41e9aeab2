#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Build the main job's benchmark report from the JSON Lines rows that the
bench_* binaries write (benchmarks/support/table.hpp, --arenakit_report=FILE).

    scripts/report.py --out report [--mode quick] [--commit SHA] FILE.jsonl...

Writes OUT/README.md (machine, one summary row per operation, a table per
scenario with arenakit's median next to each peer's from the same run and the
ratio, targets met/MISS, peers not measured and why) and OUT/chart.svg (with
gnuplot; when gnuplot is missing the report says so and there is no chart).

Ratio convention: ratio = peer median / arenakit median. Above 1 means
arenakit is faster by that factor; below 1 means the peer is faster.

Input is checked before anything is written: a malformed line, a record with
a missing or mistyped field, or the same row twice (two runs mixed in one
input) stops the generator with exit status 2 and a message naming the file
and line; the previous report in OUT is left as it was. Python standard
library only.
"""

import argparse
import datetime
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile

RATIO_TEXT = "ratio = peer / arenakit (above 1: arenakit is faster by that factor; below 1: the peer is faster)"

NUM = (int, float)
OPT_NUM = (int, float, type(None))
OPT_STR = (str, type(None))

# Fields each record type must carry, and their types. Extra fields are fine
# (newer writers may add some).
SCHEMA = {
    "context": {"binary": str},
    "row": {"binary": str, "scenario": str, "impl": str, "is_arenakit": bool, "median_ns": NUM,
            "repetitions": int},
    "error": {"binary": str, "scenario": str, "impl": str, "message": str},
    "not_measured": {"binary": str, "scenario": str, "impl": str, "peer": str, "package": str, "reason": str},
    "target": {"binary": str, "text": str, "status": str, "max_ratio": OPT_NUM, "ours_ns": OPT_NUM,
               "ref_ns": OPT_NUM, "ratio": OPT_NUM},
    "status": {"name": str, "kind": str, "rc": int},
    # Instructions and locked instructions per item of a row, counted by
    # callgrind (scripts/counts.sh): they do not move with the machine.
    "counts": {"binary": str, "scenario": str, "impl": str, "ir_per_item": NUM, "locked_per_item": NUM},
}
OPTIONAL = {
    "row": {"peer": OPT_STR, "package": OPT_STR, "items_per_second": OPT_NUM, "bytes_per_second": OPT_NUM,
            "threads": int, "cv_pct": OPT_NUM, "counters": dict},
    "target": {"reason": OPT_STR},
    "status": {"seconds": OPT_NUM, "log": OPT_STR},
    "counts": {"iterations": int},
}
TARGET_STATUS = {"met", "MISS", "not measured"}


class InputError(Exception):
    pass


def type_name(t):
    if isinstance(t, tuple) and int in t and float in t:
        return " or ".join(["a number"] + [type_name(x) for x in t if x not in (int, float)])
    if isinstance(t, tuple):
        return " or ".join(sorted({type_name(x) for x in t}))
    return {str: "string", int: "integer", float: "number", bool: "true/false", dict: "object",
            type(None): "null"}.get(t, t.__name__)


def check_type(value, want):
    # bool is an int in Python: never accept it where a number is wanted.
    if isinstance(value, bool) and want is not bool and not (isinstance(want, tuple) and bool in want):
        return False
    return isinstance(value, want)


def load(paths):
    """Read and validate every record; raise InputError naming file:line."""
    records = []
    for path in paths:
        try:
            with open(path, encoding="utf-8") as f:
                lines = f.read().splitlines()
        except OSError as e:
            raise InputError(f"{path}: cannot read: {e.strerror}")
        except UnicodeDecodeError as e:
            raise InputError(f"{path}: not UTF-8 text ({e.reason})")
        for number, line in enumerate(lines, 1):
            where = f"{path}:{number}"
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                raise InputError(f"{where}: not a JSON line ({e.msg} at column {e.colno})")
            if not isinstance(rec, dict):
                raise InputError(f"{where}: expected a JSON object, got {type(rec).__name__}")
            kind = rec.get("type")
            if kind not in SCHEMA:
                raise InputError(f"{where}: unknown record type {kind!r} (expected one of {', '.join(SCHEMA)})")
            for field, want in SCHEMA[kind].items():
                if field not in rec:
                    raise InputError(f"{where}: {kind} record has no \"{field}\"")
                if not check_type(rec[field], want):
                    raise InputError(f"{where}: {kind} \"{field}\" must be {type_name(want)}, got {rec[field]!r}")
            for field, want in OPTIONAL.get(kind, {}).items():
                if field in rec and not check_type(rec[field], want):
                    raise InputError(f"{where}: {kind} \"{field}\" must be {type_name(want)}, got {rec[field]!r}")
            if kind == "row" and not (math.isfinite(rec["median_ns"]) and rec["median_ns"] > 0):
                raise InputError(f"{where}: row \"median_ns\" must be a positive number, got {rec['median_ns']!r}")
            if kind == "target" and rec["status"] not in TARGET_STATUS:
                raise InputError(f"{where}: target \"status\" must be one of {sorted(TARGET_STATUS)}, "
                                 f"got {rec['status']!r}")
            rec["_where"] = where
            records.append(rec)
    if not records:
        raise InputError("no records in the input (" + (", ".join(paths) or "no files given") + ")")
    seen = {}
    for rec in records:
        if rec["type"] != "row":
            continue
        key = (rec["binary"], rec["scenario"], rec["impl"])
        if key in seen:
            raise InputError(f"{rec['_where']}: row {key[0]} {key[1]}/{key[2]} already given at {seen[key]} "
                             "(rows of two runs mixed in one input?)")
        seen[key] = rec["_where"]
    return records


# --- the model ----------------------------------------------------------------

class Scenario:
    def __init__(self, binary, name):
        self.binary = binary
        self.name = name
        self.rows = []          # in run order
        self.missing = []       # not_measured records
        self.errors = []        # error records

    @property
    def reference(self):
        """The first arenakit row: what every ratio here is taken against
        (the same choice as the console table)."""
        for row in self.rows:
            if row["is_arenakit"]:
                return row
        return None

    def ratio(self, row):
        ref = self.reference
        return row["median_ns"] / ref["median_ns"] if ref else None


def build_model(records):
    binaries = {}   # binary -> {"context": rec|None, "scenarios": {name: Scenario}, "targets": [], "peers_missing": []}

    def binary(name):
        if name not in binaries:
            binaries[name] = {"context": None, "scenarios": {}, "targets": [], "unplaced": [], "counts": {}}
        return binaries[name]

    def scenario(b, name):
        s = binary(b)["scenarios"]
        if name not in s:
            s[name] = Scenario(b, name)
        return s[name]

    statuses = []
    for rec in records:
        kind = rec["type"]
        if kind == "status":
            statuses.append(rec)
        elif kind == "context":
            binary(rec["binary"])["context"] = rec
        elif kind == "row":
            scenario(rec["binary"], rec["scenario"]).rows.append(rec)
        elif kind == "error":
            scenario(rec["binary"], rec["scenario"]).errors.append(rec)
        elif kind == "target":
            binary(rec["binary"])["targets"].append(rec)
        elif kind == "counts":
            binary(rec["binary"])["counts"][(rec["scenario"], rec["impl"])] = rec
    # Missing peers go to their scenario when it ran; a scenario with no row
    # at all (filtered out) still lists them, so nothing is dropped.
    for rec in records:
        if rec["type"] == "not_measured":
            scenario(rec["binary"], rec["scenario"]).missing.append(rec)
    return binaries, statuses


# --- formatting -----------------------------------------------------------------

def fmt_ns(ns):
    if ns is None:
        return "—"
    if ns >= 1e6:
        return f"{ns / 1e6:.3g} ms"
    if ns >= 1e4:
        return f"{ns / 1e3:.3g} µs"
    if ns >= 100:
        return f"{ns:.0f} ns"
    return f"{ns:.3g} ns"


def fmt_ratio(r):
    if r is None:
        return "—"
    if r >= 100:
        return f"{r:.0f}×"
    return f"{r:.3g}×"


def fmt_rate(v, unit):
    if v is None:
        return None
    for scale, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if v >= scale:
            return f"{v / scale:.3g} {prefix}{unit}/s"
    return f"{v:.3g} {unit}/s"


def md(text):
    """Escape what Markdown tables would misread."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def machine_info(contexts, commit):
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    first = contexts[0] if contexts else {}
    compilers = sorted({c.get("compiler", "unknown") for c in contexts}) or ["unknown"]
    builds = sorted({c.get("build", "unknown") for c in contexts}) or ["unknown"]
    dates = sorted(c.get("date") for c in contexts if c.get("date"))
    load = first.get("load_avg")
    rows = [
        ("CPU", cpu),
        ("cores", f"{os.cpu_count()} online" + (f"; {first['cpus']} seen by the benchmarks at {first.get('mhz', 0):.0f} MHz"
                                                   if "cpus" in first and isinstance(first.get("mhz"), NUM) else "")),
        ("CPU frequency scaling", first.get("cpu_scaling", "unknown")),
        ("kernel", f"{platform.system()} {platform.release()}"),
        ("compiler", "; ".join(compilers)),
        ("build", "; ".join(builds)),
        ("date (UTC)", (f"{dates[0]} … {dates[-1]}" if len(dates) > 1 and dates[0] != dates[-1] else dates[0])
         if dates else datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")),
        ("git commit", commit),
        ("load average at the first binary's start",
         " ".join(f"{x:.2f}" for x in load) if isinstance(load, list) and load else "unknown"),
    ]
    return rows


def git_commit(repo):
    try:
        sha = subprocess.run(["git", "-C", repo, "rev-parse", "--short=12", "HEAD"], capture_output=True,
                             text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", repo, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
        return sha + (" (with uncommitted changes)" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown (not a git checkout)"


def peer_label(row):
    return row["impl"] + (f" ({row['peer']})" if row.get("peer") and row["peer"] not in row["impl"] else "")


def render(binaries, statuses, mode, commit, chart_note):
    out = []
    w = out.append
    w("# arenakit benchmark report")
    w("")
    w("Generated by `scripts/report.py` from the rows the `bench_*` binaries wrote in this run "
      "(`raw/*.jsonl` next to this file; console output in `logs/`)." + (f" Mode: **{mode}**." if mode else ""))
    w("")
    w("Times are medians of the repetitions, in time per item as one thread sees it. Every comparison is "
      f"taken from the same run of the same binary. **{RATIO_TEXT}.** The arenakit row a scenario's ratios use "
      "is its first arenakit row (as in the console table).")
    w("")
    counted = sum(len(b["counts"]) for b in binaries.values())
    if counted:
        w("The **instructions / locked per item** column is counted by callgrind (`valgrind --tool=callgrind "
          "--collect-bus=yes`, `scripts/counts.sh` over `benchmarks/count_arena.cpp`): instructions and locked "
          "instructions per item of the same operation, built the same way. Unlike the times, they do not move "
          "with the machine or its load.")
    else:
        w("Instruction counts: none in this run (valgrind is not installed, or `count_arena` was not built); "
          "`scripts/deps.sh bench` installs valgrind.")
    w("")
    contexts = [b["context"] for b in binaries.values() if b["context"]]
    w("## Machine")
    w("")
    w("| | |")
    w("| --- | --- |")
    for k, v in machine_info(contexts, commit):
        w(f"| {k} | {md(v)} |")
    w("")

    if statuses:
        failed = [s for s in statuses if s["rc"] != 0]
        w("## Programs run")
        w("")
        if failed:
            w(f"**{len(failed)} of {len(statuses)} failed:** " + ", ".join(f"`{s['name']}`" for s in failed) +
              ". Their rows, if any, are below; see their logs.")
        else:
            w(f"All {len(statuses)} ran and exited 0.")
        w("")
        w("| program | kind | result | seconds | log |")
        w("| --- | --- | --- | ---: | --- |")
        for s in statuses:
            result = "ok" if s["rc"] == 0 else f"**FAILED (exit {s['rc']})**"
            secs = f"{s['seconds']:.1f}" if isinstance(s.get("seconds"), NUM) else "—"
            log = f"[{s['log']}]({s['log']})" if s.get("log") else "—"
            w(f"| `{md(s['name'])}` | {md(s['kind'])} | {result} | {secs} | {log} |")
        w("")

    # One row per operation: arenakit's median next to each peer's.
    w("## Summary: one row per operation")
    w("")
    w(f"arenakit's median next to each peer's from the same run; {RATIO_TEXT}. "
      "Other arenakit variants are in the per-scenario tables.")
    w("")
    w("| benchmark | operation | arenakit | arenakit median | peers: median (ratio) | not measured |")
    w("| --- | --- | --- | ---: | --- | --- |")
    for bname, b in binaries.items():
        for s in b["scenarios"].values():
            ref = s.reference
            peers = [r for r in s.rows if not r["is_arenakit"]]
            cell = "<br>".join(f"{md(r['impl'])}: {fmt_ns(r['median_ns'])} ({fmt_ratio(s.ratio(r))})" for r in peers)
            missing = "<br>".join(f"{md(m['impl'])} (needs {md(m['package'])})" for m in s.missing)
            if s.errors:
                missing = "<br>".join(([missing] if missing else []) +
                                      [f"{md(e['impl'])}: failed" for e in s.errors])
            w(f"| {md(bname)} | {md(s.name)} | {md(ref['impl']) if ref else '—'} | "
              f"{fmt_ns(ref['median_ns']) if ref else '—'} | {cell or '—'} | {missing or '—'} |")
    w("")

    w("## Chart")
    w("")
    w(chart_note)
    w("")

    all_missing = []
    for bname, b in binaries.items():
        w(f"## {bname}")
        w("")
        for s in b["scenarios"].values():
            ref = s.reference
            w(f"### {s.name}")
            w("")
            if s.rows:
                head = f"ratio (this / {ref['impl']})" if ref else "ratio"
                w(f"| implementation | kind | median / item | {md(head)} | rate | reps | spread (cv) | counters | "
                  "instructions / locked per item |")
                w("| --- | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: |")
                for r in s.rows:
                    kind = "arenakit" if r["is_arenakit"] else (
                        f"peer: {r['peer']} ({r['package']})" if r.get("peer") else "peer (always built)")
                    name = f"**{md(r['impl'])}**" if r is ref else md(r["impl"])
                    rate = fmt_rate(r.get("bytes_per_second"), "B") or fmt_rate(r.get("items_per_second"), "items")
                    cv = f"{r['cv_pct']:.1f}%" if isinstance(r.get("cv_pct"), NUM) else "—"
                    counters = ", ".join(f"{k}={v:.4g}" for k, v in (r.get("counters") or {}).items()
                                         if isinstance(v, NUM))
                    threads = f" ×{r['threads']} threads" if r.get("threads", 1) > 1 else ""
                    cnt = b["counts"].get((s.name, r["impl"]))
                    instr = f"{cnt['ir_per_item']:.3g} / {cnt['locked_per_item']:.3g}" if cnt else "—"
                    w(f"| {name}{threads} | {md(kind)} | {fmt_ns(r['median_ns'])} | {fmt_ratio(s.ratio(r))} | "
                      f"{rate or '—'} | {r['repetitions']} | {cv} | {md(counters) or '—'} | {instr} |")
                w("")
            else:
                w("No row of this scenario ran.")
                w("")
            for e in s.errors:
                w(f"- **{md(e['impl'])} failed:** {md(e['message'])}")
            for m in s.missing:
                w(f"- **{md(m['impl'])}: not measured** — {md(m['reason'])}.")
                all_missing.append((bname, s.name, m))
            if s.errors or s.missing:
                w("")
        if b["targets"]:
            w(f"### {bname}: targets")
            w("")
            w("Ratio here = ours / reference (the target's own direction), from this run.")
            w("")
            w("| | target | ours | reference | ratio | limit |")
            w("| --- | --- | ---: | ---: | ---: | ---: |")
            for t in b["targets"]:
                status = {"met": "met", "MISS": "**MISS**", "not measured": "n/a"}[t["status"]]
                text = md(t["text"]) + (f" — not measured: {md(t['reason'])}" if t["status"] == "not measured"
                                        and t.get("reason") else "")
                limit = f"{t['max_ratio']:.3g}×" if t["max_ratio"] is not None else "—"
                ratio = f"{t['ratio']:.3g}×" if t["ratio"] is not None else "—"
                w(f"| {status} | {text} | {fmt_ns(t['ours_ns'])} | {fmt_ns(t['ref_ns'])} | {ratio} | {limit} |")
            w("")

    w("## Peers not measured")
    w("")
    if all_missing:
        w("These peers were declared by a benchmark but the binary was built without them; install the package "
          "(`scripts/deps.sh bench` does) and rebuild to compare.")
        w("")
        for bname, sname, m in all_missing:
            w(f"- {md(bname)} {md(sname)}/{md(m['impl'])}: not measured — {md(m['reason'])}")
    else:
        w("None: every declared peer was built and measured.")
    w("")
    return "\n".join(out)


# --- chart ----------------------------------------------------------------------

def chart_bars(binaries):
    """One bar per peer row: (label, ratio), grouped by scenario."""
    bars = []
    for b in binaries.values():
        for s in b["scenarios"].values():
            group = []
            for r in s.rows:
                ratio = s.ratio(r)
                if not r["is_arenakit"] and ratio is not None and ratio > 0:
                    group.append((f"{s.name}: {r['impl']}", ratio))
            if group:
                bars.append(group)
    return bars


def write_chart(binaries, out_dir, gnuplot, tmp):
    """Returns (note for the report, path of the written svg or None)."""
    bars = chart_bars(binaries)
    if not bars:
        return "No peer rows in this run: no chart.", None
    exe = shutil.which(gnuplot) if gnuplot else None
    if not exe:
        return (f"gnuplot was not found (`{gnuplot}`): **chart skipped**. Install Debian's `gnuplot-nox` "
                "(`scripts/deps.sh bench` does) to get `chart.svg`."), None
    data = os.path.join(tmp, "chart.dat")
    svg = os.path.join(tmp, "chart.svg")
    x = 0.0
    lo, hi = 1.0, 1.0
    with open(data, "w", encoding="utf-8") as f:
        for group in bars:
            for label, ratio in group:
                x += 1
                lo, hi = min(lo, ratio), max(hi, ratio)
                # x, ratio, box from 1 to the ratio, colour: 1 arenakit faster, 2 peer faster
                f.write(f"{x}\t{ratio}\t{min(ratio, 1.0)}\t{max(ratio, 1.0)}\t{1 if ratio >= 1 else 2}\t"
                        f"{label}\n")
            x += 0.8   # gap between scenarios
    count = sum(len(g) for g in bars)
    # Rotated bar labels hang below the plot and to the right of their bar:
    # size the margins from the longest one so none is cut off.
    longest = max(len(label) for group in bars for label, _ in group)
    width = max(900, 26 * count + 200 + 3 * longest)
    height = 520 + 5 * longest
    script = f"""
set terminal svg size {width},{height} noenhanced font "sans,11" background rgb "white"
set output "{svg}"
set datafile separator "\\t"
set title "Peer median / arenakit median, same run (above 1: arenakit faster; below 1: the peer is faster)"
set logscale y
set yrange [{lo / 2.5}:{hi * 2.5}]
set ylabel "ratio (log scale)"
set xrange [0:{x + 0.2}]
set xtics rotate by -60 font ",9" nomirror
set ytics nomirror
set grid ytics
set key off
set bmargin {longest * 0.32 + 2:.0f}
set rmargin {longest * 0.42 + 2:.0f}
set style fill solid 0.85 border -1
set arrow from 0,1 to {x + 0.2},1 nohead lc rgb "black" lw 1.5 front
fmt(r) = r >= 100 ? sprintf("%.0f", r) : sprintf("%.2g", r)
plot "{data}" using 1:2:($1-0.4):($1+0.4):3:4:5:xtic(6) with boxxyerror lc variable, \\
     "{data}" using 1:($2 >= 1 ? $4 : NaN):(fmt($2)) with labels offset 0,0.7 font ",8", \\
     "{data}" using 1:($2 < 1 ? $3 : NaN):(fmt($2)) with labels offset 0,-0.7 font ",8"
"""
    colours = 'set linetype 1 lc rgb "#2e7d32"\nset linetype 2 lc rgb "#c62828"\n'
    try:
        proc = subprocess.run([exe], input=colours + script, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as e:
        return f"gnuplot failed to run ({e}): **chart skipped**.", None
    if proc.returncode != 0 or not os.path.exists(svg):
        msg = (proc.stderr.strip().splitlines() or ["no message"])[-1]
        return f"gnuplot failed (exit {proc.returncode}: {msg}): **chart skipped**.", None
    note = ("![peer / arenakit ratios](chart.svg)\n\n"
            f"`chart.svg`: one bar per peer row ({count} bars), grouped by scenario; green: arenakit faster, "
            "red: the peer is faster; log scale, ratio written over each bar.")
    return note, svg


# --- main -----------------------------------------------------------------------

def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("inputs", nargs="+", help="JSON Lines files written by the bench_* binaries (and main.sh)")
    ap.add_argument("--out", required=True, help="report folder (README.md, chart.svg)")
    ap.add_argument("--mode", default="", help="what to call this run (quick, full)")
    ap.add_argument("--commit", default=None, help="git commit to print (default: asked from git)")
    ap.add_argument("--gnuplot", default="gnuplot", help="gnuplot executable (default: gnuplot from PATH)")
    args = ap.parse_args(argv)

    try:
        records = load(args.inputs)
    except InputError as e:
        print(f"report.py: malformed input: {e}; nothing written", file=sys.stderr)
        return 2
    binaries, statuses = build_model(records)
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    commit = args.commit or git_commit(repo)

    try:
        os.makedirs(args.out, exist_ok=True)
        # Build everything in a scratch folder inside OUT, then rename into
        # place: a failure half-way leaves the previous report whole.
        with tempfile.TemporaryDirectory(dir=args.out, prefix=".report-") as tmp:
            note, svg = write_chart(binaries, args.out, args.gnuplot, tmp)
            text = render(binaries, statuses, args.mode, commit, note)
            readme = os.path.join(tmp, "README.md")
            with open(readme, "w", encoding="utf-8") as f:
                f.write(text + "\n")
            if svg:
                os.replace(svg, os.path.join(args.out, "chart.svg"))
            else:
                # No chart this time: never leave an old one that would look current.
                try:
                    os.remove(os.path.join(args.out, "chart.svg"))
                except FileNotFoundError:
                    pass
            os.replace(readme, os.path.join(args.out, "README.md"))
    except OSError as e:
        print(f"report.py: cannot write the report in {args.out}: {e}", file=sys.stderr)
        return 1
    rows = sum(len(s.rows) for b in binaries.values() for s in b["scenarios"].values())
    print(f"report.py: {rows} rows from {len(binaries)} benchmark(s) -> {os.path.join(args.out, 'README.md')}"
          + (f", {os.path.join(args.out, 'chart.svg')}" if svg else " (no chart)"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
