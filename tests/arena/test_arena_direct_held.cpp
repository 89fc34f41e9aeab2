// The direct path's held check (issue 13): Arena::acquire() marks a slot
// `held_direct`, and Arena::release() of it lets the bitmap RMW that frees
// the slot decide (one locked instruction, not an exchange and a bitmap
// RMW). A release through a cache of such a slot must decide the same way,
// so it goes back to its shard instead of being parked (a racing direct
// release would otherwise free a slot the cache hands out again). Double
// releases on every path are refused and counted by reason.
#include "arena_configs.hpp"

#include <arenakit/arena/arena.hpp>

#include <doctest/doctest.h>

#include <cstdint>

using namespace arenakit;

using arena_test::one_shard;

TEST_CASE_TEMPLATE("direct: a double release is refused and counted, the slot handed out once", A, Arena<>,
                   Arena<>::with<policy::release_check<PlainHeldFlagsCheck>>) {
  A arena(one_shard());
  const SlotId id = arena.acquire();
  REQUIRE(id);
  CHECK(arena.is_held(id));
  CHECK(arena.release(id));
  CHECK_FALSE(arena.is_held(id));
  CHECK_FALSE(arena.release(id));
  CHECK(arena.counters().refused_not_held == 1);
  CHECK(arena.counters().slots_in_use == 0);
  SlotId all[16];
  for (SlotId& s : all) s = arena.acquire();
  CHECK_FALSE(arena.acquire()); // 16 slots, each once
  CHECK(arena.release_bulk(all, 16) == 16);
  CHECK(arena.release_bulk(all, 16) == 0);
  CHECK(arena.counters().refused_not_held == 17);
}

TEST_CASE_TEMPLATE("direct: a slot from Arena::acquire released through a cache goes back to its shard", A, Arena<>,
                   Arena<>::with<policy::release_check<PlainHeldFlagsCheck>>) {
  A arena(one_shard());
  typename A::Cache cache(arena);
  const SlotId id = arena.acquire();
  REQUIRE(id);
  CHECK(cache.release(id));
  CHECK(cache.cached() == 0); // not parked: the bitmap decided, and freed it
  CHECK_FALSE(cache.release(id));
  CHECK_FALSE(arena.release(id));
  CHECK(arena.counters().refused_not_held == 2);
  CHECK(arena.counters().slots_in_use == 0);
}

TEST_CASE("direct: through a cache's bulk release, word-wise or id by id") {
  Arena<> arena(one_shard());
  Arena<>::Cache cache(arena);
  SlotId ids[8];
  for (SlotId& id : ids) id = arena.acquire();
  CHECK(cache.release_bulk(ids, 8) == 8); // a batch of held_direct slots: the words do not pass, each id goes back
  CHECK(cache.cached() == 0);
  CHECK(cache.release_bulk(ids, 8) == 0);
  CHECK(cache.release_bulk(ids, 2) == 0); // below the word-wise minimum
  CHECK(arena.counters().refused_not_held == 10);
  CHECK(arena.counters().slots_in_use == 0);
}

TEST_CASE("direct: slots a cache handed out still go through the exchange when released directly") {
  Arena<> arena(one_shard());
  Arena<>::Cache cache(arena);
  const SlotId a = cache.acquire();
  REQUIRE(a);
  CHECK(arena.release(a));
  CHECK_FALSE(arena.release(a));
  CHECK_FALSE(cache.release(a)); // parked nowhere: the direct release gave it to the shard
  CHECK(arena.counters().refused_not_held == 2);
  cache.flush();
  CHECK(arena.counters().slots_in_use == 0);
}
