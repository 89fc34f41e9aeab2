// SPDX-License-Identifier: MIT
// A devmem binding that is an arena (issue 12): the pages are the slots of a
// counted arena's one shard, the tracker counts per consumer over them, and a
// page whose last reference goes comes back through the arena's reclaimer.
#include "tokens_support.hpp"

#include <arenakit/arena/arena.hpp>
#include <arenakit/lists/release_list.hpp>
#include <arenakit/reclaimers/deferred.hpp>
#include <arenakit/slots/counted.hpp>
#include <arenakit/tokens/arena_binding.hpp>

#include <doctest/doctest.h>

#include <vector>

using namespace arenakit;
using tokens_test::give_back;
using tokens_test::hand_out;
using tokens_test::open;

namespace {
using List = ReleaseList<WakeNever, NoWaker, Counting::exact>;
using PageArena = Arena<NoopMapper, CountedSlots, DeferredReclaimer<List>, MmapSource>;
using Tracker = TokenTracker<ReleaseToArena<PageArena>>;
constexpr std::size_t page_size = 4096;
constexpr std::size_t pages = 64;
constexpr ArenaConfig binding_config{.slot_size = page_size, .shard_size = pages * page_size, .max_shards = 1,
                                     .initial_shards = 1};

struct Rig {
  List list;
  PageArena arena{binding_config, DeferredReclaimer<List>{list}};
  ArenaBinding<PageArena> binding = make_binding(arena);
  Tracker tracker = make_tracker(binding);

  static ArenaBinding<PageArena> make_binding(PageArena& a) {
    REQUIRE(a);
    auto b = ArenaBinding<PageArena>::create(a);
    REQUIRE(b.has_value());
    return std::move(b).value();
  }
  static Tracker make_tracker(const ArenaBinding<PageArena>& b) {
    auto t = Tracker::create(b.region(), TokenTrackerConfig{.page_size = page_size}, b.hook());
    REQUIRE(t.has_value());
    return std::move(t).value();
  }

  /// The receive path: a fresh page delivered as @frags fragments (the
  /// hook retains the consumers' arena reference), then the receive path's
  /// reference dropped.
  std::uint32_t receive(ConsumerHandle h, std::uint32_t frags, bool keep_rx_reference = false) {
    const SlotId id = arena.acquire();
    REQUIRE(id);
    const std::uint32_t p = binding.page_of(id);
    (void)hand_out(tracker, h, std::vector<std::uint32_t>(frags, p));
    if (!keep_rx_reference) CHECK(arena.release(id));
    return p;
  }
};
} // namespace

TEST_CASE("arena binding: the tracker's pages are the arena's slots, one shift apart") {
  Rig rig;
  CHECK(rig.tracker.page_count() == pages);
  CHECK(rig.binding.region().size == pages * page_size);
  CHECK(rig.binding.region().data != nullptr);
  for (std::uint32_t p : {0u, 1u, 63u}) {
    const SlotId id = rig.binding.id_of(p);
    REQUIRE(id);
    CHECK(rig.binding.page_of(id) == p);
    CHECK(rig.arena.pointer(id) == rig.tracker.page_address(p));
  }
  CHECK_FALSE(rig.binding.id_of(64));
}

TEST_CASE("arena binding: refuses an arena that may grow past one shard or has none") {
  List list;
  PageArena two(ArenaConfig{.slot_size = page_size, .shard_size = pages * page_size, .max_shards = 2,
                            .initial_shards = 1},
                DeferredReclaimer<List>{list});
  CHECK(ArenaBinding<PageArena>::create(two).error() == make_error_code(errc::invalid_config));
  PageArena none(ArenaConfig{.slot_size = page_size, .shard_size = pages * page_size, .max_shards = 1},
                 DeferredReclaimer<List>{list});
  CHECK(ArenaBinding<PageArena>::create(none).error() == make_error_code(errc::invalid_config));
}

TEST_CASE("arena binding: a page goes back through the reclaimer when its last consumer reference does") {
  Rig rig;
  const ConsumerHandle a = open(rig.tracker);
  const ConsumerHandle b = open(rig.tracker);
  const std::uint32_t p = rig.receive(a, 3);
  REQUIRE(hand_out(rig.tracker, b, {p}).delivered == 1); // the same fill, a fragment for another consumer
  const SlotId id = rig.binding.id_of(p);
  CHECK(rig.arena.refs(id) == 1); // the consumers' reference, whatever their count
  const TokenRange32 one{rig.tracker.token32(p), 1}; // a range names consecutive tokens, one reference each
  CHECK(give_back(rig.tracker, a, {one, one, one}).released == 3);
  CHECK(rig.list.pending() == 0); // b still holds it
  CHECK(give_back(rig.tracker, b, {one}).released == 1);
  CHECK(rig.list.pending() == 1); // queued for the receive thread
  CHECK(rig.arena.refs(id) == 0);
  CHECK(rig.arena.reclaim() == 1);
  CHECK(rig.arena.counters().slots_in_use == 0);
  CHECK(rig.arena.counters().refused_releases == 0);
}

TEST_CASE("arena binding: the receive path's reference keeps a page it still reads, whoever finishes first") {
  Rig rig;
  const ConsumerHandle a = open(rig.tracker);
  const std::uint32_t p = rig.receive(a, 2, /*keep_rx_reference=*/true);
  const SlotId id = rig.binding.id_of(p);
  const TokenRange32 one{rig.tracker.token32(p), 1};
  CHECK(give_back(rig.tracker, a, {one, one}).released == 2); // the consumer is quicker
  CHECK(rig.arena.refs(id) == 1);
  CHECK(rig.list.pending() == 0); // not recycled under the receive path
  CHECK(rig.arena.release(id));
  CHECK(rig.list.pending() == 1);
  CHECK(rig.arena.reclaim() == 1);
}

TEST_CASE("arena binding: a consumer killed mid-stream gives every page back to the arena on close") {
  Rig rig;
  const ConsumerHandle dead = open(rig.tracker);
  const ConsumerHandle live = open(rig.tracker);
  std::vector<std::uint32_t> held;
  for (std::uint32_t i = 0; i < 40; ++i) held.push_back(rig.receive(i % 5 == 0 ? live : dead, 1 + i % 3));
  // The dead consumer returned some before it died.
  for (std::size_t i = 1; i < 10; ++i)
    if (i % 5 != 0) CHECK(give_back(rig.tracker, dead, {{rig.tracker.token32(held[i]), 1}}).released == 1);
  CHECK(rig.arena.counters().slots_in_use == 40);
  const CloseOutcome closed = rig.tracker.close(dead);
  CHECK(closed.status == CloseStatus::drained);
  CHECK(rig.arena.reclaim() == 32); // every page only the dead consumer held
  CHECK(rig.arena.counters().slots_in_use == 8);
  // A stale return through the closed handle changes nothing in the arena.
  CHECK(give_back(rig.tracker, dead, {{rig.tracker.token32(held[1]), 1}}).released == 0);
  CHECK(rig.tracker.close(live).status == CloseStatus::drained);
  CHECK(rig.arena.reclaim() == 8);
  const ArenaCounters c = rig.arena.counters();
  CHECK(c.slots_in_use == 0);
  CHECK(c.refused_releases == 0); // no page's reference was ever dropped twice
  CHECK(rig.arena.release_memory() == std::error_code{});
}

TEST_CASE("arena binding: a page no consumer took goes back at once") {
  Rig rig;
  const ConsumerHandle gone = open(rig.tracker);
  REQUIRE(rig.tracker.close(gone).status == CloseStatus::drained);
  const std::uint32_t p = rig.receive(gone, 2); // every fragment refused: consumer closed
  CHECK(rig.tracker.page_refs(p) == 0);
  CHECK(rig.list.pending() == 1);
  CHECK(rig.arena.reclaim() == 1);
  CHECK(rig.arena.counters().slots_in_use == 0);
}

TEST_CASE("arena binding: the receive path delivers a page in several batches while it holds it") {
  Rig rig;
  const ConsumerHandle a = open(rig.tracker);
  const std::uint32_t p = rig.receive(a, 2, /*keep_rx_reference=*/true);
  const SlotId id = rig.binding.id_of(p);
  CHECK(rig.arena.refs(id) == 2); // the receive path's, and one for all consumers
  const TokenRange32 one{rig.tracker.token32(p), 1};
  CHECK(give_back(rig.tracker, a, {one, one}).released == 2); // the tracker's count falls to 0
  CHECK(rig.arena.refs(id) == 1);
  CHECK(hand_out(rig.tracker, a, {p}).delivered == 1); // a second batch of the same fill
  CHECK(rig.arena.refs(id) == 2);
  CHECK(rig.arena.release(id));
  CHECK(rig.list.pending() == 0); // the consumer still reads it
  CHECK(give_back(rig.tracker, a, {one}).released == 1);
  CHECK(rig.list.pending() == 1);
  CHECK(rig.arena.reclaim() == 1);
  CHECK(rig.arena.counters().refused_releases == 0);
  CHECK(rig.arena.counters().slots_in_use == 0);
}

TEST_CASE("arena binding: a page the receive path no longer holds is refused as page_not_live, nothing changes") {
  Rig rig;
  const ConsumerHandle a = open(rig.tracker);
  const SlotId id = rig.arena.acquire();
  REQUIRE(id);
  const std::uint32_t p = rig.binding.page_of(id);
  CHECK(rig.arena.release(id)); // draining: back to the arena at the next reclaim
  const DeliverOutcome late = hand_out(rig.tracker, a, {p, p});
  CHECK(late.delivered == 0);
  CHECK(late.refused == 2);
  CHECK(late.last_refusal == TokenRefusal::page_not_live);
  CHECK(rig.tracker.page_refs(p) == 0);
  CHECK(rig.arena.refs(id) == 0);
  CHECK(rig.tracker.consumer_counters(a)->refused_for(TokenRefusal::page_not_live) == 2);
  CHECK(rig.arena.reclaim() == 1);
  // Free in the arena now: still not the producer's to hand out.
  CHECK(hand_out(rig.tracker, a, {p}).last_refusal == TokenRefusal::page_not_live);
  CHECK(rig.arena.counters().slots_in_use == 0);
}

TEST_CASE("arena binding: a delivery to a closed consumer takes no arena reference") {
  Rig rig;
  const ConsumerHandle a = open(rig.tracker);
  (void)rig.tracker.close(a);
  const SlotId id = rig.arena.acquire();
  REQUIRE(id);
  const std::uint32_t p = rig.binding.page_of(id);
  CHECK(hand_out(rig.tracker, a, {p}).last_refusal == TokenRefusal::consumer_closed);
  CHECK(rig.arena.refs(id) == 1); // only the receive path's: nothing to give back by hand
  CHECK(rig.arena.release(id));
  CHECK(rig.arena.reclaim() == 1);
  CHECK(rig.arena.counters().slots_in_use == 0);
}
