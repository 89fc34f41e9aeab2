// Two threads release the same bulk-acquired batch at once, each through its
// own cache (a use-after-free in the caller): the word-wise check must let
// exactly one release through per id, so every round ends with each slot
// parked once and the refusals counted. TSan checks the bitmap's atomics.
#include "arena_configs.hpp"

#include <arenakit/arena/arena.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <cstdint>
#include <thread>

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
