// SPDX-License-Identifier: MIT
// A consumer across several bindings under contention (TSan, label
// "stress"): one deliverer per binding, one returner per consumer slot
// returning mixed-binding batches (and keeping every fourth token, as a
// crashed application would), and a closer that kills and re-opens the
// consumers mid-stream. At the end every reference of every binding is back.
#include "tokens_support.hpp"

#include <arenakit/tokens/binding_group.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

using namespace arenakit;

TEST_CASE("binding group stress: deliver / return / close / re-open across bindings; everything comes back") {
  constexpr int bindings = 3;
  constexpr int slots = 2;
  constexpr std::uint32_t pages = 512;
  using Group = BindingGroup<TokenTracker<>>;
  std::vector<TokenTracker<>> trackers;
  for (int b = 0; b < bindings; ++b) {
    TokenTrackerConfig cfg;
    cfg.token_width = TokenWidth::bits64;
    cfg.binding_bits = 8;
    cfg.binding_id = static_cast<std::uint64_t>(b + 1);
    trackers.push_back(tokens_test::make_tracker(pages, cfg));
  }
  Group group;
  for (auto& t : trackers) REQUIRE(group.add(t) == std::error_code{});

  struct Item {
    Group::Consumer consumer;
    std::uint64_t token;
  };
  struct Slot {
    std::mutex m; // guards consumer and items
    Group::Consumer consumer;
    std::vector<Item> items;
  };
  Slot slot[slots];
  for (auto& s : slot) {
    auto c = group.open();
    REQUIRE(c.has_value());
    s.consumer = *c;
  }
  std::atomic<int> deliverers{bindings};
  std::atomic<int> reopen_failures{0};
  std::atomic<std::uint64_t> reopened{0};

  std::vector<std::thread> threads;
  for (int b = 0; b < bindings; ++b)
    threads.emplace_back([&, b] {
      std::mt19937 rng(static_cast<unsigned>(b));
      for (int n = 0; n < 20000; ++n) {
        Slot& s = slot[rng() % slots];
        Group::Consumer c;
        {
          std::lock_guard lock(s.m);
          c = s.consumer;
        }
        const std::uint32_t p = static_cast<std::uint32_t>(rng() % pages);
        const std::uint32_t page[1] = {p};
        if (group.deliver(c, static_cast<std::size_t>(b), page).delivered == 1) {
          std::lock_guard lock(s.m);
          s.items.push_back({c, group.token(static_cast<std::size_t>(b), p)});
        }
      }
      deliverers.fetch_sub(1);
    });
  for (int k = 0; k < slots; ++k)
    threads.emplace_back([&, k] {
      std::vector<Item> mine;
      std::vector<TokenRange64> ranges;
      std::uint64_t seen = 0;
      for (;;) {
        const bool last = deliverers.load() == 0;
        {
          std::lock_guard lock(slot[k].m);
          mine.swap(slot[k].items);
        }
        // One call per run of items of the same consumer: bindings mixed.
        // Every fourth token is never returned (the application keeps it):
        // only a close brings those back.
        for (std::size_t i = 0; i < mine.size();) {
          ranges.clear();
          std::size_t j = i;
          for (; j < mine.size() && mine[j].consumer.handles == mine[i].consumer.handles && j - i < 64; ++j)
            if (++seen % 4 != 0) ranges.push_back({mine[j].token, 1});
          (void)group.return_tokens(mine[i].consumer, std::span<const TokenRange64>(ranges));
          i = j;
        }
        mine.clear();
        if (last) return;
        std::this_thread::yield();
      }
    });
  threads.emplace_back([&] { // the closer: a socket dies, a new one takes its place
    std::mt19937 rng(99);
    while (deliverers.load() != 0) {
      Slot& s = slot[rng() % slots];
      {
        std::lock_guard lock(s.m);
        (void)group.close(s.consumer);
        auto c = group.open();
        if (c.has_value()) s.consumer = *c;
        else reopen_failures.fetch_add(1);
      }
      reopened.fetch_add(1);
      for (int i = 0; i < 200; ++i) std::this_thread::yield();
    }
  });
  for (auto& t : threads) t.join();
  for (auto& s : slot) (void)group.close(s.consumer);
  CHECK(reopen_failures.load() == 0);
  CHECK(reopened.load() > 0);
  for (auto& t : trackers) {
    const BindingStats st = t.counters();
    CHECK(st.outstanding() == 0);
    CHECK(st.delivered == st.returned + st.close_released);
    for (std::uint32_t p = 0; p < pages; ++p) REQUIRE(t.page_refs(p) == 0);
  }
}
