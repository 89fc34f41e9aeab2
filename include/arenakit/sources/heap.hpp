// SPDX-License-Identifier: MIT
/**
 * @file sources/heap.hpp
 * @brief HeapSource: shards from the C++ aligned heap.
 */
#pragma once

#include <arenakit/error.hpp>
#include <arenakit/concepts/memory_source.hpp>
#include <arenakit/region.hpp>

#include <cstddef>
#include <new>

namespace arenakit {

/// Aligned operator new / delete. Portable, no system calls of its own; pages
/// are whatever the C++ runtime's allocator gives (no NUMA, no huge pages).
struct HeapSource {
  Result<Region> allocate(std::size_t bytes, std::size_t alignment) noexcept {
    if (bytes == 0 || (alignment & (alignment - 1)) != 0) return errc::invalid_config;
    void* p = ::operator new(bytes, std::align_val_t{alignment}, std::nothrow);
    if (p == nullptr) return errc::out_of_memory;
    Region r;
    r.data = static_cast<std::byte*>(p);
    r.size = bytes;
    r.alignment = alignment;
    return r;
  }
  void deallocate(const Region& r) noexcept {
    if (r.data != nullptr) ::operator delete(r.data, std::align_val_t{r.alignment});
  }
};

} // namespace arenakit
