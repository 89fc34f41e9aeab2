// SPDX-License-Identifier: MIT
// Token tracker: set-up, token layouts, deliver/return semantics, shared
// pages, work cap, counters, held-log bounds.
#include "tokens_support.hpp"

#include <algorithm>
#include <string>
#include <type_traits>

using namespace tokens_test;

TEST_CASE("tokens: create refuses inconsistent set-ups with an error code") {
  TokenTrackerConfig cfg;
  CHECK(TokenTracker<>::create(device_binding(4096 * 10), cfg).has_value());
  cfg.page_size = 3000;
  CHECK(TokenTracker<>::create(device_binding(3000 * 10), cfg).error() == errc::invalid_config);
  cfg = {};
  CHECK(TokenTracker<>::create(device_binding(4096 * 10 + 1), cfg).error() == errc::invalid_config);
  CHECK(TokenTracker<>::create(device_binding(0), cfg).error() == errc::invalid_config);
  cfg.max_consumers = 0;
  CHECK(TokenTracker<>::create(device_binding(4096), cfg).error() == errc::invalid_config);
  cfg = {};
  cfg.max_tokens_per_call = 0;
  CHECK(TokenTracker<>::create(device_binding(4096), cfg).error() == errc::invalid_config);
  cfg = {};
  cfg.page_bits = 9; // 1000 pages need 10
  CHECK(TokenTracker<>::create(device_binding(4096 * 1000), cfg).error() == errc::id_space_exhausted);
  cfg = {};
  cfg.binding_bits = 8;
  cfg.page_bits = 25; // 8 + 25 > 32
  CHECK(TokenTracker<>::create(device_binding(4096 * 1000), cfg).error() == errc::id_space_exhausted);
  cfg.page_bits = 24;
  cfg.binding_id = 256; // does not fit 8 bits
  CHECK(TokenTracker<>::create(device_binding(4096 * 1000), cfg).error() == errc::invalid_config);
  cfg.binding_id = 255;
  CHECK(TokenTracker<>::create(device_binding(4096 * 1000), cfg).has_value());
}

TEST_CASE("tokens: a token is the page index; 64-bit tokens carry the binding id in the high bits") {
  auto t32 = make_tracker(1000);
  CHECK(t32.format().page_bits() == 10);
  CHECK(t32.token32(7) == 7u);
  CHECK(t32.format().reserved_mask() == 0xFFFF'FC00u);

  TokenTrackerConfig cfg;
  cfg.token_width = TokenWidth::bits64;
  cfg.binding_bits = 32;
  cfg.binding_id = 0xABCD;
  auto t64 = make_tracker(1000, cfg);
  CHECK(t64.token(7) == ((std::uint64_t{0xABCD} << 32) | 7u));
  CHECK(t64.format().reserved_mask() == 0x0000'0000'FFFF'FC00ull);
  auto h = open(t64);
  CHECK(t64.deliver(h, 7u));
  auto out = give_back64(t64, h, {{t64.token(7), 1}});
  CHECK(out.released == 1);
  CHECK(out.refused == 0);

  // 8 NICs x 32 queues: 8 binding bits leave 24 page bits in a 32-bit token.
  TokenTrackerConfig q;
  q.binding_bits = 8;
  q.page_bits = 24;
  q.binding_id = 0x5A;
  auto tq = make_tracker(1000, q);
  CHECK(tq.token32(3) == 0x5A00'0003u);
}

TEST_CASE("tokens: device memory bindings have offsets but no CPU address") {
  auto t = make_tracker(16);
  CHECK(t.page_address(3) == nullptr);
  CHECK(t.page_offset(3) == 3 * 4096);
  std::vector<std::byte> host(16 * 4096);
  auto h = TokenTracker<>::create(Region{host.data(), host.size()}, {});
  REQUIRE(h.has_value());
  CHECK(h->page_address(3) == host.data() + 3 * 4096);
}

TEST_CASE("tokens: deliver and return count references per page and per consumer") {
  auto t = make_tracker(64);
  auto a = open(t);
  auto d = hand_out(t, a, {1, 2, 2, 3});
  CHECK(d.delivered == 4);
  CHECK(t.page_refs(2) == 2);
  CHECK(t.held_by(a, 2) == 2);
  auto st = t.consumer_counters(a);
  REQUIRE(st);
  CHECK(st->delivered == 4);
  CHECK(st->outstanding() == 4);

  auto r = give_back(t, a, {{1, 3}}); // pages 1, 2, 3: one reference each
  CHECK(r.released == 3);
  CHECK(r.refused == 0);
  CHECK(r.ranges_done == 1);
  CHECK(t.page_refs(1) == 0);
  CHECK(t.page_refs(2) == 1);
  CHECK(t.page_refs(3) == 0);
  CHECK(t.counters().outstanding() == 1);
  CHECK(t.counters().returned == 3);
  CHECK(give_back(t, a, {{2, 1}}).released == 1);
  CHECK(t.counters().outstanding() == 0);
}

TEST_CASE("tokens: a page shared by two consumers keeps each one's count apart") {
  std::vector<std::uint32_t> freed(64);
  auto t = make_tracker(64, {}, CountingHook{&freed});
  auto a = open(t);
  auto b = open(t);
  hand_out(t, a, {5, 5});
  hand_out(t, b, {5});
  CHECK(t.page_refs(5) == 3);
  CHECK(t.held_by(a, 5) == 2);
  CHECK(t.held_by(b, 5) == 1);
  CHECK(t.consumer_counters(a)->shared_pages == 1);

  CHECK(give_back(t, a, {{5, 1}, {5, 1}}).released == 2);
  auto third = give_back(t, a, {{5, 1}});
  CHECK(third.released == 0);
  CHECK(t.consumer_counters(a)->refused_for(TokenRefusal::not_held) == 1);
  CHECK(t.held_by(b, 5) == 1); // untouched
  CHECK(freed[5] == 0);
  CHECK(give_back(t, b, {{5, 1}}).released == 1);
  CHECK(freed[5] == 1);
  CHECK(t.page_refs(5) == 0);
  // Once free, the page goes back to the one-CAS fast path for its next holder.
  CHECK(t.deliver(b, 5u));
  CHECK(t.consumer_counters(b)->shared_pages == 0);
}

TEST_CASE("tokens: the page-free hook fires once per page when its last reference comes back") {
  std::vector<std::uint32_t> freed(32);
  auto t = make_tracker(32, {}, CountingHook{&freed});
  auto a = open(t);
  hand_out(t, a, {1, 1, 2});
  give_back(t, a, {{1, 1}});
  CHECK(freed[1] == 0);
  give_back(t, a, {{1, 2}});
  CHECK(freed[1] == 1);
  CHECK(freed[2] == 1);
  CHECK(std::count(freed.begin(), freed.end(), 0u) == 30);
}

TEST_CASE("tokens: work per return call is capped and the call says where it stopped") {
  TokenTrackerConfig cfg;
  cfg.max_tokens_per_call = 100;
  auto t = make_tracker(1024, cfg);
  auto a = open(t);
  std::vector<std::uint32_t> pages(300);
  for (std::uint32_t i = 0; i < 300; ++i) pages[i] = i;
  CHECK(hand_out(t, a, pages).delivered == 300);
  std::vector<TokenRange32> ranges{{0, 60}, {60, 60}, {120, 60}, {180, 60}, {240, 60}};
  std::span<const TokenRange32> left(ranges);
  std::uint64_t released = 0;
  int calls = 0;
  while (!left.empty()) {
    auto out = t.return_tokens(a, left);
    CHECK(out.released <= 100);
    CHECK(out.ranges_done >= 1); // every call makes progress
    released += out.released;
    left = left.subspan(out.ranges_done);
    ++calls;
  }
  CHECK(released == 300);
  CHECK(calls == 5);
  CHECK(t.consumer_counters(a)->calls_capped == 4);
  // Empty ranges cost one unit each, so a flood of them is capped too.
  std::vector<TokenRange32> empties(1000, TokenRange32{0, 0});
  auto out = give_back(t, a, empties);
  CHECK(out.ranges_done == 100);
  CHECK(out.capped);
}

TEST_CASE("tokens: a stale handle never reaches the consumer that reuses its slot") {
  auto t = make_tracker(64);
  auto a = open(t);
  hand_out(t, a, {3});
  CHECK(t.close(a).released == 1);
  auto b = open(t);
  CHECK(b.index == a.index); // slot recycled...
  CHECK(b.generation != a.generation);
  hand_out(t, b, {3});
  auto out = give_back(t, a, {{3, 1}}); // ...but the old handle is refused
  CHECK(out.released == 0);
  CHECK(out.refused == 1);
  CHECK(t.held_by(b, 3) == 1);
  CHECK_FALSE(t.deliver(a, 4u));
  CHECK(t.close(a).status == CloseStatus::refused);
  CHECK(t.consumer_counters(b)->refused_total() == 0); // charged to the binding, not to b
  CHECK(t.counters().refused_for(TokenRefusal::consumer_closed) == 3);
}

TEST_CASE("tokens: the held log stays proportional to what a consumer holds") {
  // 200 rounds of 64 fresh pages delivered and returned: 12,800 appends.
  auto t = make_tracker(1u << 16);
  auto a = open(t);
  const std::size_t base = t.tracking_bytes();
  for (std::uint32_t round = 0; round < 200; ++round) {
    std::vector<std::uint32_t> pages(64);
    for (std::uint32_t i = 0; i < 64; ++i) pages[i] = round * 64 + i;
    CHECK(hand_out(t, a, pages).delivered == 64);
    CHECK(give_back(t, a, {{round * 64, 64}}).released == 64);
  }
  CHECK(t.consumer_counters(a)->held_log_capacity <= 4 * 64);
  CHECK(t.tracking_bytes() <= base + 4 * 64 * sizeof(std::uint32_t));

  // Ping-pong pages between two consumers: entries go stale and come back,
  // duplicates appear; compaction still bounds the log.
  auto b = open(t);
  for (int round = 0; round < 300; ++round) {
    const ConsumerHandle who = round % 2 == 0 ? a : b;
    CHECK(hand_out(t, who, {1, 2, 3, 4, 5, 6, 7, 8}).delivered == 8);
    CHECK(give_back(t, who, {{1, 8}}).released == 8);
  }
  hand_out(t, a, {1, 2, 3, 4, 5, 6, 7, 8});
  CHECK(t.consumer_counters(a)->held_log_capacity <= 64);
  CHECK(t.close(a).released == 8);
  CHECK(t.consumer_counters(a) == std::nullopt); // recycled
}

TEST_CASE("tokens: binding counters sum over consumers, closed ones included") {
  auto t = make_tracker(100);
  auto a = open(t);
  auto b = open(t);
  hand_out(t, a, {1, 2, 3});
  hand_out(t, b, {4, 5});
  give_back(t, a, {{1, 1}, {99, 2}}); // second range: past page 99
  t.close(b);
  auto s = t.counters();
  CHECK(s.delivered == 5);
  CHECK(s.returned == 1);
  CHECK(s.close_released == 2);
  CHECK(s.outstanding() == 2);
  CHECK(s.refused_for(TokenRefusal::out_of_range) == 1);
  CHECK(s.consumers_open == 1);
  CHECK(s.page_count == 100);
}

// ---------------------------------------------------------- SingleWriterRefs

// The single-returner rule is in the type: no return_tokens(handle) at all.
template <class T>
concept returns_by_handle = requires(T& t, ConsumerHandle h, std::span<const TokenRange32> r) {
  t.return_tokens(h, r);
};
static_assert(returns_by_handle<TokenTracker<>>);
static_assert(!returns_by_handle<SwTracker>);
static_assert(!std::is_copy_constructible_v<SwTracker::Returner>);

TEST_CASE("tokens single writer: the returner is claimed once per consumer") {
  auto t = make_sw_tracker(64);
  auto a = open(t);
  auto ra = claim(t, a);
  CHECK_FALSE(t.claim_returner(a).has_value()); // a second returner for a
  CHECK_FALSE(t.claim_returner(ConsumerHandle{a.index, a.generation + 1}).has_value());
  auto moved = std::move(ra);
  CHECK_FALSE(static_cast<bool>(ra));
  CHECK(moved.consumer() == a);
  CHECK(give_back(ra, {{1, 1}}).refused == 1); // moved-from: refuses, touches nothing
  hand_out(t, a, {1, 1, 2});
  CHECK(t.page_refs(1) == 2);
  CHECK(t.held_by(a, 1) == 2);
  auto out = give_back(moved, {{1, 2}});
  CHECK(out.released == 2);
  CHECK(t.page_refs(1) == 1);
  CHECK(t.page_refs(2) == 0);
  CHECK(t.consumer_counters(a)->returned == 2);
  CHECK(t.counters().outstanding() == 1);
  t.close(a);
  auto b = open(t); // same slot, new consumer: may claim its own returner
  CHECK(b.index == a.index);
  auto rb = claim(t, b);
  CHECK(give_back(moved, {{1, 1}}).refused == 1); // a's returner is dead
  CHECK(t.counters().refused_for(TokenRefusal::consumer_closed) == 1);
  CHECK(give_back(rb, {{1, 1}}).refused == 1); // page 1 was a's: given back by the close
  CHECK(t.consumer_counters(b)->refused_for(TokenRefusal::underflow) == 1);
}

TEST_CASE("tokens single writer: ownership hands off between consumers") {
  auto t = make_sw_tracker(64);
  auto a = open(t);
  auto b = open(t);
  auto ra = claim(t, a);
  auto rb = claim(t, b);
  hand_out(t, a, {5, 5});
  CHECK(give_back(rb, {{5, 1}}).refused == 1); // a's page
  CHECK(t.consumer_counters(b)->refused_for(TokenRefusal::not_held) == 1);
  CHECK(give_back(ra, {{5, 1}, {5, 1}}).released == 2);
  CHECK(t.page_refs(5) == 0);
  // Free again: b takes it; the counters continue where a left them.
  hand_out(t, b, {5});
  CHECK(t.held_by(b, 5) == 1);
  CHECK(t.held_by(a, 5) == 0);
  CHECK(give_back(ra, {{5, 1}}).refused == 1); // a's old returner: not its page any more
  CHECK(t.consumer_counters(a)->refused_for(TokenRefusal::not_held) == 1);
  CHECK(give_back(rb, {{5, 1}}).released == 1);
  CHECK(give_back(rb, {{5, 1}}).refused == 1); // twice: below zero
  CHECK(t.consumer_counters(b)->refused_for(TokenRefusal::underflow) == 1);
  // Many hand-offs of one page: a, b, a, b, ...
  for (int i = 0; i < 100; ++i) {
    const bool to_a = i % 2 == 0;
    hand_out(t, to_a ? a : b, {7, 7, 7});
    REQUIRE(give_back(to_a ? rb : ra, {{7, 1}}).refused == 1);
    REQUIRE(give_back(to_a ? ra : rb, {{7, 3}, {7, 1}, {7, 1}}).released == 3);
    REQUIRE(t.page_refs(7) == 0);
  }
  CHECK(t.counters().outstanding() == 0);
}

TEST_CASE("tokens single writer: a page of two consumers takes the shared path") {
  auto t = make_sw_tracker(64);
  auto a = open(t);
  auto b = open(t);
  auto ra = claim(t, a);
  auto rb = claim(t, b);
  hand_out(t, a, {3, 3});
  hand_out(t, b, {3, 3, 3});
  CHECK(t.page_refs(3) == 5);
  CHECK(t.held_by(a, 3) == 2);
  CHECK(t.held_by(b, 3) == 3);
  CHECK(t.consumer_counters(b)->shared_pages == 1);
  CHECK(give_back(ra, {{3, 1}, {3, 1}, {3, 1}}).released == 2); // the third: a holds no more
  CHECK(t.consumer_counters(a)->refused_for(TokenRefusal::not_held) == 1);
  // a's part is free: a delivery to b takes it over, b's shared references stay.
  hand_out(t, b, {3});
  CHECK(t.held_by(b, 3) == 4);
  CHECK(give_back(rb, {{3, 1}, {3, 1}, {3, 1}, {3, 1}, {3, 1}}).released == 4);
  CHECK(t.page_refs(3) == 0);
  CHECK(t.consumer_counters(b)->shared_pages == 0);
  CHECK(t.counters().outstanding() == 0);
}

TEST_CASE("tokens single writer: a second call through one returner is refused, not raced") {
  // Single-threaded stand-in: a Returner call in flight is the returning bit;
  // the stress test runs the real race. Here: the work cap and 64-bit ranges.
  TokenTrackerConfig cfg;
  cfg.max_tokens_per_call = 8;
  auto t = make_sw_tracker(64, cfg);
  auto a = open(t);
  auto ra = claim(t, a);
  std::vector<std::uint32_t> pages;
  for (std::uint32_t p = 0; p < 12; ++p) pages.push_back(p);
  hand_out(t, a, pages);
  auto out = give_back(ra, {{0, 6}, {6, 6}});
  CHECK(out.capped);
  CHECK(out.ranges_done == 1);
  CHECK(out.released == 6);
  CHECK(give_back64(ra, {{6, 6}}).released == 6);
  CHECK(t.consumer_counters(a)->calls_capped == 1);
  CHECK(t.counters().outstanding() == 0);
  CHECK(std::string(to_string(TokenRefusal::concurrent_return)) == "concurrent_return");
}
