// SPDX-License-Identifier: MIT
// xenium's epoch_based and debra reclaimers: guard (guard_ptr acquire+reset)
// and retire+reclaim per object (guard_ptr::reclaim, new and delete included).
#include <benchmark/benchmark.h>

#include <array> // xenium uses std::array without including it (clang)
#include <xenium/reclamation/generic_epoch_based.hpp>

#include <cstdint>

namespace {
template <class R>
struct XNode : R::template enable_concurrent_ptr<XNode<R>> {
  std::uint64_t payload[4] = {};
};

template <class R>
void guard_xenium(benchmark::State& state) {
  using cptr = typename R::template concurrent_ptr<XNode<R>>;
  cptr shared{typename cptr::marked_ptr(new XNode<R>{})};
  for (auto _ : state) {
    typename cptr::guard_ptr g;
    g.acquire(shared, std::memory_order_acquire);
    benchmark::DoNotOptimize(g.get());
    g.reset();
  }
  typename cptr::guard_ptr g{shared.load(std::memory_order_relaxed)};
  shared.store(nullptr, std::memory_order_relaxed);
  g.reclaim();
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}

template <class R>
void retire_xenium(benchmark::State& state) {
  using cptr = typename R::template concurrent_ptr<XNode<R>>;
  for (auto _ : state) {
    auto* n = new XNode<R>{};
    benchmark::DoNotOptimize(n);
    typename cptr::guard_ptr g{typename cptr::marked_ptr(n)};
    g.reclaim();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}

using epoch_based = xenium::reclamation::epoch_based<>;
using debra = xenium::reclamation::debra<>;
BENCHMARK_TEMPLATE(guard_xenium, epoch_based)->Name("guard/xenium_epoch_based_guard_ptr");
BENCHMARK_TEMPLATE(guard_xenium, debra)->Name("guard/xenium_debra_guard_ptr");
BENCHMARK_TEMPLATE(retire_xenium, epoch_based)->Name("retire/xenium_epoch_based");
BENCHMARK_TEMPLATE(retire_xenium, debra)->Name("retire/xenium_debra");
} // namespace
