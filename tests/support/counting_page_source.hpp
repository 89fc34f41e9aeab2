// SPDX-License-Identifier: MIT
// CountingPageSource: a PageSource of heap pages that counts every page in
// and out, shared by the page-pool tests (one copy, not one per test).
#pragma once

#include <arenakit/concepts/page_source.hpp>

#include <atomic>
#include <cstddef>
#include <cstdlib>

namespace test_support {

struct PageSourceStats {
  std::atomic<long> allocated{0};
  std::atomic<long> freed{0};
};

/// Pages of @PageSize bytes (64-byte aligned) on NUMA node @Node, counted in
/// a PageSourceStats the test owns.
template <std::size_t PageSize = 256, int Node = 0>
struct CountingPageSource {
  PageSourceStats* stats;
  std::byte* allocate_page() noexcept {
    stats->allocated.fetch_add(1, std::memory_order_relaxed); // a count, orders nothing
    return static_cast<std::byte*>(std::aligned_alloc(64, PageSize));
  }
  void free_page(std::byte* page) noexcept {
    stats->freed.fetch_add(1, std::memory_order_relaxed); // a count, orders nothing
    std::free(page);
  }
  std::size_t page_size() const noexcept { return PageSize; }
  int numa_node() const noexcept { return Node; }
};
static_assert(arenakit::PageSource<CountingPageSource<>>);

} // namespace test_support
