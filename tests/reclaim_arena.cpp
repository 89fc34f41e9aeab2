// SPDX-License-Identifier: MIT
// The reclaimers as an arena's Reclaimer policy: with the llist deferred
// reclaimer a released slot is reusable only after the owner drains; with the
// epoch reclaimer, not while a guard that could see it lives.
#include <arenakit/arena.hpp>
#include <arenakit/epoch.hpp>
#include <arenakit/release_list.hpp>

#include <doctest/doctest.h>

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
