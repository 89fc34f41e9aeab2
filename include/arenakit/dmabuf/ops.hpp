// SPDX-License-Identifier: MIT
/**
 * @file dmabuf/ops.hpp
 * @brief DmabufOps: the system calls the dma-buf code makes, as a small table
 *        of function pointers (a seam for tests), defaulting to the real ones.
 *
 * Contract: every kernel call the dma-buf import, source and sync make about
 * the buffer goes through one DmabufOps: fstatfs (is it a dma-buf?), lseek
 * (its size), mmap/munmap (the CPU view) and ioctl (DMA_BUF_IOCTL_SYNC). The
 * calls follow the libc conventions exactly (-1 and errno; MAP_FAILED), so a
 * test can wrap the real call, count it, or fail it with a chosen errno, and
 * can make a memfd look like a dma-buf by answering fstatfs with
 * DMA_BUF_MAGIC. fd bookkeeping (fcntl dup, close) is deliberately not in the
 * table: tests count real descriptors in /proc/self/fd.
 *
 * Why function pointers and not a template parameter: the only call on a hot
 * path is the sync ioctl, a system call that costs a microsecond; one
 * indirect call beside it is noise, and a table keeps DmabufImport,
 * DmabufSource and DmabufSync one type each.
 *
 * Thread roles: a table is immutable once made; system_dmabuf_ops() is a
 * constant with static storage. A table must outlive everything built on it.
 */
#pragma once

#include <cstddef>

#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/statfs.h>
#include <sys/types.h>
#include <unistd.h>

namespace arenakit {

struct DmabufOps {
  int (*fstatfs)(int fd, struct statfs* out) noexcept;
  off_t (*lseek)(int fd, off_t offset, int whence) noexcept;
  void* (*mmap)(void* addr, std::size_t length, int prot, int flags, int fd, off_t offset) noexcept;
  int (*munmap)(void* addr, std::size_t length) noexcept;
  /// ioctl with one pointer argument (every dma-buf ioctl takes one).
  int (*ioctl)(int fd, unsigned long request, void* arg) noexcept;
};

namespace detail {
inline int sys_fstatfs(int fd, struct statfs* out) noexcept { return ::fstatfs(fd, out); }
inline off_t sys_lseek(int fd, off_t offset, int whence) noexcept { return ::lseek(fd, offset, whence); }
inline void* sys_mmap(void* addr, std::size_t length, int prot, int flags, int fd, off_t offset) noexcept {
  return ::mmap(addr, length, prot, flags, fd, offset);
}
inline int sys_munmap(void* addr, std::size_t length) noexcept { return ::munmap(addr, length); }
inline int sys_ioctl(int fd, unsigned long request, void* arg) noexcept { return ::ioctl(fd, request, arg); }
} // namespace detail

/// The real system calls.
inline const DmabufOps& system_dmabuf_ops() noexcept {
  static constexpr DmabufOps ops{&detail::sys_fstatfs, &detail::sys_lseek, &detail::sys_mmap,
                                 &detail::sys_munmap, &detail::sys_ioctl};
  return ops;
}

} // namespace arenakit
