#!/usr/bin/env bash
# The main job: build in Release, run every example, run every benchmark
# binary (each prints its side-by-side comparison table), then write the
# report: report/README.md (machine, arenakit's median next to each peer's
# from the same run and the ratio, instructions and locked instructions per
# item from callgrind for the arena rows, targets met/MISS, peers not
# measured and why) and report/chart.svg. Console output of each program is kept in
# report/logs/, the rows behind the report in report/raw/.
#
# Usage: scripts/main.sh [--quick] [google-benchmark flags...]
#   --quick   a first look: 3 repetitions of 0.01 s minimum each instead of
#             5 of 0.1 s (every scenario still runs; ~1 minute after the
#             build on a 2-core machine)
#   other arguments go to every benchmark binary, after the mode's defaults,
#   so they win: e.g. --benchmark_filter=pair_4k or --benchmark_repetitions=9
#
# A failing example or benchmark does not stop the job: the others still run
# and the report is written with what there is (the failure named in it), then
# the job exits 1.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=full
bench_args=()
for arg in "$@"; do
  case "$arg" in
    --quick) mode=quick ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) bench_args+=("$arg") ;;
  esac
done
mode_args=()
[ "$mode" = quick ] && mode_args=(--benchmark_repetitions=3 --benchmark_min_time=0.01)

bash scripts/deps.sh bench

cmake --preset release
cmake --build --preset release

report=report
raw="$report/raw"
logs="$report/logs"
# Only what this job writes is cleared; the folder itself is generated (and
# ignored by git).
rm -rf "$raw" "$logs" "$report/README.md" "$report/chart.svg"
mkdir -p "$raw" "$logs"
status_file="$raw/status.jsonl"

programs=()
for ex in build/release/examples/example_*; do
  [ -f "$ex" ] && [ -x "$ex" ] && programs+=("$ex")
done
for bench in build/release/benchmarks/bench_*; do
  [ -f "$bench" ] && [ -x "$bench" ] && programs+=("$bench")
done
total=${#programs[@]}
if [ "$total" -eq 0 ]; then
  echo "main.sh: no examples or benchmarks in build/release: is the build configured with them?" >&2
  exit 1
fi

job_start=$(date +%s.%N)
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

echo "== main job ($mode mode): $total programs; logs in $logs/ =="
failed=()
ok_rows=()
step=0
for prog in "${programs[@]}"; do
  step=$((step + 1))
  name=$(basename "$prog")
  log="$logs/$name.log"
  case "$name" in
    example_*) kind=example; args=() ;;
    bench_*) kind=benchmark; args=("--arenakit_report=$raw/$name.jsonl" "${mode_args[@]}" "${bench_args[@]}") ;;
  esac
  echo
  echo "[$step/$total] $name ($kind) ... (job elapsed $(elapsed "$job_start") s)"
  start=$(date +%s.%N)
  # ARENAKIT_BENCH_PROGRESS: the bench prints a line per finished benchmark.
  set +e
  ARENAKIT_BENCH_PROGRESS=1 "$prog" "${args[@]}" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  set -e
  secs=$(elapsed "$start")
  if [ "$rc" -ne 0 ]; then
    failed+=("$name (exit $rc)")
    echo "[$step/$total] $name FAILED with exit $rc after $secs s (log: $log)"
  else
    echo "[$step/$total] $name ok in $secs s"
    if [ "$kind" = benchmark ] && [ -f "$raw/$name.jsonl" ]; then ok_rows+=("$raw/$name.jsonl"); fi
  fi
  printf '{"type":"status","name":"%s","kind":"%s","rc":%d,"seconds":%s,"log":"logs/%s.log"}\n' \
    "$name" "$kind" "$rc" "$secs" "$name" >> "$status_file"
done

echo
echo "== instruction counts (callgrind) =="
# Instructions and locked instructions per item next to the arena rows'
# times: they do not move with the machine (scripts/counts.sh).
if [ -x build/release/benchmarks/count_arena ]; then
  if bash scripts/counts.sh build/release/benchmarks/count_arena "$raw/count_arena.jsonl" \
       > "$logs/count_arena.log" 2>&1; then
    [ -s "$raw/count_arena.jsonl" ] && ok_rows+=("$raw/count_arena.jsonl")
    echo "counts: $(wc -l < "$raw/count_arena.jsonl" 2>/dev/null || echo 0) operations (log: $logs/count_arena.log)"
  else
    failed+=("count_arena")
    echo "counts: FAILED (log: $logs/count_arena.log)"
  fi
  [ -s "$raw/count_arena.jsonl" ] || rm -f "$raw/count_arena.jsonl"
else
  echo "counts: build/release/benchmarks/count_arena not built; no instruction counts"
fi

echo
echo "== report =="
commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
  commit="$commit (with uncommitted changes)"
fi
report_rc=0
python3 scripts/report.py --out "$report" --mode "$mode" --commit "$commit" "$raw"/*.jsonl || report_rc=$?
if [ "$report_rc" -eq 2 ] && [ ${#failed[@]} -gt 0 ]; then
  # A program that died while writing can leave a torn row file: report the
  # rows of the programs that finished, and the failures from the status file.
  good=("$status_file" "${ok_rows[@]}")
  echo "main.sh: retrying the report without the rows of the programs that failed"
  report_rc=0
  python3 scripts/report.py --out "$report" --mode "$mode" --commit "$commit" "${good[@]}" || report_rc=$?
fi

echo
echo "main.sh: $mode run finished in $(elapsed "$job_start") s"
if [ "$report_rc" -eq 0 ]; then
  echo "main.sh: report written to $report/README.md (chart: $report/chart.svg when gnuplot is installed)"
else
  echo "main.sh: the report could not be written (report.py exit $report_rc); rows are in $raw/, logs in $logs/" >&2
fi
if [ ${#failed[@]} -gt 0 ]; then
  echo "main.sh: ${#failed[@]} of $total failed: ${failed[*]}" >&2
  exit 1
fi
exit "$report_rc"
