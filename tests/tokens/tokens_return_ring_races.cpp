// SPDX-License-Identifier: MIT
// Token return ring: a writer publishing while the drain side drains, forced
// deterministically (built with ARENAKIT_TEST_HOOKS). The drain stops at
// token_ring_drain_run, after it took its run of published entries and
// before it hands them to the tracker; the test thread plays the writer
// there, then lets the drain go on.
#include "pause_point.hpp"
#include "return_ring_support.hpp"

#include <thread>
#include <utility>

using namespace tokens_test;

namespace {

/// Runs @drain_side on its own thread, stops it at token_ring_drain_run
/// (its run taken, the tracker not called yet), runs @writer on this thread,
/// then lets the drain side go on and waits for it.
template <class DrainSide, class Writer>
void while_drain_paused(DrainSide&& drain_side, Writer&& writer) {
  pause_test::PausePoint pause(arenakit::detail::TestPoint::token_ring_drain_run);
  std::thread drainer(std::forward<DrainSide>(drain_side));
  pause.wait_until_paused();
  writer();
  pause.resume();
  drainer.join();
}

} // namespace

// The slots a drain is reading stay the writer's no-go zone until the
// tracker call is done: the head moves after the call, not before. A head
// released early would let the writer overwrite entries 0..3 with 4..7 under
// the drain, which would then return 4..7 and leave 0..3 held for ever.
TEST_CASE("return ring races: a full ring stays full while a drain reads it; the writer falls back") {
  RingSetup setup(8, 4);
  auto& t = setup.t; // named, not bound: clang 14 cannot capture structured bindings
  const ConsumerHandle h = setup.h;
  Ring* const ring = setup.ring.get();
  const auto second = ones(t, 4, 4);
  write_and_publish(*ring, ones(t, 0, 4));

  RingDrainOutcome drained;
  while_drain_paused([&] { drained = ring->drain(t, h); },
                     [&] { // the writer: the ring is full until the drain's call is over
                       const std::size_t took = ring->try_push(std::span<const TokenRange32>(second));
                       CHECK(took == 0);
                       const auto direct = t.return_tokens(h, std::span<const TokenRange32>(second).subspan(took));
                       CHECK(direct.released == 4 - took);
                       ring->publish();
                     });

  CHECK(drained.entries == 4);
  CHECK(drained.released == 4);
  CHECK(drained.refused == 0);
  for (std::uint32_t p = 0; p < 8; ++p) CHECK(t.page_refs(p) == 0);
  const auto s = t.counters();
  CHECK(s.returned == 8);
  CHECK(s.refused_total() == 0);
  CHECK(ring->drain(t, h).entries == 0);
  // The drained slots are the writer's again.
  CHECK(ring->try_push(std::span<const TokenRange32>(second)) == 4);
}

// Entries the writer publishes while a drain is inside its call are not
// part of that drain (its run was fixed when it read the tail) and are all
// there for the next one: nothing lost, nothing applied twice.
TEST_CASE("return ring races: entries published during a drain wait for the next drain") {
  RingSetup setup(7, 8);
  auto& t = setup.t; // named, not bound: clang 14 cannot capture structured bindings
  const ConsumerHandle h = setup.h;
  Ring* const ring = setup.ring.get();
  write_and_publish(*ring, ones(t, 0, 3));

  RingDrainOutcome drained;
  while_drain_paused([&] { drained = ring->drain(t, h); },
                     [&] { write_and_publish(*ring, ones(t, 3, 4)); }); // slots 3..6: free

  CHECK(drained.entries == 3);
  CHECK(drained.released == 3);
  CHECK(t.page_refs(2) == 0);
  CHECK(t.page_refs(3) == 1);
  CHECK(ring->readable() == 4);
  const RingDrainOutcome next = ring->drain(t, h);
  CHECK(next.entries == 4);
  CHECK(next.released == 4);
  for (std::uint32_t p = 0; p < 7; ++p) CHECK(t.page_refs(p) == 0);
  CHECK(t.counters().returned == 7);
  CHECK(t.counters().refused_total() == 0);
}

// close() drains what was published before it began, then closes; entries
// the writer publishes while the close is draining are not returned for the
// consumer (they are refused by a later drain as consumer_closed), and a
// writer that keeps publishing cannot keep the close going.
TEST_CASE("return ring races: entries published while close() drains are refused after it, not applied") {
  RingSetup setup(6, 8);
  auto& t = setup.t; // named, not bound: clang 14 cannot capture structured bindings
  const ConsumerHandle h = setup.h;
  Ring* const ring = setup.ring.get();
  write_and_publish(*ring, ones(t, 0, 2));

  RingCloseOutcome closed;
  while_drain_paused([&] { closed = ring->close(t, h); }, [&] { write_and_publish(*ring, ones(t, 2, 2)); });

  CHECK(closed.drained.entries == 2);
  CHECK(closed.drained.released == 2);
  CHECK(closed.closed.status == CloseStatus::drained);
  CHECK(closed.closed.released == 4); // pages 2..5, including the two whose entries came late
  CHECK(ring->readable() == 2);
  const RingDrainOutcome late = ring->drain(t, h);
  CHECK(late.entries == 2);
  CHECK(late.released == 0);
  CHECK(late.refused == 1);
  const auto s = t.counters();
  CHECK(s.returned == 2);
  CHECK(s.close_released == 4);
  CHECK(s.refused_for(TokenRefusal::consumer_closed) == 1);
  CHECK(s.outstanding() == 0);
}
