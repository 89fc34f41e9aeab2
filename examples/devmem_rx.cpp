// SPDX-License-Identifier: MIT
// Composition 4, the token tracker (seed 004), composed from the arena: the
// binding is one 16 MiB shard of 4 KiB counted slots; a token is a page index.
// One receive thread (OneProducerRefs, the arena's reclaim owner) takes a free
// page, cuts it into 1-4 fragments for one of 6 flows (sockets), one tracker
// reference and one token each. Applications return ranges of tokens, 128 at
// a time (SO_DEVMEM_DONTNEED); a page's last return drops the consumers' arena
// reference (the hook took it with the page's first fragment) and the deferred
// reclaimer brings the page back to the receive thread in a batch. One application crashes holding tokens: closing its
// consumer brings back exactly what it held, at a cost in what it held.
#include <arenakit/arena/arena.hpp>
#include <arenakit/lists/release_list.hpp>
#include <arenakit/reclaimers/deferred.hpp>
#include <arenakit/slots/counted.hpp>
#include <arenakit/tokens/arena_binding.hpp>
#include <arenakit/tokens/token_tracker.hpp>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <random>
#include <span>
#include <thread>
#include <vector>

namespace {
namespace ak = arenakit;
constexpr std::size_t kBindingBytes = std::size_t{16} << 20, kPage = 4096, kFlows = 6, kCrashed = 3;
constexpr std::uint64_t kFragments = 200'000;

// Host memory: the deferred link lives in a page's first bytes (a dma-buf would use ImmediateReclaimer).
using Recycled = ak::ReleaseList<ak::WakeNever, ak::NoWaker, ak::Counting::exact>;
using PageArena = ak::Arena<ak::NoopMapper, ak::CountedSlots, ak::DeferredReclaimer<Recycled>, ak::MmapSource>;
using Tracker = ak::TokenTracker<ak::ReleaseToArena<PageArena>, ak::OneProducerRefs>;
struct Flow { // a socket, and its application's view of it
  ak::ConsumerHandle consumer;
  std::mutex mu;
  std::vector<std::uint32_t> tokens;                // delivered, not yet read by the application
  std::uint64_t delivered = 0, returned = 0, bad = 0; // one writer each, read after joins
};

unsigned long long ull(std::uint64_t v) { return static_cast<unsigned long long>(v); }
int fail(const char* what) { return std::fprintf(stderr, "devmem_rx: FAILED: %s\n", what), 1; }
} // namespace

int main() {
  Recycled recycled;
  PageArena arena(ak::ArenaConfig{.slot_size = kPage, .shard_size = kBindingBytes, .max_shards = 1, .initial_shards = 1},
                  ak::DeferredReclaimer<Recycled>{recycled});
  if (!arena) return fail(arena.error().message().c_str());
  auto bound = ak::ArenaBinding<PageArena>::create(arena);
  if (!bound) return fail(bound.error().message().c_str());
  const ak::ArenaBinding<PageArena>& binding = *bound;
  auto created = Tracker::create(binding.region(), ak::TokenTrackerConfig{.page_size = kPage}, binding.hook());
  if (!created) return fail(created.error().message().c_str());
  Tracker& tracker = created.value();
  const auto pages = static_cast<std::uint32_t>(tracker.page_count());
  std::vector<Flow> flows(kFlows);
  for (auto& f : flows)
    if (auto h = tracker.open_consumer()) f.consumer = *h; else return fail("open_consumer");
  std::atomic<bool> rx_done{false};
  std::uint64_t closed_refs = 0, rx_bad = 0; // written by rx only, read after it is joined
  std::thread rx([&] {
    std::mt19937 rng(2024);
    std::vector<std::uint32_t> frags;
    for (std::uint64_t n = 0; n < kFragments;) {
      ak::SlotId id = arena.acquire(); // the receive path's reference
      if (!id) { if (arena.reclaim() == 0) std::this_thread::yield(); continue; } // take back what came home
      const std::uint32_t page = binding.page_of(id);
      Flow& f = flows[rng() % kFlows];
      frags.assign(1 + rng() % 4, page); // one reference per fragment
      n += frags.size();
      // The page's first reference retains its slot for the consumers (the hook's taken()).
      const auto out = tracker.deliver(f.consumer, std::span<const std::uint32_t>(frags));
      const bool closed = out.refused != 0 && out.last_refusal == ak::TokenRefusal::consumer_closed;
      rx_bad += out.refused != 0 && !closed;
      if (closed) closed_refs += out.refused; // nobody took it, and no arena reference was taken
      frags.resize(out.delivered);
      f.delivered += out.delivered;
      { std::lock_guard<std::mutex> g(f.mu); for (std::uint32_t p : frags) f.tokens.push_back(tracker.token32(p)); }
      (void)arena.release(id); // done with the page here: the consumers may still hold it
    }
    rx_done.store(true, std::memory_order_release); // pairs with the applications' acquire load
  });
  auto app = [&](std::size_t k) {
    Flow& f = flows[k];
    std::vector<std::uint32_t> mine;
    std::vector<ak::TokenRange32> ranges;
    for (std::uint64_t seen = 0;;) {
      // Acquire: after rx_done, every token rx published is in f.tokens.
      const bool last = rx_done.load(std::memory_order_acquire);
      { std::lock_guard<std::mutex> g(f.mu); mine.swap(f.tokens); }
      if (mine.empty() && !last) { std::this_thread::sleep_for(std::chrono::microseconds(50)); continue; } // poll
      seen += mine.size();
      const bool crash = k == kCrashed && seen > kFragments / (kFlows * 3);
      if (crash) mine.resize(mine.size() / 2); // returns half of what it just read, dies holding the rest
      for (std::size_t i = 0; i < mine.size(); i += 128) {
        ranges.clear();
        for (std::size_t j = i; j < mine.size() && j < i + 128; ++j)
          if (!ranges.empty() && ranges.back().start + ranges.back().count == mine[j]) ++ranges.back().count;
          else ranges.push_back({mine[j], 1}); // consecutive tokens coalesce into one range
        const auto r = tracker.return_tokens(f.consumer, std::span<const ak::TokenRange32>(ranges));
        f.returned += r.released;
        f.bad += r.refused + (ranges.size() - r.ranges_done); // our own tokens: never refused
      }
      mine.clear();
      if (crash || last) return;
    }
  };
  std::vector<std::thread> apps;
  for (std::size_t k = 0; k < kFlows; ++k) apps.emplace_back(app, k);

  apps[kCrashed].join(); // the crashed application is gone; the "kernel" closes its socket
  const auto closed = tracker.close(flows[kCrashed].consumer); // rx may be delivering to it right now
  rx.join();
  for (auto& t : apps) if (t.joinable()) t.join();
  const Flow& dead = flows[kCrashed];
  const std::uint64_t held_at_crash = dead.delivered - dead.returned;
  const ak::TokenRange32 stale{tracker.token32(0), 1}; // a late return through the closed handle
  const auto late = tracker.return_tokens(dead.consumer, std::span<const ak::TokenRange32>(&stale, 1));
  const auto s = tracker.counters();
  std::printf("flow %zu crashed holding %llu references; close gave back %llu (%s), walking %llu entries\n",
              kCrashed, ull(held_at_crash), ull(s.close_released),
              closed.status == ak::CloseStatus::drained ? "at once" : "via the delivery in flight", ull(s.close_visits));
  std::printf("binding: %llu pages, delivered %llu, returned %llu, closed %llu, outstanding %llu,\n"
              "         refused %llu (consumer closed %llu: %llu fragments, 1 late return), tracking %zu KiB\n",
              ull(s.page_count), ull(s.delivered), ull(s.returned), ull(s.close_released), ull(s.outstanding()),
              ull(s.refused_total()), ull(s.refused_for(ak::TokenRefusal::consumer_closed)), ull(closed_refs),
              s.tracking_bytes / 1024);

  std::uint64_t delivered = 0, returned = 0, bad = rx_bad;
  for (const auto& f : flows) delivered += f.delivered, returned += f.returned, bad += f.bad;
  if (bad != 0) return fail("a flow's own tokens were refused");
  if (s.delivered != delivered || s.returned != returned) return fail("totals differ");
  if (held_at_crash == 0 || s.close_released != held_at_crash) return fail("close gave back other than what was held");
  if (late.released != 0 || late.refused == 0) return fail("a return through a closed handle was not refused");
  if (s.refused_for(ak::TokenRefusal::consumer_closed) != closed_refs + 1 || s.refused_total() != closed_refs + 1)
    return fail("refusals other than the closed consumer's");
  for (auto& f : flows) tracker.close(f.consumer); // live flows hold nothing; the crashed one is refused
  const auto end = tracker.counters();
  arena.reclaim(); // the last pages home
  const auto a = arena.counters(); // no page out, none of its arena references dropped twice
  if (end.outstanding() != 0 || end.close_released != held_at_crash || a.slots_in_use != 0 || a.refused_releases != 0)
    return fail("references outstanding, or pages missing from the arena, after closing every flow");
  std::printf("all %u pages back in the arena (%llu recycled through its reclaimer)\ndevmem_rx: OK\n", pages,
              ull(recycled.counters().items_drained));
  return 0;
}
