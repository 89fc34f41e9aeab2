// SPDX-License-Identifier: MIT
/**
 * @file dmabuf/import.hpp
 * @brief DmabufImport: one imported dma-buf fd, its size, and its CPU view
 *        when the exporter allows one.
 *
 * Contract:
 * - DmabufImport::open(fd, options) checks that @fd IS a dma-buf before it
 *   keeps anything: fstatfs(fd).f_type == DMA_BUF_MAGIC is the check that
 *   does not depend on the exporter (a regular file, memfd, pipe, socket,
 *   eventfd or -1 is refused with dmabuf_errc::not_a_dmabuf / bad_fd, whose
 *   messages say "not a dma-buf fd"). A refusal creates no descriptor and no
 *   mapping, and leaves the caller's fd untouched whatever the ownership.
 * - The size comes from the fd: lseek(fd, 0, SEEK_END) (the one seek dma-buf
 *   supports besides SEEK_SET 0, which restores the shared file offset).
 * - Ownership is a named policy: FdOwnership::duplicate (default) keeps a
 *   close-on-exec duplicate and the caller keeps its fd; FdOwnership::adopt
 *   takes the caller's fd — on success only — and closes it on destruction.
 * - CPU view: mmap(MAP_SHARED, PROT_READ|PROT_WRITE) of the whole buffer when
 *   the exporter implements mmap. A refusal is not an error under
 *   CpuMapping::if_allowed (the default): data() is then nullptr — device-only
 *   memory — and cpu_map_error() says why. CpuMapping::required turns the
 *   refusal into dmabuf_errc::cpu_map_refused; CpuMapping::never does not try.
 *   The view's base is placed on a `cpu_alignment` boundary (2 MB by default,
 *   capped at the buffer size) so that a shard at an offset aligned to A has
 *   a CPU address aligned to A as well: DmabufSource's regions then meet the
 *   MemorySource alignment contract on both sides (device and CPU).
 * - CPU reads and writes through data() must be bracketed with DMA_BUF_IOCTL_SYNC
 *   (DmabufSync in dmabuf/sync.hpp): the exporter may need to flush or
 *   migrate the memory.
 *
 * Thread roles: open() and destruction by one owner; the accessors are const
 * and may be read from any thread once the import is published. The import
 * must outlive every DmabufSource, DmabufSync and arena built on it (they
 * keep its fd and pointer, not a reference count): an arena that keeps
 * shards at teardown because slots are still out keeps pointers into data().
 *
 * Progress: open() and the destructor make system calls and may sleep; set-up
 * only, never a hot path.
 */
#pragma once

#include <arenakit/dmabuf/error.hpp>
#include <arenakit/dmabuf/ops.hpp>
#include <arenakit/error.hpp>

#include <bit>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <system_error>
#include <utility>

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/statfs.h>
#include <unistd.h>

namespace arenakit {

/// Who closes the fd given to DmabufImport::open.
enum class FdOwnership : std::uint8_t {
  duplicate, ///< keep a close-on-exec dup; the caller still owns (and closes) its fd
  adopt,     ///< take the caller's fd on success and close it on destruction
};

/// Whether the import maps the buffer for the CPU.
enum class CpuMapping : std::uint8_t {
  if_allowed, ///< try mmap; a refusal leaves a device-only import (data() == nullptr)
  required,   ///< a refusal fails open() with dmabuf_errc::cpu_map_refused
  never,      ///< do not try: device-only by choice
};

struct DmabufImportOptions {
  FdOwnership ownership = FdOwnership::duplicate;
  CpuMapping cpu_mapping = CpuMapping::if_allowed;
  /// Boundary the CPU view's base is placed on (a power of two; capped at the
  /// buffer size rounded down to a power of two). Page size or less: no
  /// placement, whatever mmap returns.
  std::size_t cpu_alignment = std::size_t{2} << 20;
  /// The system-call table; nullptr = the real calls (system_dmabuf_ops()).
  const DmabufOps* ops = nullptr;
};

class DmabufImport {
public:
  /// An empty import (no fd): what a moved-from import becomes.
  DmabufImport() noexcept = default;

  /**
   * open - import dma-buf @fd.
   * Return: the import, or dmabuf_errc::{bad_fd, not_a_dmabuf, size_unknown,
   * dup_failed, cpu_map_refused}, or the kernel's errno from fstatfs. On any
   * error nothing is kept: no new fd, no mapping, the caller's fd left open.
   */
  static Result<DmabufImport> open(int fd, const DmabufImportOptions& options = {}) noexcept {
    const DmabufOps& ops = options.ops != nullptr ? *options.ops : system_dmabuf_ops();
    if (fd < 0) return std::error_code(dmabuf_errc::bad_fd);
    struct statfs fs {};
    if (ops.fstatfs(fd, &fs) != 0) {
      if (errno == EBADF) return std::error_code(dmabuf_errc::bad_fd);
      return std::error_code(errno, std::system_category());
    }
    // f_type's type differs between libcs (long, unsigned): compare as unsigned.
    if (static_cast<unsigned long>(fs.f_type) != static_cast<unsigned long>(DMA_BUF_MAGIC))
      return std::error_code(dmabuf_errc::not_a_dmabuf);
    const off_t end = ops.lseek(fd, 0, SEEK_END);
    if (end <= 0) return std::error_code(dmabuf_errc::size_unknown);
    // The file offset is shared with every dup of the fd: put it back.
    (void)ops.lseek(fd, 0, SEEK_SET);

    DmabufImport imp;
    imp.ops_ = &ops;
    imp.size_ = static_cast<std::size_t>(end);
    if (options.ownership == FdOwnership::duplicate) {
      imp.fd_ = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
      if (imp.fd_ < 0) return std::error_code(dmabuf_errc::dup_failed);
    } else {
      imp.fd_ = fd;
    }
    if (options.cpu_mapping != CpuMapping::never) {
      imp.map_for_cpu(options.cpu_alignment);
      if (imp.data_ == nullptr && options.cpu_mapping == CpuMapping::required) {
        if (options.ownership == FdOwnership::adopt) imp.fd_ = -1; // refused: the caller keeps it
        return std::error_code(dmabuf_errc::cpu_map_refused);     // imp's destructor closes a dup
      }
    } else {
      imp.cpu_map_error_ = std::error_code(dmabuf_errc::no_cpu_mapping);
    }
    return imp;
  }

  DmabufImport(DmabufImport&& o) noexcept { take(o); }
  DmabufImport& operator=(DmabufImport&& o) noexcept {
    if (this != &o) {
      reset();
      take(o);
    }
    return *this;
  }
  DmabufImport(const DmabufImport&) = delete;
  DmabufImport& operator=(const DmabufImport&) = delete;
  ~DmabufImport() { reset(); }

  explicit operator bool() const noexcept { return fd_ >= 0; }
  /// The descriptor the import owns (a dup, or the adopted fd); -1 if empty.
  int fd() const noexcept { return fd_; }
  /// Bytes in the buffer (from lseek SEEK_END).
  std::size_t size() const noexcept { return size_; }
  /// CPU address of byte 0, or nullptr for device-only memory.
  std::byte* data() const noexcept { return data_; }
  bool cpu_mapped() const noexcept { return data_ != nullptr; }
  /// Why there is no CPU view (the mmap errno, or dmabuf_errc::no_cpu_mapping
  /// under CpuMapping::never); empty when there is one.
  std::error_code cpu_map_error() const noexcept { return cpu_map_error_; }
  /// Largest power of two (up to the asked cpu_alignment) that data() is
  /// aligned to; 0 without a CPU view.
  std::size_t cpu_alignment() const noexcept { return cpu_alignment_; }
  const DmabufOps& ops() const noexcept { return ops_ != nullptr ? *ops_ : system_dmabuf_ops(); }

private:
  void map_for_cpu(std::size_t want) noexcept {
    constexpr int prot = PROT_READ | PROT_WRITE;
    void* p = ops_->mmap(nullptr, size_, prot, MAP_SHARED, fd_, 0);
    if (p == MAP_FAILED) {
      cpu_map_error_ = std::error_code(errno != 0 ? errno : ENODEV, std::system_category());
      return;
    }
    const std::size_t cap = std::bit_floor(size_);
    if (want > cap) want = cap;
    if (want != 0 && (want & (want - 1)) == 0 && (reinterpret_cast<std::uintptr_t>(p) & (want - 1)) != 0) {
      // The exporter maps this buffer (we just saw it), so a second, fixed
      // mapping on an aligned address inside a reservation of our own is
      // expected to work; if it does not, the first one stays and
      // cpu_alignment() says what it got.
      const std::size_t span = size_ + want;
      void* res = ::mmap(nullptr, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
      if (res != MAP_FAILED) {
        const auto base = reinterpret_cast<std::uintptr_t>(res);
        const std::uintptr_t at = (base + want - 1) & ~(std::uintptr_t{want} - 1);
        void* q = ops_->mmap(reinterpret_cast<void*>(at), size_, prot, MAP_SHARED | MAP_FIXED, fd_, 0);
        if (q == reinterpret_cast<void*>(at)) {
          if (at > base) ::munmap(res, at - base);
          const std::uintptr_t end = at + size_;
          if (base + span > end) ::munmap(reinterpret_cast<void*>(end), base + span - end);
          (void)ops_->munmap(p, size_);
          p = q;
        } else {
          // Kernels since 6.12 restore the reservation on a failed MAP_FIXED;
          // older ones leave a hole. Either way all of [res, res+span) is ours.
          ::munmap(res, span);
        }
      }
    }
    data_ = static_cast<std::byte*>(p);
    const auto addr = reinterpret_cast<std::uintptr_t>(p);
    std::size_t got = std::size_t{1} << std::countr_zero(addr);
    if (want != 0 && got > want) got = want;
    cpu_alignment_ = got;
  }

  void take(DmabufImport& o) noexcept {
    fd_ = std::exchange(o.fd_, -1);
    size_ = std::exchange(o.size_, 0);
    data_ = std::exchange(o.data_, nullptr);
    cpu_alignment_ = std::exchange(o.cpu_alignment_, 0);
    cpu_map_error_ = std::exchange(o.cpu_map_error_, {});
    ops_ = std::exchange(o.ops_, nullptr);
  }

  void reset() noexcept {
    if (data_ != nullptr) (void)ops().munmap(data_, size_);
    if (fd_ >= 0) ::close(fd_);
    data_ = nullptr;
    fd_ = -1;
    size_ = 0;
    cpu_alignment_ = 0;
  }

  int fd_ = -1;
  std::size_t size_ = 0;
  std::byte* data_ = nullptr;
  std::size_t cpu_alignment_ = 0;
  std::error_code cpu_map_error_{};
  const DmabufOps* ops_ = nullptr;
};

} // namespace arenakit
