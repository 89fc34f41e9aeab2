// Several threads acquire and release at random — through their own caches,
// directly, in bulk, and across threads — while an ownership table checks
// that no slot is ever handed out twice. Run under TSan by the tsan preset.
#include <arenakit/arena/arena.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

using namespace arenakit;

namespace {
using StressArena = Arena<>;

constexpr std::uint32_t max_shards = 8;
constexpr std::size_t slot_size = 1024;
constexpr std::size_t shard_size = 16 * 1024; // 16 slots per shard, 128 in all: the limit is hit often

struct Ownership {
  std::atomic<std::uint32_t> owner[1u << 12]{};

  void take(StressArena& arena, SlotId id, std::uint32_t me) {
    REQUIRE(id.position() < (1u << 12));
    const std::uint32_t prev = owner[id.position()].exchange(me + 1, std::memory_order_acq_rel);
    if (prev != 0) FAIL("slot handed out twice: position ", id.position(), " held by ", prev - 1);
    // Stamp the buffer: a second holder's writes would race with ours (TSan).
    std::memset(arena.pointer(id), static_cast<int>(me + 1), 64);
  }
  void give(StressArena& arena, SlotId id, std::uint32_t me) {
    const auto* p = reinterpret_cast<const unsigned char*>(arena.pointer(id));
    const std::uint32_t holder = owner[id.position()].load(std::memory_order_relaxed);
    REQUIRE(holder != 0);
    // The stamp is the last holder's (a handed-over slot keeps its stamp).
    CHECK(p[0] == static_cast<unsigned char>(holder));
    (void)me;
    owner[id.position()].store(0, std::memory_order_release);
  }
};

struct Handoff {
  std::mutex mutex;
  std::vector<SlotId> ids;
};
} // namespace

TEST_CASE("random acquire/release from 4 threads never hands a slot out twice") {
  StressArena arena(ArenaConfig{.slot_size = slot_size, .shard_size = shard_size, .max_shards = max_shards});
  REQUIRE(arena);
  Ownership own;
  Handoff handoff;
  constexpr int threads = 4;
  constexpr int ops = 40000;
  std::atomic<std::uint64_t> acquired{0}, released{0};

  auto worker = [&](std::uint32_t me) {
    std::mt19937 rng(1234 + me);
    StressArena::Cache cache(arena, 4 + me * 4);
    std::vector<SlotId> mine;
    SlotId bulk[8];
    for (int i = 0; i < ops; ++i) {
      const auto dice = static_cast<unsigned>(rng() % 100);
      if (dice < 30) {
        SlotId id = cache.acquire();
        if (id) {
          own.take(arena, id, me);
          mine.push_back(id);
          acquired.fetch_add(1, std::memory_order_relaxed);
        }
      } else if (dice < 40) {
        SlotId id = arena.acquire();
        if (id) {
          own.take(arena, id, me);
          mine.push_back(id);
          acquired.fetch_add(1, std::memory_order_relaxed);
        }
      } else if (dice < 45) {
        const auto n = static_cast<std::uint32_t>(1 + rng() % 8);
        const std::uint32_t got = (rng() % 2) ? cache.acquire_bulk(bulk, n) : arena.acquire_bulk(bulk, n);
        CHECK((got == 0 || got == n));
        for (std::uint32_t k = 0; k < got; ++k) {
          own.take(arena, bulk[k], me);
          mine.push_back(bulk[k]);
        }
        acquired.fetch_add(got, std::memory_order_relaxed);
      } else if (dice < 85 && !mine.empty()) {
        const std::size_t pick = rng() % mine.size();
        SlotId id = mine[pick];
        mine[pick] = mine.back();
        mine.pop_back();
        own.give(arena, id, me);
        CHECK(((rng() % 2) ? cache.release(id) : arena.release(id)));
        released.fetch_add(1, std::memory_order_relaxed);
      } else if (dice < 92 && !mine.empty()) {
        // Hand a held slot to whichever thread picks it up next.
        std::lock_guard lock(handoff.mutex);
        handoff.ids.push_back(mine.back());
        mine.pop_back();
      } else {
        SlotId id{};
        {
          std::lock_guard lock(handoff.mutex);
          if (!handoff.ids.empty()) {
            id = handoff.ids.back();
            handoff.ids.pop_back();
          }
        }
        if (id) {
          own.give(arena, id, me);
          CHECK(cache.release(id));
          released.fetch_add(1, std::memory_order_relaxed);
        }
      }
    }
    for (SlotId id : mine) {
      own.give(arena, id, me);
      CHECK(cache.release(id));
      released.fetch_add(1, std::memory_order_relaxed);
    }
  };

  std::vector<std::thread> pool;
  for (std::uint32_t t = 0; t < threads; ++t) pool.emplace_back(worker, t);
  for (auto& t : pool) t.join();
  for (SlotId id : handoff.ids) {
    own.give(arena, id, 99);
    CHECK(arena.release(id));
    released.fetch_add(1);
  }

  CHECK(acquired.load() == released.load());
  CHECK(acquired.load() > 1000);
  auto c = arena.counters();
  CHECK(c.slots_in_use == 0);
  CHECK(c.slots_cached == 0);
  CHECK(c.refused_releases == 0);
  CHECK(c.shards <= max_shards);

  // Every slot is free at the end: exactly shards x 16 can be taken again,
  // all distinct, and then the arena is full.
  const std::uint32_t total = max_shards * 16;
  std::vector<SlotId> all(total);
  REQUIRE(arena.acquire_bulk(all.data(), total) == total);
  std::vector<std::uint32_t> raws;
  for (SlotId id : all) raws.push_back(id.raw);
  std::sort(raws.begin(), raws.end());
  CHECK(std::adjacent_find(raws.begin(), raws.end()) == raws.end());
  CHECK_FALSE(arena.acquire());
  CHECK(arena.release_bulk(all.data(), total) == total);
}

TEST_CASE("two threads racing on the partial stack over many nearly-full shards") {
  // Shards flip between full and non-full all the time: the push/pop/listed
  // protocol must never strand a shard with free slots off the stack.
  StressArena arena(ArenaConfig{.slot_size = 4096, .shard_size = 64 * 1024, .max_shards = 64});
  std::vector<SlotId> fill(64 * 16);
  REQUIRE(arena.acquire_bulk(fill.data(), 64 * 16) == 64 * 16);
  // Free one slot per shard: every shard is one release away from full.
  std::vector<SlotId> spare;
  for (std::size_t i = 0; i < fill.size(); i += 16) spare.push_back(fill[i]);
  for (SlotId id : spare) REQUIRE(arena.release(id));

  auto churn = [&](unsigned seed) {
    std::mt19937 rng(seed);
    for (int i = 0; i < 20000; ++i) {
      SlotId id = arena.acquire();
      REQUIRE(id); // 64 free slots, at most 2 held at once: never empty
      if (rng() % 4 == 0) std::this_thread::yield();
      REQUIRE(arena.release(id));
    }
  };
  std::thread a(churn, 1), b(churn, 2);
  a.join();
  b.join();
  // All 64 spare slots are still findable, with no growth.
  std::vector<SlotId> again(64);
  CHECK(arena.acquire_bulk(again.data(), 64) == 64);
  CHECK(arena.counters().shards == 64);
  CHECK_FALSE(arena.acquire());
  arena.release_bulk(again.data(), 64);
  for (std::size_t i = 0; i < fill.size(); ++i)
    if (i % 16 != 0) arena.release(fill[i]);
  CHECK(arena.counters().slots_in_use == 0);
}
