// SPDX-License-Identifier: MIT
// detail::TaggedIndexStack: LIFO order, empty = none, pop_if refuses a moved
// head, reset empties, and concurrent push/pop never lose or duplicate an index.
#include <arenakit/detail/tagged_index_stack.hpp>

#include <doctest/doctest.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

using arenakit::detail::TaggedIndexStack;

namespace {
struct Links {
  std::array<std::atomic<std::uint32_t>, 64> next{};
  auto fn() noexcept {
    return [this](std::uint32_t i) noexcept -> std::atomic<std::uint32_t>& { return next[i]; };
  }
};
} // namespace

TEST_CASE("TaggedIndexStack: LIFO, empty is none") {
  TaggedIndexStack s;
  Links l;
  CHECK(s.empty());
  CHECK(s.pop(l.fn()) == TaggedIndexStack::none);
  s.push(3, l.fn());
  s.push(7, l.fn());
  CHECK(!s.empty());
  CHECK(TaggedIndexStack::top_of(s.peek()) == 7);
  CHECK(s.pop(l.fn()) == 7);
  CHECK(s.pop(l.fn()) == 3);
  CHECK(s.pop(l.fn()) == TaggedIndexStack::none);
}

TEST_CASE("TaggedIndexStack: pop_if takes the top only while the head is unchanged") {
  TaggedIndexStack s;
  Links l;
  s.push(1, l.fn());
  s.push(2, l.fn());
  const std::uint64_t seen = s.peek();
  CHECK(TaggedIndexStack::top_of(seen) == 2);
  CHECK(s.pop_if(seen, l.fn()));
  CHECK(!s.pop_if(seen, l.fn())); // the tag moved on
  // ABA: the same index back on top under a new tag is a different head.
  const std::uint64_t before = s.peek();
  CHECK(s.pop(l.fn()) == 1);
  s.push(1, l.fn());
  CHECK(TaggedIndexStack::top_of(s.peek()) == TaggedIndexStack::top_of(before));
  CHECK(!s.pop_if(before, l.fn()));
  CHECK(s.pop_if(s.peek(), l.fn()));
  CHECK(s.empty());
}

TEST_CASE("TaggedIndexStack: reset empties and invalidates old heads") {
  TaggedIndexStack s;
  Links l;
  s.push(5, l.fn());
  const std::uint64_t seen = s.peek();
  s.reset();
  CHECK(s.empty());
  CHECK(s.peek() != seen);
}

TEST_CASE("TaggedIndexStack: concurrent push/pop keeps every index exactly once") {
  constexpr std::uint32_t n = 64;
  TaggedIndexStack s;
  Links l;
  for (std::uint32_t i = 0; i < n; ++i) s.push(i, l.fn());
  std::array<std::atomic<int>, n> owned{};
  std::atomic<bool> bad{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int round = 0; round < 20000; ++round) {
        const std::uint32_t i = s.pop(l.fn());
        if (i == TaggedIndexStack::none) continue;
        if (owned[i].fetch_add(1, std::memory_order_relaxed) != 0) bad = true;
        owned[i].fetch_sub(1, std::memory_order_relaxed);
        s.push(i, l.fn());
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(!bad.load());
  std::vector<bool> seen(n, false);
  std::uint32_t count = 0;
  for (std::uint32_t i; (i = s.pop(l.fn())) != TaggedIndexStack::none; ++count) {
    REQUIRE(i < n);
    CHECK(!seen[i]);
    seen[i] = true;
  }
  CHECK(count == n);
}
