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
