// SPDX-License-Identifier: MIT
// detail::BoundedCount never passes its bound, even under racing reservers;
// fetch_max / fetch_min keep the extreme.
#include <arenakit/detail/bounded_count.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <thread>
#include <vector>

using namespace arenakit::detail;

TEST_CASE("BoundedCount: reserve takes up to the bound, release gives back") {
  BoundedCount<std::size_t> c;
  auto r = c.reserve(3, 5);
  CHECK(r.taken == 3);
  CHECK(r.now == 3);
  r = c.reserve<std::memory_order_acquire>(4, 5);
  CHECK(r.taken == 2);
  CHECK(r.now == 5);
  CHECK(c.reserve(1, 5).taken == 0);
  c.release<std::memory_order_release>(2);
  CHECK(c.load() == 3);
  c.add_over_bound(4);
  CHECK(c.load() == 7);
  CHECK(c.reserve(1, 5).taken == 0);
}

TEST_CASE("BoundedCount: racing reservers never pass the bound") {
  constexpr std::size_t bound = 100;
  BoundedCount<std::size_t> c;
  std::atomic<std::size_t> peak{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20000; ++i) {
        auto r = c.reserve(7, bound);
        fetch_max(peak, r.now);
        if (r.taken != 0) c.release(r.taken);
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(peak.load() <= bound);
  CHECK(c.load() == 0);
}

TEST_CASE("fetch_max / fetch_min keep the extreme") {
  std::atomic<std::uint64_t> hi{5};
  fetch_max(hi, std::uint64_t{3});
  CHECK(hi.load() == 5);
  fetch_max(hi, std::uint64_t{9});
  CHECK(hi.load() == 9);
  std::atomic<std::uint64_t> lo{UINT64_MAX};
  fetch_min(lo, std::uint64_t{7});
  fetch_min(lo, std::uint64_t{8});
  CHECK(lo.load() == 7);
  std::atomic<std::uint64_t> racing{0};
  std::vector<std::thread> threads;
  for (std::uint64_t t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (std::uint64_t i = 0; i < 10000; ++i) fetch_max(racing, i * 4 + t);
    });
  for (auto& t : threads) t.join();
  CHECK(racing.load() == 9999 * 4 + 3);
}
