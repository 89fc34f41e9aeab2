// SPDX-License-Identifier: MIT
// Token tracker under threads (label "stress"; run under TSan): delivery
// from a receive thread, returns from several application threads, closes
// and re-opens racing both, pages shared between consumers. Every check is
// a count: nothing lost, nothing released twice, nobody else's references
// touched.
#include "pause_point.hpp"
#include "tokens_support.hpp"

#include <atomic>
#include <mutex>
#include <random>
#include <thread>

using namespace tokens_test;

namespace {

std::uint64_t pack(ConsumerHandle h) { return (std::uint64_t{h.generation} << 32) | h.index; }
ConsumerHandle unpack(std::uint64_t v) {
  return ConsumerHandle{static_cast<std::uint32_t>(v), static_cast<std::uint32_t>(v >> 32)};
}

struct Mailbox { // tokens delivered to a consumer, waiting for its application
  std::mutex mu;
  std::vector<std::pair<ConsumerHandle, std::uint32_t>> items;
};

using Mail = std::vector<std::pair<ConsumerHandle, std::uint32_t>>;

/// One application thread's loop: takes what the producer left in @box and
/// hands it to @handle, until the producer is done and the box is empty. An
/// idle pass yields, so the producer runs on a 2-core machine.
template <class Handle>
void serve_mailbox(Mailbox& box, const std::atomic<bool>& rx_done, Handle&& handle) {
  Mail mine;
  for (;;) {
    const bool last_pass = rx_done.load();
    {
      std::lock_guard<std::mutex> g(box.mu);
      mine.swap(box.items);
    }
    handle(mine);
    const bool idle = mine.empty();
    mine.clear();
    if (last_pass) {
      std::lock_guard<std::mutex> g(box.mu);
      if (box.items.empty()) return;
    }
    if (idle) std::this_thread::yield();
  }
}

/// Makes @r consumer @h's Returner, claiming it if needed; false when @h is
/// closed (claim_returner() refuses).
bool hold_returner(SwTracker& t, SwTracker::Returner& r, ConsumerHandle h) {
  if (r && r.consumer() == h) return true;
  r = SwTracker::Returner{};
  auto claimed = t.claim_returner(h);
  if (!claimed) return false;
  r = std::move(*claimed);
  return true;
}

struct FreeCounter {
  std::atomic<std::uint64_t>* n;
  void operator()(std::uint32_t) const noexcept { n->fetch_add(1, std::memory_order_relaxed); }
};

} // namespace

template <class P>
void receive_return_close() {
  constexpr std::uint32_t pages = 500; // small: pages are often shared; 9-bit page field
  constexpr int positions = 8;         // 0..3 stay open, 4..7 are closed and re-opened
  constexpr int batches = 40'000;
  constexpr std::uint32_t batch = 16;
  std::atomic<std::uint64_t> freed{0};
  auto created = TokenTracker<FreeCounter, P>::create(device_binding(pages * 4096), {}, FreeCounter{&freed});
  REQUIRE(created.has_value());
  auto t = std::move(created).value();
  std::atomic<std::uint64_t> handle[positions];
  for (auto& h : handle) h.store(pack(open(t)));
  const std::size_t bytes_open = t.tracking_bytes();
  Mailbox box[positions];
  std::atomic<bool> rx_done{false};
  std::atomic<std::uint64_t> injected[4] = {};
  std::atomic<std::uint64_t> stable_released[4] = {};
  std::atomic<std::uint64_t> stable_delivered[4] = {};
  std::atomic<std::uint64_t> close_released{0}, deferred{0};

  std::thread rx([&] {
    std::mt19937 rng(1);
    std::vector<std::uint32_t> ps(batch);
    for (int b = 0; b < batches; ++b) {
      const int k = b % positions;
      const ConsumerHandle h = unpack(handle[k].load());
      for (auto& p : ps) p = static_cast<std::uint32_t>(rng() % pages);
      const auto out = t.deliver(h, std::span<const std::uint32_t>(ps));
      REQUIRE((out.delivered == batch || out.delivered == 0));
      if (out.delivered == 0) {
        REQUIRE(k >= 4); // only churned consumers are ever closed
        continue;
      }
      if (k < 4) stable_delivered[k] += batch;
      std::lock_guard<std::mutex> g(box[k].mu);
      for (auto p : ps) box[k].items.emplace_back(h, p);
    }
    rx_done = true;
  });

  auto app = [&](unsigned seed) {
    std::mt19937 rng(seed);
    std::vector<std::pair<ConsumerHandle, std::uint32_t>> mine;
    std::vector<TokenRange32> ranges;
    for (;;) {
      const bool last_pass = rx_done.load();
      bool any = false;
      for (int k = 0; k < positions; ++k) {
        {
          std::lock_guard<std::mutex> g(box[k].mu);
          mine.swap(box[k].items);
        }
        any |= !mine.empty();
        std::size_t i = 0;
        while (i < mine.size()) {
          const ConsumerHandle h = mine[i].first;
          ranges.clear();
          while (i < mine.size() && mine[i].first == h && ranges.size() < 128)
            ranges.push_back({t.token32(mine[i++].second), 1});
          const bool inject = k < 4 && rng() % 8 == 0;
          if (inject) ranges.push_back({pages + 5, 1}); // out of range (< 512), counted
          const auto out = t.return_tokens(h, std::span<const TokenRange32>(ranges));
          if (k < 4) {
            REQUIRE(out.released == ranges.size() - (inject ? 1 : 0));
            REQUIRE(out.refused == (inject ? 1u : 0u));
            stable_released[k] += out.released;
            injected[k] += inject ? 1 : 0;
          }
        }
        mine.clear();
      }
      if (last_pass && !any) return;
    }
  };
  std::thread app1(app, 2), app2(app, 3);

  std::thread closer([&] {
    std::mt19937 rng(4);
    while (!rx_done.load()) {
      const int k = 4 + static_cast<int>(rng() % 4);
      const ConsumerHandle old = unpack(handle[k].load());
      const ConsumerHandle fresh = open(t);
      handle[k].store(pack(fresh));
      const auto out = t.close(old);
      REQUIRE(out.status != CloseStatus::refused);
      close_released += out.released;
      deferred += out.status == CloseStatus::deferred_to_delivery ? 1 : 0;
      std::this_thread::yield();
    }
  });

  rx.join();
  closer.join();
  app1.join();
  app2.join();

  for (int k = 0; k < 4; ++k) {
    const auto s = t.consumer_counters(unpack(handle[k].load()));
    REQUIRE(s);
    CHECK(s->delivered == stable_delivered[k].load());
    CHECK(s->returned == stable_released[k].load());
    CHECK(s->outstanding() == 0); // its application returned every token
    CHECK(s->refused_total() == injected[k].load());
    CHECK(s->refused_for(TokenRefusal::out_of_range) == injected[k].load());
  }
  for (auto& h : handle) CHECK(t.close(unpack(h.load())).status == CloseStatus::drained);
  const auto s = t.counters();
  CHECK(s.outstanding() == 0);
  CHECK(s.delivered == s.returned + s.close_released);
  for (std::uint32_t p = 0; p < pages; ++p) REQUIRE(t.page_refs(p) == 0);
  CHECK(freed.load() > 0);
  CHECK(t.tracking_bytes() <= bytes_open); // every log and table given back
  MESSAGE("closes deferred to a delivery in flight: " << deferred.load() << ", close released "
                                                       << s.close_released);
}

TEST_CASE("tokens stress: receive path delivers, applications return, consumers close mid-stream") {
  receive_return_close<AnyThreadRefs>();
}

TEST_CASE("tokens stress: same with one producer (free pages claimed by a plain store)") {
  receive_return_close<OneProducerRefs>();
}

TEST_CASE("tokens stress: one-producer mode refuses a second concurrent producer") {
  auto created = TokenTracker<IgnorePageFree, OneProducerRefs>::create(device_binding(256 * 4096), {});
  REQUIRE(created.has_value());
  auto t = std::move(created).value();
  const ConsumerHandle c[2] = {open(t), open(t)};
  constexpr int rounds = 10'000;
  std::atomic<std::uint64_t> delivered{0}, refused{0};
  auto producer = [&](std::size_t k) {
    std::uint32_t ps[8];
    for (int r = 0; r < rounds; ++r) {
      for (std::uint32_t i = 0; i < 8; ++i) ps[i] = (static_cast<std::uint32_t>(r) * 8 + i) % 256;
      const auto out = t.deliver(c[k], std::span<const std::uint32_t>(ps));
      delivered += out.delivered;
      refused += out.refused;
      if (out.refused != 0) REQUIRE(out.last_refusal == TokenRefusal::concurrent_delivery);
    }
  };
  std::thread a(producer, std::size_t{0}), b(producer, std::size_t{1});
  a.join();
  b.join();
  CHECK(delivered + refused == 2u * rounds * 8);
  std::uint64_t refs = 0;
  for (std::uint32_t p = 0; p < 256; ++p) refs += t.page_refs(p);
  CHECK(refs == delivered.load()); // no claim lost to a race
  CHECK(t.close(c[0]).released + t.close(c[1]).released == delivered.load());
}

TEST_CASE("tokens stress: a second concurrent deliverer is refused, never raced") {
  auto t = make_tracker(256);
  const auto c = open(t);
  constexpr int rounds = 20'000;
  std::atomic<std::uint64_t> delivered{0}, refused{0};
  auto deliverer = [&](std::uint32_t base) {
    std::uint32_t ps[8];
    for (int r = 0; r < rounds; ++r) {
      for (std::uint32_t i = 0; i < 8; ++i) ps[i] = (base + static_cast<std::uint32_t>(r) + i * 3) % 256;
      const auto out = t.deliver(c, std::span<const std::uint32_t>(ps));
      delivered += out.delivered;
      refused += out.refused;
      if (out.refused != 0) REQUIRE(out.last_refusal == TokenRefusal::concurrent_delivery);
    }
  };
  std::thread a(deliverer, 0), b(deliverer, 100);
  a.join();
  b.join();
  CHECK(delivered + refused == 2u * rounds * 8);
  CHECK(t.consumer_counters(c)->refused_for(TokenRefusal::concurrent_delivery) == refused.load());
  std::uint64_t refs = 0;
  for (std::uint32_t p = 0; p < 256; ++p) refs += t.page_refs(p);
  CHECK(refs == delivered.load());
  CHECK(t.close(c).released == delivered.load());
}

TEST_CASE("tokens stress: racing returns of the same tokens release each reference once") {
  auto t = make_tracker(1024);
  const auto a = open(t);
  const auto other = open(t);
  std::vector<std::uint32_t> ps(1024);
  for (std::uint32_t i = 0; i < 1024; ++i) ps[i] = i;
  std::vector<TokenRange32> ranges;
  for (std::uint32_t i = 0; i < 1024; i += 8) ranges.push_back({i, 8});
  for (int round = 0; round < 40; ++round) {
    REQUIRE(t.deliver(a, std::span<const std::uint32_t>(ps)).delivered == 1024);
    std::vector<std::uint32_t> some{1, 2, 3, 500, 1000}; // shared pages: slow path
    REQUIRE(t.deliver(other, std::span<const std::uint32_t>(some)).delivered == 5);
    std::atomic<std::uint64_t> released{0}, refused{0};
    auto returner = [&] {
      const auto out = t.return_tokens(a, std::span<const TokenRange32>(ranges));
      released += out.released;
      refused += out.refused;
    };
    std::thread x(returner), y(returner);
    x.join();
    y.join();
    CHECK(released.load() == 1024);
    CHECK(refused.load() == 1024);
    for (auto p : some) REQUIRE(t.held_by(other, p) == 1); // untouched
    REQUIRE(t.return_tokens(other, std::span<const TokenRange32>(std::vector<TokenRange32>{
                                       {1, 3}, {500, 1}, {1000, 1}})).released == 5);
  }
  CHECK(t.counters().outstanding() == 0);
}

// SingleWriterRefs: one producer, one returner thread per
// consumer position (each claims the Returner of whichever consumer sits in
// its position), and a closer that closes and re-opens positions 3..5 while
// deliveries and returns run. Pages are few, so they often change owner and
// are often shared. Counts must add up exactly; nothing is released twice.
TEST_CASE("tokens stress, single writer: one producer + one returner per consumer + closes") {
  constexpr std::uint32_t pages = 300;
  constexpr int positions = 6; // 0..2 stay open, 3..5 are closed and re-opened
  constexpr int batches = 30'000;
  constexpr std::uint32_t batch = 16;
  auto t = make_sw_tracker(pages);
  std::atomic<std::uint64_t> handle[positions];
  for (auto& h : handle) h.store(pack(open(t)));
  Mailbox box[positions];
  std::atomic<bool> rx_done{false};
  std::atomic<std::uint64_t> stable_released[3] = {};
  std::atomic<std::uint64_t> stable_delivered[3] = {};
  std::atomic<std::uint64_t> close_released{0}, deferred{0}, stale_refused{0};
  pause_test::YieldPoint widen(arenakit::detail::TestPoint::token_sw_first_read); // see below

  std::thread rx([&] {
    std::mt19937 rng(11);
    std::vector<std::uint32_t> ps(batch);
    for (int b = 0; b < batches; ++b) {
      const int k = b % positions;
      const ConsumerHandle h = unpack(handle[k].load());
      for (auto& p : ps) p = static_cast<std::uint32_t>(rng() % pages);
      const auto out = t.deliver(h, std::span<const std::uint32_t>(ps));
      REQUIRE((out.delivered == batch || out.delivered == 0));
      if (out.delivered == 0) {
        REQUIRE(k >= 3);
        REQUIRE(out.last_refusal == TokenRefusal::consumer_closed);
        continue;
      }
      if (k < 3) stable_delivered[k] += batch;
      std::lock_guard<std::mutex> g(box[k].mu);
      for (auto p : ps) box[k].items.emplace_back(h, p);
    }
    rx_done = true;
  });

  auto returner = [&](int k) {
    std::mt19937 rng(static_cast<unsigned>(100 + k));
    SwTracker::Returner r; // empty until claimed
    std::vector<TokenRange32> ranges;
    serve_mailbox(box[k], rx_done, [&](const Mail& mine) {
      std::size_t i = 0;
      while (i < mine.size()) {
        const ConsumerHandle h = mine[i].first;
        const bool have = hold_returner(t, r, h); // false: that consumer is closed already
        ranges.clear();
        while (i < mine.size() && mine[i].first == h && ranges.size() < 64)
          ranges.push_back({t.token32(mine[i++].second), 1});
        const bool inject = rng() % 8 == 0;
        if (inject) ranges.push_back({pages + 5, 1}); // out of range
        if (!have) continue;
        const auto out = r.return_tokens(std::span<const TokenRange32>(ranges));
        if (k < 3) {
          REQUIRE(out.released == ranges.size() - (inject ? 1 : 0));
          REQUIRE(out.refused == (inject ? 1u : 0u));
          stable_released[k] += out.released;
        } else {
          REQUIRE(out.released + out.refused <= ranges.size());
          stale_refused += out.refused;
        }
      }
    });
  };
  std::vector<std::thread> returners;
  for (int k = 0; k < positions; ++k) returners.emplace_back(returner, k);

  std::thread closer([&] {
    std::mt19937 rng(12);
    while (!rx_done.load()) {
      const int k = 3 + static_cast<int>(rng() % 3);
      const ConsumerHandle old = unpack(handle[k].load());
      handle[k].store(pack(open(t)));
      const auto out = t.close(old);
      REQUIRE(out.status != CloseStatus::refused);
      close_released += out.released;
      deferred += out.status != CloseStatus::drained ? 1 : 0;
      std::this_thread::yield();
    }
  });

  rx.join();
  closer.join();
  for (auto& th : returners) th.join();

  for (int k = 0; k < 3; ++k) {
    const auto s = t.consumer_counters(unpack(handle[k].load()));
    REQUIRE(s);
    CHECK(s->delivered == stable_delivered[k].load());
    CHECK(s->returned == stable_released[k].load());
    CHECK(s->outstanding() == 0);
  }
  for (auto& h : handle) CHECK(t.close(unpack(h.load())).status == CloseStatus::drained);
  const auto st = t.counters();
  CHECK(st.outstanding() == 0); // delivered == returned + released by closes
  CHECK(st.consumers_open == 0);
  for (std::uint32_t p = 0; p < pages; ++p) REQUIRE(t.page_refs(p) == 0);
  MESSAGE("single writer: closes deferred to a delivery or a return: " << deferred.load());
}

// Issue 10, defect 1, as a stress: four pages only, so a page a consumer gave
// back goes to another consumer at once, while closes drain logs that still
// name it. Every close releases at most what its consumer could hold, and in
// the end delivered == returned + released by closes, page by page at zero.
TEST_CASE("tokens stress, single writer: closes race re-delivery of the pages they gave back") {
  constexpr std::uint32_t pages = 4;
  constexpr int positions = 3;
  constexpr int batches = 20'000;
  auto t = make_sw_tracker(pages);
  std::atomic<std::uint64_t> handle[positions];
  for (auto& h : handle) h.store(pack(open(t)));
  Mailbox box[positions];
  std::atomic<bool> rx_done{false};
  std::atomic<std::uint64_t> delivered{0}, returned{0}, close_released{0}, closes{0};
  // Yield inside the window between a reader's first and second read of a
  // page's single-writer words, so re-deliveries land there often.
  pause_test::YieldPoint widen(arenakit::detail::TestPoint::token_sw_first_read);

  std::thread rx([&] {
    std::vector<std::uint32_t> ps(pages);
    for (int b = 0; b < batches; ++b) {
      const int k = b % positions;
      const ConsumerHandle h = unpack(handle[k].load());
      for (std::uint32_t i = 0; i < pages; ++i) ps[i] = (static_cast<std::uint32_t>(b) + i) % pages;
      const auto out = t.deliver(h, std::span<const std::uint32_t>(ps));
      REQUIRE((out.delivered == pages || out.delivered == 0));
      if (out.delivered == 0) continue; // closed meanwhile
      delivered += out.delivered;
      std::lock_guard<std::mutex> g(box[k].mu);
      for (auto p : ps) box[k].items.emplace_back(h, p);
    }
    rx_done = true;
  });

  auto returner = [&](int k) {
    SwTracker::Returner r;
    serve_mailbox(box[k], rx_done, [&](const Mail& mine) {
      for (const auto& [h, p] : mine) {
        if (!hold_returner(t, r, h)) continue; // closed: close() released it
        const TokenRange32 range{t.token32(p), 1};
        const auto out = r.return_tokens(std::span<const TokenRange32>(&range, 1));
        REQUIRE(out.released + out.refused == 1);
        returned += out.released;
      }
    });
  };
  std::vector<std::thread> returners;
  for (int k = 0; k < positions; ++k) returners.emplace_back(returner, k);

  std::thread closer([&] {
    int k = 0;
    while (!rx_done.load()) {
      const ConsumerHandle old = unpack(handle[k].load());
      handle[k].store(pack(open(t)));
      const auto out = t.close(old);
      REQUIRE(out.status != CloseStatus::refused);
      // A consumer never holds more than what was delivered in all: a
      // wrapped count (2^32 - k) is the bug.
      REQUIRE(out.released <= delivered.load());
      close_released += out.released;
      ++closes;
      k = (k + 1) % positions;
    }
  });

  rx.join();
  closer.join();
  for (auto& th : returners) th.join();
  for (auto& h : handle) close_released += t.close(unpack(h.load())).released;
  const auto st = t.counters();
  CHECK(st.delivered == delivered.load());
  CHECK(st.returned == returned.load());
  CHECK(st.close_released <= st.delivered);
  CHECK(st.outstanding() == 0);
  CHECK(st.consumers_open == 0);
  for (std::uint32_t p = 0; p < pages; ++p) REQUIRE(t.page_refs(p) == 0);
  MESSAGE("re-delivery race: closes " << closes.load() << ", released by closes " << st.close_released);
}

// Two threads share one Returner (a contract breach): every call either runs
// alone or is refused whole as concurrent_return. Nothing is released twice.
TEST_CASE("tokens stress, single writer: a shared Returner is refused, not raced") {
  constexpr std::uint32_t pages = 256;
  auto t = make_sw_tracker(pages);
  const auto a = open(t);
  auto ra = claim(t, a);
  std::vector<std::uint32_t> all;
  for (std::uint32_t p = 0; p < pages; ++p)
    for (int n = 0; n < 8; ++n) all.push_back(p);
  hand_out(t, a, all); // 8 references on every page
  std::atomic<std::uint64_t> released{0}, refused{0};
  auto app = [&](std::uint32_t first) {
    for (int round = 0; round < 2000; ++round) {
      const TokenRange32 r{(first + static_cast<std::uint32_t>(round)) % pages, 1};
      const auto out = ra.return_tokens(std::span<const TokenRange32>(&r, 1));
      released += out.released;
      refused += out.refused;
      if (out.refused != 0) {
        REQUIRE(out.released == 0);
      }
    }
  };
  std::thread x(app, 0), y(app, 128);
  x.join();
  y.join();
  const auto s = t.consumer_counters(a);
  CHECK(released.load() + refused.load() == 4000);
  CHECK(s->returned == released.load());
  CHECK(s->refused_for(TokenRefusal::concurrent_return) + s->refused_for(TokenRefusal::underflow) == refused.load());
  std::uint64_t left = 0;
  for (std::uint32_t p = 0; p < pages; ++p) left += t.page_refs(p);
  CHECK(left == 8 * pages - released.load());
  CHECK(t.close(a).released == left);
}
