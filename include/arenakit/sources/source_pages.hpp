// SPDX-License-Identifier: MIT
/**
 * @file sources/source_pages.hpp
 * @brief SourcePages<MemorySource>: a PageSource (what a PagePool draws
 *        pages from and gives overflow back to) over any MemorySource, so a
 *        page pool and an arena take memory from the same sources, with one
 *        NUMA path (the source's: MmapSource binds with detail::numa_bind).
 *
 * Each page is one region of `page_size` bytes aligned to `page_size`: one
 * allocate() per page, the pool's slow path (a miss), so every page carries
 * its own binding and goes back to the source on overflow. free_page()
 * rebuilds the region from the page and the size, so the source must give
 * exactly the size asked (create() checks it with a probe page: a source
 * that rounds up, as MmapSource on huge pages does, is refused).
 * free_page() is as thread-safe as the source's deallocate() (the sources
 * shipped here are: munmap, operator delete).
 */
#pragma once

#include <arenakit/concepts/memory_source.hpp>
#include <arenakit/concepts/page_source.hpp>
#include <arenakit/error.hpp>
#include <arenakit/region.hpp>

#include <bit>
#include <cstddef>
#include <utility>

namespace arenakit {

template <class SourceT>
class SourcePages {
  static_assert(check_memory_source<SourceT>());

public:
  /**
   * create() - pages of @page_size bytes from @source.
   * Return: errc::invalid_config for a page size that is not a power of two
   * of at least 64 bytes (the pool keeps its link in the page) or a source
   * that does not give exactly that size; the source's own error (e.g.
   * errc::numa_bind_failed) when its probe page fails.
   */
  static Result<SourcePages> create(SourceT source, std::size_t page_size) noexcept {
    if (page_size < 64 || !std::has_single_bit(page_size)) return errc::invalid_config;
    SourcePages pages(std::move(source), page_size);
    Result<Region> probe = pages.source_.allocate(page_size, page_size);
    if (!probe) return probe.error();
    const Region r = *probe;
    pages.source_.deallocate(r);
    if (r.size != page_size) return errc::invalid_config;
    pages.numa_node_ = r.numa_node;
    return pages;
  }

  /// A page, or null when the source fails. Blocking: the source's call.
  std::byte* allocate_page() noexcept {
    Result<Region> r = source_.allocate(page_size_, page_size_);
    return r ? r->data : nullptr;
  }
  /// Gives @page back to the source. Any thread, as the source's deallocate().
  void free_page(std::byte* page) noexcept {
    Region r;
    r.data = page;
    r.size = page_size_;
    r.alignment = page_size_;
    r.numa_node = numa_node_;
    source_.deallocate(r);
  }
  [[nodiscard]] std::size_t page_size() const noexcept { return page_size_; }
  /// The node the source bound the probe page to, or -1 for none.
  [[nodiscard]] int numa_node() const noexcept { return numa_node_; }
  [[nodiscard]] const SourceT& source() const noexcept { return source_; }

protected:
  SourcePages(SourceT source, std::size_t page_size) noexcept
      : source_(std::move(source)), page_size_(page_size) {}

private:
  SourceT source_;
  std::size_t page_size_;
  int numa_node_ = -1;
};

} // namespace arenakit
