// SPDX-License-Identifier: MIT
// The reclaimers as an arena's Reclaimer policy: with the llist deferred
// reclaimer a released slot is reusable only after the owner drains; with the
// epoch reclaimer, not while a guard that could see it lives.
#include <arenakit/arena/arena.hpp>
#include <arenakit/epoch/epoch.hpp>
#include <arenakit/reclaimers/epoch.hpp>
#include <arenakit/lists/release_list.hpp>
#include <arenakit/reclaimers/deferred.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <thread>
#include <vector>

using namespace arenakit;

namespace {
constexpr ArenaConfig one_shard{.slot_size = 4096, .shard_size = 64 * 1024, .max_shards = 1};

template <class A>
std::vector<SlotId> fill(A& arena) {
  std::vector<SlotId> ids;
  for (SlotId id = arena.acquire(); id; id = arena.acquire()) ids.push_back(id);
  return ids;
}
} // namespace

// Issue 10, "Also": ReleaseList::park() could not be used with a
// DeferredReclaimer (its teardown receives retired slots only the arena can
// take back). arena.park() is the owner's park: it reclaims into the arena,
// then says whether the owner may sleep. An owner that sleeps on the
// Doorbell while completion threads release every slot gets all of them
// back, and is never stranded asleep with a release queued.
TEST_CASE("deferred reclaimer: the owner parks through arena.park() and every release wakes or is reclaimed") {
  using List = ReleaseList<WakeOnEdge, RingDoorbell, Counting::exact>;
  Doorbell bell;
  List list{RingDoorbell{&bell}};
  Arena<NoopMapper, BitmapSlots, DeferredReclaimer<List>, MmapSource> arena(
      one_shard, MmapSource{}, NoopMapper{}, DeferredReclaimer<List>{list});
  REQUIRE(arena);
  constexpr int rounds = 300;
  std::uint64_t reclaimed = 0;
  for (int round = 0; round < rounds; ++round) {
    auto ids = fill(arena);
    REQUIRE(ids.size() == 16);
    std::thread completions([&] {
      for (SlotId id : ids) {
        CHECK(arena.release(id));
      }
    });
    // The owner: reclaim until all 16 are back, sleeping whenever park() allows.
    std::uint64_t got = 0;
    while (got < 16) {
      const auto seen = bell.snapshot();
      const auto drained_before = list.counters().items_drained;
      const bool may_sleep = arena.park();
      got += list.counters().items_drained - drained_before;
      if (got < 16 && may_sleep) bell.wait(seen); // a release after park() rings
    }
    completions.join();
    reclaimed += got;
    CHECK(arena.counters().reclaim_pending == 0);
    CHECK(arena.counters().slots_in_use == 0);
  }
  CHECK(reclaimed == 16u * rounds);
  CHECK(list.counters().items_drained == 16u * rounds);
  CHECK_FALSE(arena.release_memory());
}

TEST_CASE("deferred reclaimer: a released slot comes back only when the owner drains") {
  using List = ReleaseList<WakeOnEdge, RingDoorbell, Counting::exact>;
  Doorbell bell;
  List list{RingDoorbell{&bell}};
  TeardownReport report;
  {
    ArenaConfig cfg = one_shard;
    cfg.teardown_report = &report;
    Arena<NoopMapper, BitmapSlots, DeferredReclaimer<List>, MmapSource> arena(
        cfg, MmapSource{}, NoopMapper{}, DeferredReclaimer<List>{list});
    REQUIRE(arena);
    auto ids = fill(arena);
    REQUIRE(ids.size() == 16);

    // A completion thread releases a slot: O(1), no teardown on that thread.
    const auto rings = bell.rings();
    std::thread completion([&] { CHECK(arena.release(ids[3])); });
    completion.join();
    CHECK(bell.rings() == rings + 1); // the edge woke the owner
    CHECK(arena.counters().reclaim_pending == 1);
    CHECK_FALSE(arena.acquire()); // not reusable yet
    CHECK_FALSE(arena.release(ids[3])); // and not releasable twice

    // The owner drains (between requests): now it is reusable.
    CHECK(arena.reclaim() == 1);
    CHECK(arena.counters().reclaim_pending == 0);
    SlotId again = arena.acquire();
    CHECK(again == ids[3]);
    CHECK(list.counters().items_drained == 1);

    // Leave some pending: the arena's teardown drains them itself.
    for (SlotId id : ids) CHECK(arena.release(id));
    CHECK(arena.counters().reclaim_pending == 16);
  }
  CHECK(report.clean);
  CHECK(report.slots_outstanding == 0);
}

TEST_CASE("epoch reclaimer: a released slot is not reusable while a guard lives") {
  auto domain = EpochDomain::create();
  REQUIRE(domain);
  EpochThread reader(**domain, "reader");
  TeardownReport report;
  {
    ArenaConfig cfg = one_shard;
    cfg.teardown_report = &report;
    Arena<NoopMapper, BitmapSlots, EpochReclaimer, MmapSource> arena(cfg, MmapSource{}, NoopMapper{},
                                                                     EpochReclaimer{**domain});
    REQUIRE(arena);
    auto ids = fill(arena);
    REQUIRE(ids.size() == 16);
    {
      EpochGuard guard(reader);
      std::byte* p = arena.pointer(ids[5]); // the reader can see slot 5
      CHECK(arena.release(ids[5]));
      for (int i = 0; i < 5; ++i) CHECK(arena.reclaim() == 0);
      CHECK_FALSE(arena.acquire());
      CHECK(arena.counters().reclaim_pending == 1);
      p[100] = std::byte{1}; // still ours to read: the slot was not handed out
    }
    CHECK(arena.reclaim() == 1);
    CHECK(arena.acquire() == ids[5]);
    for (SlotId id : ids) CHECK(arena.release(id));
  }
  CHECK(report.clean); // teardown reclaims: no reader is inside
}

TEST_CASE("deferred and epoch arenas refuse a slot size their in-slot link would be misaligned in") {
  using List = ReleaseList<>;
  List list;
  auto domain = EpochDomain::create({});
  REQUIRE(domain);
  for (const std::size_t bad : {std::size_t{20}, std::size_t{28}, std::size_t{4100}}) {
    Arena<NoopMapper, BitmapSlots, DeferredReclaimer<List>, MmapSource> deferred(
        ArenaConfig{.slot_size = bad}, DeferredReclaimer<List>{list});
    CHECK(deferred.error() == make_error_code(errc::invalid_config));
    CHECK_FALSE(deferred.acquire());
    Arena<NoopMapper, BitmapSlots, EpochReclaimer, MmapSource> epoch(ArenaConfig{.slot_size = bad},
                                                                    EpochReclaimer{**domain});
    CHECK(epoch.error() == make_error_code(errc::invalid_config));
    CHECK_FALSE(epoch.acquire());
  }
  // A multiple of 8 works, the link at every slot's start.
  Arena<NoopMapper, BitmapSlots, DeferredReclaimer<List>, MmapSource> fine(ArenaConfig{.slot_size = 24},
                                                                          DeferredReclaimer<List>{list});
  REQUIRE(fine);
  std::vector<SlotId> ids;
  for (int i = 0; i < 100; ++i) ids.push_back(fine.acquire());
  for (SlotId id : ids) CHECK(fine.release(id));
  CHECK(fine.reclaim() == 100);
  CHECK(fine.counters().slots_in_use == 0);
}
