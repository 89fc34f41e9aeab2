// Two threads release the same bulk-acquired batch at once, each through its
// own cache (a use-after-free in the caller): the word-wise check must let
// exactly one release through per id, so every round ends with each slot
// parked once and the refusals counted. TSan checks the bitmap's atomics.
#include "arena_configs.hpp"

#include <arenakit/arena/arena.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

using namespace arenakit;

TEST_CASE("stress: racing bulk releases of one batch: each id accepted exactly once") {
  using A = Arena<>;
  A arena(arena_test::small_shards());
  constexpr int rounds = 2000;
  constexpr std::uint32_t n = 32;
  SlotId ids[n];
  std::atomic<int> go{0};
  std::atomic<int> done{0};
  std::uint64_t accepted[2] = {0, 0};
  auto releaser = [&](int me) {
    A::Cache cache(arena);
    for (int r = 1; r <= rounds; ++r) {
      while (go.load(std::memory_order_acquire) < r) std::this_thread::yield(); // pairs with the main thread's release
      // Half the rounds split the batch, so the two words race separately.
      const std::uint32_t first = (r & 1) != 0 ? 0 : static_cast<std::uint32_t>(me) * 7;
      accepted[me] += cache.release_bulk(ids + first, n - first);
      if (first != 0) accepted[me] += cache.release_bulk(ids, first);
      cache.flush();
      done.fetch_add(1, std::memory_order_release); // pairs with the main thread's acquire
    }
  };
  A::Cache source(arena);
  std::thread t0(releaser, 0);
  std::thread t1(releaser, 1);
  for (int r = 1; r <= rounds; ++r) {
    REQUIRE(source.acquire_bulk(ids, n) == n);
    go.store(r, std::memory_order_release); // pairs with the releasers' acquire
    while (done.load(std::memory_order_acquire) < 2 * r) std::this_thread::yield(); // pairs with their release
  }
  t0.join();
  t1.join();
  source.flush();
  CHECK(accepted[0] + accepted[1] == std::uint64_t{rounds} * n);
  const ArenaCounters c = arena.counters();
  CHECK(c.refused_not_held == std::uint64_t{rounds} * n);
  CHECK(c.slots_in_use == 0);
  CHECK(c.slots_cached == 0);
}

// PlainHeldFlagsCheck's bulk paths under legitimate sharing (its flags are
// plain loads and stores, so two racing releases of one id are not its
// promise; distinct ids from several threads are): two threads acquire
// batches through their own caches, stamp each slot, and hand every other
// batch to the other thread, which checks the stamps and releases it through
// its cache, a batch at a time, mixed with ids from Arena::acquire(). No
// slot may be handed out twice (a stamp overwritten), nothing is refused,
// and everything comes back. TSan checks the flags' atomics.
TEST_CASE("stress: PlainHeldFlagsCheck bulk batches handed across threads: no slot twice, none lost") {
  using A = Arena<>::with<policy::release_check<PlainHeldFlagsCheck>>;
  A arena(arena_test::small_shards());
  constexpr int rounds = 20000;
  constexpr std::uint32_t n = 32;
  struct Handoff {
    std::mutex m;
    std::vector<std::vector<SlotId>> batches;
  };
  Handoff box[2];
  std::atomic<int> finished{0};
  std::atomic<std::uint64_t> bad_stamps{0};
  auto stamp_of = [&](SlotId id) -> std::atomic_ref<std::uint32_t> {
    return std::atomic_ref<std::uint32_t>(*reinterpret_cast<std::uint32_t*>(arena.buffer(id).data));
  };
  auto worker = [&](int me) {
    A::Cache cache(arena);
    auto release_checked = [&](std::vector<SlotId>& batch) {
      for (const SlotId id : batch)
        if (stamp_of(id).load(std::memory_order_relaxed) != id.raw) bad_stamps.fetch_add(1, std::memory_order_relaxed);
      const auto count = static_cast<std::uint32_t>(batch.size());
      if (cache.release_bulk(batch.data(), count) != count) bad_stamps.fetch_add(1, std::memory_order_relaxed);
    };
    for (int r = 0; r < rounds; ++r) {
      std::vector<SlotId> batch(n);
      if (r % 3 == 0) {
        // One id from Arena::acquire() (held_direct) in the middle.
        REQUIRE(cache.acquire_bulk(batch.data(), n - 1) == n - 1);
        const auto at = static_cast<std::ptrdiff_t>(static_cast<std::uint32_t>(r) % n);
        batch.pop_back();
        batch.insert(batch.begin() + at, arena.acquire());
        REQUIRE(batch[static_cast<std::size_t>(at)]);
      } else {
        REQUIRE(cache.acquire_bulk(batch.data(), n) == n);
      }
      for (const SlotId id : batch) stamp_of(id).store(id.raw, std::memory_order_relaxed);
      if (r % 2 == 0) {
        std::lock_guard lock(box[1 - me].m); // the mutex orders the stamps before the other's checks
        box[1 - me].batches.push_back(std::move(batch));
      } else {
        release_checked(batch);
      }
      std::vector<std::vector<SlotId>> mine;
      {
        std::lock_guard lock(box[me].m);
        mine.swap(box[me].batches);
      }
      for (auto& b : mine) release_checked(b);
    }
    finished.fetch_add(1, std::memory_order_acq_rel); // pairs with the other worker's load below
    while (finished.load(std::memory_order_acquire) < 2) {
      std::vector<std::vector<SlotId>> mine;
      {
        std::lock_guard lock(box[me].m);
        mine.swap(box[me].batches);
      }
      for (auto& b : mine) release_checked(b);
      std::this_thread::yield();
    }
  };
  std::thread t0(worker, 0);
  std::thread t1(worker, 1);
  t0.join();
  t1.join();
  for (auto& b : box)
    for (auto& batch : b.batches) CHECK(arena.release_bulk(batch.data(), static_cast<std::uint32_t>(batch.size())) == batch.size());
  CHECK(bad_stamps.load() == 0);
  const ArenaCounters c = arena.counters();
  CHECK(c.refused_not_held == 0);
  CHECK(c.slots_in_use == 0);
  CHECK(c.slots_cached == 0);
}
