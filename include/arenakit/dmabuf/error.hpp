// SPDX-License-Identifier: MIT
/**
 * @file dmabuf/error.hpp
 * @brief dmabuf_errc: why a dma-buf import, carve or CPU-access sync failed.
 *
 * Contract: a category of its own ("arenakit.dmabuf") rather than new values
 * in arenakit::errc, so the dma-buf target adds its reasons without touching
 * the core's enum. Messages are written for logs: the one a caller sees when
 * it hands over a pipe, a socket, a memfd or -1 says "not a dma-buf fd".
 * Errors the kernel reports (mmap, ioctl) travel as std::system_category()
 * codes with the kernel's errno, not as these.
 *
 * Thread roles: none (pure values). Nothing here allocates or throws.
 */
#pragma once

#include <arenakit/detail/error_category.hpp>

#include <string>
#include <system_error>
#include <type_traits>

namespace arenakit {

enum class dmabuf_errc : int {
  not_a_dmabuf = 1,     ///< fstatfs(fd) worked, and f_type is not DMA_BUF_MAGIC
  bad_fd,               ///< fd is negative or not open (fstatfs: EBADF)
  size_unknown,         ///< lseek(SEEK_END) failed or gave 0: no size to carve
  cpu_map_refused,      ///< CpuMapping::required and the exporter refused mmap
  no_cpu_mapping,       ///< a CPU access asked of a device-only import
  range_outside_buffer, ///< CPU-access range is not inside the imported buffer
  dup_failed,           ///< FdOwnership::duplicate and fcntl(F_DUPFD_CLOEXEC) failed
};

namespace detail {
struct DmabufErrors {
  static constexpr const char* name = "arenakit.dmabuf";
  static constexpr const char* unknown = "unknown arenakit dma-buf error";
  static constexpr ErrorMessage<dmabuf_errc> messages[] = {
      {dmabuf_errc::not_a_dmabuf, "not a dma-buf fd (its filesystem is not dma-buf's)"},
      {dmabuf_errc::bad_fd, "not a dma-buf fd (not an open file descriptor)"},
      {dmabuf_errc::size_unknown, "dma-buf size unknown (lseek SEEK_END failed or returned 0)"},
      {dmabuf_errc::cpu_map_refused, "dma-buf exporter refused a CPU mapping (mmap)"},
      {dmabuf_errc::no_cpu_mapping, "dma-buf has no CPU mapping (device-only memory)"},
      {dmabuf_errc::range_outside_buffer, "CPU access range lies outside the dma-buf"},
      {dmabuf_errc::dup_failed, "could not duplicate the dma-buf fd"},
  };
};
} // namespace detail

/// The one dma-buf error category (function-local static: categories compare
/// by address).
inline const std::error_category& dmabuf_category() noexcept {
  return detail::category_of<detail::DmabufErrors>();
}

inline std::error_code make_error_code(dmabuf_errc e) noexcept {
  return {static_cast<int>(e), dmabuf_category()};
}

} // namespace arenakit

template <>
struct std::is_error_code_enum<arenakit::dmabuf_errc> : std::true_type {};
