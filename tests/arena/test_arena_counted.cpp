// SPDX-License-Identifier: MIT
// An arena over CountedSlots (issue 12): acquire gives one reference,
// retain adds one, release drops one, and the last drop retires the slot
// through the reclaimer. Arenas over BitmapSlots have no retain/refs.
#include <arenakit/arena/arena.hpp>
#include <arenakit/lists/release_list.hpp>
#include <arenakit/reclaimers/deferred.hpp>
#include <arenakit/slots/counted.hpp>

#include <doctest/doctest.h>

#include <set>
#include <vector>

using namespace arenakit;

namespace {
constexpr ArenaConfig one_shard{.slot_size = 4096, .shard_size = 64 * 1024, .max_shards = 1};
using Counted = Arena<>::with<policy::slots<CountedSlots>>;

template <class A>
concept HasRetain = requires(A& a, SlotId id) { a.retain(id); a.refs(id); };
static_assert(HasRetain<Counted>);
static_assert(!HasRetain<Arena<>>, "a BitmapSlots arena must not grow retain()/refs()");
} // namespace

TEST_CASE("counted arena: the slot comes back on the last release only") {
  Counted arena(one_shard);
  REQUIRE(arena);
  const SlotId id = arena.acquire();
  REQUIRE(id);
  CHECK(arena.refs(id) == 1);
  CHECK(arena.retain(id));
  CHECK(arena.retain(id));
  CHECK(arena.refs(id) == 3);
  CHECK(arena.release(id));
  CHECK(arena.release(id));
  CHECK(arena.is_held(id));
  CHECK(arena.counters().slots_in_use == 1);
  CHECK(arena.release(id));
  CHECK_FALSE(arena.is_held(id));
  CHECK(arena.refs(id) == 0);
  CHECK(arena.counters().slots_in_use == 0);
  // Every slot is there again, each once.
  std::set<std::uint32_t> seen;
  for (SlotId s; (s = arena.acquire());) CHECK(seen.insert(s.raw).second);
  CHECK(seen.size() == 16);
}

TEST_CASE("counted arena: a drop or a retain with no reference is refused, counted, and changes nothing") {
  Counted arena(one_shard);
  REQUIRE(arena);
  const SlotId id = arena.acquire();
  const SlotId other = arena.acquire();
  REQUIRE(arena.release(id));
  CHECK_FALSE(arena.release(id)); // at zero: never an underflow
  CHECK_FALSE(arena.retain(id));  // a freed slot is not brought back
  CHECK(arena.refs(id) == 0);
  CHECK(arena.refs(other) == 1);
  const ArenaCounters c = arena.counters();
  CHECK(c.refused_not_held == 1);
  CHECK(c.refused_retains == 1);
  CHECK(c.slots_in_use == 1);
  // Foreign and out-of-range ids are refused by reason, as for release().
  Counted stranger(one_shard);
  const SlotId theirs = stranger.acquire();
  REQUIRE(theirs);
  CHECK_FALSE(arena.retain(theirs));
  CHECK_FALSE(arena.release(theirs));
  CHECK(arena.refs(theirs) == 0);
  CHECK(stranger.refs(theirs) == 1);
  const SlotId out_of_range{(std::uint32_t{arena.tag()} << slot_id_position_bits) | (1u << 4)};
  CHECK_FALSE(arena.retain(out_of_range));
  CHECK_FALSE(arena.release(out_of_range));
  const ArenaCounters d = arena.counters();
  CHECK(d.refused_foreign == 2);
  CHECK(d.refused_out_of_range == 2);
  CHECK(d.refused_retains == 1); // by reason: foreign and out of range are not "no reference"
  CHECK(arena.release(other));
}

TEST_CASE("counted arena: release_bulk drops one reference per id and frees at the last") {
  Counted arena(one_shard);
  SlotId ids[4] = {};
  REQUIRE(arena.acquire_bulk(ids, 4) == 4);
  REQUIRE(arena.retain(ids[0]));
  CHECK(arena.release_bulk(ids, 4) == 4);
  CHECK(arena.counters().slots_in_use == 1);
  CHECK(arena.refs(ids[0]) == 1);
  CHECK(arena.release_bulk(ids, 4) == 1); // three refused: no reference left
  CHECK(arena.counters().refused_not_held == 3);
  CHECK(arena.counters().slots_in_use == 0);
  CHECK(arena.release_memory() == std::error_code{});
}

TEST_CASE("counted arena with a deferred reclaimer: the last reference goes back through the owner's reclaim") {
  using List = ReleaseList<WakeNever, NoWaker, Counting::exact>;
  List list;
  Arena<NoopMapper, CountedSlots, DeferredReclaimer<List>, MmapSource> arena(one_shard, DeferredReclaimer<List>{list});
  REQUIRE(arena);
  std::vector<SlotId> all;
  for (SlotId s; (s = arena.acquire());) all.push_back(s);
  REQUIRE(all.size() == 16);
  const SlotId id = all[5];
  REQUIRE(arena.retain(id));
  CHECK(arena.release(id)); // a consumer returns its reference
  CHECK(list.pending() == 0);
  CHECK(arena.release(id)); // the last: queued for the owner
  CHECK(list.pending() == 1);
  CHECK_FALSE(arena.retain(id)); // draining: not brought back
  CHECK_FALSE(arena.release(id));
  CHECK_FALSE(arena.acquire());  // and not free yet
  CHECK(arena.reclaim() == 1);
  const SlotId again = arena.acquire();
  CHECK(again == id);
  CHECK(arena.refs(again) == 1);
  all[5] = again;
  for (SlotId s : all) CHECK(arena.release(s));
  CHECK(arena.reclaim() == 16);
  CHECK(arena.release_memory() == std::error_code{});
}

// --- the owner-thread cache over a counted arena ---

TEST_CASE("counted cache: a pair with a retain parks the slot at the last release only") {
  Counted arena(one_shard);
  REQUIRE(arena);
  Counted::Cache cache(arena);
  const SlotId id = cache.acquire();
  REQUIRE(id);
  CHECK(arena.refs(id) == 1);
  CHECK(arena.is_held(id));
  const std::uint32_t parked = cache.cached();
  CHECK(arena.retain(id));
  CHECK(cache.release(id)); // one of two references: the slot stays out
  CHECK(cache.cached() == parked);
  CHECK(arena.refs(id) == 1);
  CHECK(arena.is_held(id));
  CHECK(cache.release(id)); // the last: parked in the cache, draining
  CHECK(cache.cached() == parked + 1);
  CHECK(arena.refs(id) == 0);
  CHECK_FALSE(arena.is_held(id));
  // A stale release or retain of the parked slot is refused on every path.
  CHECK_FALSE(cache.release(id));
  CHECK_FALSE(arena.release(id));
  CHECK_FALSE(arena.retain(id));
  const ArenaCounters c = arena.counters();
  CHECK(c.refused_not_held == 2);
  CHECK(c.refused_retains == 1);
  CHECK(c.slots_in_use == 0);
  // Handed out again, it has one reference.
  const SlotId again = cache.acquire();
  CHECK(again == id);
  CHECK(arena.refs(again) == 1);
  CHECK(arena.release(again));
}

TEST_CASE("counted cache: slots a refill parks have no reference, so a stale release or retain of one is refused") {
  Counted arena(one_shard); // 16 slots: the refill parks all of them
  Counted::Cache cache(arena);
  const SlotId first = cache.acquire();
  REQUIRE(first);
  REQUIRE(cache.cached() == 15);
  std::uint32_t refused = 0;
  for (std::uint32_t i = 0; i < 16; ++i) {
    const SlotId id{first.raw - first.position() + i}; // one shard: the position is the index
    if (id == first) continue;
    CHECK(arena.refs(id) == 0);
    CHECK_FALSE(arena.is_held(id));
    CHECK_FALSE(arena.release(id)); // with a reference each (claim, not claim_draining), these would free
    CHECK_FALSE(arena.retain(id));
    ++refused;
  }
  CHECK(arena.counters().refused_not_held == refused);
  CHECK(arena.counters().refused_retains == refused);
  // Every parked slot is still there, once each.
  std::set<std::uint32_t> seen{first.raw};
  for (SlotId s; (s = cache.acquire());) CHECK(seen.insert(s.raw).second);
  CHECK(seen.size() == 16);
  for (std::uint32_t raw : seen) CHECK(cache.release(SlotId{raw}));
}

TEST_CASE("counted cache: slots cross between the cache and the arena's direct paths") {
  Counted arena(one_shard);
  {
    Counted::Cache cache(arena);
    // Direct acquire, last release through the cache: parked.
    const SlotId a = arena.acquire();
    REQUIRE(a);
    REQUIRE(arena.retain(a));
    CHECK(arena.release(a));
    const std::uint32_t parked = cache.cached();
    CHECK(cache.release(a));
    CHECK(cache.cached() == parked + 1);
    // Cache acquire, last release direct: back to the shard.
    const SlotId b = cache.acquire();
    REQUIRE(b);
    REQUIRE(arena.retain(b));
    CHECK(cache.release(b));
    CHECK(arena.release(b));
    CHECK(arena.refs(b) == 0);
    CHECK(arena.counters().slots_in_use == 0);
  } // the cache's destruction gives every parked slot back
  std::set<std::uint32_t> seen;
  for (SlotId s; (s = arena.acquire());) CHECK(seen.insert(s.raw).second);
  CHECK(seen.size() == 16);
  for (std::uint32_t raw : seen) CHECK(arena.release(SlotId{raw}));
  CHECK(arena.release_memory() == std::error_code{});
}

TEST_CASE("counted cache: bulk acquire gives one reference each, bulk release drops one each") {
  Counted arena(one_shard);
  Counted::Cache cache(arena);
  SlotId ids[8] = {};
  REQUIRE(cache.acquire_bulk(ids, 8) == 8);
  for (SlotId id : ids) CHECK(arena.refs(id) == 1);
  REQUIRE(arena.retain(ids[0]));
  REQUIRE(arena.retain(ids[7]));
  const std::uint32_t parked = cache.cached();
  CHECK(cache.release_bulk(ids, 8) == 8);
  CHECK(cache.cached() == parked + 6); // two still referenced
  CHECK(arena.counters().slots_in_use == 2);
  CHECK(cache.release_bulk(ids, 8) == 2); // six refused: no reference left
  CHECK(arena.counters().refused_not_held == 6);
  CHECK(arena.counters().slots_in_use == 0);
  // A foreign and an out-of-range id are refused by reason.
  Counted stranger(one_shard);
  const SlotId theirs = stranger.acquire();
  const SlotId out_of_range{(std::uint32_t{arena.tag()} << slot_id_position_bits) | (1u << 4)};
  CHECK_FALSE(cache.release(theirs));
  CHECK_FALSE(cache.release(out_of_range));
  CHECK(arena.counters().refused_foreign == 1);
  CHECK(arena.counters().refused_out_of_range == 1);
  CHECK(stranger.release(theirs));
}

TEST_CASE("counted cache with a deferred reclaimer: the last release goes to the owner's reclaim, not the cache") {
  using List = ReleaseList<WakeNever, NoWaker, Counting::exact>;
  using Deferred = Arena<NoopMapper, CountedSlots, DeferredReclaimer<List>, MmapSource>;
  List list;
  Deferred arena(one_shard, DeferredReclaimer<List>{list});
  REQUIRE(arena);
  Deferred::Cache cache(arena);
  const SlotId id = cache.acquire();
  REQUIRE(id);
  REQUIRE(arena.retain(id));
  CHECK(cache.release(id));
  CHECK(list.pending() == 0);
  CHECK(cache.release(id));
  CHECK(list.pending() == 1);
  CHECK_FALSE(arena.retain(id)); // draining until the reclaim
  CHECK(arena.reclaim() == 1);
  CHECK(arena.refs(id) == 0);
}
