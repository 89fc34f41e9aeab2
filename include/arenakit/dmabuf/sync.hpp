// SPDX-License-Identifier: MIT
/**
 * @file dmabuf/sync.hpp
 * @brief DmabufSync: CpuSync for memory behind a dma-buf, bracketing CPU
 *        access with DMA_BUF_IOCTL_SYNC (start/end, read/write).
 *
 * Contract (see concepts/cpu_sync.hpp for the concept):
 * - begin_cpu_access(data, bytes, access) issues DMA_BUF_SYNC_START | access
 *   and end_cpu_access the matching DMA_BUF_SYNC_END | access, where access
 *   is DMA_BUF_SYNC_READ (the device wrote, the CPU reads: a receive),
 *   DMA_BUF_SYNC_WRITE (the CPU fills for the device) or DMA_BUF_SYNC_RW.
 *   Pass the same access to the end as to the begin: exporters track them
 *   as a pair.
 * - The ioctl names no range: the exporter syncs the whole buffer, which the
 *   concept allows (more, never less). A receive path still passes only the
 *   bytes it received: a zero-byte access makes no system call at all.
 * - Refused without a system call: data == nullptr (dmabuf_errc::no_cpu_mapping:
 *   device-only memory has nothing for the CPU to touch) and, when the
 *   import has a CPU view, a range not inside it
 *   (dmabuf_errc::range_outside_buffer).
 * - EINTR and EAGAIN are retried (the exporter's wait for fences can be
 *   interrupted), at most max_retries times; any other errno — or a retry
 *   budget spent — is returned as a system_category error and counted.
 *
 * Thread roles: any number of threads may share one DmabufSync (it holds an
 * fd, a table pointer and the view's bounds, all read-only, plus relaxed
 * counters). It does not own the fd: the DmabufImport must outlive it.
 *
 * Progress: each call is one ioctl (a system call that may block while the
 * exporter waits for the device's fences); never lock-free, never spinning.
 */
#pragma once

#include <arenakit/concepts/cpu_sync.hpp>
#include <arenakit/dmabuf/error.hpp>
#include <arenakit/dmabuf/import.hpp>
#include <arenakit/dmabuf/ops.hpp>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <system_error>

#include <linux/dma-buf.h>

namespace arenakit {

struct DmabufSyncCounters {
  std::uint64_t begins = 0;   ///< DMA_BUF_SYNC_START ioctls that succeeded
  std::uint64_t ends = 0;     ///< DMA_BUF_SYNC_END ioctls that succeeded
  std::uint64_t empty = 0;    ///< zero-byte accesses (no system call made)
  std::uint64_t retries = 0;  ///< EINTR / EAGAIN answers retried
  std::uint64_t failures = 0; ///< calls that returned an error (refused or failed ioctl)
};

class DmabufSync {
public:
  static constexpr bool is_noop = false;
  /// EINTR/EAGAIN retries per call before the errno is returned.
  static constexpr unsigned max_retries = 1024;

  /// Syncs @buf's fd; ranges are checked against its CPU view.
  explicit DmabufSync(const DmabufImport& buf) noexcept
      : fd_(buf.fd()), ops_(&buf.ops()), base_(buf.data()), size_(buf.size()) {}
  /// Syncs a dma-buf fd the caller maps by other means (no range check).
  explicit DmabufSync(int fd, const DmabufOps& ops = system_dmabuf_ops()) noexcept : fd_(fd), ops_(&ops) {}

  DmabufSync(const DmabufSync& o) noexcept
      : fd_(o.fd_), ops_(o.ops_), base_(o.base_), size_(o.size_) {}
  DmabufSync& operator=(const DmabufSync&) = delete;

  std::error_code begin_cpu_access(const std::byte* data, std::size_t bytes, SyncAccess access) noexcept {
    return sync(data, bytes, access, DMA_BUF_SYNC_START, begins_);
  }
  std::error_code end_cpu_access(const std::byte* data, std::size_t bytes, SyncAccess access) noexcept {
    return sync(data, bytes, access, DMA_BUF_SYNC_END, ends_);
  }

  /// The ioctl flags for @access (exposed so tests and callers can check them).
  static constexpr std::uint64_t access_flags(SyncAccess access) noexcept {
    switch (access) {
    case SyncAccess::read: return DMA_BUF_SYNC_READ;
    case SyncAccess::write: return DMA_BUF_SYNC_WRITE;
    case SyncAccess::read_write: return DMA_BUF_SYNC_RW;
    }
    return DMA_BUF_SYNC_RW;
  }

  int fd() const noexcept { return fd_; }

  /// A snapshot; relaxed loads (statistics only, nothing is ordered by them).
  DmabufSyncCounters counters() const noexcept {
    return {begins_.load(std::memory_order_relaxed), ends_.load(std::memory_order_relaxed),
            empty_.load(std::memory_order_relaxed), retries_.load(std::memory_order_relaxed),
            failures_.load(std::memory_order_relaxed)};
  }

private:
  std::error_code fail(std::error_code ec) noexcept {
    failures_.fetch_add(1, std::memory_order_relaxed); // statistics only
    return ec;
  }

  std::error_code sync(const std::byte* data, std::size_t bytes, SyncAccess access, std::uint64_t phase,
                       std::atomic<std::uint64_t>& done) noexcept {
    if (bytes == 0) {
      empty_.fetch_add(1, std::memory_order_relaxed); // statistics only
      return {};
    }
    if (data == nullptr) return fail(dmabuf_errc::no_cpu_mapping);
    if (base_ != nullptr) {
      const auto p = reinterpret_cast<std::uintptr_t>(data);
      const auto b = reinterpret_cast<std::uintptr_t>(base_);
      if (p < b || p - b > size_ || bytes > size_ - (p - b)) return fail(dmabuf_errc::range_outside_buffer);
    }
    dma_buf_sync arg{};
    arg.flags = phase | access_flags(access);
    for (unsigned attempt = 0;; ++attempt) {
      if (ops_->ioctl(fd_, DMA_BUF_IOCTL_SYNC, &arg) == 0) {
        done.fetch_add(1, std::memory_order_relaxed); // statistics only
        return {};
      }
      const int err = errno;
      if ((err != EINTR && err != EAGAIN) || attempt == max_retries)
        return fail(std::error_code(err != 0 ? err : EIO, std::system_category()));
      retries_.fetch_add(1, std::memory_order_relaxed); // statistics only
    }
  }

  int fd_ = -1;
  const DmabufOps* ops_ = nullptr;
  const std::byte* base_ = nullptr;
  std::size_t size_ = 0;
  std::atomic<std::uint64_t> begins_{0};
  std::atomic<std::uint64_t> ends_{0};
  std::atomic<std::uint64_t> empty_{0};
  std::atomic<std::uint64_t> retries_{0};
  std::atomic<std::uint64_t> failures_{0};
};

static_assert(CpuSync<DmabufSync>);

} // namespace arenakit
