// SPDX-License-Identifier: MIT
/**
 * @file detail/numa.hpp
 * @brief mbind(2) through syscall(), without libnuma: the one copy, used by
 *        MmapSource (and through it by MmapPageSource, a SourcePages over it).
 */
#pragma once

#include <cerrno>
#include <cstddef>

#include <sys/syscall.h>
#include <unistd.h>

namespace arenakit::detail {

/// Highest node number + 1 that numa_bind() can name.
inline constexpr int numa_max_nodes = 1024;

/// Binds [addr, addr + len) to @node (MPOL_BIND, MPOL_MF_STRICT). 0 on
/// success; -1 with errno set (EINVAL for a node out of range).
inline int numa_bind(void* addr, std::size_t len, int node) noexcept {
  // Mode and flag from the kernel's uapi (mempolicy.h), spelt here so that no
  // libnuma header is needed.
  constexpr int mpol_bind = 2;
  constexpr unsigned mpol_mf_strict = 1u << 0;
  constexpr int bits = 8 * static_cast<int>(sizeof(unsigned long));
  if (node < 0 || node >= numa_max_nodes) {
    errno = EINVAL;
    return -1;
  }
  unsigned long mask[numa_max_nodes / bits] = {};
  mask[node / bits] = 1ul << (node % bits);
  // maxnode counts bits and the kernel reads one fewer than given.
  return static_cast<int>(::syscall(SYS_mbind, addr, len, mpol_bind, mask,
                                    static_cast<unsigned long>(numa_max_nodes + 1), mpol_mf_strict));
}

} // namespace arenakit::detail
