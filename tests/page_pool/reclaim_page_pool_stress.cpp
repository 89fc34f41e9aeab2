// SPDX-License-Identifier: MIT
// The page pool's bound is hard under concurrent producers (TSan/stress):
// the high-water mark never passes max_pages while producers put singly and
// in bulk and a consumer gets and recycles; every page is accounted for.
#include <arenakit/page_pool/page_pool.hpp>

#include "counting_page_source.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <cstdlib>
#include <thread>
#include <vector>

using namespace arenakit;

namespace {
using SourceStats = test_support::PageSourceStats;
using CountingSource = test_support::CountingPageSource<128, -1>;

/// The seed's soft bound, for contrast: check, then add.
struct SoftBound {
  std::atomic<std::size_t> count{0};
  std::atomic<std::size_t> high_water{0};
  std::size_t max;
  bool put() noexcept {
    if (count.load(std::memory_order_relaxed) >= max) return false;
    std::this_thread::yield(); // widen the window a real preemption opens
    std::size_t now = count.fetch_add(1, std::memory_order_relaxed) + 1;
    std::size_t seen = high_water.load(std::memory_order_relaxed);
    while (now > seen && !high_water.compare_exchange_weak(seen, now)) {
    }
    return true;
  }
};
} // namespace

TEST_CASE("stress: the bound holds under four concurrent producers and a consumer") {
  constexpr std::size_t max_pages = 64;
  constexpr int producers = 4;
  constexpr int rounds = 3000;
  SourceStats stats;
  {
    auto pool = PagePool<CountingSource, 16>::create({.max_pages = max_pages}, CountingSource{&stats});
    REQUIRE(pool);
    PagePool<CountingSource, 16>& p = **pool;
    std::atomic<bool> stop{false};
    std::vector<std::thread> threads;
    for (int t = 0; t < producers; ++t)
      threads.emplace_back([&, t] {
        CountingSource src{&stats};
        std::byte* batch[8];
        for (int r = 0; r < rounds; ++r) {
          if ((r + t) % 2 == 0) {
            (void)p.put(src.allocate_page());
          } else {
            for (auto*& b : batch) b = src.allocate_page();
            (void)p.put_bulk(batch, 8);
          }
        }
      });
    threads.emplace_back([&] {
      auto rx = p.consumer();
      std::vector<std::byte*> held;
      while (!stop.load(std::memory_order_acquire)) {
        std::byte* page = rx.get();
        if (page != nullptr) page[0] = std::byte{7};
        held.push_back(page);
        if (held.size() == 16) {
          // Half back on this thread, half through the shared path.
          (void)rx.put_bulk(held.data(), 8);
          (void)p.put_bulk(held.data() + 8, 8);
          held.clear();
        }
      }
      (void)rx.put_bulk(held.data(), held.size());
    });
    for (int t = 0; t < producers; ++t) threads[static_cast<std::size_t>(t)].join();
    stop.store(true, std::memory_order_release);
    threads.back().join();
    auto c = p.counters();
    CHECK(c.high_water <= max_pages); // the hard bound
    CHECK(c.reserved <= max_pages);
    CHECK(c.overflowed > 0);           // the producers really did hit it
    MESSAGE("high_water=" << c.high_water << " overflowed=" << c.overflowed
                           << " refills=" << c.refills);
  }
  // Every page ever allocated went back to the source exactly once.
  CHECK(stats.freed.load() == stats.allocated.load());
}

TEST_CASE("stress: contrast - a check-then-add bound is soft (reported, not asserted)") {
  SoftBound soft;
  soft.max = 8;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i)
        if (soft.put() && i % 2 == 0) soft.count.fetch_sub(1, std::memory_order_relaxed);
    });
  for (auto& t : threads) t.join();
  MESSAGE("check-then-add high water " << soft.high_water.load() << " for a bound of 8");
  CHECK(soft.high_water.load() >= 1);
}
