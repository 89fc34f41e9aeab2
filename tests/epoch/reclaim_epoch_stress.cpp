// SPDX-License-Identifier: MIT
// Epoch domain under threads (TSan/ASan): readers traverse shared objects
// inside guards while retirers replace and retire them. A reader that sees a
// freed object finds a dead canary (and ASan reports the use after free);
// TSan checks that every free happens-after the last read. At teardown every
// object ever allocated has been freed exactly once.
#include <arenakit/epoch/epoch.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <thread>
#include <vector>

using namespace arenakit;

namespace {
constexpr std::uint64_t alive = 0x600DF00D600DF00Dull;
constexpr std::uint64_t dead = 0xBAADF00DBAADF00Dull;
std::atomic<long> g_allocated{0};
std::atomic<long> g_freed{0};

struct Obj : EpochHook {
  std::uint64_t canary = alive;
  std::uint64_t payload[3] = {1, 2, 3};
  Obj() { g_allocated.fetch_add(1, std::memory_order_relaxed); }
};
void free_obj(EpochHook* h) noexcept {
  auto* o = static_cast<Obj*>(h);
  o->canary = dead;
  g_freed.fetch_add(1, std::memory_order_relaxed);
  delete o;
}

void run(ReaderFence fence, std::size_t bound, OnGarbageBound action) {
  constexpr int slots = 8;
  constexpr int readers = 2;
  constexpr int retirers = 2;
  constexpr int writes_per_retirer = 20000;
  g_allocated = 0;
  g_freed = 0;
  std::atomic<long> bad{0};
  std::atomic<long> reads{0};
  {
    auto created = EpochDomain::create(
        {.batch_size = 32, .garbage_bound = bound, .on_bound = action, .fence = fence});
    REQUIRE(created);
    EpochDomain& d = **created;
    std::vector<std::atomic<Obj*>> shared(slots);
    for (auto& s : shared) s.store(new Obj{});
    std::atomic<int> writers_done{0};
    std::atomic<int> readers_started{0};
    std::vector<std::thread> threads;
    for (int r = 0; r < readers; ++r)
      threads.emplace_back([&, r] {
        EpochThread me(d, r == 0 ? "reader-0" : "reader-1");
        long local = 0;
        readers_started.fetch_add(1);
        for (long pass = 0; writers_done.load(std::memory_order_acquire) < retirers; ++pass) {
          if ((pass & 127) == 127) std::this_thread::yield(); // outside the guard
          EpochGuard g(me);
          for (int i = 0; i < slots; ++i) {
            EpochGuard nested(me); // nesting on the hot path too
            Obj* o = shared[static_cast<std::size_t>(i)].load(std::memory_order_acquire);
            if (o->canary != alive || o->payload[0] + o->payload[1] != o->payload[2]) bad.fetch_add(1);
            ++local;
          }
        }
        reads.fetch_add(local);
      });
    for (int w = 0; w < retirers; ++w)
      threads.emplace_back([&, w] {
        EpochThread me(d, "retirer");
        while (readers_started.load() < readers) std::this_thread::yield();
        for (int i = 0; i < writes_per_retirer; ++i) {
          auto slot = static_cast<std::size_t>((i * 7 + w) % slots);
          Obj* fresh = new Obj{};
          Obj* old = shared[slot].exchange(fresh, std::memory_order_acq_rel);
          while (me.retire(old, &free_obj) != RetireResult::accepted) d.try_reclaim();
          if ((i & 255) == 255) std::this_thread::yield(); // let readers run on 2 cores
        }
        writers_done.fetch_add(1, std::memory_order_release);
      });
    for (auto& t : threads) t.join();
    auto r = d.counters();
    CHECK(r.reserved <= bound);
    MESSAGE("reads=" << reads.load() << " advances=" << r.advances << " reclaimed=" << r.reclaimed
                     << " refused=" << r.refused);
    for (auto& s : shared) d.retire(s.exchange(nullptr), &free_obj);
    CHECK(d.barrier() == std::error_code{});
  }
  CHECK(bad.load() == 0);
  CHECK(g_freed.load() == g_allocated.load());
}
} // namespace

TEST_CASE("stress: readers against retirers, asymmetric (membarrier) fence") {
  run(ReaderFence::asymmetric, std::size_t{1} << 20, OnGarbageBound::refuse);
}

TEST_CASE("stress: readers against retirers, symmetric fence") {
  run(ReaderFence::symmetric, std::size_t{1} << 20, OnGarbageBound::refuse);
}

TEST_CASE("stress: a tight bound with waiting retirers still frees everything") {
  run(ReaderFence::asymmetric, 256, OnGarbageBound::wait);
}
