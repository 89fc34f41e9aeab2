// SPDX-License-Identifier: MIT
/**
 * @file uring/uapi.hpp
 * @brief The io_uring provided-buffer-ring UAPI that Debian's liburing 2.3
 *        headers lack, and the raw register calls that use it.
 *
 * Constants are defined here only when <liburing.h> does not (their values
 * are the kernel's ABI: include/uapi/linux/io_uring.h). Whether the running
 * kernel honours them is a run-time question, answered by trying (see
 * UringBufRing: a refused IOU_PBUF_RING_MMAP falls back to user memory and
 * says so in chosen()).
 *
 * The register calls go through the io_uring fd given (UringBufRing passes
 * its own duplicate of the ring fd, so they reach the right instance even
 * after the application's io_uring_queue_exit). They return 0 or a negative
 * errno, as liburing does.
 */
#pragma once

#include <cerrno>
#include <cstdint>

#include <liburing.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef IOU_PBUF_RING_MMAP
#define IOU_PBUF_RING_MMAP 1 // kernel 6.4: the kernel allocates the ring; mmap it from the ring fd
#endif
#ifndef IOU_PBUF_RING_INC
#define IOU_PBUF_RING_INC 2 // kernel 6.12: buffers consumed incrementally
#endif
#ifndef IORING_CQE_F_BUF_MORE
#define IORING_CQE_F_BUF_MORE (1U << 4) // kernel 6.12: an incremental buffer keeps receiving after this CQE
#endif
#ifndef IORING_OFF_PBUF_RING
#define IORING_OFF_PBUF_RING 0x80000000ULL
#endif
#ifndef IORING_OFF_PBUF_SHIFT
#define IORING_OFF_PBUF_SHIFT 16
#endif
#ifndef IORING_FEAT_RECVSEND_BUNDLE
#define IORING_FEAT_RECVSEND_BUNDLE (1U << 14) // io_uring_params::features: bundles supported
#endif
#ifndef IORING_RECVSEND_BUNDLE
#define IORING_RECVSEND_BUNDLE (1U << 4) // kernel 6.10: one receive fills several buffers
#endif

namespace arenakit::detail {

/// struct io_uring_buf_reg with the `flags` field newer headers name (2.3
/// calls it `pad`): the same 40 bytes.
struct UringBufReg {
  std::uint64_t ring_addr = 0;
  std::uint32_t ring_entries = 0;
  std::uint16_t bgid = 0;
  std::uint16_t flags = 0;
  std::uint64_t resv[3] = {};
};
static_assert(sizeof(UringBufReg) == sizeof(io_uring_buf_reg), "arenakit: io_uring_buf_reg layout changed");

inline int uring_register(int fd, unsigned op, void* arg, unsigned nr) noexcept {
  const long rc = ::syscall(__NR_io_uring_register, fd, op, arg, nr);
  return rc < 0 ? -errno : static_cast<int>(rc);
}
inline int register_pbuf_ring(int fd, UringBufReg& reg) noexcept {
  return uring_register(fd, IORING_REGISTER_PBUF_RING, &reg, 1);
}
inline int unregister_pbuf_ring(int fd, std::uint16_t bgid) noexcept {
  UringBufReg reg;
  reg.bgid = bgid;
  return uring_register(fd, IORING_UNREGISTER_PBUF_RING, &reg, 1);
}

} // namespace arenakit::detail
