// SPDX-License-Identifier: MIT
// Racing double releases (issue 10, defects 2 and 3), label "stress", run
// under TSan. Two threads release the same ids at once, each through its own
// path (direct, an owner cache, cache bulk, arena bulk). For every id exactly
// one release is accepted; no id is ever handed out twice (an ownership table
// checks every acquire); the refusal count is exact; a sampler checks that
// counters never report more slots than exist; release_memory() refuses
// while anything is held. Built with ARENAKIT_TEST_HOOKS: a YieldPoint at
// the held-flag transition makes the racers meet inside it often.
#include "pause_point.hpp"

#include <arenakit/arena/arena.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <barrier>
#include <cstdint>
#include <thread>
#include <vector>

using namespace arenakit;

namespace {

enum class Path { direct, cache, cache_bulk, arena_bulk };

constexpr std::uint32_t shards = 16;
constexpr std::uint32_t slots_per_shard = 16;
constexpr std::uint32_t capacity = shards * slots_per_shard;
constexpr std::uint32_t per_racer = 8;

ArenaConfig config() {
  ArenaConfig cfg;
  cfg.slot_size = 4096;
  cfg.shard_size = 64 * 1024;
  cfg.max_shards = shards;
  return cfg;
}

struct Racer {
  Arena<>& arena;
  Path path;
  Arena<>::Cache* cache = nullptr;

  SlotId acquire() const { return path == Path::direct || path == Path::arena_bulk ? arena.acquire() : cache->acquire(); }

  // Releases every id; result[i] = accepted.
  void release(const std::vector<SlotId>& ids, std::vector<std::uint8_t>& result) const {
    result.assign(ids.size(), 0);
    switch (path) {
    case Path::direct:
      for (std::size_t i = 0; i < ids.size(); ++i) result[i] = arena.release(ids[i]) ? 1 : 0;
      break;
    case Path::cache:
      for (std::size_t i = 0; i < ids.size(); ++i) result[i] = cache->release(ids[i]) ? 1 : 0;
      break;
    case Path::cache_bulk:
    case Path::arena_bulk:
      // One id per bulk call, so each id's outcome is known (the bulk paths
      // report a count): the race is still inside the bulk code.
      for (std::size_t i = 0; i < ids.size(); ++i)
        result[i] = static_cast<std::uint8_t>(path == Path::cache_bulk ? cache->release_bulk(&ids[i], 1)
                                                                        : arena.release_bulk(&ids[i], 1));
      break;
    }
  }
};

void race(Path pa, Path pb, int trials) {
  Arena<> arena(config());
  REQUIRE(arena);
  std::atomic<std::uint8_t> out[capacity] = {}; // 1 = handed out, not yet given back
  std::atomic<std::uint64_t> twice{0}, winners_wrong{0}, empty{0};
  std::vector<SlotId> ids_a, ids_b, all;
  std::vector<std::uint8_t> res_a, res_b;
  std::barrier sync(3);
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> impossible{0}, samples{0};

  std::thread sampler([&] {
    while (!stop.load()) {
      const ArenaCounters c = arena.counters();
      if (c.high_water > capacity || c.slots_in_use > capacity || c.slots_in_use + c.slots_cached > capacity)
        ++impossible;
      ++samples;
    }
  });

  auto racer = [&](Path path, std::vector<SlotId>& mine, std::vector<std::uint8_t>& res) {
    Arena<>::Cache cache(arena);
    const Racer r{arena, path, &cache};
    for (int t = 0; t < trials; ++t) {
      mine.clear();
      for (std::uint32_t i = 0; i < per_racer; ++i) {
        const SlotId id = r.acquire();
        if (!id) {
          ++empty;
          continue;
        }
        if (out[id.position()].exchange(1) != 0) ++twice; // handed out twice
        mine.push_back(id);
      }
      sync.arrive_and_wait(); // (1) both have acquired; main builds `all`
      sync.arrive_and_wait(); // (2) `all` is ready
      r.release(all, res);
      sync.arrive_and_wait(); // (3) both have released; main checks
      sync.arrive_and_wait(); // (4) checked
    }
  };
  std::thread a(racer, pa, std::ref(ids_a), std::ref(res_a));
  std::thread b(racer, pb, std::ref(ids_b), std::ref(res_b));
  pause_test::YieldPoint widen(arenakit::detail::TestPoint::arena_release_held_read, 1);
  std::uint64_t refusals_expected = 0;
  for (int t = 0; t < trials; ++t) {
    sync.arrive_and_wait(); // (1)
    all = ids_a;
    all.insert(all.end(), ids_b.begin(), ids_b.end());
    // About to be given back by exactly one of the racers.
    for (const SlotId id : all) out[id.position()].store(0);
    sync.arrive_and_wait(); // (2)
    sync.arrive_and_wait(); // (3)
    for (std::size_t i = 0; i < all.size(); ++i)
      if (res_a[i] + res_b[i] != 1) ++winners_wrong;
    refusals_expected += all.size();
    sync.arrive_and_wait(); // (4)
  }
  a.join();
  b.join();
  stop = true;
  sampler.join();

  CHECK(twice.load() == 0);
  CHECK(winners_wrong.load() == 0);
  CHECK(empty.load() == 0);
  CHECK(impossible.load() == 0);
  const ArenaCounters c = arena.counters();
  CHECK(c.refused_not_held == refusals_expected);
  CHECK(c.slots_in_use == 0);
  CHECK(c.slots_cached == 0);
  CHECK(c.high_water <= capacity);
  // release_memory() decides from the shards: refused while one slot is out.
  const SlotId held = arena.acquire();
  REQUIRE(held);
  CHECK(arena.release_memory() == make_error_code(errc::slots_outstanding));
  CHECK(arena.counters().shards != 0);
  CHECK(arena.release(held));
  CHECK_FALSE(arena.release_memory());
  MESSAGE("trials " << trials << ", counter samples " << samples.load());
}

} // namespace

TEST_CASE("racing double releases: direct vs owner cache") { race(Path::direct, Path::cache, 1500); }
TEST_CASE("racing double releases: owner cache vs owner cache") { race(Path::cache, Path::cache, 1500); }
TEST_CASE("racing double releases: cache bulk vs arena bulk") { race(Path::cache_bulk, Path::arena_bulk, 1500); }
TEST_CASE("racing double releases: direct vs direct") { race(Path::direct, Path::direct, 1500); }
