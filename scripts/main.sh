#!/usr/bin/env bash
# The main job: build in Release, run every example, then run every benchmark
# binary and print its side-by-side comparison table.
# Usage: scripts/main.sh [extra google-benchmark flags...]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh bench

cmake --preset release
cmake --build --preset release

echo "== examples =="
for ex in build/release/examples/example_*; do
  [ -x "$ex" ] || continue
  echo "-- $(basename "$ex")"
  "$ex"
done

echo "== benchmarks =="
for bench in build/release/benchmarks/bench_*; do
  [ -x "$bench" ] || continue
  echo
  echo "-- $(basename "$bench")"
  "$bench" "$@"
done
