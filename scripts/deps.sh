#!/usr/bin/env bash
# Installs what arenakit's build, tests and benchmarks need, from Debian's
# packages only (apt-get; nothing is downloaded any other way). Skips apt
# entirely when everything is already installed, so re-runs are fast.
# Usage: scripts/deps.sh [build|test|bench]...
set -euo pipefail

base=(g++ cmake ninja-build pkgconf make)
test_pkgs=(doctest-dev clang-14 libclang-rt-14-dev libbenchmark-dev valgrind)
bench_pkgs=(libbenchmark-dev valgrind libdpdk-dev liburcu-dev libxenium-dev libjudy-dev
            libboost-dev libmimalloc-dev)
# The main job's report: scripts/report.py (standard library only) and its
# chart (gnuplot without X; a report without gnuplot says the chart is skipped).
report_pkgs=(python3 gnuplot-nox)
# Optional mappers are compiled when their headers are present.
optional=(libibverbs-dev liburing-dev linux-libc-dev)

want=("${base[@]}")
for what in "${@:-build}"; do
  case "$what" in
    build) ;;
    test) want+=("${test_pkgs[@]}" "${bench_pkgs[@]}" "${report_pkgs[@]}" "${optional[@]}") ;;
    bench) want+=("${bench_pkgs[@]}" "${report_pkgs[@]}" "${optional[@]}") ;;
    *) echo "deps.sh: unknown set '$what'" >&2; exit 2 ;;
  esac
done

missing=()
for pkg in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps.sh: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
