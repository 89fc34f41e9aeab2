// SPDX-License-Identifier: MIT
/**
 * @file uring/recv_event.hpp
 * @brief What UringBufRing makes of a CQE: the low-level RecvCqe (on_cqe)
 *        and the one-call RecvEvent (complete), and how the ring marks the
 *        user_data of the SQEs it prepares so that it can tell its own CQEs
 *        from everyone else's.
 *
 * user_data written by the ring's prep_* helpers (64 bits):
 *   63..56  the ring's tag (BufRingConfig::cqe_tag, default 0xA7)
 *   55..48  the operation (CqeOp)
 *   47..32  the buffer group id
 *   31..0   receives: the caller's 32-bit value; sends: 31..16 the caller's
 *           16-bit value, 15..0 the buffer id being sent
 * A CQE whose top 24 bits do not name this ring (tag, a known op, its group)
 * is foreign: complete() returns RecvEventKind::foreign and touches nothing.
 * Pointers as user_data (x86-64 and arm64 user space: top byte 0) and small
 * integers never collide with a nonzero tag.
 */
#pragma once

#include <arenakit/recv/types.hpp>

#include <cstddef>
#include <cstdint>
#include <span>

#include <sys/socket.h>

namespace arenakit {

/// What a receive CQE says (on_cqe, the low-level form).
enum class RecvCqeKind : std::uint8_t {
  data,          ///< `bytes` bytes in pool buffer `bid`: deliver it
  end_of_stream, ///< res == 0: the peer closed
  no_buffers,    ///< -ENOBUFS: the ring ran dry; provide() and re-arm
  error,         ///< another negative res (in `error`)
};

/// Whether the multishot receive that produced the CQE is still armed.
enum class Multishot : std::uint8_t {
  armed,  ///< IORING_CQE_F_MORE: more CQEs will come
  ended,  ///< no F_MORE: re-arm to keep receiving (also true of every single-shot recv)
};

struct RecvCqe {
  RecvCqeKind kind = RecvCqeKind::error;
  std::uint16_t bid = 0;
  std::uint32_t bytes = 0;
  int error = 0; ///< positive errno for kind error / no_buffers (on_cqe's historical convention)
  Multishot multishot = Multishot::ended;
};

/// The operation a ring-prepared SQE carries in its user_data.
enum class CqeOp : std::uint8_t { none = 0, recv = 1, recvmsg = 2, send = 3, send_zc = 4 };

/// What complete() made of a CQE.
enum class RecvEventKind : std::uint8_t {
  foreign,       ///< not this ring's CQE: nothing was done, handle it yourself
  data,          ///< delivered: `view` is held, `payload` the bytes (give back when done)
  refused,       ///< the pool refused the delivery (view.status says why); the buffer was returned
  truncated,     ///< recvmsg: name or payload did not fit the buffer; the buffer was given back
  end_of_stream, ///< res == 0 on a stream socket
  no_buffers,    ///< -ENOBUFS: the ring ran dry (see counters().starved)
  error,         ///< a receive failed (`error`)
  sent,          ///< a ring-prepared send completed and its buffer was given back (`error` if it failed)
  send_pending,  ///< SEND_ZC's first CQE: the buffer stays held until the notification
  closed,        ///< the ring is closed (close(), or its pool was destroyed): nothing was done
};

struct RecvEvent {
  RecvEventKind kind = RecvEventKind::foreign;
  CqeOp op = CqeOp::none;
  RecvView view;                       ///< data: what the pool delivered (the whole buffer's bytes)
  std::span<const std::byte> payload;  ///< data: the message (recvmsg: past the header and name)
  const sockaddr* name = nullptr;      ///< recvmsg: the sender's address (inside the buffer)
  socklen_t namelen = 0;
  std::uint32_t user = 0;              ///< the caller's value given to the prep_* helper
  std::uint16_t bid = 0;               ///< data, sent: the pool buffer (a bundle's first)
  std::uint16_t bundle = 1;            ///< data: buffers this receive filled (> 1 only for a bundle)
  std::uint32_t bundle_bytes = 0;      ///< data: bytes over all of them (UringBufRing::bundle_view)
  std::uint64_t piece = 0;             ///< incremental: this piece's handle (give it back); 0 otherwise
  std::uint32_t offset = 0;            ///< incremental: where the piece starts in its buffer
  int error = 0;                       ///< negative errno, as in the CQE (liburing's convention)
  bool rearm = false;                  ///< a receive that is no longer armed: prepare it again
  explicit operator bool() const noexcept { return kind == RecvEventKind::data; }
};

namespace detail {
inline constexpr std::uint64_t cqe_user_data(std::uint8_t tag, CqeOp op, std::uint16_t group,
                                             std::uint32_t low) noexcept {
  return std::uint64_t{tag} << 56 | std::uint64_t{static_cast<std::uint8_t>(op)} << 48 |
         std::uint64_t{group} << 32 | low;
}
/// The op of @user_data if its tag and group are @tag and @group, else CqeOp::none.
inline constexpr CqeOp cqe_op(std::uint64_t user_data, std::uint8_t tag, std::uint16_t group) noexcept {
  if ((user_data >> 56) != tag || ((user_data >> 32) & 0xFFFF) != group) return CqeOp::none;
  const auto op = static_cast<std::uint8_t>(user_data >> 48);
  return op >= 1 && op <= 4 ? static_cast<CqeOp>(op) : CqeOp::none;
}
} // namespace detail

} // namespace arenakit
