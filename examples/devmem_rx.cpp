// SPDX-License-Identifier: MIT
// A devmem-style zero-copy receive path on arenakit's TokenTracker.
//
// A 64 MiB "dma-buf" (device memory: no CPU address) is bound and cut into
// 4 KiB pages. One receive thread (the NIC queue) takes free pages, splits
// each into fragments for one or two flows (sockets), and delivers them in
// batches, like recvmsg() handing out cmsg tokens. Each flow's application
// thread returns its tokens 128 ranges at a time (SO_DEVMEM_DONTNEED). When
// a page's last reference comes back, the tracker's hook puts it back on the
// free ring for the receive thread to reuse. Mid-stream one flow's
// application "crashes": it stops returning, and closing its consumer brings
// back every reference it held. At the end every total is checked.
#include <arenakit/token_tracker.hpp>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <random>
#include <span>
#include <thread>
#include <vector>

namespace {

constexpr std::size_t kPageSize = 4096;
constexpr std::size_t kBindingBytes = std::size_t{64} << 20;
constexpr std::size_t kFlows = 6;
constexpr std::size_t kCrashed = 3;     // this flow's application dies mid-stream
constexpr std::uint64_t kPackets = 200'000;
constexpr std::size_t kReturnBatch = 128;

/// Free pages of the binding: the receive thread takes, the hook gives back.
struct FreeRing {
  std::mutex mu;
  std::deque<std::uint32_t> pages;
  void push(std::uint32_t p) {
    std::lock_guard<std::mutex> g(mu);
    pages.push_back(p);
  }
  bool pop(std::uint32_t& p) {
    std::lock_guard<std::mutex> g(mu);
    if (pages.empty()) return false;
    p = pages.front();
    pages.pop_front();
    return true;
  }
  std::size_t size() {
    std::lock_guard<std::mutex> g(mu);
    return pages.size();
  }
};

struct RecyclePage { // arenakit::PageFreeHook
  FreeRing* ring;
  void operator()(std::uint32_t page) const noexcept { ring->push(page); }
};

using Tracker = arenakit::TokenTracker<RecyclePage, arenakit::Producers::one>;

/// A socket's receive queue as its application sees it: tokens from recvmsg.
struct Flow {
  arenakit::ConsumerHandle consumer;
  std::mutex mu;
  std::vector<std::uint32_t> tokens;
  std::atomic<std::uint64_t> delivered{0}; // references handed to this flow
  std::atomic<std::uint64_t> returned{0};  // references its application gave back
  std::atomic<bool> dead{false};
};

int fail(const char* what) {
  std::fprintf(stderr, "devmem_rx: FAILED: %s\n", what);
  return 1;
}

} // namespace

int main() {
  FreeRing ring;
  arenakit::TokenTrackerConfig cfg;
  cfg.page_size = kPageSize;
  auto created = Tracker::create(arenakit::Region{nullptr, kBindingBytes}, cfg, RecyclePage{&ring});
  if (!created) return fail(created.error().message().c_str());
  Tracker& tracker = created.value();
  const auto pages = static_cast<std::uint32_t>(tracker.page_count());
  for (std::uint32_t p = 0; p < pages; ++p) ring.push(p);

  std::vector<Flow> flows(kFlows);
  for (auto& f : flows) {
    auto h = tracker.open_consumer();
    if (!h) return fail("open_consumer");
    f.consumer = *h;
  }

  std::atomic<bool> rx_done{false};
  std::atomic<std::uint64_t> recycled_by_rx{0};

  // The receive queue: one thread, the only deliverer (Producers::one).
  // A page's fragments are handed out before any of its tokens reaches an
  // application, so no page can come back while it still has fragments to
  // deliver.
  std::thread rx([&] {
    std::mt19937 rng(2024);
    std::vector<std::uint32_t> batch[kFlows];
    auto publish = [&](Flow& f, std::span<const std::uint32_t> delivered) {
      std::lock_guard<std::mutex> g(f.mu);
      for (auto p : delivered) f.tokens.push_back(tracker.token32(p));
    };
    auto flush = [&](std::size_t k) { // one recvmsg()'s worth of cmsgs
      if (batch[k].empty()) return;
      Flow& f = flows[k];
      const auto out = tracker.deliver(f.consumer, std::span<const std::uint32_t>(batch[k]));
      if (out.delivered == batch[k].size()) {
        f.delivered += out.delivered;
        publish(f, batch[k]);
      } else if (out.delivered == 0) { // socket closed: drop the fragments, recycle the pages
        for (std::size_t i = 0; i < batch[k].size(); ++i)
          if (i == 0 || batch[k][i] != batch[k][i - 1]) {
            ring.push(batch[k][i]);
            ++recycled_by_rx;
          }
      } else {
        std::abort(); // a batch is refused whole or not at all here
      }
      batch[k].clear();
    };
    for (std::uint64_t n = 0; n < kPackets;) {
      std::uint32_t page;
      if (!ring.pop(page)) { // every page is out: let the applications catch up
        for (std::size_t k = 0; k < kFlows; ++k) flush(k);
        std::this_thread::yield();
        continue;
      }
      const std::size_t a = rng() % kFlows;
      const std::uint32_t frags = 1 + rng() % 4;
      n += frags;
      if (frags >= 2 && rng() % 8 == 0) {
        // One page in 8 carries fragments of two flows: a shared page.
        const std::size_t b = (a + 1) % kFlows;
        const std::vector<std::uint32_t> fa(frags / 2, page), fb(frags - frags / 2, page);
        const auto oa = tracker.deliver(flows[a].consumer, std::span<const std::uint32_t>(fa));
        const auto ob = tracker.deliver(flows[b].consumer, std::span<const std::uint32_t>(fb));
        flows[a].delivered += oa.delivered;
        flows[b].delivered += ob.delivered;
        if (oa.delivered != 0) publish(flows[a], fa);
        if (ob.delivered != 0) publish(flows[b], fb);
        if (oa.delivered == 0 && ob.delivered == 0) {
          ring.push(page);
          ++recycled_by_rx;
        }
        continue;
      }
      batch[a].insert(batch[a].end(), frags, page);
      if (batch[a].size() >= 32) flush(a); // flush at a page boundary only
    }
    for (std::size_t k = 0; k < kFlows; ++k) flush(k);
    rx_done = true;
  });

  // Each flow's application: reads its tokens, returns them 128 at a time.
  auto app = [&](std::size_t k) {
    Flow& f = flows[k];
    std::vector<std::uint32_t> mine;
    std::vector<arenakit::TokenRange32> ranges;
    std::uint64_t seen = 0;
    bool crash_now = false;
    for (;;) {
      const bool last = rx_done.load();
      {
        std::lock_guard<std::mutex> g(f.mu);
        mine.swap(f.tokens);
      }
      seen += mine.size();
      if (k == kCrashed && seen > kPackets / (kFlows * 3) && !mine.empty()) {
        mine.resize(mine.size() / 2); // returns half of what it just read...
        crash_now = true;             // ...and dies holding the rest
      }
      for (std::size_t i = 0; i < mine.size(); i += kReturnBatch) {
        ranges.clear();
        for (std::size_t j = i; j < mine.size() && j < i + kReturnBatch; ++j) {
          if (!ranges.empty() && ranges.back().start + ranges.back().count == mine[j]) {
            ++ranges.back().count; // coalesce consecutive tokens
          } else {
            ranges.push_back({mine[j], 1});
          }
        }
        const auto out = tracker.return_tokens(f.consumer, std::span<const arenakit::TokenRange32>(ranges));
        f.returned += out.released;
        if (out.refused != 0 || out.ranges_done != ranges.size()) std::abort(); // our own tokens: never refused
      }
      mine.clear();
      if (crash_now) {
        f.dead = true;
        return;
      }
      if (last && mine.empty()) {
        std::lock_guard<std::mutex> g(f.mu);
        if (f.tokens.empty()) return;
      }
    }
  };
  std::vector<std::thread> apps;
  for (std::size_t k = 0; k < kFlows; ++k) apps.emplace_back(app, k);

  // The crashed application's socket is closed by the "kernel", while the
  // receive thread may be delivering to it.
  while (!flows[kCrashed].dead.load()) std::this_thread::yield();
  apps[kCrashed].join();
  const auto closed = tracker.close(flows[kCrashed].consumer);
  std::printf("flow %zu crashed; close gave back %llu references %s\n", kCrashed,
              static_cast<unsigned long long>(closed.released),
              closed.status == arenakit::CloseStatus::drained ? "at once" : "via the delivery in flight");

  rx.join();
  for (std::size_t k = 0; k < kFlows; ++k)
    if (k != kCrashed) apps[k].join();

  // Totals.
  const auto s = tracker.stats();
  std::uint64_t delivered = 0, returned = 0;
  for (auto& f : flows) {
    delivered += f.delivered;
    returned += f.returned;
  }
  std::printf("delivered %llu references, returned %llu, given back by close %llu, refused %llu\n",
              static_cast<unsigned long long>(s.delivered), static_cast<unsigned long long>(s.returned),
              static_cast<unsigned long long>(s.close_released),
              static_cast<unsigned long long>(s.refused_total()));
  if (s.delivered != delivered) return fail("delivered counts differ");
  if (s.returned != returned) return fail("returned counts differ");
  if (s.delivered != s.returned + s.close_released) return fail("references lost");
  const Flow& dead = flows[kCrashed];
  const std::uint64_t held_at_crash = dead.delivered - dead.returned;
  std::printf("the crashed flow held %llu references; close gave back %llu\n",
              static_cast<unsigned long long>(held_at_crash), static_cast<unsigned long long>(s.close_released));
  if (held_at_crash == 0) return fail("the crash happened while holding nothing");
  if (s.close_released != held_at_crash) return fail("close did not give back exactly what the crashed flow held");
  if (s.refused_for(arenakit::TokenRefusal::consumer_closed) == 0 && recycled_by_rx != 0)
    return fail("refused deliveries not counted");
  for (std::size_t k = 0; k < kFlows; ++k) {
    if (k == kCrashed) continue;
    const auto c = tracker.consumer_stats(flows[k].consumer);
    if (!c || c->outstanding() != 0 || c->refused_total() != 0) return fail("a live flow holds or was refused");
  }
  for (std::size_t k = 0; k < kFlows; ++k)
    if (k != kCrashed) tracker.close(flows[k].consumer);
  if (tracker.stats().outstanding() != 0) return fail("references outstanding after closing every flow");
  if (ring.size() != pages) return fail("pages missing from the free ring");
  std::printf("all %u pages back on the free ring; tracking memory %zu KiB for %zu flows on a %zu MiB binding\n",
              pages, tracker.tracking_bytes() / 1024, kFlows, kBindingBytes >> 20);
  std::printf("devmem_rx: OK\n");
  return 0;
}
