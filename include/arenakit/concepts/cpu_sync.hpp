// SPDX-License-Identifier: MIT
/**
 * @file concepts/cpu_sync.hpp
 * @brief The CpuSync concept: bracketing CPU access to memory a device writes.
 *
 * Host memory that a NIC writes by DMA on a cache-coherent machine needs no
 * bracketing: HostMemorySync is a no-op the compiler removes. Memory behind a
 * dma-buf may live in an exporter's domain (a GPU, a non-coherent device):
 * the CPU must ask for it before reading the bytes a device wrote and give it
 * back afterwards (DMA_BUF_IOCTL_SYNC start/end; see dmabuf/source.hpp).
 * A receive path brackets only the bytes it received.
 *
 * Requirements on S:
 * - `s.begin_cpu_access(const std::byte* data, std::size_t bytes, SyncAccess)
 *    noexcept -> std::error_code`: before the CPU touches [data, data+bytes).
 * - `s.end_cpu_access(const std::byte* data, std::size_t bytes, SyncAccess)
 *    noexcept -> std::error_code`: after it is done with them.
 * An exporter may sync more than the bytes named (dma-buf syncs the whole
 * buffer); it must never sync less.
 *
 * check_cpu_sync<S>() asserts each requirement with a message that names
 * what is missing (RecvPool asserts it on its SyncT).
 */
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <system_error>

namespace arenakit {

/// Which way the CPU uses the bytes (a device wrote them: read; the CPU fills
/// them for a device: write).
enum class SyncAccess : std::uint8_t { read = 1, write = 2, read_write = 3 };

template <class S>
concept CpuSync = requires(S& s, const std::byte* p, std::size_t n, SyncAccess a) {
  { s.begin_cpu_access(p, n, a) } noexcept -> std::same_as<std::error_code>;
  { s.end_cpu_access(p, n, a) } noexcept -> std::same_as<std::error_code>;
};

template <class S>
constexpr bool check_cpu_sync() {
  static_assert(requires(S& s, const std::byte* p, std::size_t n, SyncAccess a) {
                  { s.begin_cpu_access(p, n, a) } noexcept -> std::same_as<std::error_code>;
                },
                "arenakit: CpuSync is missing `begin_cpu_access(const std::byte*, std::size_t, "
                "arenakit::SyncAccess) noexcept -> std::error_code`");
  static_assert(requires(S& s, const std::byte* p, std::size_t n, SyncAccess a) {
                  { s.end_cpu_access(p, n, a) } noexcept -> std::same_as<std::error_code>;
                },
                "arenakit: CpuSync is missing `end_cpu_access(const std::byte*, std::size_t, "
                "arenakit::SyncAccess) noexcept -> std::error_code`");
  return true;
}

} // namespace arenakit
