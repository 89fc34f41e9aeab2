#!/usr/bin/env bash
# Instructions and locked instructions per item for every operation that
# benchmarks/count_arena.cpp runs, counted by callgrind (they do not depend on
# the machine, unlike the times), written as JSON lines for scripts/report.py:
#   {"type":"counts","binary":"bench_arena" (or the program --list names),"scenario":...,"impl":...,
#    "ir_per_item":...,"locked_per_item":...,"iterations":...}
# Usage: scripts/counts.sh PROGRAM OUT.jsonl [iterations]
# Without valgrind it writes nothing and says so (exit 0): the column is
# then absent from the report, which says why.
set -euo pipefail
prog=$1
out=$2
iterations=${3:-20000}
if ! command -v valgrind >/dev/null 2>&1; then
  echo "counts.sh: valgrind not installed (Debian package valgrind): no instruction counts" >&2
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
: > "$out"
"$prog" --list | while read -r op items binary; do
  cg="$tmp/cg.out"
  if ! valgrind --tool=callgrind --collect-bus=yes --toggle-collect='*count_loop*' \
       --callgrind-out-file="$cg" "$prog" "$op" "$iterations" > "$tmp/log" 2>&1; then
    echo "counts.sh: $op failed under callgrind (see below)" >&2
    cat "$tmp/log" >&2
    continue
  fi
  # "events: Ir Ge" and "summary: IR [GE]" (a trailing zero is left out).
  read -r ir ge < <(awk '/^summary:/ { print $2, ($3 == "" ? 0 : $3) }' "$cg")
  scenario=${op%%/*}
  impl=${op#*/}
  awk -v b="${binary:-bench_arena}" -v s="$scenario" -v i="$impl" -v ir="$ir" -v ge="$ge" -v n="$iterations" -v k="$items" 'BEGIN {
    printf "{\"type\":\"counts\",\"binary\":\"%s\",\"scenario\":\"%s\",\"impl\":\"%s\",", b, s, i
    printf "\"ir_per_item\":%.2f,\"locked_per_item\":%.3f,\"iterations\":%d}\n", ir / (n * k), ge / (n * k), n
  }' >> "$out"
  echo "counts.sh: $op: $(tail -n 1 "$out")"
done
