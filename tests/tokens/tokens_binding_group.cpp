// SPDX-License-Identifier: MIT
// A consumer across several bindings (issue 12): 64-bit tokens carry the
// binding id; one return call may mix bindings; close gives back everything
// the consumer held in every binding.
#include "tokens_support.hpp"

#include <arenakit/tokens/binding_group.hpp>

#include <doctest/doctest.h>

#include <vector>

using namespace arenakit;
using tokens_test::hand_out;

namespace {
TokenTracker<> make(std::uint64_t id, std::uint32_t cap = 4096, TokenWidth width = TokenWidth::bits64) {
  TokenTrackerConfig cfg;
  cfg.token_width = width;
  cfg.binding_bits = 8;
  cfg.binding_id = id;
  cfg.max_tokens_per_call = cap;
  return tokens_test::make_tracker(256, cfg);
}
using Group = BindingGroup<TokenTracker<>>;

ReturnOutcome give_back(Group& g, const Group::Consumer& c, std::vector<TokenRange64> ranges) {
  return g.return_tokens(c, std::span<const TokenRange64>(ranges));
}
} // namespace

TEST_CASE("binding group: one consumer holds pages of two bindings and returns them in one mixed call") {
  TokenTracker<> a = make(1), b = make(2);
  Group g;
  REQUIRE(g.add(a) == std::error_code{});
  REQUIRE(g.add(b) == std::error_code{});
  auto c = g.open();
  REQUIRE(c.has_value());
  REQUIRE(g.deliver(*c, 0, std::vector<std::uint32_t>{3, 4, 5}).delivered == 3);
  REQUIRE(g.deliver(*c, 1, std::vector<std::uint32_t>{3, 9}).delivered == 2);
  CHECK(g.token(0, 3) != g.token(1, 3)); // same page index, told apart by the binding id
  const ReturnOutcome r =
      give_back(g, *c, {{g.token(0, 3), 2}, {g.token(1, 3), 1}, {g.token(0, 5), 1}, {g.token(1, 9), 1}});
  CHECK(r.released == 5);
  CHECK(r.refused == 0);
  CHECK(r.ranges_done == 4);
  CHECK(a.counters().outstanding() == 0);
  CHECK(b.counters().outstanding() == 0);
}

TEST_CASE("binding group: close gives back everything across bindings; the handle is dead in all of them") {
  TokenTracker<> a = make(1), b = make(2), d = make(7);
  Group g;
  REQUIRE(g.add(a) == std::error_code{});
  REQUIRE(g.add(b) == std::error_code{});
  REQUIRE(g.add(d) == std::error_code{});
  auto killed = g.open();
  auto other = g.open();
  REQUIRE(killed.has_value());
  REQUIRE(other.has_value());
  REQUIRE(g.deliver(*killed, 0, std::vector<std::uint32_t>{1, 2, 2}).delivered == 3);
  REQUIRE(g.deliver(*killed, 2, std::vector<std::uint32_t>{10}).delivered == 1);
  REQUIRE(g.deliver(*other, 2, std::vector<std::uint32_t>{10}).delivered == 1); // shared with the killed one
  const CloseOutcome closed = g.close(*killed);
  CHECK(closed.status == CloseStatus::drained);
  CHECK(closed.released == 4);
  CHECK(a.page_refs(2) == 0);
  CHECK(d.page_refs(10) == 1); // the other consumer's reference stays
  const ReturnOutcome late = give_back(g, *killed, {{g.token(0, 1), 1}, {g.token(2, 10), 1}});
  CHECK(late.released == 0);
  CHECK(late.refused == 2);
  CHECK(g.close(*killed).status == CloseStatus::refused);
  CHECK(g.close(*other).released == 1);
  for (TokenTracker<>* t : {&a, &b, &d}) CHECK(t->counters().outstanding() == 0);
}

TEST_CASE("binding group: a binding id no member has is refused and counted; the others go through") {
  TokenTracker<> a = make(1);
  Group g;
  REQUIRE(g.add(a) == std::error_code{});
  auto c = g.open();
  REQUIRE(g.deliver(*c, 0, std::vector<std::uint32_t>{7}).delivered == 1);
  TokenTracker<> stranger = make(9);
  const ReturnOutcome r = give_back(g, *c, {{stranger.token(7), 1}, {g.token(0, 7), 1}});
  CHECK(r.released == 1);
  CHECK(r.refused == 1);
  CHECK(g.refused() == 1);
  CHECK(g.refused_for(TokenRefusal::wrong_binding) == 1);
  CHECK(g.deliver(*c, 5, std::vector<std::uint32_t>{1, 2}).refused == 2); // no member 5
  CHECK(g.refused() == 3);
  CHECK(g.refused_for(TokenRefusal::out_of_range) == 2);
}

TEST_CASE("binding group: the work cap holds across bindings") {
  TokenTracker<> a = make(1, 8), b = make(2, 16);
  Group g;
  REQUIRE(g.add(a) == std::error_code{});
  REQUIRE(g.add(b) == std::error_code{});
  auto c = g.open();
  REQUIRE(g.deliver(*c, 0, std::vector<std::uint32_t>{0, 1, 2, 3}).delivered == 4);
  REQUIRE(g.deliver(*c, 1, std::vector<std::uint32_t>{0, 1, 2, 3, 4, 5, 6, 7}).delivered == 8);
  // The smallest member cap (8) bounds the call: 4 + 4 fit, the next 4 do not.
  const ReturnOutcome r = give_back(g, *c, {{g.token(0, 0), 4}, {g.token(1, 0), 4}, {g.token(1, 4), 4}});
  CHECK(r.capped);
  CHECK(r.ranges_done == 2);
  CHECK(r.released == 8);
  const ReturnOutcome rest = give_back(g, *c, {{g.token(1, 4), 4}});
  CHECK(rest.released == 4);
  CHECK_FALSE(rest.capped);
}

TEST_CASE("binding group: a range over the group's cap is refused by the group, even where its member's cap is larger") {
  // Caps 4096 and 16: the group's is 16. Before, a range of 100 of the
  // larger member was charged 1 and handed over, the member did all 100,
  // and ranges_done claimed ranges its member had stopped short of.
  TokenTracker<> a = make(1, 4096), b = make(2, 16);
  Group g;
  REQUIRE(g.add(a) == std::error_code{});
  REQUIRE(g.add(b) == std::error_code{});
  auto c = g.open();
  std::vector<std::uint32_t> pages;
  for (std::uint32_t p = 0; p < 200; ++p) pages.push_back(p);
  REQUIRE(g.deliver(*c, 0, pages).delivered == 200);
  std::vector<TokenRange64> big;
  for (std::uint32_t k = 0; k < 2; ++k) big.push_back({g.token(0, k * 100), 100});
  const ReturnOutcome r = g.return_tokens(*c, big);
  CHECK(r.released == 0);
  CHECK(r.refused == 2);
  CHECK(r.ranges_done == 2);
  CHECK_FALSE(r.capped);
  CHECK(g.refused_for(TokenRefusal::huge_count) == 2);
  CHECK(a.counters().outstanding() == 200); // nothing was given back behind the caller's back
  // Oversized and also naming no member, or with a reserved bit set: the
  // reason a single tracker would give (TokenFormat::check()'s order).
  const TokenTracker<> stranger = make(9); // binding id 9: no member
  std::vector<TokenRange64> odd{{g.token(0, 0) | a.format().reserved_mask(), 100},
                                {stranger.format().encode(0), 100}};
  CHECK(g.return_tokens(*c, odd).refused == 2);
  CHECK(g.refused_for(TokenRefusal::reserved_bits) == 1);
  CHECK(g.refused_for(TokenRefusal::wrong_binding) == 1);
  CHECK(g.refused_for(TokenRefusal::huge_count) == 2);
  // In ranges the group's cap allows, everything comes back, call by call,
  // and ranges_done says exactly where to resume.
  std::vector<TokenRange64> ranges;
  for (std::uint32_t p = 0; p < 200; p += 10) ranges.push_back({g.token(0, p), 10});
  std::size_t at = 0;
  std::uint64_t released = 0;
  int calls = 0;
  while (at < ranges.size()) {
    const ReturnOutcome o = g.return_tokens(*c, std::span<const TokenRange64>(ranges).subspan(at));
    CHECK(o.released <= 16);
    CHECK(o.ranges_done == 1); // 10 fits, 10 + 10 does not
    released += o.released;
    at += o.ranges_done;
    ++calls;
  }
  CHECK(calls == 20);
  CHECK(released == 200);
  CHECK(a.counters().outstanding() == 0);
}

TEST_CASE("binding group: an empty group refuses every range, counted") {
  Group g;
  const Group::Consumer nobody{};
  const ReturnOutcome r = give_back(g, nobody, {{1, 1}, {2, 3}});
  CHECK(r.refused == 2);
  CHECK(r.released == 0);
  CHECK(r.ranges_done == 2);
  CHECK(g.refused_for(TokenRefusal::wrong_binding) == 2);
}

TEST_CASE("binding group: add() refuses what cannot be told apart") {
  TokenTracker<> a = make(1), same = make(1), narrow = make(2, 4096, TokenWidth::bits32);
  TokenTrackerConfig wide;
  wide.token_width = TokenWidth::bits64;
  wide.binding_bits = 16;
  wide.binding_id = 3;
  TokenTracker<> other_width = tokens_test::make_tracker(256, wide);
  TokenTracker<> no_id = tokens_test::make_tracker(256, TokenTrackerConfig{.token_width = TokenWidth::bits64});
  Group g;
  CHECK_FALSE(g.open().has_value()); // no member yet
  REQUIRE(g.add(a) == std::error_code{});
  CHECK(g.add(same) == make_error_code(errc::invalid_config));
  CHECK(g.add(narrow) == make_error_code(errc::invalid_config));
  CHECK(g.add(other_width) == make_error_code(errc::invalid_config));
  CHECK(g.add(no_id) == make_error_code(errc::invalid_config));
  BindingGroup<TokenTracker<>, 1> one;
  REQUIRE(one.add(a) == std::error_code{});
  TokenTracker<> b = make(2);
  CHECK(one.add(b) == make_error_code(errc::limit_reached));
  CHECK(g.size() == 1);
}
