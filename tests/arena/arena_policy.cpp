// SPDX-License-Identifier: MIT
// Named policy selection (issue 11): Arena<>::with<...> changes the roles it
// names and keeps the others, in any order; policy instances go to the
// constructor matched by type, in any order; the presets are the default
// arena with one role changed.
#include <arenakit/arena/presets.hpp>
#include <arenakit/lists/release_list.hpp>

#include <doctest/doctest.h>

#include <type_traits>

using namespace arenakit;

static_assert(std::is_same_v<Arena<>, Arena<NoopMapper, BitmapSlots, ImmediateReclaimer, MmapSource>>);
static_assert(std::is_same_v<Arena<>::with<policy::reclaimer<EpochReclaimer>>,
                             Arena<NoopMapper, BitmapSlots, EpochReclaimer, MmapSource>>);
static_assert(std::is_same_v<Arena<>::with<policy::source<HeapSource>, policy::reclaimer<EpochReclaimer>>,
                             Arena<NoopMapper, BitmapSlots, EpochReclaimer, HeapSource>>);
// A role named twice takes the last one; with<> chains.
static_assert(std::is_same_v<Arena<>::with<policy::source<HeapSource>, policy::source<MmapSource>>, Arena<>>);
static_assert(std::is_same_v<Arena<>::with<policy::source<HeapSource>>::with<policy::source<MmapSource>>, Arena<>>);
static_assert(std::is_same_v<presets::HostArena, Arena<>>);
static_assert(std::is_same_v<presets::HeapArena, Arena<NoopMapper, BitmapSlots, ImmediateReclaimer, HeapSource>>);
static_assert(std::is_same_v<presets::EpochArena::reclaimer_type, EpochReclaimer>);
// The release check is the fifth role (issue 13): a type, not a config field.
static_assert(std::is_same_v<Arena<>, Arena<NoopMapper, BitmapSlots, ImmediateReclaimer, MmapSource, HeldFlagsCheck>>);
static_assert(std::is_same_v<presets::RangeCheckedArena,
                             Arena<NoopMapper, BitmapSlots, ImmediateReclaimer, MmapSource, RangeOnlyCheck>>);
static_assert(presets::RangeCheckedArena::release_check == ReleaseCheck::range_only);
static_assert(Arena<>::release_check == ReleaseCheck::held_flags);
static_assert(std::is_same_v<presets::RangeCheckedArena::with<policy::source<HeapSource>>::check_type,
                             RangeOnlyCheck>);

namespace {
// A source that records which instance the arena got.
struct TaggedSource {
  int id = 0;
  int* used = nullptr;
  Result<Region> allocate(std::size_t size, std::size_t align) noexcept {
    if (used != nullptr) *used = id;
    return HeapSource{}.allocate(size, align);
  }
  void deallocate(const Region& r) noexcept { HeapSource{}.deallocate(r); }
};
constexpr ArenaConfig small{.slot_size = 4096, .shard_size = 64 * 1024, .max_shards = 2, .initial_shards = 1};
} // namespace

TEST_CASE("policy instances reach the arena matched by type, in any order") {
  using List = ReleaseList<WakeNever>;
  using A = Arena<>::with<policy::source<TaggedSource>, policy::reclaimer<DeferredReclaimer<List>>>;
  List list;
  int used = 0;
  {
    A a(small, TaggedSource{7, &used}, DeferredReclaimer<List>{list}); // source first
    REQUIRE(a);
    CHECK(used == 7);
    CHECK(&a.reclaimer().list() == &list);
  }
  {
    A b(small, DeferredReclaimer<List>{list}, TaggedSource{9, &used}); // reclaimer first
    REQUIRE(b);
    CHECK(used == 9);
    const SlotId id = b.acquire();
    CHECK(b.release(id));
    CHECK(b.counters().reclaim_pending == 1);
    CHECK(b.reclaim() == 1);
  }
}

TEST_CASE("presets build and serve slots") {
  presets::HeapArena heap(small);
  REQUIRE(heap);
  const SlotId id = heap.acquire();
  CHECK(id);
  CHECK(heap.release(id));
  auto domain = EpochDomain::create({});
  REQUIRE(domain);
  presets::EpochArena epoch(small, EpochReclaimer{**domain});
  REQUIRE(epoch);
  const SlotId e = epoch.acquire();
  CHECK(epoch.release(e));
  CHECK(epoch.reclaim() <= 1);
}

TEST_CASE("a range-checked arena refuses foreign and out-of-range ids, and tracks no holder") {
  presets::RangeCheckedArena arena(small);
  presets::RangeCheckedArena other(small);
  REQUIRE(arena);
  REQUIRE(other);
  presets::RangeCheckedArena::Cache cache(arena);
  const SlotId id = cache.acquire();
  REQUIRE(id);
  CHECK(arena.is_held(id)); // nothing tracks holders: same as owns()
  CHECK_FALSE(cache.release(other.acquire()));                     // foreign
  CHECK_FALSE(cache.release(SlotId{(std::uint32_t{arena.tag()} << 24) | (1u << 4)})); // shard 1 of 2: not created
  CHECK_FALSE(arena.release(SlotId{(std::uint32_t{arena.tag()} << 24) | (1u << 4)}));
  const ArenaCounters c = arena.counters();
  CHECK(c.refused_foreign == 1);
  CHECK(c.refused_out_of_range == 2);
  CHECK(cache.release(id));
  // The documented cost of the skipped check: a second release of the same
  // id through a cache is accepted (it would be handed out twice).
  CHECK(cache.release(id));
  CHECK(arena.counters().refused_not_held == 0);
}

TEST_CASE("plain held flags refuse every ordered double release, on every path") {
  using Plain = Arena<>::with<policy::release_check<PlainHeldFlagsCheck>>;
  static_assert(Plain::release_check == ReleaseCheck::held_flags_plain);
  Plain arena(small);
  REQUIRE(arena);
  Plain::Cache cache(arena);
  const SlotId a = cache.acquire();
  const SlotId b = arena.acquire();
  REQUIRE(a);
  REQUIRE(b);
  CHECK(arena.is_held(a));
  CHECK(cache.release(a));
  CHECK_FALSE(arena.is_held(a));
  CHECK_FALSE(cache.release(a)); // cache after cache
  CHECK_FALSE(arena.release(a)); // direct after cache
  CHECK(cache.release(b));       // acquired directly, released through the cache
  CHECK_FALSE(cache.release(b));
  SlotId bulk[3] = {a, b, SlotId{}};
  CHECK(cache.release_bulk(bulk, 3) == 0);
  const ArenaCounters c = arena.counters();
  CHECK(c.refused_not_held == 5);
  CHECK(c.refused_foreign == 1);
  CHECK(c.slots_in_use == 0);
}
