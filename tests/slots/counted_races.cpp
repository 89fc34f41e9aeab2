// SPDX-License-Identifier: MIT
// Counted slots' races forced deterministically (built with
// ARENAKIT_TEST_HOOKS): one thread stops right after reading a slot's count,
// the test runs the racing call, then lets it go on. Each case fails on
// every run with a count updated by a load and a separate write (or a
// fetch_add / fetch_sub that does not look at the value first).
#include "pause_point.hpp"

#include <arenakit/arena/arena.hpp>
#include <arenakit/slots/counted.hpp>

#include <doctest/doctest.h>

#include <set>
#include <thread>

using namespace arenakit;
using arenakit::detail::TestPoint;

namespace {
constexpr ArenaConfig one_shard{.slot_size = 4096, .shard_size = 64 * 1024, .max_shards = 1};
using Counted = Arena<>::with<policy::slots<CountedSlots>>;

// Every slot of the arena comes back, each exactly once.
void check_all_free_once(Counted& arena) {
  std::set<std::uint32_t> seen;
  SlotId ids[16] = {};
  std::uint32_t n = 0;
  for (SlotId s; (s = arena.acquire());) {
    CHECK(seen.insert(s.raw).second);
    if (n < 16) ids[n++] = s;
  }
  CHECK(seen.size() == 16);
  CHECK(arena.release_bulk(ids, n) == n);
}
} // namespace

// The last release lands between a retain's read of the count (1) and its
// CAS: the retain must be refused. A check-then-add retain takes the freed
// slot back from the free list's hands (the slot is then free and "held").
TEST_CASE("counted races: a retain that read 1 loses to the last release and is refused") {
  Counted arena(one_shard);
  REQUIRE(arena);
  const SlotId id = arena.acquire();
  REQUIRE(id);
  pause_test::PausePoint pause(TestPoint::counted_retain_read);
  bool retained = true;
  std::thread t([&] { retained = arena.retain(id); });
  pause.wait_until_paused();
  CHECK(arena.release(id)); // the last reference: the slot is free again
  pause.resume();
  t.join();
  CHECK_FALSE(retained);
  CHECK(arena.refs(id) == 0);
  const ArenaCounters c = arena.counters();
  CHECK(c.refused_retains == 1);
  CHECK(c.slots_in_use == 0);
  check_all_free_once(arena);
}

// A retain lands between the last release's read (1) and its CAS: the
// release must keep the slot (one reference is left). A load-then-store
// decrement frees a slot its retainer still uses.
TEST_CASE("counted races: a release that read 1 sees the retain that landed and keeps the slot") {
  Counted arena(one_shard);
  REQUIRE(arena);
  const SlotId id = arena.acquire();
  REQUIRE(id);
  pause_test::PausePoint pause(TestPoint::counted_drop_read);
  bool released = false;
  std::thread t([&] { released = arena.release(id); });
  pause.wait_until_paused();
  CHECK(arena.retain(id));
  pause.resume();
  t.join();
  CHECK(released);
  CHECK(arena.refs(id) == 1);
  CHECK(arena.is_held(id));
  CHECK(arena.counters().slots_in_use == 1);
  CHECK(arena.release(id));
  check_all_free_once(arena);
}

// Two drops of the last reference (a double return by the caller), the first
// stopped after reading 1: exactly one is accepted, the other refused at
// zero, and the slot is freed once. A fetch_sub takes the count below zero.
TEST_CASE("counted races: two drops of the last reference, one stopped after reading 1") {
  CountedSlots slots(4);
  std::uint32_t s = 0;
  REQUIRE(slots.claim(&s, 1) == 1);
  pause_test::PausePoint pause(TestPoint::counted_drop_read);
  SlotRelease first = SlotRelease::kept;
  std::thread t([&] { first = slots.release(s); });
  pause.wait_until_paused();
  const SlotRelease second = slots.release(s);
  pause.resume();
  t.join();
  CHECK(second == SlotRelease::released);
  CHECK(first == SlotRelease::refused);
  CHECK(slots.counters().refused_drops == 1);
  CHECK(slots.free_count() == 4);
  std::uint32_t out[8] = {};
  std::set<std::uint32_t> seen;
  const std::uint32_t k = slots.claim(out, 8);
  CHECK(k == 4); // freed once: four slots, not five
  for (std::uint32_t i = 0; i < k; ++i) CHECK(seen.insert(out[i]).second);
}

// The same two races against an owner cache's last release, which parks the
// slot instead of freeing it: a retain that read 1 before the park is
// refused (the slot is parked once, with no reference), and a cache release
// that read 1 before a retain landed keeps the slot out. The first fails
// with a check-then-add retain (it lands on a parked slot); the second with
// a drop that stores the count it read minus one instead of a CAS (shown:
// the slot is parked while the retainer holds it, and its release refused).
TEST_CASE("counted races: a cache's last release against a retain that read 1") {
  Counted arena(one_shard);
  REQUIRE(arena);
  {
    Counted::Cache cache(arena);
    const SlotId id = cache.acquire();
    REQUIRE(id);
    const std::uint32_t parked = cache.cached();
    pause_test::PausePoint pause(TestPoint::counted_retain_read);
    bool retained = true;
    std::thread t([&] { retained = arena.retain(id); });
    pause.wait_until_paused();
    CHECK(cache.release(id)); // the last reference: parked
    pause.resume();
    t.join();
    CHECK_FALSE(retained);
    CHECK(arena.refs(id) == 0);
    CHECK(cache.cached() == parked + 1);
    CHECK(arena.counters().refused_retains == 1);
  }
  check_all_free_once(arena);
}

TEST_CASE("counted races: a cache release that read 1 sees the retain that landed and does not park") {
  Counted arena(one_shard);
  REQUIRE(arena);
  {
    Counted::Cache cache(arena);
    const SlotId id = cache.acquire();
    REQUIRE(id);
    const std::uint32_t parked = cache.cached();
    pause_test::PausePoint pause(TestPoint::counted_drop_read);
    bool released = false;
    // The cache is the owner thread's: the owner is the stopped thread here.
    std::thread t([&] { released = cache.release(id); });
    pause.wait_until_paused();
    CHECK(arena.retain(id));
    pause.resume();
    t.join();
    CHECK(released);
    CHECK(cache.cached() == parked); // not parked: the retainer holds it
    CHECK(arena.refs(id) == 1);
    CHECK(arena.is_held(id));
    CHECK(arena.release(id)); // the retainer's: the last, back to the shard
  }
  check_all_free_once(arena);
}
