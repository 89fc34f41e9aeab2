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
