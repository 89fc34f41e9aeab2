// SPDX-License-Identifier: MIT
/**
 * @file detail/aligned_map.hpp
 * @brief map_aligned(): an anonymous private mapping whose first byte is
 *        aligned to a power of two: directly up to the OS page, else by
 *        mapping `bytes + alignment` and trimming both ends (MmapSource
 *        shards and pages, ReservedSource's range).
 */
#pragma once

#include <cstddef>
#include <cstdint>

#include <sys/mman.h>
#include <unistd.h>

namespace arenakit::detail {

/// [aligned, aligned + bytes) mapped with @prot and @flags (MAP_PRIVATE |
/// MAP_ANONYMOUS added), or nullptr. @alignment: a power of two.
inline std::byte* map_aligned(std::size_t bytes, std::size_t alignment, int prot, int flags) noexcept {
  // mmap is page-aligned already: an alignment up to the OS page needs no
  // over-map and trim.
  static const long page = ::sysconf(_SC_PAGESIZE);
  if (alignment <= (page > 0 ? static_cast<std::size_t>(page) : std::size_t{4096})) {
    void* p = ::mmap(nullptr, bytes, prot, MAP_PRIVATE | MAP_ANONYMOUS | flags, -1, 0);
    return p == MAP_FAILED ? nullptr : static_cast<std::byte*>(p);
  }
  const std::size_t over = bytes + alignment;
  void* raw = ::mmap(nullptr, over, prot, MAP_PRIVATE | MAP_ANONYMOUS | flags, -1, 0);
  if (raw == MAP_FAILED) return nullptr;
  const auto base = reinterpret_cast<std::uintptr_t>(raw);
  const std::uintptr_t aligned = (base + alignment - 1) & ~(std::uintptr_t{alignment} - 1);
  // Trim the unaligned head and the tail so exactly [aligned, aligned+bytes) stays.
  if (aligned > base) ::munmap(raw, aligned - base);
  const std::uintptr_t end = aligned + bytes;
  if (base + over > end) ::munmap(reinterpret_cast<void*>(end), base + over - end);
  return reinterpret_cast<std::byte*>(aligned);
}

} // namespace arenakit::detail
