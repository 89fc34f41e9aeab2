// SPDX-License-Identifier: MIT
// Deferred-release list under threads (TSan): completion threads release at
// full speed while an owner drains, parks and sleeps on a Doorbell. Nothing is
// lost (a lost wake would leave the owner asleep and the test would time
// out), every item is torn down once, and the wake-up counts obey their
// machine-independent bounds.
#include <arenakit/lists/release_list.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <thread>
#include <vector>

using namespace arenakit;

namespace {
struct Ctx : LlistNode {
  std::uint32_t id = 0;
  std::uint32_t payload = 0;
};

constexpr int producers = 2;
constexpr std::uint32_t per_producer = 20000;

template <class List>
void run(List& list, Doorbell& bell, std::uint64_t& parks_true) {
  std::vector<Ctx> ctx(producers * per_producer);
  for (std::uint32_t i = 0; i < ctx.size(); ++i) ctx[i].id = i;
  std::vector<int> seen(ctx.size(), 0);
  std::size_t torn = 0;
  bool payload_ok = true;
  auto teardown = [&](LlistNode* n) noexcept {
    auto* c = llist_entry<Ctx>(n);
    payload_ok = payload_ok && c->payload == c->id + 17u;
    ++seen[c->id];
    ++torn;
  };
  std::vector<std::thread> threads;
  for (int p = 0; p < producers; ++p)
    threads.emplace_back([&, p] {
      for (std::uint32_t i = 0; i < per_producer; ++i) {
        Ctx& c = ctx[static_cast<std::size_t>(p) * per_producer + i];
        c.payload = c.id + 17u;
        (void)list.release(c);
        if ((i & 1023u) == 0) std::this_thread::yield(); // let the owner sleep sometimes
      }
    });
  // The owner: drain between "requests", park, sleep until woken.
  while (torn < ctx.size()) {
    const std::uint32_t seen_bell = bell.snapshot();
    list.drain(teardown);
    if (torn == ctx.size()) break;
    if (list.park(teardown)) {
      ++parks_true;
      if (torn == ctx.size()) break;
      bell.wait(seen_bell);
    }
  }
  for (auto& t : threads) t.join();
  CHECK(payload_ok);
  std::size_t once = 0;
  for (int s : seen) once += s == 1 ? 1u : 0u;
  CHECK(once == ctx.size());
  list.close(teardown);
}
} // namespace

TEST_CASE("stress: edge policy, two completion threads, one parked owner") {
  Doorbell bell;
  ReleaseList<WakeOnEdge, RingDoorbell> list{RingDoorbell{&bell}};
  std::uint64_t parks = 0;
  run(list, bell, parks);
  auto c = list.counters();
  CHECK(c.items_drained == producers * per_producer);
  // Machine-independent: an edge needs an empty list, and only a drain that
  // found items empties it.
  CHECK(c.wakeups <= c.drains + 1);
  MESSAGE("edge: drains=" << c.drains << " wakeups=" << c.wakeups
                          << " items/drain=" << c.items_per_drain());
}

TEST_CASE("stress: watermark policy, two completion threads, one parked owner") {
  Doorbell bell;
  ReleaseList<WakeAtWatermark, RingDoorbell> list{RingDoorbell{&bell}, *WakeAtWatermark::create(256)};
  std::uint64_t parks = 0;
  run(list, bell, parks);
  auto c = list.counters();
  CHECK(c.items_drained == producers * per_producer);
  CHECK(c.releases == producers * per_producer);
  CHECK(list.pending() == 0);
  // One wake per watermark crossing (needs a drain in between) or per park.
  CHECK(c.wakeups <= c.drains + 1 + parks);
  MESSAGE("watermark: drains=" << c.drains << " wakeups=" << c.wakeups << " parks=" << parks);
}
