// SPDX-License-Identifier: MIT
// urcu-qsbr read side (its read lock is empty by design; quiescent states are
// announced separately, here once per 1024 guards).
#define _LGPL_SOURCE
#include <benchmark/benchmark.h>

#include <urcu/urcu-qsbr.h>

namespace {
void guard_urcu_qsbr(benchmark::State& state) {
  urcu_qsbr_register_thread();
  std::uint64_t n = 0;
  for (auto _ : state) {
    urcu_qsbr_read_lock();
    benchmark::ClobberMemory();
    urcu_qsbr_read_unlock();
    if ((++n & 1023u) == 0) urcu_qsbr_quiescent_state();
  }
  urcu_qsbr_unregister_thread();
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(guard_urcu_qsbr)->Name("guard/urcu_qsbr");
} // namespace
