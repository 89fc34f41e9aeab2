// SPDX-License-Identifier: MIT
// shrink() against a claimer, forced deterministically (built with
// ARENAKIT_TEST_HOOKS): the claimer stops after it found a shard on a partial
// list and before it claims from it; shrink() gives that shard back; the
// claimer goes on. It must not get a slot of the given-back shard (its memory
// is gone): sealing makes the shard full, so the claim takes nothing, the
// claimer drops it from the list and grows, which maps a vacant shard again.
// Without the seal the claimer's slot would point into unmapped memory and
// the memset below would crash.
#include "pause_point.hpp"

#include <arenakit/arena/arena.hpp>

#include <doctest/doctest.h>

#include <cstring>
#include <thread>
#include <vector>

using namespace arenakit;
using arenakit::detail::TestPoint;

TEST_CASE("a claimer that found a shard before shrink() gave it back gets a slot of a mapped shard") {
  Arena<> arena(ArenaConfig{.slot_size = 4096, .shard_size = 64 * 1024, .max_shards = 2, .initial_shards = 2});
  REQUIRE(arena);
  SlotId got;
  {
    pause_test::PausePoint pause(TestPoint::arena_claim_peeked);
    std::thread claimer([&] { got = arena.acquire(); });
    pause.wait_until_paused();
    const ShrinkResult r = arena.shrink(ShrinkPolicy{.keep_spare_shards = 0});
    CHECK(r.shards_given_back == 2); // both idle: the one the claimer is looking at too
    CHECK(arena.counters().shards == 0);
    pause.resume();
    claimer.join();
  }
  REQUIRE(got);
  CHECK(arena.counters().shards >= 1); // the claimer's growth mapped a vacant shard again
  std::memset(arena.pointer(got), 0x77, 4096); // mapped memory
  CHECK(arena.from_pointer(arena.pointer(got)) == got);
  CHECK(arena.release(got));
  CHECK(arena.counters().slots_in_use == 0);
}

TEST_CASE("a stale release that read its held flag before shrink() sealed the shard is still refused") {
  Arena<> arena(ArenaConfig{.slot_size = 4096, .shard_size = 64 * 1024, .max_shards = 1});
  REQUIRE(arena);
  const SlotId id = arena.acquire();
  REQUIRE(id);
  REQUIRE(arena.release(id));
  bool accepted = true;
  {
    // The second (stale) release stops after reading the held flag.
    pause_test::PausePoint pause(TestPoint::arena_release_held_read);
    std::thread stale([&] { accepted = arena.release(id); });
    pause.wait_until_paused();
    CHECK(arena.shrink(ShrinkPolicy{.keep_spare_shards = 0}).shards_given_back == 1);
    pause.resume();
    stale.join();
  }
  CHECK_FALSE(accepted);
  CHECK(arena.counters().refused_not_held == 1);
  CHECK(arena.counters().vacant_shards == 1);
  const SlotId again = arena.acquire(); // the shard comes back whole
  REQUIRE(again);
  std::memset(arena.pointer(again), 1, 4096);
  CHECK(arena.release(again));
}

TEST_CASE("a reverse lookup that matched a shard before shrink() gave it back names that slot or none, never another") {
  Arena<> arena(ArenaConfig{.slot_size = 4096, .shard_size = 64 * 1024, .max_shards = 2, .initial_shards = 2});
  REQUIRE(arena);
  // A slot of the second shard (a stale address once the shard is given back).
  std::vector<SlotId> ids;
  for (int i = 0; i < 32; ++i) ids.push_back(arena.acquire());
  for (SlotId id : ids) REQUIRE(id);
  const SlotId target = ids[20];
  std::byte* const p = arena.pointer(target) + 100; // an interior address
  REQUIRE(arena.from_pointer(p) == target);
  for (SlotId id : ids) REQUIRE(arena.release(id));
  SlotId got;
  {
    // The lookup stops after its shard matched, before it computes the id;
    // shrink() clears the shard's view meanwhile. Read twice, the cleared
    // base made an index of the whole address: an id of another slot.
    pause_test::PausePoint pause(TestPoint::arena_lookup_matched);
    std::thread lookup([&] { got = arena.from_pointer(p); });
    pause.wait_until_paused();
    CHECK(arena.shrink(ShrinkPolicy{.keep_spare_shards = 0}).shards_given_back == 2);
    pause.resume();
    lookup.join();
  }
  CHECK((!got || got == target));
  CHECK_FALSE(arena.from_pointer(p)); // after the give-back: none
  CHECK_FALSE(arena.release(target)); // and the stale id is refused
  CHECK(arena.counters().slots_in_use == 0);
}
