// SPDX-License-Identifier: MIT
// detail::owner_add / owner_sub: one writer, any reader sees whole values.
#include <arenakit/detail/owner_counter.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <cstdint>
#include <thread>

using namespace arenakit::detail;

TEST_CASE("owner_add / owner_sub") {
  std::atomic<std::uint64_t> c{0};
  CHECK(owner_add(c, 5) == 5);
  CHECK(owner_add<std::memory_order_release>(c, 1) == 6);
  CHECK(owner_sub(c, 2) == 4);
  CHECK(c.load() == 4);
  std::atomic<std::uint32_t> small{0};
  CHECK(owner_sub(small, 1) == 0xFFFF'FFFFu); // wraps like the plain arithmetic
}

TEST_CASE("owner counter: a reader on another thread sees monotonic values") {
  std::atomic<std::uint64_t> c{0};
  std::atomic<bool> done{false};
  bool monotonic = true;
  std::thread reader([&] {
    std::uint64_t last = 0;
    while (!done.load(std::memory_order_acquire)) {
      const std::uint64_t v = c.load(std::memory_order_relaxed);
      if (v < last) monotonic = false;
      last = v;
    }
  });
  for (int i = 0; i < 100000; ++i) owner_add(c, 1);
  done.store(true, std::memory_order_release);
  reader.join();
  CHECK(monotonic);
  CHECK(c.load() == 100000);
}
