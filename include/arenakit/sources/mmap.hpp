// SPDX-License-Identifier: MIT
/**
 * @file sources/mmap.hpp
 * @brief MmapSource: shards from anonymous mmap, optionally on 2 MB huge
 *        pages and/or bound to a NUMA node.
 *
 * - Alignment: the source maps `bytes + alignment` and trims both ends, so a
 *   64 KB shard starts on a 64 KB boundary (one TLB-friendly, IOMMU-friendly
 *   run; the arena relies only on the first byte's alignment).
 * - Huge pages: with `pages = PageSize::huge_2m` the source asks for
 *   MAP_HUGETLB. When the kernel has no huge pages to give (the common case on
 *   machines that did not reserve any), the `fallback` policy decides:
 *   `HugePageFallback::transparent` maps normal pages, asks for transparent
 *   huge pages with madvise(MADV_HUGEPAGE) and marks the Region
 *   `huge_page_fallback` (arenas count it); `HugePageFallback::refuse` fails
 *   with errc::hugepages_unavailable.
 * - NUMA: `numa_node >= 0` binds the pages with the mbind(2) system call
 *   before they are touched (MPOL_BIND; no libnuma at run time). A node the
 *   kernel refuses fails with errc::numa_bind_failed and nothing is leaked.
 */
#pragma once

#include <arenakit/error.hpp>
#include <arenakit/concepts/memory_source.hpp>
#include <arenakit/detail/aligned_map.hpp>
#include <arenakit/detail/numa.hpp>
#include <arenakit/region.hpp>

#include <cerrno>
#include <cstddef>
#include <cstdint>

#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace arenakit {

enum class PageSize : std::uint8_t {
  normal,   ///< the system page size (4 KB on x86-64)
  huge_2m,  ///< 2 MB pages from the hugetlb pool
};

enum class HugePageFallback : std::uint8_t {
  transparent, ///< use normal pages with MADV_HUGEPAGE, and say so in Region
  refuse,      ///< fail with errc::hugepages_unavailable
};

enum class Populate : std::uint8_t {
  lazily, ///< pages are faulted in on first touch
  now,    ///< MAP_POPULATE: fault everything in at allocation (no first-touch stalls)
};

struct MmapSource {
  PageSize pages = PageSize::normal;
  HugePageFallback fallback = HugePageFallback::transparent;
  Populate populate = Populate::lazily;
  /// NUMA node to bind the pages to; -1 leaves the process policy alone.
  int numa_node = -1;

  static constexpr std::size_t huge_page_size = std::size_t{2} << 20;

  Result<Region> allocate(std::size_t bytes, std::size_t alignment) noexcept {
    if (bytes == 0 || alignment == 0 || (alignment & (alignment - 1)) != 0)
      return errc::invalid_config;
    const int populate_flag = populate == Populate::now ? MAP_POPULATE : 0;
    Region r;
    if (pages == PageSize::huge_2m) {
      const std::size_t len = round_up(bytes, huge_page_size);
      // Huge pages are naturally aligned to 2 MB; larger alignments are rare
      // enough to go through the over-map path below.
      if (alignment <= huge_page_size) {
        void* p = ::mmap(nullptr, len, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | populate_flag, -1, 0);
        if (p != MAP_FAILED) {
          r.data = static_cast<std::byte*>(p);
          r.size = len;
          r.alignment = alignment;
          r.huge_pages = true;
          return bind(r);
        }
      }
      if (fallback == HugePageFallback::refuse) return errc::hugepages_unavailable;
      r.huge_page_fallback = true;
      alignment = alignment < huge_page_size ? huge_page_size : alignment;
      bytes = len;
    }
    // map_aligned maps an alignment up to the OS page directly (mmap is
    // page-aligned already: one system call per page for SourcePages), and
    // over-maps and trims a larger one.
    r.data = detail::map_aligned(bytes, alignment, PROT_READ | PROT_WRITE, 0);
    if (r.data == nullptr) return errc::out_of_memory;
    r.size = bytes;
    r.alignment = alignment;
    if (r.huge_page_fallback) ::madvise(r.data, r.size, MADV_HUGEPAGE); // a hint: failure is harmless
    return populated(bind(r));
  }

  void deallocate(const Region& r) noexcept {
    if (r.data != nullptr) ::munmap(r.data, r.size);
  }

private:
  static std::size_t round_up(std::size_t n, std::size_t to) noexcept { return (n + to - 1) & ~(to - 1); }

  /// Populate::now: fault the (bound) pages in now.
  Result<Region> populated(Result<Region> bound) const noexcept {
    if (bound && populate == Populate::now) ::madvise(bound->data, bound->size, MADV_WILLNEED);
    return bound;
  }

  Result<Region> bind(Region r) noexcept {
    if (numa_node < 0) return r;
    const int rc = detail::numa_bind(r.data, r.size, numa_node);
    if (rc != 0) {
      ::munmap(r.data, r.size);
      return errc::numa_bind_failed;
    }
    r.numa_node = numa_node;
    return r;
  }
};

static_assert(MemorySource<MmapSource>);

} // namespace arenakit
