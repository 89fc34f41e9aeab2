// SPDX-License-Identifier: MIT
/**
 * @file region.hpp
 * @brief Region: a contiguous run of memory handed out by a memory source.
 */
#pragma once

#include <cstddef>
#include <cstdint>

namespace arenakit {

/// A contiguous run of memory from a MemorySource. `data` may be null only
/// for device memory without a CPU address (an imported dma-buf).
struct Region {
  std::byte* data = nullptr;
  std::size_t size = 0;
  /// Alignment the region was allocated with (sources need it to free).
  std::size_t alignment = 0;
  /// Backed by explicit huge pages (MAP_HUGETLB).
  bool huge_pages = false;
  /// Huge pages were asked for and not available: the source fell back to
  /// normal pages (with a transparent-huge-page hint). Arenas count these.
  bool huge_page_fallback = false;
  /// NUMA node the pages are bound to, or -1 when no policy was set.
  int numa_node = -1;
  /// For memory behind a dma-buf (e.g. exported by a GPU driver): the
  /// dma-buf file descriptor and the region's offset in it; -1 otherwise.
  /// Mappers that can import dma-bufs (IbvMapper) use these instead of data.
  int dmabuf_fd = -1;
  std::uint64_t dmabuf_offset = 0;

  explicit operator bool() const noexcept { return size != 0; }
};

} // namespace arenakit
