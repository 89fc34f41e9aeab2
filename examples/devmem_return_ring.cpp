// SPDX-License-Identifier: MIT
// The token return ring (issue 15, part 3), as io_uring zcrx's refill ring:
// the application gives tokens back by writing {start, count} entries into
// its consumer's ring and publishing them with one store, instead of one
// return_tokens() call per batch; the receive thread drains the ring between
// deliveries, through return_tokens(), so every entry is checked and counted
// as a direct return would be. A full ring sends the rest down the direct
// call. At the end the receive thread closes the consumer: the ring is
// drained first, then what is still held comes back.
#include <arenakit/tokens/return_ring.hpp>
#include <arenakit/tokens/token_tracker.hpp>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

namespace {
namespace ak = arenakit;
constexpr std::size_t kBindingBytes = std::size_t{64} << 20, kPage = 4096;
constexpr std::uint32_t kBatch = 32;
constexpr std::uint32_t kDeliveries = 4'000;
unsigned long long ull(std::uint64_t v) { return static_cast<unsigned long long>(v); }
int fail(const char* what) { return std::fprintf(stderr, "devmem_return_ring: FAILED: %s\n", what), 1; }
} // namespace

int main() {
  auto created = ak::TokenTracker<>::create(ak::Region{nullptr, kBindingBytes}, {.page_size = kPage});
  if (!created) return fail(created.error().message().c_str());
  ak::TokenTracker<>& tracker = *created;
  auto h = tracker.open_consumer();
  auto made = ak::TokenReturnRing<>::create(1024); // 1,024 entries of 8 bytes, one ring per consumer
  if (!h || !made) return fail("open_consumer / ring");
  ak::TokenReturnRing<>& ring = **made;
  const auto pages = static_cast<std::uint32_t>(tracker.page_count());

  std::mutex mu;
  std::vector<std::uint32_t> inbox; // tokens delivered, not yet read by the application
  std::atomic<bool> rx_done{false}, app_done{false};
  std::uint64_t direct = 0; // the application's: references it returned by the direct call

  std::thread app([&] {
    std::vector<std::uint32_t> mine;
    std::vector<ak::TokenRange32> ranges;
    for (;;) {
      const bool last = rx_done.load(std::memory_order_acquire); // after it: every token is in inbox
      { std::lock_guard<std::mutex> g(mu); mine.swap(inbox); }
      ranges.clear();
      for (std::uint32_t tok : mine) // consecutive tokens coalesce into one entry, up to the work cap
        if (!ranges.empty() && ranges.back().start + ranges.back().count == tok &&
            ranges.back().count < tracker.max_tokens_per_call())
          ++ranges.back().count;
        else
          ranges.push_back({tok, 1});
      const std::span<const ak::TokenRange32> all(ranges);
      const std::size_t took = ring.try_push(all); // write several ...
      ring.publish();                              // ... publish once
      for (auto rest = all.subspan(took); !rest.empty();) { // the ring was full: the direct call
        const auto r = tracker.return_tokens(*h, rest);
        direct += r.released;
        rest = rest.subspan(r.ranges_done);
      }
      mine.clear();
      if (last) break;
      std::this_thread::yield();
    }
    app_done.store(true, std::memory_order_release); // pairs with the receive thread's acquire load
  });

  ak::RingDrainOutcome drained; // sums over the receive thread's drains
  auto note = [&](const ak::RingDrainOutcome& d) {
    drained.released += d.released;
    drained.refused += d.refused;
    drained.entries += d.entries;
  };
  std::vector<std::uint32_t> batch(kBatch);
  for (std::uint32_t n = 0; n < kDeliveries; ++n) { // the receive thread: deliver, then drain
    for (std::uint32_t i = 0; i < kBatch; ++i) batch[i] = (n * kBatch + i) * 7919 % pages; // scattered
    const auto out = tracker.deliver(*h, std::span<const std::uint32_t>(batch));
    if (out.delivered != kBatch) return fail("deliver");
    std::size_t unread;
    {
      std::lock_guard<std::mutex> g(mu);
      for (std::uint32_t p : batch) inbox.push_back(tracker.token32(p));
      unread = inbox.size();
    }
    note(ring.drain(tracker, *h));
    if (unread > 512) std::this_thread::yield(); // a full socket buffer: let the application read
  }
  rx_done.store(true, std::memory_order_release); // pairs with the application's acquire load
  while (!app_done.load(std::memory_order_acquire)) note(ring.drain(tracker, *h));
  app.join();
  const ak::RingCloseOutcome closed = ring.close(tracker, *h); // drains the rest, then closes
  note(closed.drained);

  const auto s = tracker.counters();
  std::printf("delivered %llu references; the ring gave back %llu in %llu entries, the direct call %llu, "
              "the close %llu; refused %llu\n",
              ull(s.delivered), ull(drained.released), ull(drained.entries), ull(direct),
              ull(closed.closed.released), ull(s.refused_total()));
  if (drained.released + direct != s.delivered || s.returned != s.delivered) return fail("returns lost");
  if (closed.closed.released != 0 || s.outstanding() != 0) return fail("references left behind");
  if (drained.refused != 0 || s.refused_total() != 0) return fail("a token of ours was refused");
  if (drained.released == 0) return fail("nothing came back through the ring");
  std::printf("devmem_return_ring: OK\n");
  return 0;
}
