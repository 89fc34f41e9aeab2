// SPDX-License-Identifier: MIT
// Token-tracker races forced deterministically (built with ARENAKIT_TEST_HOOKS):
// a pause point stops one thread inside its race window, the test runs the
// racing operation on another thread, then lets the first go on. Each case
// fails on every run with the bug it guards against, not once in a while.
#include "pause_point.hpp"
#include "tokens_support.hpp"

#include <optional>
#include <thread>

using namespace tokens_test;

// Issue 10, defect 1. Consumer A took page p and gave every reference back,
// so p is free but still in A's held log. A's close drains that log; while it
// is paused inside its read of p's single-writer words, the producer hands p
// to consumer B and B's Returner gives some of it back. The drain must see p
// as B's (release nothing of it), never roll B's returns back. With the old
// read order (`held`, then `returned`) this close released 2^32 - 3
// references and left B with phantom ones.
TEST_CASE("tokens races, single writer: close of a consumer whose page is re-delivered meanwhile") {
  constexpr std::uint32_t pages = 8;
  constexpr std::uint32_t p = 3;
  auto t = make_sw_tracker(pages);
  const ConsumerHandle a = open(t);
  auto ra = claim(t, a);
  REQUIRE(hand_out(t, a, {p}).delivered == 1);
  REQUIRE(give_back(ra, {{t.token32(p), 1}}).released == 1);
  REQUIRE(t.page_refs(p) == 0);
  const ConsumerHandle b = open(t);
  auto rb = claim(t, b);
  ra = SwTracker::Returner{}; // A's application is gone: its Returner is quiet

  pause_test::PausePoint pause(arenakit::detail::TestPoint::token_sw_first_read);
  CloseOutcome closed;
  std::thread closer([&] { closed = t.close(a); });
  pause.wait_until_paused();
  // The producer gives p to B four times; B's Returner gives three back.
  REQUIRE(hand_out(t, b, {p, p, p, p}).delivered == 4);
  REQUIRE(give_back(rb, {{t.token32(p), 1}, {t.token32(p), 1}, {t.token32(p), 1}}).released == 3);
  pause.resume();
  closer.join();
  REQUIRE(pause.hits() >= 1);

  CHECK(closed.status == CloseStatus::drained);
  CHECK(closed.released == 0); // A held nothing
  const auto st = t.counters();
  CHECK(st.close_released == 0);
  CHECK(st.outstanding() == 1);
  CHECK(t.page_refs(p) == 1);
  CHECK(t.held_by(b, p) == 1);
  // B's last reference comes back once, and a second return is refused.
  CHECK(give_back(rb, {{t.token32(p), 1}}).released == 1);
  const auto again = give_back(rb, {{t.token32(p), 1}});
  CHECK(again.released == 0);
  CHECK(again.refused == 1);
  CHECK(t.page_refs(p) == 0);
  CHECK(t.counters().outstanding() == 0);
}

// The same window, but the page is still A's when the drain reads it: the
// drain must release exactly A's share, whatever the pause.
TEST_CASE("tokens races, single writer: close of a consumer that still holds the page releases its share") {
  constexpr std::uint32_t pages = 8;
  constexpr std::uint32_t p = 5;
  auto t = make_sw_tracker(pages);
  const ConsumerHandle a = open(t);
  auto ra = claim(t, a);
  REQUIRE(hand_out(t, a, {p, p, p}).delivered == 3);
  REQUIRE(give_back(ra, {{t.token32(p), 1}}).released == 1);
  ra = SwTracker::Returner{};
  const ConsumerHandle b = open(t);

  pause_test::PausePoint pause(arenakit::detail::TestPoint::token_sw_first_read);
  CloseOutcome closed;
  std::thread closer([&] { closed = t.close(a); });
  pause.wait_until_paused();
  // A still holds p: a delivery to B goes to the shared word, not A's part.
  REQUIRE(hand_out(t, b, {p}).delivered == 1);
  pause.resume();
  closer.join();

  CHECK(closed.released == 2);
  CHECK(t.page_refs(p) == 1);
  CHECK(t.held_by(b, p) == 1);
  CHECK(t.close(b).released == 1);
  CHECK(t.page_refs(p) == 0);
  CHECK(t.counters().outstanding() == 0);
}

// Issue 10, "Also": a close() deferred to a delivery in flight left held_by()
// reporting the closed consumer's references until that delivery ended,
// while every other call through a closed handle is refused. The delivery
// is stopped at its end so the close is deferred on every run.
TEST_CASE("tokens races: held_by() through a handle whose close was deferred to a delivery reports 0") {
  constexpr std::uint32_t pages = 8;
  auto t = make_tracker(pages);
  const ConsumerHandle a = open(t);
  REQUIRE(hand_out(t, a, {1, 1}).delivered == 2);
  pause_test::PausePoint pause(arenakit::detail::TestPoint::token_deliver_before_end);
  DeliverOutcome delivered;
  std::thread producer([&] { delivered = hand_out(t, a, {2}); });
  pause.wait_until_paused();
  const CloseOutcome closed = t.close(a);
  CHECK(closed.status == CloseStatus::deferred_to_delivery);
  CHECK(t.held_by(a, 1) == 0);
  CHECK(t.held_by(a, 2) == 0);
  CHECK(t.page_refs(1) == 2); // still held: the drain runs when the delivery ends
  pause.resume();
  producer.join();
  CHECK(delivered.delivered == 1);
  CHECK(t.held_by(a, 1) == 0);
  CHECK(t.page_refs(1) == 0);
  CHECK(t.page_refs(2) == 0);
  CHECK(t.counters().outstanding() == 0);
}

// Issue 10 sweep: consumer_counters() and held_by() checked the handle, then
// read; a close, a reopen of the same slot (the free list is LIFO) and a
// delivery to the new consumer in between made them answer for the new
// consumer through the old handle.
TEST_CASE("tokens races: consumer_counters() through a handle whose slot is reused meanwhile says nullopt") {
  auto t = make_tracker(8);
  const ConsumerHandle a = open(t);
  REQUIRE(hand_out(t, a, {1}).delivered == 1);
  REQUIRE(give_back(t, a, {{t.token32(1), 1}}).released == 1);
  pause_test::PausePoint pause(arenakit::detail::TestPoint::token_handle_checked);
  std::optional<ConsumerStats> seen;
  std::thread reader([&] { seen = t.consumer_counters(a); });
  pause.wait_until_paused();
  REQUIRE(t.close(a).status == CloseStatus::drained);
  const ConsumerHandle b = open(t);
  REQUIRE(b.index == a.index); // the same slot, a new generation
  REQUIRE(hand_out(t, b, {2, 2}).delivered == 2);
  pause.resume();
  reader.join();
  CHECK_FALSE(seen.has_value());
  CHECK(t.consumer_counters(b)->delivered == 2);
}

TEST_CASE("tokens races: held_by() through a handle whose slot is reused meanwhile reads 0") {
  auto t = make_tracker(8);
  const ConsumerHandle a = open(t);
  REQUIRE(hand_out(t, a, {3}).delivered == 1);
  pause_test::PausePoint pause(arenakit::detail::TestPoint::token_handle_checked);
  std::uint32_t seen = 99;
  std::thread reader([&] { seen = t.held_by(a, 3); });
  pause.wait_until_paused();
  REQUIRE(t.close(a).released == 1);
  const ConsumerHandle b = open(t);
  REQUIRE(b.index == a.index);
  REQUIRE(hand_out(t, b, {3, 3}).delivered == 2);
  pause.resume();
  reader.join();
  CHECK(seen == 0);
  CHECK(t.held_by(b, 3) == 2);
}
