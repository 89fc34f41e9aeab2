// SPDX-License-Identifier: MIT
// Token return ring under threads (label "stress"; run under TSan): a receive
// thread delivers pages to four consumers, drains their rings and closes and
// re-opens two of them (a new ring each time); an application thread returns
// every token it is given through the consumer's ring, falling back to
// return_tokens() when the ring is full, and slips in hostile entries. Checked
// against a model: every entry written is drained exactly once, every
// reference comes back exactly once (by a drain, the fallback or a close),
// nothing is refused but the injected entries and the closed consumers'.
#include "pause_point.hpp"
#include "return_ring_support.hpp"

#include <atomic>
#include <memory>
#include <mutex>
#include <random>
#include <thread>

using namespace tokens_test;

namespace {

/// One consumer and its ring. Each counter has one writer thread and is
/// read after both threads are joined.
struct Lane {
  ConsumerHandle h;
  std::unique_ptr<Ring> ring;
  bool stable = false; ///< never closed before the end
  // The receive thread's.
  std::uint64_t delivered = 0, drained_entries = 0, ring_released = 0, ring_refused = 0, close_released = 0;
  bool closed = false;
  // The application thread's.
  std::uint64_t pushed = 0, direct_released = 0, direct_refused = 0, direct_calls = 0, injected = 0;
};

struct Mailbox { // tokens delivered, waiting for the application
  std::mutex mu;
  std::vector<std::pair<Lane*, std::uint32_t>> items;
};

void note(Lane& l, const RingDrainOutcome& d) {
  l.drained_entries += d.entries;
  l.ring_released += d.released;
  l.ring_refused += d.refused;
}

} // namespace

TEST_CASE("return ring stress: a writer against a drainer with closes and re-opens; nothing lost or released twice") {
  constexpr std::uint32_t pages = 500; // small: pages are often held by two consumers at once
  constexpr int positions = 4;         // 0, 1 stay open; 2, 3 are closed and re-opened
  constexpr int batches = 20'000;
  constexpr std::uint32_t batch = 12;
  TokenTrackerConfig cfg;
  cfg.max_tokens_per_call = 8; // below a batch: every drain of a whole batch is capped
  auto t = make_tracker(pages, cfg);
  pause_test::YieldPoint widen(arenakit::detail::TestPoint::token_ring_drain_run, 1);

  std::vector<std::unique_ptr<Lane>> lanes; // every lane ever opened; the receive thread's until joined
  auto open_lane = [&](bool stable) {
    auto l = std::make_unique<Lane>();
    l->h = open(t);
    l->ring = Ring::create(stable ? 64 : 8).value(); // below a batch: the fallback runs
    l->stable = stable;
    lanes.push_back(std::move(l));
    return lanes.back().get();
  };
  Lane* current[positions];
  for (int k = 0; k < positions; ++k) current[k] = open_lane(k < 2);
  Mailbox box;
  std::atomic<bool> rx_done{false};

  std::thread rx([&] {
    std::mt19937 rng(11);
    std::vector<std::uint32_t> ps(batch);
    for (int b = 0; b < batches; ++b) {
      Lane& l = *current[b % positions];
      for (auto& p : ps) p = static_cast<std::uint32_t>(rng() % pages);
      const auto out = t.deliver(l.h, std::span<const std::uint32_t>(ps));
      REQUIRE(out.delivered == batch);
      l.delivered += batch;
      {
        std::lock_guard<std::mutex> g(box.mu);
        for (auto p : ps) box.items.emplace_back(&l, p);
      }
      for (Lane* c : current) note(*c, c->ring->drain(t, c->h));
      if (b % 97 == 96) { // close a churned consumer, give its position a new one
        const int k = 2 + (b / 97) % 2;
        Lane& old = *current[k];
        const RingCloseOutcome closed = old.ring->close(t, old.h);
        note(old, closed.drained);
        REQUIRE(closed.closed.status == CloseStatus::drained);
        old.close_released = closed.closed.released;
        old.closed = true;
        current[k] = open_lane(false);
      }
      if (b % 16 == 0) std::this_thread::yield();
    }
    rx_done.store(true);
  });

  std::thread app([&] {
    std::mt19937 rng(5);
    std::vector<std::pair<Lane*, std::uint32_t>> mine;
    std::vector<TokenRange32> ranges;
    for (;;) {
      const bool last_pass = rx_done.load();
      {
        std::lock_guard<std::mutex> g(box.mu);
        mine.swap(box.items);
      }
      std::size_t i = 0;
      while (i < mine.size()) {
        Lane& l = *mine[i].first;
        ranges.clear();
        while (i < mine.size() && mine[i].first == &l && ranges.size() < 24)
          ranges.push_back({t.token32(mine[i++].second), 1});
        const bool inject = l.stable && rng() % 8 == 0;
        if (inject) ranges.insert(ranges.begin() + static_cast<long>(rng() % ranges.size()), {pages + 3, 1});
        l.injected += inject ? 1 : 0;
        const std::span<const TokenRange32> all(ranges);
        const std::size_t took = l.ring->try_push(all);
        l.pushed += took;
        l.ring->publish();
        for (auto rest = all.subspan(took); !rest.empty();) { // full: the direct call (capped too)
          const ReturnOutcome direct = t.return_tokens(l.h, rest);
          REQUIRE(direct.ranges_done != 0);
          rest = rest.subspan(direct.ranges_done);
          l.direct_released += direct.released;
          l.direct_refused += direct.refused;
          ++l.direct_calls;
        }
      }
      const bool idle = mine.empty();
      mine.clear();
      if (last_pass && idle) return;
      if (idle) std::this_thread::yield();
    }
  });
  rx.join();
  app.join();
  CHECK(widen.hits() > 0);

  // The drain side's last work (this thread, after the joins): the rest of
  // every ring, then the live consumers' closes.
  for (auto& l : lanes)
    while (l->ring->readable() != 0) note(*l, l->ring->drain(t, l->h));
  std::uint64_t closed_lanes = 0;
  for (auto& l : lanes) {
    INFO("lane index " << l->h.index << " generation " << l->h.generation << (l->stable ? " stable" : ""));
    CHECK(l->drained_entries == l->pushed); // every entry written was drained, once
    if (l->closed) {
      ++closed_lanes;
      // A closed consumer got back, by returns and its close, exactly what
      // it was given; entries that came after its close were refused.
      CHECK(l->ring_released + l->direct_released + l->close_released == l->delivered);
      continue;
    }
    // A live consumer's tokens all came back by returns: nothing lost.
    CHECK(l->ring_released + l->direct_released == l->delivered);
    CHECK(l->ring_refused + l->direct_refused == l->injected);
    CHECK(t.consumer_counters(l->h)->outstanding() == 0);
    CHECK(t.consumer_counters(l->h)->refused_for(TokenRefusal::out_of_range) == l->injected);
    const RingCloseOutcome c = l->ring->close(t, l->h);
    CHECK(c.closed.status == CloseStatus::drained);
    CHECK(c.closed.released == 0);
  }
  CHECK(closed_lanes >= 200);
  // The paths under test all ran: the fallback, capped drains.
  std::uint64_t direct_calls = 0;
  for (auto& l : lanes) direct_calls += l->direct_calls;
  CHECK(direct_calls > 0);
  CHECK(t.counters().calls_capped > 0);
  for (std::uint32_t p = 0; p < pages; ++p) REQUIRE(t.page_refs(p) == 0);
  const auto s = t.counters();
  CHECK(s.outstanding() == 0);
  // Refusals: the injected entries (each once, on the live consumers) and,
  // on closed consumers only, returns through a closed handle or racing its
  // close (consumer_closed, underflow, not_held: the tracker's documented
  // outcomes for that race), each seen by the thread whose call it was.
  std::uint64_t injected = 0, closed_refused = 0;
  for (auto& l : lanes) {
    injected += l->injected;
    if (l->closed) closed_refused += l->ring_refused + l->direct_refused;
  }
  CHECK(s.refused_for(TokenRefusal::out_of_range) == injected);
  CHECK(s.refused_total() == injected + closed_refused);
  CHECK(s.refused_total() == injected + s.refused_for(TokenRefusal::consumer_closed) +
                                 s.refused_for(TokenRefusal::underflow) + s.refused_for(TokenRefusal::not_held));
}
