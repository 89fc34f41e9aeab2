// The word-wise held check of a cache's bulk paths (issue 13): a batch that
// falls in one or two words of the held bitmap is marked with one RMW per
// word and checked and cleared with one CAS per word. What must not change:
// a double release, a not-held or foreign id, or an id named twice in one
// batch is refused and counted by reason, nothing else in the batch is lost,
// and a slot is never parked twice. Ids handed out by a bulk acquire (held
// by their bits) and by a single acquire (held by their flags) may come back
// either way.
#include "arena_configs.hpp"

#include <arenakit/arena/arena.hpp>

#include <doctest/doctest.h>

#include <cstdint>
#include <vector>

using namespace arenakit;

namespace {
using HeldArena = Arena<>;
using PlainArena = Arena<>::with<policy::release_check<PlainHeldFlagsCheck>>;
// 16 slots per shard: one shard is one word of the held bitmap, and a batch
// of 32 from a fresh cache spans two shards, two words.
using arena_test::small_shards;

/// A batch of 32 out of @cache, after one round trip (so that it comes
/// from the cache, as in steady state, not from a refill).
template <class Cache>
void batch_from_cache(Cache& cache, SlotId (&ids)[32]) {
  REQUIRE(cache.acquire_bulk(ids, 32) == 32);
  REQUIRE(cache.release_bulk(ids, 32) == 32);
  REQUIRE(cache.acquire_bulk(ids, 32) == 32);
}
} // namespace

TEST_CASE("word_batch: one or two words, each bit once, everything below the limit") {
  SlotId ids[40];
  for (std::uint32_t i = 0; i < 32; ++i) ids[i] = SlotId{1000 + i};
  detail::WordBatch b = detail::word_batch(ids, 32, 1000, 1000, 4); // positions 0..31: words 0 and 1
  CHECK(b.ok);
  CHECK(b.word[0] == 0);
  CHECK(b.word[1] == 1);
  CHECK(b.mask[0] == 0xffff);
  CHECK(b.mask[1] == 0xffff);
  // The dispatched copy and the portable body agree.
  const detail::WordBatch p = detail::word_batch_body(ids, 32, 1000, 1000, 4);
  CHECK(p.ok);
  CHECK(p.mask[0] == b.mask[0]);
  CHECK(p.mask[1] == b.mask[1]);
  CHECK_FALSE(detail::word_batch(ids, 32, 1000, 16, 4).ok); // positions 16..31 at or past the limit
  b = detail::word_batch(ids, 13, 1000, 1000, 6);             // one word
  CHECK(b.ok);
  CHECK(b.mask[0] == 0x1fff);
  CHECK(b.mask[1] == 0);
  ids[5] = SlotId{1000 + 40}; // a third word
  CHECK_FALSE(detail::word_batch(ids, 32, 1000, 1000, 4).ok);
  ids[5] = SlotId{1000 + 7}; // an id twice
  CHECK_FALSE(detail::word_batch(ids, 32, 1000, 1000, 4).ok);
  ids[5] = SlotId{5}; // below the base: wraps past the limit
  CHECK_FALSE(detail::word_batch(ids, 32, 1000, 1000, 4).ok);
  for (std::uint32_t i = 0; i < 32; ++i) ids[i] = SlotId{1000 + 127 - i}; // positions 127..96
  b = detail::word_batch(ids, 32, 1000, 1000, 6);
  CHECK(b.ok);
  CHECK(b.word[0] == 1);
  CHECK(b.mask[0] == 0xffff'ffff'0000'0000u); // the high half of the word
}

TEST_CASE_TEMPLATE("bulk: a batch is held after acquire_bulk, and a second release_bulk of it is refused whole", A, HeldArena, PlainArena) {
  A arena(small_shards());
  typename A::Cache cache(arena);
  SlotId ids[32];
  batch_from_cache(cache, ids);
  for (const SlotId id : ids) CHECK(arena.is_held(id));
  CHECK(cache.release_bulk(ids, 32) == 32);
  for (const SlotId id : ids) CHECK_FALSE(arena.is_held(id));
  const std::uint32_t cached = cache.cached();
  CHECK(cache.release_bulk(ids, 32) == 0);
  CHECK(cache.cached() == cached); // nothing parked twice
  CHECK(arena.counters().refused_not_held == 32);
}

TEST_CASE_TEMPLATE("bulk: a batch with one not-held id loses only that id, counted", A, HeldArena, PlainArena) {
  A arena(small_shards());
  typename A::Cache cache(arena);
  SlotId ids[32];
  batch_from_cache(cache, ids);
  CHECK(cache.release(ids[3])); // held by its bit: a single release takes it
  CHECK_FALSE(cache.release(ids[3]));
  const std::uint32_t cached = cache.cached();
  CHECK(cache.release_bulk(ids, 32) == 31);
  CHECK(cache.cached() == cached + 31);
  CHECK(arena.counters().refused_not_held == 2);
  CHECK(arena.counters().slots_in_use == 0);
}

TEST_CASE_TEMPLATE("bulk: an id named twice in one batch is accepted once", A, HeldArena, PlainArena) {
  A arena(small_shards());
  typename A::Cache cache(arena);
  SlotId ids[32];
  batch_from_cache(cache, ids);
  const SlotId spare = ids[5];
  ids[5] = ids[4];
  const std::uint32_t cached = cache.cached();
  CHECK(cache.release_bulk(ids, 32) == 31);
  CHECK(cache.cached() == cached + 31);
  CHECK(arena.counters().refused_not_held == 1);
  CHECK(arena.is_held(spare));
  CHECK(cache.release(spare));
  CHECK(arena.counters().slots_in_use == 0);
}

TEST_CASE_TEMPLATE("bulk: a foreign or out-of-range id in a batch is refused by reason, the rest accepted", A, HeldArena, PlainArena) {
  A arena(small_shards());
  A other(small_shards());
  typename A::Cache cache(arena);
  SlotId ids[32];
  REQUIRE(cache.acquire_bulk(ids, 32) == 32);
  const SlotId mine = ids[7];
  ids[7] = other.acquire();
  const SlotId beyond = ids[8];
  ids[8] = SlotId{static_cast<std::uint32_t>(arena.tag()) << slot_id_position_bits | 0x00FF'FFF0u};
  CHECK(cache.release_bulk(ids, 32) == 30);
  const ArenaCounters c = arena.counters();
  CHECK(c.refused_foreign == 1);
  CHECK(c.refused_out_of_range == 1);
  CHECK(cache.release(mine));
  CHECK(cache.release(beyond));
  CHECK(other.release(ids[7]));
  CHECK(arena.counters().slots_in_use == 0);
}

TEST_CASE("bulk: bits and flags mix: each way out takes each way in") {
  HeldArena arena(small_shards());
  HeldArena::Cache cache(arena);
  SlotId ids[32];
  REQUIRE(cache.acquire_bulk(ids, 32) == 32);
  // Held by their bits: back through Arena::release and Arena::release_bulk.
  CHECK(arena.release(ids[0]));
  CHECK_FALSE(arena.release(ids[0]));
  CHECK(arena.release_bulk(ids + 1, 15) == 15);
  CHECK(arena.release_bulk(ids + 1, 15) == 0);
  CHECK(cache.release_bulk(ids + 16, 16) == 16);
  CHECK(arena.counters().refused_not_held == 16);
  // Held by their flags (single acquires): back through a bulk release.
  for (SlotId& id : ids) id = cache.acquire();
  for (const SlotId id : ids) CHECK(arena.is_held(id));
  CHECK(cache.release_bulk(ids, 32) == 32);
  CHECK(cache.release_bulk(ids, 32) == 0);
  CHECK(arena.counters().refused_not_held == 48);
  CHECK(arena.counters().slots_in_use == 0);
}

TEST_CASE("bulk: PlainHeldFlagsCheck keeps per-id flags and still refuses a double bulk release") {
  PlainArena arena(small_shards());
  PlainArena::Cache cache(arena);
  SlotId ids[32];
  REQUIRE(cache.acquire_bulk(ids, 32) == 32);
  CHECK(cache.release_bulk(ids, 32) == 32);
  CHECK(cache.release_bulk(ids, 32) == 0);
  CHECK(arena.counters().refused_not_held == 32);
}

TEST_CASE("bulk: PlainHeldFlagsCheck takes single acquires' flags, direct acquires' ids and a new shard's ids") {
  PlainArena arena(small_shards());
  PlainArena::Cache cache(arena);
  SlotId ids[32];
  // Flags set by single acquires: the tight loop takes them all.
  for (SlotId& id : ids) id = cache.acquire();
  CHECK(cache.release_bulk(ids, 32) == 32);
  CHECK(cache.release_bulk(ids, 32) == 0);
  CHECK(arena.counters().refused_not_held == 32);
  // Arena::acquire()'s ids (held_direct) in the middle of a batch go back to
  // their shards, not into the cache; the rest of the batch is parked.
  batch_from_cache(cache, ids);
  const SlotId direct = arena.acquire();
  REQUIRE(direct);
  const SlotId spare = ids[9];
  ids[9] = direct;
  const std::uint32_t cached = cache.cached();
  CHECK(cache.release_bulk(ids, 32) == 32);
  CHECK(cache.cached() == cached + 31);
  CHECK_FALSE(arena.is_held(direct));
  CHECK_FALSE(arena.release(direct));
  CHECK(cache.release(spare));
  CHECK(arena.counters().slots_in_use == 0);
  // Ids of shards added after the cache last looked: past what it knows, so
  // the batch goes one by one, and every id is accepted once.
  std::vector<SlotId> many;
  for (int i = 0; i < 200; ++i) many.push_back(arena.acquire());
  for (const SlotId id : many) REQUIRE(id);
  for (std::size_t i = 0; i < 168; ++i) REQUIRE(arena.release(many[i]));
  const std::uint64_t refused = arena.counters().refused_not_held;
  CHECK(cache.release_bulk(many.data() + 168, 32) == 32);
  CHECK(cache.release_bulk(many.data() + 168, 32) == 0);
  CHECK(arena.counters().refused_not_held == refused + 32);
  CHECK(arena.counters().slots_in_use == 0);
}
