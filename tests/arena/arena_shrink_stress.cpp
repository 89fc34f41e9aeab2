// SPDX-License-Identifier: MIT
// Issue 15.1 under TSan: shrink() racing acquire / release / growth. Two
// workers take bursts of slots (directly and through their own caches),
// stamp each slot's memory, check the stamp, and give them back; an
// ownership table proves no slot is handed out twice; a third thread keeps
// giving idle shards back (keep_spare_shards = 0), so growth keeps mapping
// given-back numbers again under the workers. A slot handed out from a
// shard being given back would be written after its memory was unmapped
// (a crash), or owned twice (the table). At the end every slot is back and
// shrink() gives back every shard: none lost.
#include <arenakit/arena/arena.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

using namespace arenakit;

namespace {

using StressArena = Arena<>;
constexpr std::uint32_t max_shards = 32;
constexpr int rounds = 3000;

struct Ownership {
  std::vector<std::atomic<std::uint32_t>> owner = std::vector<std::atomic<std::uint32_t>>(1u << 12);

  void take(StressArena& a, SlotId id, std::uint32_t me) {
    REQUIRE(id.position() < owner.size());
    const std::uint32_t prev = owner[id.position()].exchange(me, std::memory_order_acq_rel);
    if (prev != 0) FAIL("slot handed out twice: position ", id.position());
    std::memset(a.pointer(id), static_cast<int>(me), 256); // the memory must be there
  }
  void give(StressArena& a, SlotId id, std::uint32_t me) {
    const auto* p = reinterpret_cast<const unsigned char*>(a.pointer(id));
    for (int i = 0; i < 256; ++i)
      if (p[i] != me) FAIL("stamp overwritten while held: position ", id.position());
    const std::uint32_t prev = owner[id.position()].exchange(0, std::memory_order_acq_rel);
    if (prev != me) FAIL("slot not held by its holder: position ", id.position());
  }
};

} // namespace

TEST_CASE("shrink racing acquire, release and growth: no slot from a shard being given back, none lost") {
  StressArena arena(ArenaConfig{.slot_size = 4096, .shard_size = 64 * 1024, .max_shards = max_shards});
  REQUIRE(arena);
  Ownership own;
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> given_back{0};
  std::thread shrinker([&] {
    std::uint64_t n = 0;
    while (!stop.load(std::memory_order_acquire)) {
      n += arena.shrink(ShrinkPolicy{.keep_spare_shards = 0}).shards_given_back;
      std::this_thread::yield();
    }
    given_back.store(n, std::memory_order_relaxed);
  });
  auto worker = [&](std::uint32_t me) {
    std::mt19937 rng(me);
    StressArena::Cache cache(arena, 16);
    std::vector<SlotId> held;
    for (int round = 0; round < rounds; ++round) {
      const auto want = static_cast<std::uint32_t>(1 + rng() % 96); // bursts: the arena grows and empties
      const bool via_cache = rng() % 2 == 0;
      for (std::uint32_t i = 0; i < want; ++i) {
        const SlotId id = via_cache ? cache.acquire() : arena.acquire();
        if (!id) break; // at the limit
        own.take(arena, id, me);
        held.push_back(id);
      }
      for (SlotId id : held) {
        own.give(arena, id, me);
        REQUIRE((via_cache ? cache.release(id) : arena.release(id)));
      }
      held.clear();
      if (round % 64 == 0) cache.flush();
    }
  };
  std::thread a(worker, 1u), b(worker, 2u);
  a.join();
  b.join();
  stop.store(true, std::memory_order_release);
  shrinker.join();
  const ArenaCounters c = arena.counters();
  CHECK(c.slots_in_use == 0);
  CHECK(c.refused_releases == 0);
  // Everything came back: one last shrink gives back every shard still mapped.
  const ShrinkResult last = arena.shrink(ShrinkPolicy{.keep_spare_shards = 0});
  CHECK(last.shards_kept_busy == 0);
  CHECK(arena.counters().shards == 0);
  CHECK(arena.counters().mappings == 0);
  CHECK(given_back.load() + last.shards_given_back == arena.counters().shards_given_back);
  MESSAGE("shards given back while the workers ran: " << given_back.load());
  CHECK(given_back.load() > 0); // the race really happened
}
