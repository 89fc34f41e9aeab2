// SPDX-License-Identifier: MIT
// Token tracker: every kind of bad input a user can hand back, each refused,
// counted under its own reason, with no effect — in particular on the
// references of other consumers. 1000 pages: page field of 10 bits, so
// tokens 1000..1023 are out of range and bit 10 and up are reserved.
#include "tokens_support.hpp"

using namespace tokens_test;

namespace {

struct Fixture {
  TokenTracker<> t = make_tracker(1000);
  ConsumerHandle me = open(t);
  ConsumerHandle other = open(t);
  Fixture() {
    hand_out(t, me, {10, 11, 12});
    hand_out(t, other, {20, 21});
  }
  /// Nothing moved: every page and both consumers as set up.
  void unchanged() {
    CHECK(t.page_refs(10) == 1);
    CHECK(t.page_refs(11) == 1);
    CHECK(t.page_refs(12) == 1);
    CHECK(t.held_by(other, 20) == 1);
    CHECK(t.held_by(other, 21) == 1);
    CHECK(t.counters().outstanding() == 5);
  }
  std::uint64_t refused(TokenRefusal r) { return t.consumer_counters(me)->refused_for(r); }
  std::uint64_t binding_refused(TokenRefusal r) { return t.counters().refused_for(r); }
};

} // namespace

TEST_CASE("tokens bad input: out of range (start or last page past the binding)") {
  Fixture f;
  auto out = give_back(f.t, f.me, {{1000, 1}, {995, 10}, {999, 2}});
  CHECK(out.released == 0);
  CHECK(out.refused == 3);
  CHECK(out.ranges_done == 3);
  CHECK(f.refused(TokenRefusal::out_of_range) == 3);
  CHECK(f.binding_refused(TokenRefusal::out_of_range) == 3);
  CHECK(f.t.consumer_counters(f.me)->refused_total() == 3);
  f.unchanged();
}

TEST_CASE("tokens bad input: reserved bits set") {
  Fixture f;
  // bit 10 (first reserved bit), bit 31, and a 64-bit value on 32-bit tokens.
  auto out = give_back(f.t, f.me, {{(1u << 10) | 10u, 1}, {0x8000'0000u | 11u, 1}});
  CHECK(out.refused == 2);
  auto out64 = give_back64(f.t, f.me, {{(std::uint64_t{1} << 40) | 12u, 1}});
  CHECK(out64.refused == 1);
  CHECK(f.refused(TokenRefusal::reserved_bits) == 3);
  CHECK(f.t.consumer_counters(f.me)->refused_total() == 3);
  f.unchanged();
}

TEST_CASE("tokens bad input: a token of another binding") {
  TokenTrackerConfig cfg;
  cfg.token_width = TokenWidth::bits64;
  cfg.binding_bits = 16;
  cfg.binding_id = 7;
  auto t = make_tracker(1000, cfg);
  auto a = open(t);
  hand_out(t, a, {10});
  auto foreign = (std::uint64_t{8} << 48) | 10u;
  auto out = give_back64(t, a, {{foreign, 1}, {10, 1} /* binding id 0 */});
  CHECK(out.refused == 2);
  CHECK(out.released == 0);
  CHECK(t.consumer_counters(a)->refused_for(TokenRefusal::wrong_binding) == 2);
  CHECK(t.page_refs(10) == 1);
  CHECK(give_back64(t, a, {{t.token(10), 1}}).released == 1);
}

TEST_CASE("tokens bad input: a page this consumer does not hold (held by another)") {
  Fixture f;
  auto out = give_back(f.t, f.me, {{20, 2}}); // other's pages, held alone by it
  CHECK(out.released == 0);
  CHECK(out.refused == 2);
  CHECK(f.refused(TokenRefusal::not_held) == 2);
  f.unchanged();
  // Same when the page is shared and this consumer has no share of it.
  auto third = open(f.t);
  hand_out(f.t, third, {20});
  CHECK(give_back(f.t, f.me, {{20, 1}}).refused == 1);
  CHECK(f.refused(TokenRefusal::not_held) == 3);
  CHECK(f.t.held_by(f.other, 20) == 1);
  CHECK(f.t.held_by(third, 20) == 1);
}

TEST_CASE("tokens bad input: a count that would go below zero") {
  Fixture f;
  // Page 10 holds one reference: the second return of it is refused, as is
  // a return of a page nobody holds.
  auto out = give_back(f.t, f.me, {{10, 1}, {10, 1}, {500, 1}});
  CHECK(out.released == 1);
  CHECK(out.refused == 2);
  CHECK(f.refused(TokenRefusal::underflow) == 2);
  CHECK(f.t.page_refs(10) == 0);
  CHECK(f.t.held_by(f.other, 20) == 1);
  CHECK(f.t.counters().outstanding() == 4);
}

TEST_CASE("tokens bad input: a range that overflows the page field") {
  Fixture f;
  // 1020 + 10 runs past token 1023 into the reserved bits.
  auto out = give_back(f.t, f.me, {{1020, 10}, {1023, 2}});
  CHECK(out.refused == 2);
  CHECK(f.refused(TokenRefusal::range_overflow) == 2);
  // 64-bit range whose end would wrap 2^64: refused before any arithmetic can wrap.
  TokenTrackerConfig cfg;
  cfg.token_width = TokenWidth::bits64;
  cfg.page_bits = 32;
  cfg.binding_bits = 32;
  cfg.binding_id = 0xFFFF'FFFF;
  auto t = make_tracker(1000, cfg);
  auto a = open(t);
  auto wrap = give_back64(t, a, {{~std::uint64_t{0}, 2}});
  CHECK(wrap.refused == 1);
  CHECK(t.consumer_counters(a)->refused_for(TokenRefusal::range_overflow) == 1);
  f.unchanged();
}

TEST_CASE("tokens bad input: a huge count") {
  Fixture f;
  auto out = give_back(f.t, f.me, {{10, 0xFFFF'FFFFu}, {10, 4097}});
  CHECK(out.refused == 2);
  CHECK(out.ranges_done == 2); // refused ranges cost one unit of work, not their count
  auto out64 = give_back64(f.t, f.me, {{10, std::uint64_t{1} << 40}});
  CHECK(out64.refused == 1);
  CHECK(f.refused(TokenRefusal::huge_count) == 3);
  f.unchanged();
}

TEST_CASE("tokens bad input: a closed consumer's handle") {
  Fixture f;
  CHECK(f.t.close(f.me).released == 3);
  auto out = give_back(f.t, f.me, {{10, 3}});
  CHECK(out.refused == 1);
  CHECK(out.ranges_done == 1);
  CHECK(f.binding_refused(TokenRefusal::consumer_closed) == 1);
  CHECK_FALSE(f.t.deliver(f.me, 10u));
  CHECK(f.t.page_refs(10) == 0);
  CHECK(f.t.held_by(f.other, 20) == 1);
  // A handle that was never issued.
  CHECK(give_back(f.t, ConsumerHandle{12345, 1}, {{20, 1}}).refused == 1);
  CHECK(give_back(f.t, ConsumerHandle{}, {{20, 1}}).refused == 1);
  CHECK(f.t.held_by(f.other, 20) == 1);
}

TEST_CASE("tokens bad input: deliveries of pages past the binding") {
  Fixture f;
  auto d = hand_out(f.t, f.me, {999, 1000, 0xFFFF'FFFFu});
  CHECK(d.delivered == 1);
  CHECK(d.refused == 2);
  CHECK(d.last_refusal == TokenRefusal::out_of_range);
  CHECK(f.refused(TokenRefusal::out_of_range) == 2);
}

TEST_CASE("tokens bad input: one batch mixing every reason releases exactly the good tokens") {
  Fixture f;
  auto out = give_back(f.t, f.me,
                       {{10, 1},         // ok
                        {1000, 1},       // out of range
                        {1u << 12, 1},   // reserved bits
                        {20, 1},         // not held (other's)
                        {10, 1},         // below zero now
                        {1020, 8},       // overflows the page field
                        {11, 100000},    // huge count
                        {11, 2}});       // ok: 11 and 12
  CHECK(out.released == 3);
  CHECK(out.refused == 6);
  CHECK(out.ranges_done == 8);
  auto s = f.t.consumer_counters(f.me);
  CHECK(s->refused_total() == 6);
  for (auto r : {TokenRefusal::out_of_range, TokenRefusal::reserved_bits, TokenRefusal::not_held,
                 TokenRefusal::underflow, TokenRefusal::range_overflow, TokenRefusal::huge_count})
    CHECK(s->refused_for(r) == 1);
  CHECK(s->outstanding() == 0);
  CHECK(f.t.held_by(f.other, 20) == 1);
  CHECK(f.t.held_by(f.other, 21) == 1);
}

// SingleWriterRefs: the same bad input, through a Returner. Each
// is refused under its reason, and the other consumer's references (held in
// the single-writer counters and in shared mode) never move.
TEST_CASE("tokens bad input, single writer: refused by reason, never touches another consumer") {
  auto t = make_sw_tracker(1000);
  auto me = open(t);
  auto other = open(t);
  auto mine = claim(t, me);
  auto theirs = claim(t, other);
  hand_out(t, me, {10, 11, 12});
  hand_out(t, other, {20, 21, 21});
  hand_out(t, me, {21}); // page 21: other's alone part + my shared reference
  const auto unchanged = [&] {
    CHECK(t.held_by(me, 10) == 1);
    CHECK(t.held_by(other, 20) == 1);
    CHECK(t.held_by(other, 21) == 2);
    CHECK(t.held_by(me, 21) == 1);
    CHECK(t.page_refs(21) == 3);
    CHECK(t.counters().outstanding() == 7);
  };
  const auto refused = [&](TokenRefusal r) { return t.consumer_counters(me)->refused_for(r); };

  CHECK(give_back(mine, {{1000, 1}}).refused == 1);
  CHECK(refused(TokenRefusal::out_of_range) == 1);
  CHECK(give_back(mine, {{998, 5}}).refused == 1);
  CHECK(refused(TokenRefusal::out_of_range) == 2);
  CHECK(give_back(mine, {{(1u << 10) | 10, 1}}).refused == 1);
  CHECK(refused(TokenRefusal::reserved_bits) == 1);
  CHECK(give_back64(mine, {{std::uint64_t{1} << 40, 1}}).refused == 1);
  CHECK(refused(TokenRefusal::reserved_bits) == 2);
  CHECK(give_back(mine, {{1020, 10}}).refused == 1);
  CHECK(refused(TokenRefusal::range_overflow) == 1);
  CHECK(give_back(mine, {{0, 5000}}).refused == 1);
  CHECK(refused(TokenRefusal::huge_count) == 1);
  unchanged();

  // Another consumer's page, alone and shared: not_held, token by token.
  CHECK(give_back(mine, {{20, 1}}).refused == 1);
  CHECK(refused(TokenRefusal::not_held) == 1);
  auto out = give_back(mine, {{21, 1}, {21, 1}, {21, 1}}); // my one shared reference, then not mine
  CHECK(out.released == 1);
  CHECK(out.refused == 2);
  CHECK(refused(TokenRefusal::not_held) == 3);
  CHECK(t.held_by(other, 21) == 2);
  hand_out(t, me, {21});
  // Nobody holds page 30; below zero on my own page 10.
  CHECK(give_back(mine, {{30, 1}}).refused == 1);
  CHECK(refused(TokenRefusal::underflow) == 1);
  out = give_back(mine, {{10, 1}, {10, 1}});
  CHECK(out.released == 1);
  CHECK(refused(TokenRefusal::underflow) == 2);
  hand_out(t, me, {10});
  unchanged();

  // Mixed batch: valid and hostile ranges interleaved.
  out = give_back(mine, {{11, 2}, {20, 2}, {5000, 1}, {40, 1}});
  CHECK(out.released == 3); // 11, 12 and my shared reference on 21
  CHECK(out.refused == 3);  // 20 (not_held), 5000 (reserved bits), 40 (underflow)
  CHECK(t.held_by(other, 20) == 1);
  CHECK(t.held_by(other, 21) == 2);

  // Closed consumer: its returner refuses; a stale returner after the slot
  // is reused refuses too, and the new consumer's references stay.
  t.close(me);
  CHECK(give_back(mine, {{10, 1}}).refused == 1);
  auto next = open(t);
  CHECK(next.index == me.index);
  hand_out(t, next, {10});
  CHECK(give_back(mine, {{10, 1}}).refused == 1);
  CHECK(t.held_by(next, 10) == 1);
  CHECK(t.counters().refused_for(TokenRefusal::consumer_closed) == 2);
  CHECK(give_back(theirs, {{20, 2}, {21, 1}}).released == 3);
  CHECK(t.page_refs(21) == 0);
}
