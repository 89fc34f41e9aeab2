// SPDX-License-Identifier: MIT
/**
 * @file sync/host_memory.hpp
 * @brief HostMemorySync: the CpuSync of cache-coherent host memory (nothing to do).
 */
#pragma once

#include <arenakit/concepts/cpu_sync.hpp>

#include <cstddef>
#include <system_error>

namespace arenakit {

/// Cache-coherent host memory: nothing to do.
struct HostMemorySync {
  static constexpr bool is_noop = true;
  std::error_code begin_cpu_access(const std::byte*, std::size_t, SyncAccess) noexcept { return {}; }
  std::error_code end_cpu_access(const std::byte*, std::size_t, SyncAccess) noexcept { return {}; }
};

static_assert(CpuSync<HostMemorySync>);

} // namespace arenakit
