// SPDX-License-Identifier: MIT
// Arena races forced deterministically (built with ARENAKIT_TEST_HOOKS): one
// thread stops at a pause point inside its race window, the test runs the
// racing call on another thread, then lets the first go on. Each case fails
// on every run with the bug it guards against (issue 10, defects 2 and 3).
#include "arena_configs.hpp"
#include "pause_point.hpp"

#include <arenakit/arena/arena.hpp>
#include <arenakit/lists/release_list.hpp>
#include <arenakit/reclaimers/deferred.hpp>

#include <doctest/doctest.h>

#include <cstdint>
#include <thread>
#include <vector>

using namespace arenakit;
using arenakit::detail::TestPoint;

using arena_test::one_shard;

// Defect 2: the held flag was a load, then a store. Two releases of one id,
// the first stopped between its load and its store, were both accepted.
TEST_CASE("arena races: two direct releases of one id, one stopped after reading the held flag") {
  Arena<> arena(one_shard());
  REQUIRE(arena);
  const SlotId id = arena.acquire();
  REQUIRE(id);
  pause_test::PausePoint pause(TestPoint::arena_release_held_read);
  bool first = false;
  std::thread t([&] { first = arena.release(id); });
  pause.wait_until_paused();
  const bool second = arena.release(id);
  pause.resume();
  t.join();
  CHECK(first != second); // exactly one winner
  const auto c = arena.counters();
  CHECK(c.refused_not_held == 1);
  CHECK(c.slots_in_use == 0);
  // The slot is handed out once: all 16 come back, and no 17th.
  std::vector<SlotId> all;
  for (SlotId s; (s = arena.acquire());) all.push_back(s);
  CHECK(all.size() == 16);
  for (const SlotId s : all) CHECK(arena.release(s));
  CHECK(!arena.release_memory());
}

// The same race through two owner caches: the loser must not park the id,
// or both caches would hand it out.
TEST_CASE("arena races: releases of one id through two caches, one stopped after reading the held flag") {
  Arena<> arena(one_shard());
  REQUIRE(arena);
  const SlotId id = arena.acquire();
  REQUIRE(id);
  pause_test::PausePoint pause(TestPoint::arena_release_held_read);
  bool first = false;
  std::vector<SlotId> from_first;
  std::thread t([&] {
    Arena<>::Cache mine(arena);
    first = mine.release(id);
    for (SlotId s; (s = mine.acquire());) from_first.push_back(s);
  });
  pause.wait_until_paused();
  bool second = false;
  std::vector<SlotId> from_second;
  {
    Arena<>::Cache other(arena);
    second = other.release(id);
    pause.resume();
    t.join();
    for (SlotId s; (s = other.acquire());) from_second.push_back(s);
  }
  CHECK(first != second);
  // Between them the caches handed out every slot exactly once.
  std::vector<int> seen(16, 0);
  for (const SlotId s : from_first) ++seen[s.position()];
  for (const SlotId s : from_second) ++seen[s.position()];
  for (int n : seen) CHECK(n == 1);
  CHECK(from_first.size() + from_second.size() == 16);
}

// Issue 13: a slot from Arena::acquire() is `held_direct`, and its direct
// release clears the flag with a plain store and lets the bitmap decide. A
// cache release racing with it must decide by the bitmap too, never park the
// slot: each case stops one side inside its window and checks that exactly
// one release wins and every slot is handed out once afterwards.
namespace {
void check_each_slot_once(Arena<>& arena) {
  std::vector<int> seen(16, 0);
  std::vector<SlotId> all;
  for (SlotId s; (s = arena.acquire());) all.push_back(s);
  for (const SlotId s : all) ++seen[s.position()];
  for (int n : seen) CHECK(n == 1);
  for (const SlotId s : all) CHECK(arena.release(s));
}
} // namespace

TEST_CASE("arena races: a direct release stopped after reading held_direct, a cache release of the same id") {
  Arena<> arena(one_shard());
  const SlotId id = arena.acquire();
  REQUIRE(id);
  pause_test::PausePoint pause(TestPoint::arena_release_held_read);
  bool first = false;
  std::thread t([&] { first = arena.release(id); });
  pause.wait_until_paused();
  bool second = false;
  {
    Arena<>::Cache cache(arena);
    second = cache.release(id);
    CHECK(cache.cached() == 0);
    pause.resume();
    t.join();
  }
  CHECK(first != second);
  CHECK(arena.counters().refused_not_held == 1);
  CHECK(arena.counters().slots_in_use == 0);
  check_each_slot_once(arena);
}

TEST_CASE("arena races: a cache release stopped after exchanging held_direct, a direct release of the same id") {
  Arena<> arena(one_shard());
  const SlotId id = arena.acquire();
  REQUIRE(id);
  pause_test::PausePoint pause(TestPoint::arena_release_held_read);
  bool first = false;
  std::uint32_t parked = 0;
  std::thread t([&] {
    Arena<>::Cache cache(arena);
    first = cache.release(id);
    parked = cache.cached();
  });
  pause.wait_until_paused();
  const bool second = arena.release(id);
  pause.resume();
  t.join();
  CHECK(first != second);
  CHECK(parked == 0);
  CHECK(arena.counters().refused_not_held == 1);
  CHECK(arena.counters().slots_in_use == 0);
  check_each_slot_once(arena);
}

// Defect 3: return_shared() put slots back in the bitmap before it took them
// off the claimed count, so a claimer in between counted them twice: the
// high-water mark passed the number of slots that exist.
TEST_CASE("arena races: a claim between a release's bitmap return and its count never passes capacity") {
  Arena<> arena(one_shard());
  REQUIRE(arena);
  std::vector<SlotId> all(16);
  REQUIRE(arena.acquire_bulk(all.data(), 16) == 16);
  pause_test::PausePoint pause(TestPoint::arena_return_bitmap_done);
  std::thread t([&] { CHECK(arena.release(all[0])); });
  pause.wait_until_paused();
  const SlotId again = arena.acquire(); // takes the slot just put back
  CHECK(again);
  const auto c = arena.counters();
  CHECK(c.high_water <= 16);
  CHECK(c.slots_in_use <= 16);
  pause.resume();
  t.join();
  const auto after = arena.counters();
  CHECK(after.high_water == 16);
  CHECK(after.slots_in_use == 16);
  CHECK(arena.release(again));
  for (std::size_t i = 1; i < all.size(); ++i) CHECK(arena.release(all[i]));
  CHECK(arena.counters().slots_in_use == 0);
}

// A single-word shard's release is one bit-test-and-reset: it cannot tell
// whether the shard was full, so it lists the shard unless it is listed
// (maybe_was_full, Arena::relist()). Here a claimer found the shard full,
// took it off its list and read its free count (0) before the release
// returned a slot: only the release's own look at `listed` keeps the slot
// findable. Without it the claimer's acquire comes back empty (the arena
// may not grow past its one shard).
TEST_CASE("arena races: a release after a claimer unlisted the full shard and counted it empty lists it again") {
  Arena<> arena(one_shard());
  REQUIRE(arena);
  std::vector<SlotId> all(16);
  // Full, and still listed: a bulk claim that got all it wanted pops nothing.
  REQUIRE(arena.acquire_bulk(all.data(), 16) == 16);
  pause_test::PausePoint pause(TestPoint::arena_unlisted_counted);
  SlotId got;
  std::thread t([&] { got = arena.acquire(); });
  pause.wait_until_paused();
  CHECK(arena.release(all[3])); // the one free slot, returned while the claimer holds its count of 0
  pause.resume();
  t.join();
  REQUIRE(got);
  CHECK(got == all[3]);
  CHECK(arena.counters().slots_in_use == 16);
  for (const SlotId s : all) CHECK(arena.release(s));
  CHECK(arena.counters().slots_in_use == 0);
}

// PlainHeldFlagsCheck over a deferred reclaimer: two cache releases of one id,
// the first stopped after reading the held flag. With the plain load and
// store both passed and the slot was linked into the reclaimer's list twice
// (a cycle: the next reclaim() never ended). There the exchange decides.
TEST_CASE("arena races: plain held flags over a deferred reclaimer, two cache releases of one id") {
  using List = ReleaseList<WakeNever, NoWaker, Counting::exact>;
  List list;
  Arena<NoopMapper, BitmapSlots, DeferredReclaimer<List>, MmapSource, PlainHeldFlagsCheck> arena(
      one_shard(), DeferredReclaimer<List>{list});
  REQUIRE(arena);
  SlotId id;
  {
    decltype(arena)::Cache owner(arena, 4);
    id = owner.acquire(); // held by its flag (a cache hand-out)
    REQUIRE(id);
    owner.flush();
  }
  pause_test::PausePoint pause(TestPoint::arena_release_held_read);
  bool first = false;
  std::thread t([&] {
    decltype(arena)::Cache mine(arena, 4);
    first = mine.release(id);
  });
  pause.wait_until_paused();
  bool second = false;
  {
    decltype(arena)::Cache other(arena, 4);
    second = other.release(id);
  }
  pause.resume();
  t.join();
  CHECK(first != second); // exactly one winner
  CHECK(arena.counters().refused_not_held == 1);
  const std::uint64_t queued = list.counters().releases;
  CHECK(queued == 1);
  if (queued == 1) CHECK(arena.reclaim() == 1); // twice linked, this would never return
  CHECK(arena.counters().slots_in_use == 0);
}
