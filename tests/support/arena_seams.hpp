// SPDX-License-Identifier: MIT
// A mapper and a memory source that count every call and can be told to
// fail one: the seams the extent and shrink tests drive an arena through.
#pragma once

#include <arenakit/error.hpp>
#include <arenakit/region.hpp>
#include <arenakit/sources/mmap.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <system_error>

namespace arena_seams {

struct Calls {
  std::atomic<int> maps{0}, unmaps{0}, allocations{0}, deallocations{0};
  int fail_map_at = -1;         ///< the map call (0-based) that fails, -1: none
  int fail_unmaps = 0;          ///< this many try_unmap() calls fail first
  std::atomic<std::size_t> biggest{0}; ///< largest region asked for
};

/// Device address = a fake IOVA per mapping, far from CPU addresses; the
/// mapping carries its sequence number (an "lkey") and its size.
struct CountingMapper {
  Calls* calls;
  struct mapping_type {
    std::uint64_t iova = 0;
    std::uint32_t key = 0;
    std::size_t bytes = 0;
  };
  arenakit::Result<mapping_type> map(const arenakit::Region& r) noexcept {
    const int n = calls->maps++;
    if (n == calls->fail_map_at) return arenakit::errc::map_failed;
    return mapping_type{(std::uint64_t{1} << 48) + std::uint64_t(n) * (std::uint64_t{1} << 32),
                        static_cast<std::uint32_t>(n + 100), r.size};
  }
  void unmap(mapping_type&) noexcept { ++calls->unmaps; }
  /// The failing deregistration shrink() must survive.
  std::error_code try_unmap(mapping_type& m) noexcept {
    if (calls->fail_unmaps > 0) {
      --calls->fail_unmaps;
      return arenakit::make_error_code(arenakit::errc::map_failed);
    }
    unmap(m);
    return {};
  }
  std::uint64_t device_address(const mapping_type& m) const noexcept { return m.iova; }
};

struct CountingSource {
  Calls* calls;
  arenakit::Result<arenakit::Region> allocate(std::size_t bytes, std::size_t alignment) noexcept {
    auto r = arenakit::MmapSource{}.allocate(bytes, alignment);
    if (r) {
      ++calls->allocations;
      std::size_t b = calls->biggest.load();
      while (bytes > b && !calls->biggest.compare_exchange_weak(b, bytes)) {
      }
    }
    return r;
  }
  void deallocate(const arenakit::Region& r) noexcept {
    ++calls->deallocations;
    arenakit::MmapSource{}.deallocate(r);
  }
};

} // namespace arena_seams
