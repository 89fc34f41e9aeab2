// SPDX-License-Identifier: MIT
// liburcu peers: urcu-memb read side, call_rcu, and the wait-free
// concurrent queue cds_wfcq (enqueue is the completion-side push).
#define _LGPL_SOURCE
#include <benchmark/benchmark.h>

#include <urcu/urcu-memb.h>
#include <urcu/wfcqueue.h>

#include <cstdint>
#include <vector>

namespace {
void guard_urcu_memb(benchmark::State& state) {
  urcu_memb_register_thread();
  for (auto _ : state) {
    urcu_memb_read_lock();
    benchmark::ClobberMemory();
    urcu_memb_read_unlock();
  }
  urcu_memb_unregister_thread();
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(guard_urcu_memb)->Name("guard/urcu_memb");

struct RcuObj {
  rcu_head head;
  std::uint64_t payload[4];
};
void free_rcu_obj(rcu_head* h) { delete caa_container_of(h, RcuObj, head); }

/// Caller-side cost of call_rcu (the free runs on liburcu's call_rcu thread;
/// the barrier that waits for it is outside the timed loop).
void retire_urcu_call_rcu(benchmark::State& state) {
  urcu_memb_register_thread();
  for (auto _ : state) {
    auto* o = new RcuObj{};
    benchmark::DoNotOptimize(o);
    urcu_memb_call_rcu(&o->head, free_rcu_obj);
  }
  urcu_memb_barrier();
  urcu_memb_unregister_thread();
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(retire_urcu_call_rcu)->Name("retire/urcu_memb_call_rcu_caller_side");

struct QNode {
  cds_wfcq_node node;
};

void push_urcu_wfcq(benchmark::State& state) {
  constexpr std::size_t count = 65536;
  std::vector<QNode> nodes(count);
  cds_wfcq_head head;
  cds_wfcq_tail tail;
  cds_wfcq_init(&head, &tail);
  std::size_t i = 0;
  for (auto _ : state) {
    cds_wfcq_node_init(&nodes[i].node);
    cds_wfcq_enqueue(cds_wfcq_head_cast(&head), &tail, &nodes[i].node);
    if (++i == count) {
      state.PauseTiming();
      cds_wfcq_head dh;
      cds_wfcq_tail dt;
      cds_wfcq_init(&dh, &dt);
      __cds_wfcq_splice_blocking(cds_wfcq_head_cast(&dh), &dt, cds_wfcq_head_cast(&head), &tail);
      i = 0;
      state.ResumeTiming();
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(push_urcu_wfcq)->Name("push/urcu_cds_wfcq");
} // namespace
