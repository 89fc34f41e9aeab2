// SPDX-License-Identifier: MIT
// Token tracker: close gives back everything, at a cost proportional to what
// the consumer held (counted in entries walked: machine-independent).
#include "tokens_support.hpp"

#include <numeric>

using namespace tokens_test;

TEST_CASE("tokens close: every reference comes back, alone-held and shared, with the hook per page") {
  std::vector<std::uint32_t> freed(256);
  auto t = make_tracker(256, {}, CountingHook{&freed});
  auto a = open(t);
  auto b = open(t);
  hand_out(t, a, {1, 1, 1, 2, 3, 50});
  hand_out(t, b, {3, 4}); // page 3 shared
  give_back(t, a, {{2, 1}});
  CHECK(freed[2] == 1);

  auto out = t.close(a);
  CHECK(out.status == CloseStatus::drained);
  CHECK(out.released == 5); // 3 on page 1, 1 on page 3, 1 on page 50
  CHECK(t.page_refs(1) == 0);
  CHECK(t.page_refs(50) == 0);
  CHECK(t.page_refs(3) == 1); // b's reference stays
  CHECK(t.held_by(b, 3) == 1);
  CHECK(freed[1] == 1);
  CHECK(freed[3] == 0);
  CHECK(freed[50] == 1);
  auto s = t.counters();
  CHECK(s.close_released == 5);
  CHECK(s.outstanding() == 2);

  CHECK(t.close(b).released == 2);
  CHECK(freed[3] == 1);
  CHECK(freed[4] == 1);
  CHECK(t.counters().outstanding() == 0);
  CHECK(std::accumulate(freed.begin(), freed.end(), 0u) == 5u);
}

TEST_CASE("tokens close: a consumer that held nothing costs nothing to close") {
  auto t = make_tracker(1u << 19); // 2 GiB of 4 KiB pages
  auto a = open(t);
  const std::size_t bytes = t.tracking_bytes();
  const auto before = t.counters();
  auto out = t.close(a);
  CHECK(out.status == CloseStatus::drained);
  CHECK(out.released == 0);
  CHECK(t.counters().close_visits == before.close_visits); // not one entry walked
  CHECK(t.tracking_bytes() == bytes);

  // Same after a consumer returned everything it ever held: its log is
  // compacted or walked, never the binding.
  auto b = open(t);
  for (std::uint32_t i = 0; i < 10; ++i) {
    hand_out(t, b, {i * 1000});
    give_back(t, b, {{i * 1000, 1}});
  }
  const auto visits = t.counters().close_visits;
  CHECK(t.close(b).released == 0);
  CHECK(t.counters().close_visits - visits <= 16); // one log buffer at most
  CHECK(t.tracking_bytes() == bytes);           // the log's memory is given back too
}

TEST_CASE("tokens close: cost is the consumer's holdings, not the binding (1,024 tokens on 2 GiB)") {
  auto t = make_tracker(1u << 19);
  auto a = open(t);
  auto other = open(t);
  std::vector<std::uint32_t> pages(1024);
  for (std::uint32_t i = 0; i < 1024; ++i) pages[i] = (i * 2654435761u) & ((1u << 19) - 1);
  CHECK(hand_out(t, a, pages).delivered == 1024);
  hand_out(t, other, {pages[0], pages[1]}); // two shared pages
  const auto visits = t.counters().close_visits;
  auto out = t.close(a);
  CHECK(out.released == 1024);
  const auto walked = t.counters().close_visits - visits;
  CHECK(walked >= 1024);
  CHECK(walked <= 1024 + 2);        // its log plus its two shared pages
  CHECK(walked * 256 < (1u << 19)); // vs a scrub of 524,288 pages
  CHECK(t.held_by(other, pages[0]) == 1);
  CHECK(t.counters().outstanding() == 2);
}

TEST_CASE("tokens close: twice is refused; returns after close are refused; the slot is reused") {
  auto t = make_tracker(64);
  auto a = open(t);
  hand_out(t, a, {1});
  CHECK(t.close(a).status == CloseStatus::drained);
  CHECK(t.close(a).status == CloseStatus::refused);
  CHECK(give_back(t, a, {{1, 1}}).refused == 1);
  CHECK(t.counters().refused_for(TokenRefusal::consumer_closed) == 2);
  auto b = open(t);
  CHECK(b.index == a.index);
  CHECK(t.consumer_counters(b)->delivered == 0); // fresh counters for the new consumer
  CHECK(t.counters().delivered == 1);            // the binding keeps history
}

TEST_CASE("tokens close: memory of a closed consumer's records goes back") {
  auto t = make_tracker(4096);
  auto a = open(t);
  auto b = open(t);
  const std::size_t bytes = t.tracking_bytes();
  std::vector<std::uint32_t> pages(2000);
  for (std::uint32_t i = 0; i < 2000; ++i) pages[i] = i;
  hand_out(t, a, pages);
  hand_out(t, b, pages); // all shared now
  CHECK(t.tracking_bytes() > bytes);
  CHECK(t.consumer_counters(b)->shared_pages == 2000);
  t.close(a);
  t.close(b);
  CHECK(t.tracking_bytes() == bytes);
  CHECK(t.counters().outstanding() == 0);
  for (std::uint32_t p = 0; p < 2000; ++p) REQUIRE(t.page_refs(p) == 0);
}

TEST_CASE("tokens close, single writer: close returns everything, alone and shared") {
  auto t = make_sw_tracker(4096);
  auto a = open(t);
  auto b = open(t);
  auto ra = claim(t, a);
  auto rb = claim(t, b);
  std::vector<std::uint32_t> pages;
  for (std::uint32_t i = 0; i < 1000; ++i) pages.push_back(i);
  hand_out(t, a, pages);
  hand_out(t, a, pages); // 2 references on each of 1000 pages
  hand_out(t, b, {1, 2, 2000});
  CHECK(give_back(ra, {{0, 10}}).released == 10);
  auto out = t.close(a);
  CHECK(out.status == CloseStatus::drained);
  CHECK(out.released == 1990);
  CHECK(t.counters().close_visits == 1000); // O(held), not O(binding)
  CHECK(t.page_refs(0) == 0);
  CHECK(t.page_refs(1) == 1); // b's shared reference stays
  CHECK(t.held_by(b, 2) == 1);
  CHECK(give_back(ra, {{5, 1}}).refused == 1);
  // Pages a held are free for the next owner; b takes page 5 alone.
  hand_out(t, b, {5});
  CHECK(t.held_by(b, 5) == 1);
  out = t.close(b);
  CHECK(out.released == 4);
  CHECK(t.counters().outstanding() == 0);
  for (std::uint32_t p = 0; p < 4096; ++p) REQUIRE(t.page_refs(p) == 0);
  CHECK(give_back(rb, {{5, 1}}).refused == 1);
  // Slots come back and the counters carry on for the next consumers.
  auto c = open(t);
  auto rc = claim(t, c);
  hand_out(t, c, {0, 1, 2, 5});
  CHECK(give_back(rc, {{0, 3}, {5, 1}}).released == 4);
  CHECK(t.counters().outstanding() == 0);
}
