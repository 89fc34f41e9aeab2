// SPDX-License-Identifier: MIT
// Instruction counts per operation, for the main job's report: each operation
// of bench_arena that can run under valgrind, in a loop of its own, in a
// function whose name contains "count_loop" so that
//   valgrind --tool=callgrind --collect-bus=yes --toggle-collect='*count_loop*'
// counts the loop alone (Ir = instructions, Ge = locked instructions). These
// do not move with the machine, unlike the times next to them.
//   count_arena --list        one "scenario/impl items_per_iteration binary" per line
//                             (binary: the bench_* program whose row it counts)
//   count_arena <scenario/impl> [iterations]
// DPDK's rte_mempool is not here: its EAL does not start under valgrind.
#include <arenakit/arena/arena.hpp>
#include <arenakit/slots/counted.hpp>

#include "seed000_baseline.hpp"

#if defined(ARENAKIT_HAVE_BOOST_POOL)
#include <boost/pool/pool.hpp>
#endif

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory_resource>

namespace {

using namespace arenakit;
constexpr std::size_t k4 = 4096;
constexpr std::size_t k64 = 64 * 1024;
using HeldArena = Arena<>;
using PlainArena = Arena<>::with<policy::release_check<PlainHeldFlagsCheck>>;
using RangeArena = Arena<>::with<policy::release_check<RangeOnlyCheck>>;

// Keeps a value alive without a call (as benchmark::DoNotOptimize).
template <class T>
inline void keep(T const& value) {
  asm volatile("" : : "r,m"(value) : "memory");
}

template <class A>
[[gnu::noinline]] void count_loop_cache_pair(typename A::Cache& cache, long n) {
  for (long i = 0; i < n; ++i) {
    SlotId id = cache.acquire();
    keep(id);
    cache.release(id);
  }
}

template <class A>
int cache_pair(long n) {
  A arena(ArenaConfig{.slot_size = k4, .shard_size = k64});
  typename A::Cache cache(arena);
  count_loop_cache_pair<A>(cache, 1); // warm: the first refill is not counted
  count_loop_cache_pair<A>(cache, n);
  return 0;
}

template <class A>
[[gnu::noinline]] void count_loop_cache_bulk(typename A::Cache& cache, long n) {
  SlotId ids[32];
  for (long i = 0; i < n; ++i) {
    cache.acquire_bulk(ids, 32);
    keep(ids);
    cache.release_bulk(ids, 32);
  }
}

template <class A>
int cache_bulk(long n) {
  A arena(ArenaConfig{.slot_size = k4, .shard_size = k64});
  typename A::Cache cache(arena);
  SlotId warm[32];
  cache.acquire_bulk(warm, 32);
  cache.release_bulk(warm, 32);
  count_loop_cache_bulk<A>(cache, n);
  return 0;
}

[[gnu::noinline]] void count_loop_direct_pair(HeldArena& arena, long n) {
  for (long i = 0; i < n; ++i) {
    SlotId id = arena.acquire();
    keep(id);
    arena.release(id);
  }
}

int direct_pair(long n) {
  HeldArena arena(ArenaConfig{.slot_size = k4, .shard_size = k64, .initial_shards = 1});
  count_loop_direct_pair(arena, n);
  return 0;
}

[[gnu::noinline]] void count_loop_seed000(bench::LinearScanPool& pool, long n) {
  for (long i = 0; i < n; ++i) {
    void* p = pool.alloc();
    keep(p);
    pool.free(p);
  }
}

int seed000_pair(long n) {
  bench::LinearScanPool pool(k4);
  pool.free(pool.alloc());
  count_loop_seed000(pool, n);
  return 0;
}

[[gnu::noinline]] void count_loop_pmr(std::pmr::memory_resource& pool, long n) {
  for (long i = 0; i < n; ++i) {
    void* p = pool.allocate(k4);
    keep(p);
    pool.deallocate(p, k4);
  }
}

int pmr_pair(long n) {
  std::pmr::unsynchronized_pool_resource pool;
  pool.deallocate(pool.allocate(k4), k4);
  count_loop_pmr(pool, n);
  return 0;
}

#if defined(ARENAKIT_HAVE_BOOST_POOL)
[[gnu::noinline]] void count_loop_boost(boost::pool<>& pool, long n) {
  for (long i = 0; i < n; ++i) {
    void* p = pool.malloc();
    keep(p);
    pool.free(p);
  }
}

int boost_pair(long n) {
  boost::pool<> pool(k4);
  pool.free(pool.malloc());
  count_loop_boost(pool, n);
  return 0;
}
#endif

// bench_counted's rows: a counted arena's acquire + retain + release +
// release, through its owner cache and directly, and the bare word's floor.
using CountedArena = Arena<>::with<policy::slots<CountedSlots>>;

[[gnu::noinline]] void count_loop_counted_cache(CountedArena& arena, CountedArena::Cache& cache, long n) {
  for (long i = 0; i < n; ++i) {
    const SlotId id = cache.acquire();
    (void)arena.retain(id);
    (void)cache.release(id);
    const bool last = cache.release(id);
    keep(last);
  }
}

int counted_cache(long n) {
  CountedArena arena(ArenaConfig{.slot_size = k4, .shard_size = k64});
  CountedArena::Cache cache(arena);
  count_loop_counted_cache(arena, cache, 1); // warm: the first refill is not counted
  count_loop_counted_cache(arena, cache, n);
  return 0;
}

[[gnu::noinline]] void count_loop_counted_direct(CountedArena& arena, long n) {
  for (long i = 0; i < n; ++i) {
    const SlotId id = arena.acquire();
    (void)arena.retain(id);
    (void)arena.release(id);
    const bool last = arena.release(id);
    keep(last);
  }
}

int counted_direct(long n) {
  CountedArena arena(ArenaConfig{.slot_size = k4, .shard_size = k64, .initial_shards = 1});
  count_loop_counted_direct(arena, 1);
  count_loop_counted_direct(arena, n);
  return 0;
}

[[gnu::noinline]] void count_loop_flat(std::atomic<std::uint32_t>& ref, long n) {
  for (long i = 0; i < n; ++i) {
    ref.fetch_add(1, std::memory_order_acquire);
    std::uint32_t v = ref.load(std::memory_order_relaxed);
    while (v != 0 && !ref.compare_exchange_weak(v, v - 1, std::memory_order_release, std::memory_order_relaxed)) {
    }
    keep(v);
  }
}

int flat_inc_dec(long n) {
  std::atomic<std::uint32_t> ref{0};
  count_loop_flat(ref, n);
  return 0;
}

struct Op {
  const char* name;  // the row it counts: scenario/impl
  unsigned items;    // items per loop iteration (the row's unit)
  int (*run)(long);
  const char* binary = "bench_arena"; // the program whose row it is
};

const Op ops[] = {
    {"pair_4k_1t/arenakit_cache", 1, cache_pair<HeldArena>},
    {"pair_4k_1t/arenakit_cache_plain_held", 1, cache_pair<PlainArena>},
    {"pair_4k_1t/arenakit_cache_range_only", 1, cache_pair<RangeArena>},
    {"pair_4k_1t/arenakit_direct", 1, direct_pair},
    {"pair_4k_1t/seed000_linear_scan", 1, seed000_pair},
    {"pair_4k_1t/pmr_unsynchronized_pool", 1, pmr_pair},
#if defined(ARENAKIT_HAVE_BOOST_POOL)
    {"pair_4k_1t/boost_pool", 1, boost_pair},
#endif
    {"bulk32_4k/arenakit_cache", 32, cache_bulk<HeldArena>},
    {"bulk32_4k/arenakit_cache_plain_held", 32, cache_bulk<PlainArena>},
    {"bulk32_4k/arenakit_cache_range_only", 32, cache_bulk<RangeArena>},
    {"counted_pair/arenakit_counted_cache", 1, counted_cache, "bench_counted"},
    {"counted_pair/arenakit_counted_arena", 1, counted_direct, "bench_counted"},
    {"counted_pair/flat_array_inc_dec", 1, flat_inc_dec, "bench_counted"},
};

} // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: count_arena --list | count_arena <scenario/impl> [iterations]\n");
    return 2;
  }
  if (std::strcmp(argv[1], "--list") == 0) {
    for (const Op& op : ops) std::printf("%s %u %s\n", op.name, op.items, op.binary);
    return 0;
  }
  const long n = argc > 2 ? std::strtol(argv[2], nullptr, 10) : 10000;
  for (const Op& op : ops)
    if (std::strcmp(argv[1], op.name) == 0) return op.run(n);
  std::fprintf(stderr, "count_arena: no operation '%s' (see --list)\n", argv[1]);
  return 2;
}
