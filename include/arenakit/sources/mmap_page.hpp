// SPDX-License-Identifier: MIT
/**
 * @file sources/mmap_page.hpp
 * @brief MmapPageSource: a PageSource of page-sized anonymous mappings, bound
 *        to a NUMA node: SourcePages over MmapSource (one NUMA path, the
 *        arena's).
 */
#pragma once

#include <arenakit/concepts/page_source.hpp>
#include <arenakit/error.hpp>
#include <arenakit/sources/mmap.hpp>
#include <arenakit/sources/source_pages.hpp>

#include <cstddef>

#include <unistd.h>

namespace arenakit {

/**
 * MmapPageSource - page-sized anonymous mappings, bound to a NUMA node.
 *
 * One mmap per page: it is the pool's slow path (a miss), and it lets every
 * page carry its own binding and go back to the kernel on overflow.
 */
class MmapPageSource : public SourcePages<MmapSource> {
public:
  /**
   * create - a validated source
   * @page_size: a multiple of the OS page size, a power of two
   * @numa_node: node to bind pages to, or -1 for the default policy
   *
   * Returns errc::invalid_config for a bad size, errc::numa_bind_failed
   * when the kernel refuses the node (probed once here).
   */
  static Result<MmapPageSource> create(std::size_t page_size, int numa_node = -1) noexcept {
    const long os_page = sysconf(_SC_PAGESIZE);
    if (page_size == 0 || (page_size & (page_size - 1)) != 0 || os_page <= 0 ||
        page_size % static_cast<std::size_t>(os_page) != 0)
      return errc::invalid_config;
    if (numa_node < -1) return errc::invalid_config;
    MmapSource source;
    source.numa_node = numa_node;
    Result<SourcePages<MmapSource>> pages = SourcePages<MmapSource>::create(source, page_size);
    if (!pages) return pages.error();
    return MmapPageSource(std::move(*pages));
  }

  MmapPageSource() noexcept : SourcePages<MmapSource>(MmapSource{}, 4096) {}

private:
  explicit MmapPageSource(SourcePages<MmapSource>&& pages) noexcept : SourcePages<MmapSource>(std::move(pages)) {}
};

static_assert(PageSource<MmapPageSource>);
static_assert(PageSource<SourcePages<MmapSource>>);

} // namespace arenakit
