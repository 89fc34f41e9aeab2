// SPDX-License-Identifier: MIT
// Deferred-release list: wake policies, the seed's idle-connection case,
// machine-independent wake-up counts, teardown, bad input, and the list as
// an arena Reclaimer (against a test sink).
#include <arenakit/lists/release_list.hpp>
#include <arenakit/reclaimers/deferred.hpp>
#include <arenakit/concepts/reclaimer.hpp>

#include <doctest/doctest.h>

#include <cstdint>
#include <vector>

using namespace arenakit;

namespace {
struct Ctx : LlistNode {
  int id = 0;
  bool torn_down = false;
};

struct CountWaker {
  int* wakes;
  void operator()() const noexcept { ++*wakes; }
};

struct Teardown {
  std::vector<int>* order;
  void operator()(LlistNode* n) const noexcept {
    auto* c = llist_entry<Ctx>(n);
    c->torn_down = true;
    order->push_back(c->id);
  }
};

using EdgeList = ReleaseList<WakeOnEdge, CountWaker>;
using WatermarkList = ReleaseList<WakeAtWatermark, CountWaker>;
using PollList = ReleaseList<WakeNever>;

template <class L, class T>
concept CanPark = requires(L& l, T& t) { l.park(t); };
static_assert(CanPark<EdgeList, Teardown>);
static_assert(CanPark<WatermarkList, Teardown>);
static_assert(!CanPark<PollList, Teardown>, "a WakeNever owner may not declare itself asleep");

/**
 * The seed's idle-connection case, step by step. An owner serves requests
 * and drains the release list between them (xpo_release_ctxt). A Send
 * completion lands after the owner's last drain; no request follows. The
 * owner has gone idle (`idle` is what it does before sleeping); it runs again
 * only if something wakes it. Returns the releases still pinned once the
 * owner is asleep for good.
 */
template <class List, class Idle>
std::size_t idle_connection(List& list, const int& wakes, Idle idle) {
  Ctx ctx[3];
  std::vector<int> order;
  Teardown teardown{&order};
  // Request 1: its send completes while the owner is busy.
  (void)list.release(ctx[0]);
  list.drain(teardown); // between requests
  // No more requests: the owner prepares to sleep.
  const int wakes_before_sleep = wakes;
  const bool may_sleep = idle(list, teardown);
  // The last send completion arrives after the owner's last drain.
  (void)list.release(ctx[1]);
  // The owner runs again only when woken (or when it was told not to sleep).
  if (!may_sleep || wakes != wakes_before_sleep) list.drain(teardown);
  std::size_t pinned = 0;
  for (int i = 0; i < 2; ++i) pinned += ctx[i].torn_down ? 0u : 1u;
  if (pinned != 0) list.close(teardown); // tidy up for the destructor
  return pinned;
}

auto just_drain = [](auto& list, Teardown& td) {
  list.drain(td);
  return true; // sleeps with no backstop
};
auto park = [](auto& list, Teardown& td) { return list.park(td); };
} // namespace

TEST_CASE("idle connection: the edge policy wakes the owner for a release after its last drain") {
  int wakes = 0;
  EdgeList list{CountWaker{&wakes}};
  CHECK(idle_connection(list, wakes, just_drain) == 0);
  CHECK(wakes >= 1);
}

TEST_CASE("idle connection: without a backstop the release stays pinned (the seed's bug)") {
  // WakeNever models the pre-fix transport: drain only between requests.
  int wakes = 0;
  PollList list;
  CHECK(idle_connection(list, wakes, just_drain) == 1);
  // The watermark policy alone has the same hole (1 < watermark)...
  WatermarkList wm{CountWaker{&wakes}, *WakeAtWatermark::create(64)};
  CHECK(idle_connection(wm, wakes, just_drain) == 1);
}

TEST_CASE("idle connection: park() is the backstop for the watermark policy") {
  int wakes = 0;
  WatermarkList list{CountWaker{&wakes}, *WakeAtWatermark::create(64)};
  CHECK(idle_connection(list, wakes, park) == 0);
  CHECK(wakes == 1);
  int edge_wakes = 0;
  EdgeList edge{CountWaker{&edge_wakes}};
  CHECK(idle_connection(edge, edge_wakes, park) == 0);
}

TEST_CASE("park() refuses to let the owner sleep when a release raced in") {
  int wakes = 0;
  WatermarkList list{CountWaker{&wakes}, *WakeAtWatermark::create(8)};
  Ctx a;
  std::vector<int> order;
  // A teardown that releases another item models a release landing between
  // park's drain and its re-check.
  Ctx late;
  late.id = 42;
  bool injected = false;
  auto td = [&](LlistNode* n) noexcept {
    order.push_back(llist_entry<Ctx>(n)->id);
    if (!injected) {
      injected = true;
      (void)list.release(late);
    }
  };
  (void)list.release(a);
  CHECK_FALSE(list.park(td)); // must drain again instead of sleeping
  CHECK(list.drain(td) == 1);
  CHECK(order == std::vector<int>{0, 42});
  CHECK(list.park(td));
  // Parked: the very next release wakes, even far below the watermark.
  Ctx b;
  CHECK(list.release(b) == ReleaseResult::queued_woke);
  Ctx c;
  CHECK(list.release(c) == ReleaseResult::queued); // only one wake per park
  list.close(td);
}

TEST_CASE("drain tears down in release order, in the drainer's context, and counts") {
  int wakes = 0;
  EdgeList list{CountWaker{&wakes}};
  Ctx ctx[10];
  for (int i = 0; i < 10; ++i) ctx[i].id = i;
  for (int i = 0; i < 6; ++i) (void)list.release(ctx[i]);
  std::vector<int> order;
  CHECK(list.drain(Teardown{&order}) == 6);
  for (int i = 6; i < 10; ++i) (void)list.release(ctx[i]);
  CHECK(list.drain(Teardown{&order}) == 4);
  CHECK(list.drain(Teardown{&order}) == 0); // an empty drain is not counted as a drain
  CHECK(order == std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  auto c = list.counters();
  CHECK(c.drains == 2);
  CHECK(c.items_drained == 10);
  CHECK(c.releases == 10);
  CHECK(c.max_items_per_drain == 6);
  CHECK(c.items_per_drain() == doctest::Approx(5.0));
  CHECK(c.wakeups == 2);
  CHECK(wakes == 2);
}

TEST_CASE("release_bulk queues a chain with one operation") {
  int wakes = 0;
  ReleaseList<WakeOnEdge, CountWaker, Counting::exact> list{CountWaker{&wakes}};
  Ctx a, b, c;
  a.id = 1, b.id = 2, c.id = 3;
  c.next = &b;
  b.next = &a; // newest first, like the list itself
  CHECK(list.release_bulk(c, a, 3) == ReleaseResult::queued_woke);
  CHECK(list.pending() == 3);
  std::vector<int> order;
  CHECK(list.drain(Teardown{&order}) == 3);
  CHECK(order == std::vector<int>{1, 2, 3});
  CHECK(list.pending() == 0);
}

TEST_CASE("wake-ups per item: edge policy, one producer, owner drains every 100 (exact count)") {
  int wakes = 0;
  EdgeList list{CountWaker{&wakes}};
  std::vector<Ctx> ctx(1000);
  std::vector<int> order;
  for (std::size_t i = 0; i < ctx.size(); ++i) {
    (void)list.release(ctx[i]);
    if (i % 100 == 99) list.drain(Teardown{&order});
  }
  auto c = list.counters();
  CHECK(c.wakeups == 10); // one per drain: only the trailing edge pays
  CHECK(c.wakeups_per_item() == doctest::Approx(0.01));
  CHECK(c.items_per_drain() == doctest::Approx(100.0));
}

TEST_CASE("wake-ups per item: watermark policy wakes once per crossing, never below it") {
  int wakes = 0;
  WatermarkList list{CountWaker{&wakes}, *WakeAtWatermark::create(64)};
  std::vector<Ctx> ctx(1000);
  std::vector<int> order;
  for (std::size_t i = 0; i < ctx.size(); ++i) {
    (void)list.release(ctx[i]);
    if (i % 100 == 99) list.drain(Teardown{&order});
  }
  CHECK(list.counters().wakeups == 10);
  CHECK(list.pending() == 0);
  // Drains every 50 never let it reach 64: no wake at all.
  int quiet = 0;
  WatermarkList list2{CountWaker{&quiet}, *WakeAtWatermark::create(64)};
  for (std::size_t i = 0; i < ctx.size(); ++i) {
    (void)list2.release(ctx[i]);
    if (i % 50 == 49) list2.drain(Teardown{&order});
  }
  CHECK(quiet == 0);
}

TEST_CASE("bad input: a zero watermark is refused with invalid_config") {
  auto bad = WakeAtWatermark::create(0);
  CHECK_FALSE(bad);
  CHECK(bad.error() == errc::invalid_config);
  CHECK(WakeAtWatermark::create(1));
}

TEST_CASE("close: final drain, then releases are refused and stay with the caller") {
  int wakes = 0;
  ReleaseList<WakeOnEdge, CountWaker, Counting::exact> list{CountWaker{&wakes}};
  Ctx a, b, straggler;
  (void)list.release(a);
  (void)list.release(b);
  std::vector<int> order;
  CHECK(list.close(Teardown{&order}) == 2);
  CHECK(a.torn_down);
  CHECK(b.torn_down);
  CHECK(list.closed_for_release());
  CHECK(list.release(straggler) == ReleaseResult::refused_closed);
  CHECK_FALSE(straggler.torn_down); // nothing lost: the caller still owns it
  CHECK(list.pending() == 0);
  CHECK(list.drain(Teardown{&order}) == 0);
  CHECK(list.close(Teardown{&order}) == 0);
  CHECK(list.counters().refused_closed == 1);
}

namespace {
struct LeftoverSeen {
  std::size_t count = 0;
  std::size_t walked = 0;
};
void record_leftover(void* context, LlistNode* chain, std::size_t count) noexcept {
  auto* seen = static_cast<LeftoverSeen*>(context);
  seen->count = count;
  seen->walked = llist_length(chain);
}
} // namespace

TEST_CASE("destroying a list with items on it is reported, with the items") {
  LeftoverSeen seen;
  Ctx a, b, c;
  {
    PollList list;
    list.set_leftover_hook(&record_leftover, &seen);
    (void)list.release(a);
    (void)list.release(b);
    (void)list.release(c);
  }
  CHECK(seen.count == 3);
  CHECK(seen.walked == 3);
  LeftoverSeen none;
  {
    PollList list;
    list.set_leftover_hook(&record_leftover, &none);
    (void)list.release(a);
    std::vector<int> order;
    list.close(Teardown{&order});
  }
  CHECK(none.count == 0); // drained: nothing to report
}

TEST_CASE("pending(): exact when counted, empty/non-empty otherwise") {
  int wakes = 0;
  EdgeList cheap{CountWaker{&wakes}};
  ReleaseList<WakeOnEdge, CountWaker, Counting::exact> exact{CountWaker{&wakes}};
  Ctx a[3], b[3];
  for (int i = 0; i < 3; ++i) {
    (void)cheap.release(a[i]);
    (void)exact.release(b[i]);
  }
  CHECK(cheap.pending() == 1);
  CHECK(exact.pending() == 3);
  std::vector<int> order;
  cheap.drain(Teardown{&order});
  exact.drain(Teardown{&order});
  CHECK(cheap.pending() == 0);
  CHECK(exact.pending() == 0);
}

TEST_CASE("DeferredReclaimer: a slot is returned only when the owner drains") {
  int wakes = 0;
  ReleaseList<WakeOnEdge, CountWaker, Counting::exact> list{CountWaker{&wakes}};
  DeferredReclaimer reclaimer{list};
  static_assert(check_reclaimer<decltype(reclaimer)>());
  static_assert(!decltype(reclaimer)::immediate);
  CHECK(decltype(reclaimer)::min_slot_size <= 64);

  alignas(64) std::byte slots[4][64];
  std::vector<SlotId> returned;
  auto sink = [&](SlotId id) noexcept { returned.push_back(id); };
  for (std::uint32_t i = 0; i < 4; ++i) reclaimer.retire(SlotId{0x0100'0000u | (i + 1)}, slots[i], sink);
  CHECK(returned.empty());
  CHECK(reclaimer.pending() == 4);
  CHECK(wakes == 1); // the completion side woke the owner once
  CHECK(reclaimer.reclaim(sink) == 4);
  REQUIRE(returned.size() == 4);
  for (std::uint32_t i = 0; i < 4; ++i) CHECK(returned[i].raw == (0x0100'0000u | (i + 1)));
  CHECK(reclaimer.pending() == 0);

  // After close (teardown), a straggling retire returns the slot at once.
  std::vector<int> order;
  list.close(Teardown{&order});
  reclaimer.retire(SlotId{0x0100'0009u}, slots[0], sink);
  CHECK(returned.size() == 5);
  CHECK(reclaimer.pending() == 0);
}

TEST_CASE("layout: head, producer counters and owner counters on separate lines") {
  using L = ReleaseList<WakeOnEdge, CountWaker, Counting::exact>;
  CHECK(alignof(L) == cache_line_size);
  CHECK(sizeof(L) >= 4 * cache_line_size);
}
