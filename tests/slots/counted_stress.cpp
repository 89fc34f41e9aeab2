// SPDX-License-Identifier: MIT
// Counted slots under contention (run under TSan, label "stress"): retains
// and releases racing from several threads, drops at zero refused and
// counted, and no slot ever freed twice or while a reference is out.
#include <arenakit/arena/arena.hpp>
#include <arenakit/slots/counted.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <vector>

using namespace arenakit;

namespace {
constexpr int threads = 4;

// Runs @fn(t) on `threads` threads, released together.
template <class Fn>
void race(Fn fn) {
  std::atomic<bool> go{false};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      while (!go.load()) std::this_thread::yield();
      fn(t);
    });
  go.store(true);
  for (auto& th : pool) th.join();
}
} // namespace

// Each round the slot holds `threads` references and every thread releases
// twice: exactly `threads` releases are accepted (one of them frees), the
// other `threads` are refused at zero, whoever runs first.
TEST_CASE("counted stress: twice as many releases as references: half refused, one free, no underflow") {
  CountedSlots slots(8);
  constexpr int rounds = 1000;
  std::uint64_t refused_expected = 0;
  for (int round = 0; round < rounds; ++round) {
    std::uint32_t s = 0;
    REQUIRE(slots.claim(&s, 1) == 1);
    for (int i = 1; i < threads; ++i) REQUIRE(slots.retain(s));
    std::atomic<int> kept{0}, freed{0}, refused{0};
    race([&](int) {
      for (int i = 0; i < 2; ++i) {
        switch (slots.release(s)) {
        case SlotRelease::kept: kept.fetch_add(1); break;
        case SlotRelease::released:
        case SlotRelease::was_full: freed.fetch_add(1); break;
        case SlotRelease::refused: refused.fetch_add(1); break;
        case SlotRelease::maybe_was_full: FAIL("CountedSlots always knows whether it was full"); break;
        }
      }
    });
    REQUIRE(freed.load() == 1);
    REQUIRE(kept.load() == threads - 1);
    REQUIRE(refused.load() == threads);
    REQUIRE(slots.is_free(s));
    refused_expected += threads;
  }
  CHECK(slots.counters().refused_drops == refused_expected);
  CHECK(slots.free_count() == 8);
}

// Each round one holder drops its only reference while the other threads
// try to retain (and, if they got one, release it): the slot is freed
// exactly once, never while a retainer holds it, and a retain that comes
// after the free is refused.
TEST_CASE("counted stress: retains racing the last release: one free, refused retains counted") {
  CountedSlots slots(8);
  constexpr int rounds = 1000;
  std::uint64_t refusals = 0;
  for (int round = 0; round < rounds; ++round) {
    std::uint32_t s = 0;
    REQUIRE(slots.claim(&s, 1) == 1);
    std::atomic<int> freed{0}, retained{0}, refused{0};
    race([&](int t) {
      if (t == 0) {
        if (slots.release(s) != SlotRelease::kept) freed.fetch_add(1);
        return;
      }
      if (!slots.retain(s)) {
        refused.fetch_add(1);
        return;
      }
      retained.fetch_add(1);
      // Held: the slot cannot be free now.
      CHECK_FALSE(slots.is_free(s));
      if (slots.release(s) != SlotRelease::kept) freed.fetch_add(1);
    });
    REQUIRE(freed.load() == 1);
    REQUIRE(retained.load() + refused.load() == threads - 1);
    REQUIRE(slots.is_free(s));
    refusals += static_cast<std::uint64_t>(refused.load());
  }
  CHECK(slots.counters().refused_retains == refusals);
  CHECK(slots.counters().refused_drops == 0);
  CHECK(slots.free_count() == 8);
}

// Arena level, with reuse: threads acquire slots, stamp them, take two more
// references and hand the id to the next two threads; every holder checks
// the stamp before it releases. A slot freed while a reference is out would
// be acquired and re-stamped by another thread, and the check would see it.
// With caches, each thread acquires through its own Arena::Cache and
// releases through it (even threads) or through Arena::release() (odd), so
// parked slots, direct frees and cross-thread last drops all mix.
template <bool WithCache>
void shared_holders() {
  using Counted = Arena<>::with<policy::slots<CountedSlots>>;
  Counted arena(ArenaConfig{.slot_size = 64, .shard_size = 4096, .max_shards = 4});
  REQUIRE(arena);
  struct Item {
    SlotId id;
    std::uint64_t stamp;
  };
  struct Box {
    std::mutex m;
    std::vector<Item> items;
  };
  Box boxes[threads];
  constexpr int per_thread = 10000;
  std::atomic<std::uint64_t> next_stamp{1};
  std::atomic<int> bad{0};
  std::atomic<int> producers{threads};
  race([&](int t) {
    std::optional<Counted::Cache> cache;
    if constexpr (WithCache) cache.emplace(arena);
    auto acquire = [&] { return cache ? cache->acquire() : arena.acquire(); };
    auto release = [&](SlotId id) { return cache && t % 2 == 0 ? cache->release(id) : arena.release(id); };
    auto drain = [&](Box& box) {
      std::vector<Item> mine;
      {
        std::lock_guard lock(box.m);
        mine.swap(box.items);
      }
      for (const Item& it : mine) {
        std::uint64_t seen;
        std::memcpy(&seen, arena.pointer(it.id), sizeof seen);
        if (seen != it.stamp) bad.fetch_add(1);
        if (!release(it.id)) bad.fetch_add(1);
      }
    };
    for (int i = 0; i < per_thread; ++i) {
      SlotId id = acquire();
      while (!id) { // every slot is out (or parked in another cache): give ours back, then retry
        drain(boxes[t]);
        id = acquire();
      }
      const std::uint64_t stamp = next_stamp.fetch_add(1);
      std::memcpy(arena.pointer(id), &stamp, sizeof stamp);
      if (!arena.retain(id) || !arena.retain(id)) bad.fetch_add(1);
      for (int k = 1; k <= 2; ++k) {
        Box& to = boxes[(t + k) % threads];
        std::lock_guard lock(to.m);
        to.items.push_back({id, stamp});
      }
      // Our own reference: check and drop it now.
      std::uint64_t seen;
      std::memcpy(&seen, arena.pointer(id), sizeof seen);
      if (seen != stamp || !release(id)) bad.fetch_add(1);
      if (i % 8 == 0) drain(boxes[t]);
    }
    producers.fetch_sub(1);
    while (producers.load() != 0) {
      drain(boxes[t]);
      if (cache) cache->flush(); // what we parked may be what another thread waits for
    }
    drain(boxes[t]);
  });
  for (Box& box : boxes) {
    for (const Item& it : box.items) CHECK(arena.release(it.id));
  }
  CHECK(bad.load() == 0);
  const ArenaCounters c = arena.counters();
  CHECK(c.slots_in_use == 0);
  CHECK(c.refused_releases == 0);
  CHECK(c.refused_retains == 0);
  CHECK(arena.release_memory() == std::error_code{});
}

TEST_CASE("counted stress: an arena's slots shared by three holders are never reused while held") {
  shared_holders<false>();
}

TEST_CASE("counted stress: the same through owner caches, with parked slots and cross-thread last drops") {
  shared_holders<true>();
}

// The owner acquires through its cache and publishes the id; the others try
// to retain it (increment if non-zero) while the owner drops its reference
// through the cache. A retainer that got in releases through Arena::release()
// and may be the last: the slot then goes back to the shard, not the cache.
// A retain after the last drop is refused, or lands on the slot's next use
// (the owner re-acquires it): either way no count goes below zero and no
// slot is lost or parked twice.
TEST_CASE("counted stress: retains racing a cache's last release") {
  using Counted = Arena<>::with<policy::slots<CountedSlots>>;
  Counted arena(ArenaConfig{.slot_size = 64, .shard_size = 4096, .max_shards = 1});
  REQUIRE(arena);
  constexpr int rounds = 2000;
  std::atomic<std::uint32_t> published{0};
  std::atomic<int> round_done{0};
  std::atomic<std::uint64_t> refused{0};
  race([&](int t) {
    if (t == 0) {
      Counted::Cache cache(arena);
      for (int r = 0; r < rounds; ++r) {
        const SlotId id = cache.acquire();
        if (!id) continue;
        published.store(id.raw);
        CHECK(cache.release(id));
        while (round_done.load() < (threads - 1) * (r + 1)) std::this_thread::yield();
      }
      published.store(0);
      return;
    }
    for (int r = 0; r < rounds; ++r) {
      const SlotId id{published.load()};
      if (id && arena.retain(id)) {
        CHECK(arena.release(id));
      } else if (id) {
        refused.fetch_add(1);
      }
      round_done.fetch_add(1);
      while (round_done.load() < (threads - 1) * (r + 1)) std::this_thread::yield();
    }
  });
  const ArenaCounters c = arena.counters();
  CHECK(c.slots_in_use == 0);
  CHECK(c.refused_releases == 0);
  CHECK(c.refused_retains == refused.load());
  std::set<std::uint32_t> seen;
  for (SlotId s; (s = arena.acquire());) CHECK(seen.insert(s.raw).second);
  CHECK(seen.size() == 64);
}
