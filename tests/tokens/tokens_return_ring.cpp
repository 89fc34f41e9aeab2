// SPDX-License-Identifier: MIT
// Token return ring (issue 15, part 3): the application writes {start, count}
// entries and publishes them once; the drain side hands them to the tracker's
// return_tokens(), so each entry gets its validation, refusal counters and
// work cap. Single-threaded here: every step is one side's call, in order.
#include "return_ring_support.hpp"

#include <arenakit/tokens/binding_group.hpp>

using namespace tokens_test;

namespace {

std::size_t write(Ring& ring, std::vector<TokenRange32> entries) {
  return ring.try_push(std::span<const TokenRange32>(entries));
}

} // namespace

TEST_CASE("return ring: create() refuses 0, a non-power of two and too big; keeps the capacity") {
  CHECK(Ring::create(0).error() == errc::invalid_config);
  CHECK(Ring::create(3).error() == errc::invalid_config);
  CHECK(Ring::create(1000).error() == errc::invalid_config);
  CHECK(Ring::create(Ring::max_capacity * 2).error() == errc::invalid_config);
  CHECK(Ring::create(0x8000'0000u).error() == errc::invalid_config);
  CHECK(make_ring(1)->capacity() == 1);
  CHECK(make_ring(64)->capacity() == 64);
  CHECK(TokenReturnRing<TokenRange64>::create(16).value()->capacity() == 16);
}

TEST_CASE("return ring: valid entries come back once, and only after publish()") {
  auto t = make_tracker(64);
  const ConsumerHandle h = open(t);
  REQUIRE(hand_out(t, h, {1, 2, 3, 3, 10}).delivered == 5);
  auto ring = make_ring(8);

  CHECK(write(*ring, {{t.token32(1), 3}, {t.token32(3), 1}}) == 2);
  CHECK(ring->unpublished() == 2);
  // Written is not published: the drain side sees nothing, nothing is released.
  CHECK(ring->readable() == 0);
  const RingDrainOutcome none = ring->drain(t, h);
  CHECK(none.entries == 0);
  CHECK(none.released == 0);
  CHECK(t.page_refs(3) == 2);

  ring->publish();
  CHECK(ring->unpublished() == 0);
  CHECK(ring->readable() == 2);
  const RingDrainOutcome d = ring->drain(t, h);
  CHECK(d.entries == 2);
  CHECK(d.released == 4);
  CHECK(d.refused == 0);
  CHECK(d.left == 0);
  CHECK_FALSE(d.capped);
  CHECK(t.page_refs(1) == 0);
  CHECK(t.page_refs(2) == 0);
  CHECK(t.page_refs(3) == 0);
  CHECK(t.page_refs(10) == 1);
  CHECK(t.consumer_counters(h)->returned == 4);
  // Nothing is applied twice: a second drain finds nothing.
  CHECK(ring->drain(t, h).entries == 0);
  CHECK(t.counters().outstanding() == 1);
  CHECK(t.counters().refused_total() == 0);

  REQUIRE(ring->push({t.token32(10), 1}));
  ring->publish();
  CHECK(ring->drain(t, h).released == 1);
  CHECK(t.counters().outstanding() == 0);
}

// Hostile entries, each refused by the tracker under its own reason and
// counted there, with no effect on anything (in particular not on another
// consumer's pages). 1000 pages: page field 10 bits, binding id 3 in the top
// 8 bits, bits 10..23 reserved.
TEST_CASE("return ring: hostile entries are refused by reason and counted; nothing else changes") {
  TokenTrackerConfig cfg;
  cfg.binding_bits = 8;
  cfg.binding_id = 3;
  cfg.max_tokens_per_call = 64;
  auto t = make_tracker(1000, cfg);
  const ConsumerHandle me = open(t);
  const ConsumerHandle other = open(t);
  REQUIRE(hand_out(t, me, {10, 11, 12}).delivered == 3);
  REQUIRE(hand_out(t, other, {20, 21}).delivered == 2);
  const auto tok = [&](std::uint32_t p) { return t.token32(p); };
  auto ring = make_ring(16);
  const std::vector<TokenRange32> hostile = {
      {tok(10) | (1u << 10), 1},   // reserved bit
      {(4u << 24) | 10u, 1},       // binding id 4, not 3
      {tok(10), 65},               // count past the work cap
      {tok(1023), 2},              // runs past the page field
      {tok(995), 10},              // runs past the page count
      {tok(30), 1},                // nobody holds page 30
      {tok(20), 2},                // the other consumer's pages
      {tok(11), 1},                // the one valid entry
  };
  REQUIRE(ring->try_push(std::span<const TokenRange32>(hostile)) == hostile.size());
  ring->publish();
  const RingDrainOutcome d = ring->drain(t, me);
  CHECK(d.entries == hostile.size());
  CHECK(d.released == 1);
  CHECK(d.refused == 8); // one per refused range, one per refused token of a valid range
  const auto c = *t.consumer_counters(me);
  CHECK(c.refused_for(TokenRefusal::reserved_bits) == 1);
  CHECK(c.refused_for(TokenRefusal::wrong_binding) == 1);
  CHECK(c.refused_for(TokenRefusal::huge_count) == 1);
  CHECK(c.refused_for(TokenRefusal::range_overflow) == 1);
  CHECK(c.refused_for(TokenRefusal::out_of_range) == 1);
  CHECK(c.refused_for(TokenRefusal::underflow) == 1);
  CHECK(c.refused_for(TokenRefusal::not_held) == 2);
  CHECK(c.refused_total() == 8);
  CHECK(t.counters().refused_total() == 8);
  // Only the valid entry moved anything.
  CHECK(t.page_refs(10) == 1);
  CHECK(t.page_refs(11) == 0);
  CHECK(t.page_refs(12) == 1);
  CHECK(t.page_refs(30) == 0);
  CHECK(t.held_by(other, 20) == 1);
  CHECK(t.held_by(other, 21) == 1);
  CHECK(t.counters().outstanding() == 4);
  CHECK(t.consumer_counters(other)->refused_total() == 0);
}

TEST_CASE("return ring: the work cap stops a drain; the rest stays in the ring, in order, for the next") {
  RingSetup setup(12, 8, 8);
  auto& [t, h, ring] = setup;
  write_and_publish(*ring, {{t.token32(0), 4}, {t.token32(4), 4}, {t.token32(8), 4}});

  const RingDrainOutcome first = ring->drain(t, h);
  CHECK(first.capped);
  CHECK(first.entries == 2); // 4 + 4 tokens: the cap
  CHECK(first.released == 8);
  CHECK(first.left == 1);
  CHECK(t.page_refs(7) == 0);
  CHECK(t.page_refs(8) == 1); // the third entry is still in the ring, not applied
  CHECK(ring->readable() == 1);
  CHECK(t.consumer_counters(h)->calls_capped == 1);

  const RingDrainOutcome second = ring->drain(t, h);
  CHECK_FALSE(second.capped);
  CHECK(second.entries == 1);
  CHECK(second.released == 4);
  CHECK(second.left == 0);
  CHECK(ring->drain(t, h).entries == 0);
  CHECK(t.counters().outstanding() == 0);
  CHECK(t.counters().refused_total() == 0);
}

TEST_CASE("return ring: a drain stops at the end of the array; the next one goes on from slot 0") {
  RingSetup setup(6, 4);
  auto& [t, h, ring] = setup;
  write_and_publish(*ring, ones(t, 0, 3));
  CHECK(ring->drain(t, h).entries == 3);
  write_and_publish(*ring, ones(t, 3, 3)); // slots 3, 0, 1: across the wrap, published once
  const RingDrainOutcome a = ring->drain(t, h);
  CHECK(a.entries == 1);
  CHECK(a.left == 2);
  CHECK_FALSE(a.capped);
  const RingDrainOutcome b = ring->drain(t, h);
  CHECK(b.entries == 2);
  CHECK(b.released == 2);
  CHECK(b.left == 0);
  for (std::uint32_t p = 0; p < 6; ++p) CHECK(t.page_refs(p) == 0);
  CHECK(t.counters().returned == 6);
}

TEST_CASE("return ring: a full ring takes what fits; the writer returns the rest directly") {
  RingSetup setup(6, 4);
  auto& [t, h, ring] = setup;
  const std::vector<TokenRange32> back = ones(t, 0, 6);
  const std::span<const TokenRange32> all(back);
  const std::size_t took = ring->try_push(all);
  CHECK(took == 4);
  CHECK_FALSE(ring->push({t.token32(5), 1})); // full: push() says so too
  ring->publish();
  // The fallback: the entries that did not fit go straight to the tracker.
  const ReturnOutcome direct = t.return_tokens(h, all.subspan(took));
  CHECK(direct.released == 2);
  CHECK(t.page_refs(4) == 0);
  CHECK(t.page_refs(3) == 1); // still in the ring
  const RingDrainOutcome d = ring->drain(t, h);
  CHECK(d.entries == 4);
  CHECK(d.released == 4);
  for (std::uint32_t p = 0; p < 6; ++p) CHECK(t.page_refs(p) == 0);
  CHECK(t.counters().returned == 6);
  CHECK(t.counters().refused_total() == 0);
  // Drained slots are free again.
  CHECK(ring->try_push(all.first(4)) == 4);
}

TEST_CASE("return ring: close() drains what was published, then closes; later entries are refused") {
  RingSetup setup(8, 8);
  auto& [t, h, ring] = setup;
  write_and_publish(*ring, {{t.token32(0), 2}, {t.token32(2), 1}});
  REQUIRE(ring->push({t.token32(3), 1})); // written, not published: not part of the close's drain

  const RingCloseOutcome c = ring->close(t, h);
  CHECK(c.drained.entries == 2);
  CHECK(c.drained.released == 3);
  CHECK(c.drained.left == 0);
  CHECK(c.closed.status == CloseStatus::drained);
  CHECK(c.closed.released == 5); // pages 3..7: what was still held
  const auto s = t.counters();
  CHECK(s.returned == 3);
  CHECK(s.close_released == 5);
  CHECK(s.outstanding() == 0);

  // Published after the close: taken off the ring and refused as a call
  // through a closed handle (once per drain call), never applied.
  ring->publish();
  REQUIRE(ring->push({t.token32(4), 1}));
  ring->publish();
  const RingDrainOutcome late = ring->drain(t, h);
  CHECK(late.entries == 2);
  CHECK(late.released == 0);
  CHECK(late.refused == 1);
  CHECK(t.counters().refused_for(TokenRefusal::consumer_closed) == 1);
  CHECK(t.counters().refused_total() == 1);
  CHECK(ring->readable() == 0);
  // A second close drains nothing and is refused by the tracker.
  const RingCloseOutcome again = ring->close(t, h);
  CHECK(again.drained.entries == 0);
  CHECK(again.closed.status == CloseStatus::refused);
}

TEST_CASE("return ring: close() drains a ring longer than one call's work cap, across the wrap") {
  RingSetup setup(16, 8, 4);
  auto& [t, h, ring] = setup;
  write_and_publish(*ring, ones(t, 0, 3));
  REQUIRE(ring->drain(t, h).entries == 3);
  for (std::uint32_t p = 3; p < 11; ++p) REQUIRE(ring->push({t.token32(p), 1})); // 8 entries, wrapping
  ring->publish();
  const RingCloseOutcome c = ring->close(t, h);
  CHECK(c.drained.entries == 8);
  CHECK(c.drained.released == 8);
  CHECK(c.drained.capped);
  CHECK(c.closed.released == 5); // pages 11..15
  CHECK(t.counters().returned == 11);
  CHECK(t.counters().outstanding() == 0);
}

TEST_CASE("return ring: 64-bit entries drained into a binding group, mixed bindings") {
  using Tracker = TokenTracker<>;
  TokenTrackerConfig cfg;
  cfg.token_width = TokenWidth::bits64;
  cfg.binding_bits = 16;
  cfg.binding_id = 1;
  Tracker a = make_tracker(64, cfg);
  cfg.binding_id = 2;
  Tracker b = make_tracker(64, cfg);
  BindingGroup<Tracker> group;
  REQUIRE_FALSE(group.add(a));
  REQUIRE_FALSE(group.add(b));
  auto c = group.open();
  REQUIRE(c.has_value());
  const std::vector<std::uint32_t> pa{1, 2}, pb{5};
  REQUIRE(group.deliver(*c, 0, pa).delivered == 2);
  REQUIRE(group.deliver(*c, 1, pb).delivered == 1);
  auto ring = TokenReturnRing<TokenRange64>::create(4).value();
  const std::vector<TokenRange64> back{{group.token(0, 1), 2}, {group.token(1, 5), 1}, {std::uint64_t{9} << 48, 1}};
  REQUIRE(ring->try_push(std::span<const TokenRange64>(back)) == 3);
  ring->publish();
  const RingDrainOutcome d = ring->drain(group, *c);
  CHECK(d.entries == 3);
  CHECK(d.released == 3);
  CHECK(d.refused == 1); // binding 9 is no member
  CHECK(group.refused() == 1);
  CHECK(a.page_refs(1) == 0);
  CHECK(b.page_refs(5) == 0);
  CHECK(ring->close(group, *c).closed.status == CloseStatus::drained);
}
