// SPDX-License-Identifier: MIT
// The arena binding under contention (TSan, label "stress"): one receive
// thread (the arena's reclaim owner) fills and delivers pages; consumer
// threads read and return their tokens, and now and then die mid-stream
// (their consumer is closed with tokens unread, and a new one opened).
// Every page comes back to the arena exactly once, and no page is refilled
// while a consumer still reads it (the stamp check, and TSan on the plain
// page accesses, would see it).
#include "tokens_support.hpp"

#include <arenakit/arena/arena.hpp>
#include <arenakit/lists/release_list.hpp>
#include <arenakit/reclaimers/deferred.hpp>
#include <arenakit/slots/counted.hpp>
#include <arenakit/tokens/arena_binding.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

using namespace arenakit;

TEST_CASE("arena binding stress: deliver, return, close and re-open; every page back once") {
  using List = ReleaseList<WakeNever, NoWaker, Counting::exact>;
  using PageArena = Arena<NoopMapper, CountedSlots, DeferredReclaimer<List>, MmapSource>;
  using Tracker = TokenTracker<ReleaseToArena<PageArena>>;
  constexpr std::size_t page_size = 4096;
  constexpr std::size_t pages = 128;
  constexpr std::size_t stamp_at = 64; // past the deferred reclaimer's link
  constexpr int consumers = 3;
  constexpr std::uint64_t fills = 20000;

  List list;
  PageArena arena(ArenaConfig{.slot_size = page_size, .shard_size = pages * page_size, .max_shards = 1,
                              .initial_shards = 1},
                  DeferredReclaimer<List>{list});
  REQUIRE(arena);
  auto b = ArenaBinding<PageArena>::create(arena);
  REQUIRE(b.has_value());
  const ArenaBinding<PageArena>& binding = *b;
  auto t = Tracker::create(binding.region(), TokenTrackerConfig{.page_size = page_size}, binding.hook());
  REQUIRE(t.has_value());
  Tracker& tracker = *t;

  struct Item {
    ConsumerHandle h;
    std::uint32_t page;
    std::uint64_t stamp;
  };
  struct Mailbox {
    std::mutex m; // guards items and handle
    std::vector<Item> items;
    ConsumerHandle handle;
  };
  Mailbox boxes[consumers];
  for (auto& box : boxes) box.handle = tokens_test::open(tracker);
  std::atomic<bool> done{false};
  std::atomic<int> bad{0};
  std::atomic<std::uint64_t> kills{0};

  auto stamp_of = [&](std::uint32_t page) {
    std::uint64_t v;
    std::memcpy(&v, tracker.page_address(page) + stamp_at, sizeof v);
    return v;
  };

  std::thread rx([&] {
    for (std::uint64_t n = 1; n <= fills; ++n) {
      SlotId id = arena.acquire();
      while (!id) { // every page is out: take back what came home, in a batch
        if (arena.reclaim() == 0) std::this_thread::yield();
        id = arena.acquire();
      }
      const std::uint32_t p = binding.page_of(id);
      std::memcpy(arena.pointer(id) + stamp_at, &n, sizeof n); // the "DMA"
      Mailbox& box = boxes[n % consumers];
      ConsumerHandle h;
      {
        std::lock_guard lock(box.m);
        h = box.handle;
      }
      const std::uint32_t frags = 1 + static_cast<std::uint32_t>(n % 3);
      const std::vector<std::uint32_t> batch(frags, p);
      const DeliverOutcome out = tracker.deliver(h, std::span<const std::uint32_t>(batch));
      // A consumer that died meanwhile takes nothing, and no arena reference.
      if (out.refused != 0 && out.last_refusal != TokenRefusal::consumer_closed) bad.fetch_add(1);
      {
        std::lock_guard lock(box.m);
        for (std::size_t i = 0; i < out.delivered; ++i) box.items.push_back({h, p, n});
      }
      if (stamp_of(p) != n) bad.fetch_add(1); // still ours to read
      if (!arena.release(id)) bad.fetch_add(1);
    }
    done.store(true);
  });
  std::vector<std::thread> apps;
  for (int k = 0; k < consumers; ++k)
    apps.emplace_back([&, k] {
      std::vector<Item> mine;
      std::uint64_t seen = 0;
      for (;;) {
        const bool last = done.load();
        {
          std::lock_guard lock(boxes[k].m);
          mine.swap(boxes[k].items);
        }
        for (const Item& it : mine) {
          if (++seen % 1500 == 0 && !last) { // the application dies holding the rest of `mine`
            std::lock_guard lock(boxes[k].m);
            (void)tracker.close(boxes[k].handle);
            boxes[k].handle = tokens_test::open(tracker);
            kills.fetch_add(1);
            break;
          }
          // Only this thread closes its consumer: a page it still holds a
          // reference on cannot be refilled under the read. A token of a
          // consumer closed earlier may name a page already refilled: not read.
          const TokenRange32 r{tracker.token32(it.page), 1};
          if (tracker.held_by(it.h, it.page) != 0 && stamp_of(it.page) != it.stamp) bad.fetch_add(1);
          (void)tracker.return_tokens(it.h, std::span<const TokenRange32>(&r, 1));
        }
        mine.clear();
        if (last) return;
        std::this_thread::yield();
      }
    });
  rx.join();
  for (auto& a : apps) a.join();
  for (auto& box : boxes) (void)tracker.close(box.handle);
  arena.reclaim();
  CHECK(bad.load() == 0);
  CHECK(kills.load() > 0);
  const ArenaCounters c = arena.counters();
  CHECK(c.slots_in_use == 0);
  CHECK(c.refused_releases == 0);
  CHECK(c.refused_retains == 0);
  CHECK(tracker.counters().outstanding() == 0);
  CHECK(arena.release_memory() == std::error_code{});
}
