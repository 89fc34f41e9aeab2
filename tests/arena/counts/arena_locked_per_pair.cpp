// SPDX-License-Identifier: MIT
// Runs owner-cache acquire+release pairs inside one function, so that
// callgrind (--toggle-collect=run_pairs, --collect-bus=yes) counts the
// instructions and locked instructions of the pairs alone. check.cmake
// asserts the locked count per pair: it does not depend on the machine, only
// on what the code does (built with -O2 in every preset: at -O0 GCC makes
// every relaxed store a seq_cst xchg).
//   arena_locked_per_pair held   -> exactly 1 locked instruction per pair
//   arena_locked_per_pair plain  -> 0 (PlainHeldFlagsCheck)
//   arena_locked_per_pair range  -> 0 (RangeOnlyCheck)
//   arena_locked_per_pair direct -> Arena::acquire + Arena::release
//   arena_locked_per_pair bulk   -> Cache::acquire_bulk + release_bulk of 32
//                                   (held flags, 16-slot shards: two words
//                                   of the held bitmap, 4 locked per batch)
//   arena_locked_per_pair bulk_range -> the same with RangeOnlyCheck: 0 locked,
//                                   a copy and a range check (vector code at
//                                   -O2 too: detail/id_lanes.hpp)
//   arena_locked_per_pair bulk_plain -> the same with PlainHeldFlagsCheck: 0
//                                   locked, a flag store per id out and a
//                                   flag load and store per id back
//   arena_locked_per_pair counted -> a counted arena's owner cache: acquire +
//                                   retain + release + release, 3 locked (one
//                                   CAS per "if non-zero" transition; the
//                                   first reference and the park are stores)
#include <arenakit/arena/arena.hpp>
#include <arenakit/slots/counted.hpp>

#include <cstdio>
#include <cstring>

namespace {
// noinline: the toggle needs a function of its own.
template <class Cache>
[[gnu::noinline]] std::uint64_t run_pairs(Cache& cache, int n) {
  std::uint64_t sum = 0;
  for (int i = 0; i < n; ++i) {
    const arenakit::SlotId id = cache.acquire();
    sum += id.raw;
    if (!cache.release(id)) return 0;
  }
  return sum;
}

// A batch of 32 out and back through the cache; "pair" = one batch.
template <class Cache>
[[gnu::noinline]] std::uint64_t run_pairs_bulk(Cache& cache, int n) {
  std::uint64_t sum = 0;
  arenakit::SlotId ids[32];
  for (int i = 0; i < n; ++i) {
    if (cache.acquire_bulk(ids, 32) != 32) return 0;
    sum += ids[0].raw;
    if (cache.release_bulk(ids, 32) != 32) return 0;
  }
  return sum;
}

template <class A>
int run_bulk() {
  arenakit::ArenaConfig cfg;
  cfg.slot_size = 4096;
  cfg.shard_size = 64 * 1024;
  A arena(cfg);
  if (!arena) return 2;
  typename A::Cache cache(arena);
  // Warm: the first batch refills the cache (locked, outside the count).
  arenakit::SlotId warm[32];
  if (cache.acquire_bulk(warm, 32) != 32 || cache.release_bulk(warm, 32) != 32) return 2;
  const std::uint64_t sum = run_pairs_bulk(cache, 10000);
  std::printf("%llu\n", static_cast<unsigned long long>(sum));
  return sum == 0 ? 1 : 0;
}

// The any-thread path: Arena::acquire / Arena::release.
template <class A>
[[gnu::noinline]] std::uint64_t run_pairs_direct(A& arena, int n) {
  std::uint64_t sum = 0;
  for (int i = 0; i < n; ++i) {
    const arenakit::SlotId id = arena.acquire();
    sum += id.raw;
    if (!arena.release(id)) return 0;
  }
  return sum;
}

template <class A>
int run_direct() {
  arenakit::ArenaConfig cfg;
  cfg.initial_shards = 1;
  A arena(cfg);
  if (!arena) return 2;
  const arenakit::SlotId first = arena.acquire();
  if (!first || !arena.release(first)) return 2;
  const std::uint64_t sum = run_pairs_direct(arena, 10000);
  std::printf("%llu\n", static_cast<unsigned long long>(sum));
  return sum == 0 ? 1 : 0;
}

// A counted arena's cache: the first reference, one more, both dropped.
template <class A>
[[gnu::noinline]] std::uint64_t run_pairs_counted(A& arena, typename A::Cache& cache, int n) {
  std::uint64_t sum = 0;
  for (int i = 0; i < n; ++i) {
    const arenakit::SlotId id = cache.acquire();
    sum += id.raw;
    if (!arena.retain(id) || !cache.release(id) || !cache.release(id)) return 0;
  }
  return sum;
}

template <class A>
int run_counted() {
  arenakit::ArenaConfig cfg;
  cfg.initial_shards = 1;
  A arena(cfg);
  if (!arena) return 2;
  typename A::Cache cache(arena);
  const arenakit::SlotId first = cache.acquire();
  if (!first || !cache.release(first)) return 2;
  const std::uint64_t sum = run_pairs_counted(arena, cache, 10000);
  std::printf("%llu\n", static_cast<unsigned long long>(sum));
  return sum == 0 ? 1 : 0;
}

template <class A>
int run() {
  arenakit::ArenaConfig cfg;
  cfg.initial_shards = 1;
  A arena(cfg);
  if (!arena) return 2;
  typename A::Cache cache(arena);
  // Warm: the first acquire refills the cache (locked, outside the count).
  const arenakit::SlotId first = cache.acquire();
  if (!first || !cache.release(first)) return 2;
  const std::uint64_t sum = run_pairs(cache, 10000);
  std::printf("%llu\n", static_cast<unsigned long long>(sum));
  return sum == 0 ? 1 : 0;
}
} // namespace

int main(int argc, char** argv) {
  using arenakit::policy::release_check;
  const char* mode = argc > 1 ? argv[1] : "held";
  if (std::strcmp(mode, "range") == 0) return run<arenakit::Arena<>::with<release_check<arenakit::RangeOnlyCheck>>>();
  if (std::strcmp(mode, "plain") == 0) return run<arenakit::Arena<>::with<release_check<arenakit::PlainHeldFlagsCheck>>>();
  if (std::strcmp(mode, "direct") == 0) return run_direct<arenakit::Arena<>>();
  if (std::strcmp(mode, "bulk") == 0) return run_bulk<arenakit::Arena<>>();
  if (std::strcmp(mode, "bulk_range") == 0) return run_bulk<arenakit::Arena<>::with<release_check<arenakit::RangeOnlyCheck>>>();
  if (std::strcmp(mode, "bulk_plain") == 0) return run_bulk<arenakit::Arena<>::with<release_check<arenakit::PlainHeldFlagsCheck>>>();
  if (std::strcmp(mode, "counted") == 0) {
    return run_counted<arenakit::Arena<>::with<arenakit::policy::slots<arenakit::CountedSlots>>>();
  }
  return run<arenakit::Arena<>>();
}
