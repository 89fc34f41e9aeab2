// SPDX-License-Identifier: MIT
// Page pool: bound, overflow to the source, the consumer's cache and debt,
// bulk paths, several consumers, NUMA node of the source, bad input.
#include <arenakit/page_pool/page_pool.hpp>
#include <arenakit/sources/heap.hpp>
#include <arenakit/sources/mmap.hpp>
#include <arenakit/sources/source_pages.hpp>

#include "counting_page_source.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <set>
#include <vector>

using namespace arenakit;

namespace {
using SourceStats = test_support::PageSourceStats;
using CountingSource = test_support::CountingPageSource<256, 0>;

using Pool = PagePool<CountingSource, 8>;

std::vector<std::byte*> fresh(SourceStats& stats, std::size_t n) {
  CountingSource s{&stats};
  std::vector<std::byte*> pages;
  for (std::size_t i = 0; i < n; ++i) pages.push_back(s.allocate_page());
  return pages;
}
} // namespace

TEST_CASE("put keeps pages up to the bound; the rest go back to the source at once") {
  SourceStats stats;
  auto pool = Pool::create({.max_pages = 10}, CountingSource{&stats});
  REQUIRE(pool);
  auto pages = fresh(stats, 15);
  int pooled = 0, overflowed = 0;
  for (auto* p : pages) {
    PutResult r = (*pool)->put(p);
    pooled += r == PutResult::pooled;
    overflowed += r == PutResult::overflowed;
  }
  CHECK(pooled == 10);
  CHECK(overflowed == 5);
  CHECK(stats.freed.load() == 5);
  auto c = (*pool)->counters();
  CHECK(c.reserved == 10);
  CHECK(c.high_water == 10);
  CHECK(c.overflowed == 5);
  pool->reset();
  CHECK(stats.freed.load() == 15); // the pool's destructor returned the other 10
  CHECK(stats.allocated.load() == 15);
}

TEST_CASE("a consumer takes pooled pages first, then the source; nothing is lost") {
  SourceStats stats;
  auto pool = Pool::create({.max_pages = 16}, CountingSource{&stats});
  REQUIRE(pool);
  auto pages = fresh(stats, 4);
  std::set<std::byte*> given(pages.begin(), pages.end());
  for (auto* p : pages) CHECK((*pool)->put(p) == PutResult::pooled);
  {
    auto rx = (*pool)->consumer();
    std::set<std::byte*> got;
    for (int i = 0; i < 4; ++i) got.insert(rx.get());
    CHECK(got == given);
    CHECK(rx.counters().shared_hits == 4);
    CHECK(stats.allocated.load() == 4);
    std::byte* extra = rx.get(); // pool empty: from the source
    CHECK(extra != nullptr);
    CHECK(stats.allocated.load() == 5);
    CHECK(rx.counters().source_allocations == 1);
    for (auto* p : got) CHECK(rx.put(p) == PutResult::pooled);
    CHECK(rx.put(extra) == PutResult::pooled);
  }
  CHECK((*pool)->counters().reserved == 5);
  pool->reset();
  CHECK(stats.freed.load() == stats.allocated.load());
}

TEST_CASE("get+recycle on the consumer's thread touches no shared counter") {
  SourceStats stats;
  auto pool = Pool::create({.max_pages = 4}, CountingSource{&stats});
  REQUIRE(pool);
  auto rx = (*pool)->consumer();
  std::byte* p = rx.get(); // from the source, outside the pool's accounting
  CHECK(rx.put(p) == PutResult::pooled); // reserves one unit
  const auto before = (*pool)->counters().reserved;
  for (int i = 0; i < 1000; ++i) {
    std::byte* q = rx.get();
    CHECK(q == p);
    CHECK(rx.put(q) == PutResult::pooled);
  }
  CHECK((*pool)->counters().reserved == before);
  CHECK(rx.counters().cache_hits == 1000);
}

TEST_CASE("recycle respects the bound too") {
  SourceStats stats;
  auto pool = Pool::create({.max_pages = 3}, CountingSource{&stats});
  REQUIRE(pool);
  auto rx = (*pool)->consumer();
  auto pages = fresh(stats, 5);
  CHECK(rx.put_bulk(pages.data(), pages.size()) == 3);
  CHECK(stats.freed.load() == 2);
  CHECK((*pool)->counters().high_water == 3);
  CHECK(rx.cached() == 3);
}

TEST_CASE("bulk put and bulk get") {
  SourceStats stats;
  auto pool = PagePool<CountingSource, 64>::create({.max_pages = 64}, CountingSource{&stats});
  REQUIRE(pool);
  auto pages = fresh(stats, 96);
  CHECK((*pool)->put_bulk(pages.data(), 32) == 32);
  CHECK((*pool)->put_bulk(pages.data() + 32, 64) == 32); // 32 overflow
  CHECK(stats.freed.load() == 32);
  auto rx = (*pool)->consumer();
  std::vector<std::byte*> out(40);
  CHECK(rx.get_bulk(out.data(), 40) == 40);
  CHECK(stats.allocated.load() == 96); // all 40 came from the pool
  CHECK(rx.put_bulk(out.data(), 40) == 40);
  std::vector<std::byte*> again(40);
  CHECK(rx.get_bulk(again.data(), 40) == 40);
  CHECK(std::set<std::byte*>(again.begin(), again.end()).size() == 40);
  CHECK(rx.put_bulk(again.data(), 40) == 40);
  // Empty batches are a no-op, null arrays included (memcpy of 0 bytes from
  // a null pointer was UB: UBSan in the asan-ubsan preset).
  CHECK(rx.get_bulk(nullptr, 0) == 0);
  CHECK(rx.put_bulk(nullptr, 0) == 0);
  CHECK((*pool)->put_bulk(nullptr, 0) == 0);
}

TEST_CASE("several consumers: each takes batches; flush gives a hoard back") {
  SourceStats stats;
  auto pool = Pool::create({.max_pages = 32}, CountingSource{&stats});
  REQUIRE(pool);
  auto pages = fresh(stats, 20);
  CHECK((*pool)->put_bulk(pages.data(), pages.size()) == 20);
  auto a = (*pool)->consumer();
  auto b = (*pool)->consumer();
  CHECK((*pool)->counters().consumers == 2);
  std::byte* pa = a.get(); // takes the whole shared list into a's cache
  CHECK(a.cached() == 19);
  CHECK(a.put(pa) == PutResult::pooled);
  a.flush();
  CHECK(a.cached() == 0);
  std::byte* pb = b.get();
  CHECK(pb != nullptr);
  CHECK(b.counters().shared_hits == 1);
  CHECK(stats.allocated.load() == 20);
  CHECK(b.put(pb) == PutResult::pooled);
}

TEST_CASE("bad input: null pages are refused and counted; nothing else changes") {
  SourceStats stats;
  auto pool = Pool::create({.max_pages = 8}, CountingSource{&stats});
  REQUIRE(pool);
  CHECK((*pool)->put(nullptr) == PutResult::refused);
  auto pages = fresh(stats, 2);
  std::byte* mixed[3] = {pages[0], nullptr, pages[1]};
  CHECK((*pool)->put_bulk(mixed, 3) == 2);
  auto rx = (*pool)->consumer();
  CHECK(rx.put(nullptr) == PutResult::refused);
  auto c = (*pool)->counters();
  CHECK(c.refused == 3);
  CHECK(c.reserved == 2);
  CHECK(stats.freed.load() == 0);
}

TEST_CASE("bad config: a zero bound or tiny pages are refused with invalid_config") {
  SourceStats stats;
  auto zero = Pool::create({.max_pages = 0}, CountingSource{&stats});
  CHECK_FALSE(zero);
  CHECK(zero.error() == errc::invalid_config);
  CHECK(MmapPageSource::create(1000).error() == errc::invalid_config);
  CHECK(MmapPageSource::create(0).error() == errc::invalid_config);
  CHECK(MmapPageSource::create(4096, -7).error() == errc::invalid_config);
}

TEST_CASE("NUMA: the source's node is honoured and reported; a bad node is refused") {
  auto any = MmapPageSource::create(4096);
  REQUIRE(any);
  CHECK(any->numa_node() == -1);
  auto bad = MmapPageSource::create(4096, 1000);
  CHECK_FALSE(bad);
  CHECK(bad.error() == errc::numa_bind_failed);
  auto node0 = MmapPageSource::create(4096, 0);
  REQUIRE(node0); // every Linux machine has node 0
  auto pool = PagePool<MmapPageSource>::create({.max_pages = 8}, *node0);
  REQUIRE(pool);
  CHECK((*pool)->numa_node() == 0);
  CHECK((*pool)->page_size() == 4096);
  auto rx = (*pool)->consumer();
  std::byte* p = rx.get();
  REQUIRE(p != nullptr);
  p[0] = std::byte{1};
  p[4095] = std::byte{2}; // a real, bound page
  CHECK(rx.put(p) == PutResult::pooled);
}

// Issue 12: a page pool draws from any MemorySource through SourcePages, the
// same sources an arena uses, with the source's one NUMA path.
TEST_CASE("SourcePages: a MemorySource as a page pool's source") {
  auto heap = SourcePages<HeapSource>::create(HeapSource{}, 4096);
  REQUIRE(heap);
  CHECK(heap->page_size() == 4096);
  CHECK(heap->numa_node() == -1);
  auto pool = PagePool<SourcePages<HeapSource>>::create({.max_pages = 4}, *heap);
  REQUIRE(pool);
  auto rx = (*pool)->consumer();
  std::vector<std::byte*> pages;
  for (int i = 0; i < 6; ++i) {
    std::byte* p = rx.get();
    REQUIRE(p != nullptr);
    CHECK(reinterpret_cast<std::uintptr_t>(p) % 4096 == 0); // aligned to its size
    p[4095] = std::byte{1};
    pages.push_back(p);
  }
  for (std::byte* p : pages) (void)rx.put(p); // past the bound: back to the source (operator delete)
  // Pages of the arena's mmap source, bound to node 0 by its path (mbind).
  MmapSource node0;
  node0.numa_node = 0;
  auto bound = SourcePages<MmapSource>::create(node0, 4096);
  REQUIRE(bound);
  CHECK(bound->numa_node() == 0);
  std::byte* page = bound->allocate_page();
  REQUIRE(page != nullptr);
  page[0] = std::byte{1};
  bound->free_page(page);
}

TEST_CASE("SourcePages refuses a page size it cannot serve exactly") {
  CHECK(SourcePages<HeapSource>::create(HeapSource{}, 32).error() == errc::invalid_config); // no room for the link
  CHECK(SourcePages<HeapSource>::create(HeapSource{}, 3000).error() == errc::invalid_config);
  // Huge pages round a 4 KiB page up to 2 MiB (or are not there): never a 4 KiB page.
  MmapSource huge;
  huge.pages = PageSize::huge_2m;
  CHECK_FALSE(SourcePages<MmapSource>::create(huge, 4096));
  MmapSource far;
  far.numa_node = 1000;
  CHECK(SourcePages<MmapSource>::create(far, 4096).error() == errc::numa_bind_failed);
}

TEST_CASE("layout: shared head, bound counter and cold fields on separate lines") {
  CHECK(alignof(Pool) == cache_line_size);
  CHECK(sizeof(Pool) >= 3 * cache_line_size);
}
