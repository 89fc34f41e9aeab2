#include <arenakit/sources/heap.hpp>
#include <arenakit/sources/mmap.hpp>

#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <fstream>

#include "hugetlb.hpp"

using namespace arenakit;

namespace {
bool aligned(const void* p, std::size_t a) { return reinterpret_cast<std::uintptr_t>(p) % a == 0; }

using arenakit_test::hugetlb_pages_free;
} // namespace

TEST_CASE("HeapSource gives aligned, writable regions and refuses bad alignment") {
  HeapSource heap;
  auto r = heap.allocate(64 * 1024, 64 * 1024);
  REQUIRE(r);
  CHECK(r->size == 64 * 1024);
  CHECK(aligned(r->data, 64 * 1024));
  std::memset(r->data, 0xA5, r->size);
  heap.deallocate(*r);
  CHECK(heap.allocate(4096, 3).error() == make_error_code(errc::invalid_config));
  CHECK(heap.allocate(0, 64).error() == make_error_code(errc::invalid_config));
}

TEST_CASE("MmapSource aligns to the requested boundary, not just the page") {
  MmapSource src;
  for (std::size_t align : {std::size_t{4096}, std::size_t{64 * 1024}, std::size_t{2} << 20}) {
    auto r = src.allocate(align, align);
    REQUIRE(r);
    CHECK(aligned(r->data, align));
    CHECK(r->size == align);
    CHECK_FALSE(r->huge_pages);
    CHECK_FALSE(r->huge_page_fallback);
    r->data[0] = std::byte{1};
    r->data[r->size - 1] = std::byte{2};
    src.deallocate(*r);
  }
}

TEST_CASE("MmapSource huge pages: MAP_HUGETLB when the pool has pages, a counted fallback otherwise") {
  MmapSource src{.pages = PageSize::huge_2m};
  const bool pool_has_pages = hugetlb_pages_free() > 0;
  auto r = src.allocate(std::size_t{2} << 20, std::size_t{2} << 20);
  REQUIRE(r);
  CHECK(aligned(r->data, std::size_t{2} << 20));
  if (pool_has_pages) {
    CHECK(r->huge_pages);
    CHECK_FALSE(r->huge_page_fallback);
  } else {
    CHECK_FALSE(r->huge_pages);
    CHECK(r->huge_page_fallback);
  }
  r->data[0] = std::byte{7};
  src.deallocate(*r);
}

TEST_CASE("MmapSource with HugePageFallback::refuse fails cleanly when no huge pages exist") {
  if (hugetlb_pages_free() > 0) return; // the refusal path needs an empty pool
  MmapSource src{.pages = PageSize::huge_2m, .fallback = HugePageFallback::refuse};
  auto r = src.allocate(std::size_t{2} << 20, std::size_t{2} << 20);
  CHECK_FALSE(r);
  CHECK(r.error() == make_error_code(errc::hugepages_unavailable));
}

TEST_CASE("MmapSource NUMA: node 0 binds, a node that does not exist is refused") {
  MmapSource node0{.numa_node = 0};
  auto r = node0.allocate(64 * 1024, 64 * 1024);
  if (r) { // containers may forbid mbind(); then the refusal is what we check below
    CHECK(r->numa_node == 0);
    std::memset(r->data, 1, r->size);
    node0.deallocate(*r);
  } else {
    CHECK(r.error() == make_error_code(errc::numa_bind_failed));
  }
  MmapSource nowhere{.numa_node = 1000};
  auto bad = nowhere.allocate(64 * 1024, 64 * 1024);
  CHECK_FALSE(bad);
  CHECK(bad.error() == make_error_code(errc::numa_bind_failed));
  MmapSource beyond{.numa_node = 5000};
  CHECK(beyond.allocate(4096, 4096).error() == make_error_code(errc::numa_bind_failed));
}

TEST_CASE("MmapSource populate=now hands out pages already faulted in") {
  MmapSource src{.populate = Populate::now};
  auto r = src.allocate(64 * 1024, 64 * 1024);
  REQUIRE(r);
  CHECK(r->data[100] == std::byte{0});
  src.deallocate(*r);
}
