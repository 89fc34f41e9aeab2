// SPDX-License-Identifier: MIT
/**
 * @file sources/mmap_page.hpp
 * @brief MmapPageSource: a PageSource of page-sized anonymous mappings, bound to a NUMA node.
 */
#pragma once

#include <arenakit/concepts/page_source.hpp>
#include <arenakit/detail/numa.hpp>
#include <arenakit/error.hpp>

#include <cstddef>

#include <sys/mman.h>
#include <unistd.h>

namespace arenakit {

/**
 * MmapPageSource - page-sized anonymous mappings, bound to a NUMA node.
 *
 * One mmap per page: it is the pool's slow path (a miss), and it lets every
 * page carry its own binding and go back to the kernel on overflow.
 */
class MmapPageSource {
public:
  /**
   * make - a validated source
   * @page_size: a multiple of the OS page size, a power of two
   * @numa_node: node to bind pages to, or -1 for the default policy
   *
   * Returns errc::invalid_config for a bad size, errc::numa_bind_failed
   * when the kernel refuses the node (probed once here).
   */
  static Result<MmapPageSource> create(std::size_t page_size, int numa_node = -1) noexcept {
    long os_page = sysconf(_SC_PAGESIZE);
    if (page_size == 0 || (page_size & (page_size - 1)) != 0 || os_page <= 0 ||
        page_size % static_cast<std::size_t>(os_page) != 0)
      return errc::invalid_config;
    if (numa_node < -1) return errc::invalid_config;
    MmapPageSource source(page_size, numa_node);
    if (numa_node >= 0) {
      std::byte* probe = source.allocate_page();
      if (probe == nullptr) return errc::numa_bind_failed;
      source.free_page(probe);
    }
    return source;
  }

  MmapPageSource() noexcept = default;

  std::byte* allocate_page() noexcept {
    void* p = mmap(nullptr, page_size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return nullptr;
    if (numa_node_ >= 0 && detail::numa_bind(p, page_size_, numa_node_) != 0) {
      munmap(p, page_size_);
      return nullptr;
    }
    return static_cast<std::byte*>(p);
  }
  void free_page(std::byte* page) noexcept { munmap(page, page_size_); }
  [[nodiscard]] std::size_t page_size() const noexcept { return page_size_; }
  [[nodiscard]] int numa_node() const noexcept { return numa_node_; }

private:
  MmapPageSource(std::size_t page_size, int numa_node) noexcept
      : page_size_(page_size), numa_node_(numa_node) {}
  std::size_t page_size_ = 4096;
  int numa_node_ = -1;
};

static_assert(PageSource<MmapPageSource>);

} // namespace arenakit
