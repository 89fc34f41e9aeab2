// SPDX-License-Identifier: MIT
// DPDK rte_mempool with its per-lcore cache: the page pool's peer. Compiled
// with DPDK's flags only (it adds -march=corei7).
#include <benchmark/benchmark.h>

#include <rte_eal.h>
#include <rte_lcore.h>
#include <rte_mempool.h>

namespace {
rte_mempool* pool() {
  static rte_mempool* mp = [] () -> rte_mempool* {
    static char a0[] = "bench_reclaim", a1[] = "--no-huge", a2[] = "--no-pci", a3[] = "--no-shconf",
                a4[] = "--no-telemetry", a5[] = "-l", a6[] = "0-1", a7[] = "--log-level=error";
    char* argv[] = {a0, a1, a2, a3, a4, a5, a6, a7};
    if (rte_eal_init(8, argv) < 0) return nullptr;
    // 2047 elements of 4 KB, cache of 256 per lcore: the usual mbuf-pool shape.
    return rte_mempool_create("reclaim_pages", 2047, 4096, 256, 0, nullptr, nullptr, nullptr,
                              nullptr, SOCKET_ID_ANY, 0);
  }();
  return mp;
}

void pool_pair_dpdk(benchmark::State& state) {
  rte_mempool* mp = pool();
  if (mp == nullptr) {
    state.SkipWithError("rte_eal_init or rte_mempool_create failed");
    return;
  }
  for (auto _ : state) {
    void* obj = nullptr;
    if (rte_mempool_get(mp, &obj) != 0) state.SkipWithError("empty");
    benchmark::DoNotOptimize(obj);
    rte_mempool_put(mp, obj);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(pool_pair_dpdk)->Name("pool_pair/dpdk_mempool_cached");

void pool_bulk32_dpdk(benchmark::State& state) {
  rte_mempool* mp = pool();
  if (mp == nullptr) {
    state.SkipWithError("rte_eal_init or rte_mempool_create failed");
    return;
  }
  void* objs[32];
  for (auto _ : state) {
    if (rte_mempool_get_bulk(mp, objs, 32) != 0) state.SkipWithError("empty");
    benchmark::DoNotOptimize(objs);
    rte_mempool_put_bulk(mp, objs, 32);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * 32);
}
BENCHMARK(pool_bulk32_dpdk)->Name("pool_bulk32/dpdk_mempool_cached");
} // namespace
