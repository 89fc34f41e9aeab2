// SPDX-License-Identifier: MIT
// Counted slots (issue 12): what a reference count per slot costs, against a
// flat array of atomic counts (the niov-array design), in the same run.
//
// counted_pair/<impl>, one thread, time per page:
//   arenakit_counted_cache  Arena<..., CountedSlots>::Cache: acquire + retain + release
//                           + release on the owner thread (the slot parked in the cache
//                           between pairs, as the flat array's page stays in its array):
//                           three locked instructions, one per "if non-zero" transition
//   arenakit_counted_arena  the same through Arena::acquire / release from any thread
//                           (validation, held flag, claim counters, free list)
//   counted_slots           CountedSlots alone: claim + retain + release + release
//   bitmap_arena            Arena<> (BitmapSlots): acquire + release, for scale
//   three_transitions       the floor of the counted contract on one bare word: a plain
//                           store of the first reference, then an increment-if-non-zero
//                           CAS and two decrement-if-non-zero CASes (no ids, no checks,
//                           no free list): what no counted arena can go below
//   flat_array_inc_dec      std::atomic<uint32_t> per page: fetch_add, then a
//                           decrement-if-non-zero CAS (what a counted page needs
//                           at least: one reference taken and dropped); the
//                           issue's reference row, with half the reference work
//   flat_array_two_refs     the same work as the arena rows' references: two
//                           fetch_adds (the acquire's reference and the retain's)
//                           and two decrement-if-non-zero CASes (no allocation)
#include "support/table.hpp"

#include <arenakit/arena/arena.hpp>
#include <arenakit/slots/counted.hpp>

#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdint>
#include <memory>

namespace {

using namespace arenakit;
constexpr ArenaConfig binding{.slot_size = 4096, .shard_size = std::size_t{1} << 31, .max_shards = 1,
                              .initial_shards = 1}; // a 2 GiB binding, 524,288 pages

void counted_arena(benchmark::State& state) {
  Arena<>::with<policy::slots<CountedSlots>> arena(binding);
  if (!arena) state.SkipWithError("arena set-up failed");
  for (auto _ : state) {
    const SlotId id = arena.acquire();
    (void)arena.retain(id);
    (void)arena.release(id);
    const bool last = arena.release(id);
    benchmark::DoNotOptimize(last);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

void counted_cache(benchmark::State& state) {
  using Counted = Arena<>::with<policy::slots<CountedSlots>>;
  Counted arena(binding);
  if (!arena) state.SkipWithError("arena set-up failed");
  Counted::Cache cache(arena);
  for (auto _ : state) {
    const SlotId id = cache.acquire();
    (void)arena.retain(id);
    (void)cache.release(id);
    const bool last = cache.release(id);
    benchmark::DoNotOptimize(last);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

void counted_slots(benchmark::State& state) {
  CountedSlots slots(1u << 19);
  for (auto _ : state) {
    std::uint32_t s = 0;
    (void)slots.claim(&s, 1);
    (void)slots.retain(s);
    (void)slots.release(s);
    const SlotRelease r = slots.release(s);
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

void bitmap_arena(benchmark::State& state) {
  Arena<> arena(binding);
  if (!arena) state.SkipWithError("arena set-up failed");
  for (auto _ : state) {
    const SlotId id = arena.acquire();
    const bool ok = arena.release(id);
    benchmark::DoNotOptimize(ok);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

void three_transitions(benchmark::State& state) {
  std::unique_ptr<std::atomic<std::uint32_t>[]> refs(new std::atomic<std::uint32_t>[1u << 19]());
  const std::uint32_t p = 0;
  auto cas_if_non_zero = [&](int delta) {
    std::uint32_t v = refs[p].load(std::memory_order_relaxed);
    while (v != 0 && !refs[p].compare_exchange_weak(v, v + static_cast<std::uint32_t>(delta), std::memory_order_acq_rel,
                                                    std::memory_order_relaxed)) {
    }
    return v;
  };
  for (auto _ : state) {
    refs[p].store(1, std::memory_order_relaxed);
    (void)cas_if_non_zero(1);
    (void)cas_if_non_zero(-1);
    std::uint32_t v = cas_if_non_zero(-1);
    benchmark::DoNotOptimize(v);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

// A decrement-if-non-zero CAS on @ref; returns the count it saw.
std::uint32_t dec_if_non_zero(std::atomic<std::uint32_t>& ref) noexcept {
  std::uint32_t v = ref.load(std::memory_order_relaxed);
  while (v != 0 && !ref.compare_exchange_weak(v, v - 1, std::memory_order_release, std::memory_order_relaxed)) {
  }
  return v;
}

void flat_array_two_refs(benchmark::State& state) {
  std::unique_ptr<std::atomic<std::uint32_t>[]> refs(new std::atomic<std::uint32_t>[1u << 19]());
  const std::uint32_t p = 0;
  for (auto _ : state) {
    refs[p].fetch_add(1, std::memory_order_acquire);
    refs[p].fetch_add(1, std::memory_order_relaxed);
    (void)dec_if_non_zero(refs[p]);
    std::uint32_t v = dec_if_non_zero(refs[p]);
    benchmark::DoNotOptimize(v);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

void flat_array(benchmark::State& state) {
  std::unique_ptr<std::atomic<std::uint32_t>[]> refs(new std::atomic<std::uint32_t>[1u << 19]());
  std::uint32_t p = 0;
  for (auto _ : state) {
    refs[p].fetch_add(1, std::memory_order_acquire);
    std::uint32_t v = dec_if_non_zero(refs[p]);
    benchmark::DoNotOptimize(v);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

const int registered = [] {
  using arenakit::bench::target;
  benchmark::RegisterBenchmark("counted_pair/arenakit_counted_cache", counted_cache);
  benchmark::RegisterBenchmark("counted_pair/arenakit_counted_arena", counted_arena);
  benchmark::RegisterBenchmark("counted_pair/counted_slots", counted_slots);
  benchmark::RegisterBenchmark("counted_pair/bitmap_arena", bitmap_arena);
  benchmark::RegisterBenchmark("counted_pair/three_transitions", three_transitions);
  benchmark::RegisterBenchmark("counted_pair/flat_array_inc_dec", flat_array);
  benchmark::RegisterBenchmark("counted_pair/flat_array_two_refs", flat_array_two_refs);
  target("counted_pair", "arenakit_counted_cache", "counted_pair", "flat_array_inc_dec", 1.5,
         "counted-slot arena (owner cache): acquire+retain+release+release within 1.5x of the flat array's inc+dec");
  return 0;
}();

} // namespace

ARENAKIT_BENCH_MAIN()
