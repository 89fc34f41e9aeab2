// SPDX-License-Identifier: MIT
// llist under concurrency (run under TSan): pushes race with take_alls from
// several threads, and with a single consumer's pop_first. Every node is seen
// exactly once.
#include <arenakit/lists/llist.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <thread>
#include <vector>

using namespace arenakit;

namespace {
struct Item : LlistNode {
  std::uint32_t id = 0;
  std::uint32_t payload = 0;
};
constexpr int producers = 2;
constexpr std::uint32_t per_producer = 20000;
} // namespace

TEST_CASE("stress: concurrent push and take_all from two takers lose and duplicate nothing") {
  Llist list;
  std::vector<Item> items(producers * per_producer);
  for (std::uint32_t i = 0; i < items.size(); ++i) items[i].id = i;
  std::vector<std::atomic<int>> seen(items.size());
  std::atomic<int> done{0};
  std::atomic<std::uint64_t> edges{0};
  std::atomic<int> bad_payload{0};

  auto taker = [&] {
    for (;;) {
      bool last = done.load(std::memory_order_acquire) == producers;
      llist_for_each(list.take_all(), [&](LlistNode* n) noexcept {
        auto* item = llist_entry<Item>(n);
        if (item->payload != item->id * 3u + 1u) // published by the push (L1)
          bad_payload.fetch_add(1, std::memory_order_relaxed);
        seen[item->id].fetch_add(1, std::memory_order_relaxed);
      });
      if (last) break;
    }
  };
  std::vector<std::thread> threads;
  for (int p = 0; p < producers; ++p)
    threads.emplace_back([&, p] {
      for (std::uint32_t i = 0; i < per_producer; ++i) {
        Item& item = items[static_cast<std::size_t>(p) * per_producer + i];
        item.payload = item.id * 3u + 1u;
        if (list.push(item)) edges.fetch_add(1, std::memory_order_relaxed);
      }
      done.fetch_add(1, std::memory_order_release);
    });
  threads.emplace_back(taker);
  threads.emplace_back(taker);
  for (auto& t : threads) t.join();
  llist_for_each(list.take_all(), [&](LlistNode* n) noexcept {
    seen[llist_entry<Item>(n)->id].fetch_add(1, std::memory_order_relaxed);
  });
  std::size_t once = 0;
  for (auto& s : seen) once += s.load() == 1 ? 1u : 0u;
  CHECK(once == items.size());
  CHECK(bad_payload.load() == 0);
  CHECK(edges.load() >= 1);
}

TEST_CASE("stress: a single consumer's pop_first against concurrent pushes") {
  ScLlist list;
  std::vector<Item> items(producers * per_producer);
  for (std::uint32_t i = 0; i < items.size(); ++i) items[i].id = i;
  std::vector<int> seen(items.size(), 0);
  std::atomic<int> done{0};

  std::vector<std::thread> threads;
  for (int p = 0; p < producers; ++p)
    threads.emplace_back([&, p] {
      for (std::uint32_t i = 0; i < per_producer; ++i) {
        Item& item = items[static_cast<std::size_t>(p) * per_producer + i];
        item.payload = item.id ^ 0x5a5au;
        (void)list.push(item);
      }
      done.fetch_add(1, std::memory_order_release);
    });
  std::size_t popped = 0;
  bool payload_ok = true;
  {
    auto consumer = list.claim_consumer();
    REQUIRE(consumer.has_value());
    while (popped < items.size()) {
      LlistNode* n = consumer->pop_first();
      if (n == nullptr) {
        std::this_thread::yield();
        continue;
      }
      auto* item = llist_entry<Item>(n);
      payload_ok = payload_ok && item->payload == (item->id ^ 0x5a5au);
      ++seen[item->id];
      ++popped;
    }
  }
  for (auto& t : threads) t.join();
  CHECK(payload_ok);
  std::size_t once = 0;
  for (int s : seen) once += s == 1 ? 1u : 0u;
  CHECK(once == items.size());
}
