// SPDX-License-Identifier: MIT
// The arena's figures against its peers, in one binary and one run.
//
// Scenarios (rows = implementations):
//   pair_4k_1t              acquire + release of one 4 KB slot, one thread
//   bulk32_4k               32 acquired then 32 released; time per object
//   pair_empty_1024sh       pair on a pool of 1024 x 64 KB shards, all free
//   pair_90pct_inorder      same pool, 90% held, filled in order (the state a
//                           first-fit allocator drifts to)
//   pair_90pct_random       same pool, 90% held, holes at random
//   churn256_empty/_90pct   256 acquired then 256 released (refills/flushes)
//   pair_4k_2t              pair cost per thread, 2 threads, one shared arena
#include "seed000_baseline.hpp"
#include "support/table.hpp"

#include <arenakit/arena/arena.hpp>

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <memory_resource>
#include <random>
#include <vector>

#if defined(ARENAKIT_HAVE_BOOST_POOL)
#include <boost/pool/pool.hpp>
#endif

namespace {

using namespace arenakit;
using BenchArena = Arena<>;
using RangeArena = Arena<>::with<policy::release_check<RangeOnlyCheck>>;
using PlainArena = Arena<>::with<policy::release_check<PlainHeldFlagsCheck>>;
constexpr std::size_t k4 = 4096;
constexpr std::size_t k64 = 64 * 1024;
constexpr std::uint32_t big_pool_shards = 1024;
constexpr std::uint32_t slots_per_shard = 16;

// --- pair_4k_1t ---------------------------------------------------------------

// The owner-cache pair, for each release check (the arena's fifth policy).
template <class A>
void pair_cache(benchmark::State& state) {
  A arena(ArenaConfig{.slot_size = k4, .shard_size = k64});
  typename A::Cache cache(arena);
  for (auto _ : state) {
    SlotId id = cache.acquire();
    benchmark::DoNotOptimize(id);
    cache.release(id);
  }
  state.SetItemsProcessed(state.iterations());
}
void pair_arenakit_cache(benchmark::State& state) { pair_cache<BenchArena>(state); }
BENCHMARK(pair_arenakit_cache)->Name("pair_4k_1t/arenakit_cache");

void pair_arenakit_direct(benchmark::State& state) {
  BenchArena arena(ArenaConfig{.slot_size = k4, .shard_size = k64});
  for (auto _ : state) {
    SlotId id = arena.acquire();
    benchmark::DoNotOptimize(id);
    arena.release(id);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(pair_arenakit_direct)->Name("pair_4k_1t/arenakit_direct");

void pair_seed000(benchmark::State& state) {
  bench::LinearScanPool pool(k4);
  for (auto _ : state) {
    void* p = pool.alloc();
    benchmark::DoNotOptimize(p);
    pool.free(p);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(pair_seed000)->Name("pair_4k_1t/seed000_linear_scan");

void pair_malloc(benchmark::State& state) {
  for (auto _ : state) {
    void* p = std::malloc(k4);
    benchmark::DoNotOptimize(p);
    std::free(p);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(pair_malloc)->Name("pair_4k_1t/glibc_malloc");

template <class PoolResource>
void pair_pmr(benchmark::State& state) {
  PoolResource pool;
  for (auto _ : state) {
    void* p = pool.allocate(k4);
    benchmark::DoNotOptimize(p);
    pool.deallocate(p, k4);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(pair_pmr<std::pmr::unsynchronized_pool_resource>)->Name("pair_4k_1t/pmr_unsynchronized_pool");
BENCHMARK(pair_pmr<std::pmr::synchronized_pool_resource>)->Name("pair_4k_1t/pmr_synchronized_pool");

#if defined(ARENAKIT_HAVE_BOOST_POOL)
void pair_boost_pool(benchmark::State& state) {
  boost::pool<> pool(k4);
  for (auto _ : state) {
    void* p = pool.malloc();
    benchmark::DoNotOptimize(p);
    pool.free(p);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(pair_boost_pool)->Name("pair_4k_1t/boost_pool");
#endif

// --- bulk32_4k ------------------------------------------------------------------

template <class A>
void bulk_cache(benchmark::State& state) {
  A arena(ArenaConfig{.slot_size = k4, .shard_size = k64});
  typename A::Cache cache(arena);
  SlotId ids[32];
  for (auto _ : state) {
    cache.acquire_bulk(ids, 32);
    benchmark::DoNotOptimize(ids);
    cache.release_bulk(ids, 32);
  }
  state.SetItemsProcessed(state.iterations() * 32);
}
void bulk_arenakit_cache(benchmark::State& state) { bulk_cache<BenchArena>(state); }
BENCHMARK(bulk_arenakit_cache)->Name("bulk32_4k/arenakit_cache");

void bulk_arenakit_direct(benchmark::State& state) {
  BenchArena arena(ArenaConfig{.slot_size = k4, .shard_size = k64});
  SlotId ids[32];
  for (auto _ : state) {
    arena.acquire_bulk(ids, 32);
    benchmark::DoNotOptimize(ids);
    arena.release_bulk(ids, 32);
  }
  state.SetItemsProcessed(state.iterations() * 32);
}
BENCHMARK(bulk_arenakit_direct)->Name("bulk32_4k/arenakit_direct");

BENCHMARK(bulk_cache<RangeArena>)->Name("bulk32_4k/arenakit_cache_range_only");
BENCHMARK(pair_cache<RangeArena>)->Name("pair_4k_1t/arenakit_cache_range_only");
// Held flags cleared with a plain load and store (PlainHeldFlagsCheck):
// double releases refused unless two race, no locked instruction.
BENCHMARK(pair_cache<PlainArena>)->Name("pair_4k_1t/arenakit_cache_plain_held");
BENCHMARK(bulk_cache<PlainArena>)->Name("bulk32_4k/arenakit_cache_plain_held");

// --- a big pool, empty or 90% full ---------------------------------------------------

enum class Fill { empty, in_order, random_holes };

/// 1024 pre-created 64 KB shards of 4 KB slots, filled as asked; the held ids
/// stay held for the benchmark's life.
struct BigPool {
  BenchArena arena{ArenaConfig{.slot_size = k4, .shard_size = k64, .max_shards = big_pool_shards,
                               .initial_shards = big_pool_shards}};
  std::vector<SlotId> held;

  explicit BigPool(Fill fill) {
    const std::uint32_t total = big_pool_shards * slots_per_shard;
    if (fill == Fill::empty) return;
    std::vector<SlotId> all(total);
    arena.acquire_bulk(all.data(), total);
    std::mt19937 rng(42);
    if (fill == Fill::random_holes) std::shuffle(all.begin(), all.end(), rng);
    const std::uint32_t keep = total * 9 / 10;
    held.assign(all.begin(), all.begin() + keep);
    // In-order: release the tail of the acquisition order, so whole shards
    // are full and the rest empty. Random: release a random 10%.
    arena.release_bulk(all.data() + keep, total - keep);
  }
  ~BigPool() { arena.release_bulk(held.data(), static_cast<std::uint32_t>(held.size())); }
};

struct BigBaseline {
  bench::LinearScanPool pool{k4};
  std::vector<void*> held;
  explicit BigBaseline(Fill fill) {
    const std::uint32_t total = big_pool_shards * slots_per_shard;
    std::vector<void*> all(total);
    for (auto& p : all) p = pool.alloc();
    std::mt19937 rng(42);
    if (fill == Fill::random_holes) std::shuffle(all.begin(), all.end(), rng);
    const std::uint32_t keep = fill == Fill::empty ? 0 : total * 9 / 10;
    held.assign(all.begin(), all.begin() + keep);
    for (std::uint32_t i = keep; i < total; ++i) pool.free(all[i]);
  }
};

template <Fill F>
void big_arenakit_direct(benchmark::State& state) {
  BigPool big(F);
  for (auto _ : state) {
    SlotId id = big.arena.acquire();
    benchmark::DoNotOptimize(id);
    big.arena.release(id);
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["shards"] = static_cast<double>(big.arena.counters().shards);
}

template <Fill F>
void big_arenakit_cache(benchmark::State& state) {
  BigPool big(F);
  BenchArena::Cache cache(big.arena);
  for (auto _ : state) {
    SlotId id = cache.acquire();
    benchmark::DoNotOptimize(id);
    cache.release(id);
  }
  state.SetItemsProcessed(state.iterations());
}

template <Fill F>
void big_seed000(benchmark::State& state) {
  BigBaseline big(F);
  for (auto _ : state) {
    void* p = big.pool.alloc();
    benchmark::DoNotOptimize(p);
    big.pool.free(p);
  }
  state.SetItemsProcessed(state.iterations());
}

BENCHMARK(big_arenakit_direct<Fill::empty>)->Name("pair_empty_1024sh/arenakit_direct");
BENCHMARK(big_arenakit_cache<Fill::empty>)->Name("pair_empty_1024sh/arenakit_cache");
BENCHMARK(big_seed000<Fill::empty>)->Name("pair_empty_1024sh/seed000_linear_scan");
BENCHMARK(big_arenakit_direct<Fill::in_order>)->Name("pair_90pct_inorder/arenakit_direct");
BENCHMARK(big_arenakit_cache<Fill::in_order>)->Name("pair_90pct_inorder/arenakit_cache");
BENCHMARK(big_seed000<Fill::in_order>)->Name("pair_90pct_inorder/seed000_linear_scan");
BENCHMARK(big_arenakit_direct<Fill::random_holes>)->Name("pair_90pct_random/arenakit_direct");
BENCHMARK(big_arenakit_cache<Fill::random_holes>)->Name("pair_90pct_random/arenakit_cache");
BENCHMARK(big_seed000<Fill::random_holes>)->Name("pair_90pct_random/seed000_linear_scan");

/// 256 acquired then 256 released: the cache must refill and flush, and on
/// the 90% pool the refills walk many nearly-full shards.
template <Fill F, bool Cached>
void churn256(benchmark::State& state) {
  BigPool big(F);
  std::vector<SlotId> ids(256);
  BenchArena::Cache cache(big.arena);
  for (auto _ : state) {
    for (auto& id : ids) id = Cached ? cache.acquire() : big.arena.acquire();
    benchmark::DoNotOptimize(ids.data());
    for (auto id : ids) Cached ? cache.release(id) : big.arena.release(id);
  }
  state.SetItemsProcessed(state.iterations() * 256);
}
BENCHMARK(churn256<Fill::empty, true>)->Name("churn256_empty/arenakit_cache");
BENCHMARK(churn256<Fill::empty, false>)->Name("churn256_empty/arenakit_direct");
BENCHMARK(churn256<Fill::random_holes, true>)->Name("churn256_90pct_random/arenakit_cache");
BENCHMARK(churn256<Fill::random_holes, false>)->Name("churn256_90pct_random/arenakit_direct");

// --- two threads, one arena ------------------------------------------------------------

// One arena per benchmark, shared by its two threads (a function-local
// static: built once, before either thread touches it).
template <int Which>
BenchArena& shared_arena() {
  static BenchArena arena(ArenaConfig{.slot_size = k4, .shard_size = k64});
  return arena;
}

void pair_2t_cache(benchmark::State& state) {
  BenchArena::Cache cache(shared_arena<0>());
  for (auto _ : state) {
    SlotId id = cache.acquire();
    benchmark::DoNotOptimize(id);
    cache.release(id);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(pair_2t_cache)->Name("pair_4k_2t/arenakit_cache")->Threads(2)->UseRealTime();

void pair_2t_direct(benchmark::State& state) {
  BenchArena& arena = shared_arena<1>();
  for (auto _ : state) {
    SlotId id = arena.acquire();
    benchmark::DoNotOptimize(id);
    arena.release(id);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(pair_2t_direct)->Name("pair_4k_2t/arenakit_direct")->Threads(2)->UseRealTime();

// One thread on the same kind of arena, for the ratio (registered after the
// 2-thread runs so both see a warm arena).
BENCHMARK(pair_arenakit_cache)->Name("pair_4k_1t_again/arenakit_cache");
BENCHMARK(pair_arenakit_direct)->Name("pair_4k_1t_again/arenakit_direct");

// --- the figures ---------------------------------------------------------------

// Optional peers: a missing one is reported as "not measured", with its package.
const int declared_peers = [] {
  bench::declare_peer("dpdk", ARENAKIT_BENCH_FOUND(ARENAKIT_HAVE_DPDK), "libdpdk-dev",
                      {"pair_4k_1t/rte_mempool_cache", "pair_4k_1t/rte_mempool_ring", "bulk32_4k/rte_mempool_cache",
                       "pair_4k_2t/rte_mempool_user_cache"});
  bench::declare_peer("boost_pool", ARENAKIT_BENCH_FOUND(ARENAKIT_HAVE_BOOST_POOL), "libboost-dev",
                      {"pair_4k_1t/boost_pool"});
  return 0;
}();

const int targets = [] {
  bench::target("pair_4k_1t", "arenakit_cache", "pair_4k_1t", "rte_mempool_cache", 1.0,
                "pair, 4 KB, 1 thread: at or below rte_mempool cached get+put");
  bench::target("pair_4k_1t", "arenakit_cache", "pair_4k_1t", "rte_mempool_cache", 0.7,
                "pair, 4 KB, 1 thread: stretch target 0.7x rte_mempool");
  bench::target("pair_4k_1t", "arenakit_cache_plain_held", "pair_4k_1t", "boost_pool", 2.0,
                "pair, 4 KB, 1 thread, double releases detected (plain held flags): at most 2.0x Boost.Pool");
  bench::target("pair_4k_1t", "arenakit_cache_plain_held", "pair_4k_1t", "boost_pool", 1.5,
                "pair, 4 KB, 1 thread, plain held flags: stretch 1.5x Boost.Pool");
  bench::target("bulk32_4k", "arenakit_cache", "bulk32_4k", "rte_mempool_cache", 1.25,
                "bulk of 32 per object: at most 1.25x rte_mempool bulk (held flags)");
  bench::target("bulk32_4k", "arenakit_cache_range_only", "bulk32_4k", "rte_mempool_cache", 0.8,
                "bulk of 32 per object: at most 0.8x rte_mempool bulk (range_only)");
  bench::target("bulk32_4k", "arenakit_cache_plain_held", "bulk32_4k", "rte_mempool_cache", 1.25,
                "bulk of 32 per object: at most 1.25x rte_mempool bulk (plain held flags)");
  bench::target("pair_4k_1t", "arenakit_direct", "pair_4k_1t", "seed000_linear_scan", 1.0,
                "direct pair (any thread, no cache): at or below the seed-000 scan");
  bench::target("pair_4k_1t", "arenakit_direct", "pair_4k_1t", "rte_mempool_ring", 1.0,
                "direct pair: at or below rte_mempool without a cache (its MP/MC ring)");
  bench::target("pair_4k_2t", "arenakit_direct", "pair_4k_1t_again", "arenakit_direct", 1.5,
                "2 threads, direct path: per-thread pair within 1.5x of 1 thread");
  bench::target("pair_90pct_inorder", "arenakit_direct", "pair_empty_1024sh", "arenakit_direct", 1.5,
                "90% full (in order) over 1024 shards within 1.5x of empty (direct)");
  bench::target("pair_90pct_random", "arenakit_direct", "pair_empty_1024sh", "arenakit_direct", 1.5,
                "90% full (random) over 1024 shards within 1.5x of empty (direct)");
  bench::target("pair_90pct_random", "arenakit_cache", "pair_empty_1024sh", "arenakit_cache", 1.5,
                "90% full (random) over 1024 shards within 1.5x of empty (cache)");
  bench::target("pair_4k_2t", "arenakit_cache", "pair_4k_1t_again", "arenakit_cache", 1.5,
                "2 threads, shared arena: per-thread pair within 1.5x of 1 thread");
  return 0;
}();

} // namespace

ARENAKIT_BENCH_MAIN()
