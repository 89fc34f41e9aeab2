#!/usr/bin/env bash
# The test suite: every preset CI runs. With no argument it runs them all;
# name presets to run a subset: scripts/test.sh dev tsan
#   dev         g++ Debug: unit, stress, compile-fail, consumer and header tests
#   asan-ubsan  g++ with AddressSanitizer + UndefinedBehaviorSanitizer
#   tsan        g++ with ThreadSanitizer
#   clang       clang++-14, warnings as errors
#   fuzz        clang++-14 libFuzzer targets, each for a bounded time
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh test

presets=("$@")
[ ${#presets[@]} -gt 0 ] || presets=(dev asan-ubsan tsan clang fuzz)
for preset in "${presets[@]}"; do
  echo "== preset $preset =="
  cmake --workflow --preset "$preset"
done
echo "all presets passed: ${presets[*]}"
