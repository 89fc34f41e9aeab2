// SPDX-License-Identifier: MIT
// DPDK rte_mempool as the arena's peer. Compiled with DPDK's own flags in a
// translation unit of its own (pkg-config's -march=corei7 stays off ours).
#include <benchmark/benchmark.h>

#include <rte_eal.h>
#include <rte_lcore.h>
#include <rte_mempool.h>

#include <pthread.h>
#include <sched.h>

#include <cstdio>

namespace {

constexpr unsigned elt_size = 4096;
constexpr unsigned pool_size = 8191; // 2^n - 1 is what rte_mempool sizes best
constexpr unsigned cache_size = 256;

rte_mempool* pool() {
  static rte_mempool* mp = [] () -> rte_mempool* {
    cpu_set_t saved;
    CPU_ZERO(&saved);
    pthread_getaffinity_np(pthread_self(), sizeof saved, &saved);
    char arg0[] = "bench_arena", a1[] = "--no-huge", a2[] = "--no-pci", a3[] = "--no-shconf",
         a4[] = "--no-telemetry", a5[] = "-l", a6[] = "0-1", a7[] = "-m", a8[] = "256",
         a9[] = "--log-level=error";
    char* argv[] = {arg0, a1, a2, a3, a4, a5, a6, a7, a8, a9, nullptr};
    if (rte_eal_init(10, argv) < 0) {
      std::fprintf(stderr, "rte_eal_init failed: DPDK rows skipped\n");
      return nullptr;
    }
    // EAL pins the main thread to lcore 0's CPU; give the benchmark threads
    // (which inherit it) both CPUs back.
    pthread_setaffinity_np(pthread_self(), sizeof saved, &saved);
    return rte_mempool_create("arenakit_peer", pool_size, elt_size, cache_size, 0, nullptr,
                              nullptr, nullptr, nullptr, SOCKET_ID_ANY, 0);
  }();
  return mp;
}

// @cached: through the lcore's cache (the main thread is EAL lcore 0), or
// with a null cache pointer, so that every get and put goes to the pool's
// multi-producer / multi-consumer ring, as any thread may: the peer of the
// arena's direct path, which also serves any thread without a cache.
template <bool cached>
void pair(benchmark::State& state) {
  rte_mempool* mp = pool();
  if (mp == nullptr) {
    state.SkipWithError("DPDK EAL or mempool unavailable");
    return;
  }
  rte_mempool_cache* cache = cached ? rte_mempool_default_cache(mp, rte_lcore_id()) : nullptr;
  for (auto _ : state) {
    void* obj;
    rte_mempool_generic_get(mp, &obj, 1, cache);
    benchmark::DoNotOptimize(obj);
    rte_mempool_generic_put(mp, &obj, 1, cache);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(pair<true>)->Name("pair_4k_1t/rte_mempool_cache");
BENCHMARK(pair<false>)->Name("pair_4k_1t/rte_mempool_ring");

void bulk_cached(benchmark::State& state) {
  rte_mempool* mp = pool();
  if (mp == nullptr) {
    state.SkipWithError("DPDK EAL or mempool unavailable");
    return;
  }
  void* objs[32];
  for (auto _ : state) {
    rte_mempool_get_bulk(mp, objs, 32);
    benchmark::DoNotOptimize(objs);
    rte_mempool_put_bulk(mp, objs, 32);
  }
  state.SetItemsProcessed(state.iterations() * 32);
}
BENCHMARK(bulk_cached)->Name("bulk32_4k/rte_mempool_cache");

// Two threads: benchmark threads are not EAL lcores, so each gets a user-owned
// cache (rte_mempool_cache_create), the documented way for such threads.
void pair_2t(benchmark::State& state) {
  rte_mempool* mp = pool();
  if (mp == nullptr) {
    state.SkipWithError("DPDK EAL or mempool unavailable");
    return;
  }
  rte_mempool_cache* cache = rte_mempool_cache_create(cache_size, SOCKET_ID_ANY);
  for (auto _ : state) {
    void* obj;
    rte_mempool_generic_get(mp, &obj, 1, cache);
    benchmark::DoNotOptimize(obj);
    rte_mempool_generic_put(mp, &obj, 1, cache);
  }
  rte_mempool_cache_flush(cache, mp);
  rte_mempool_cache_free(cache);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(pair_2t)->Name("pair_4k_2t/rte_mempool_user_cache")->Threads(2)->UseRealTime();

} // namespace
