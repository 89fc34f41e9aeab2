// SPDX-License-Identifier: MIT
/**
 * @file uring/impl/buf_ring_inc.hpp
 * @brief UringBufRing's incremental consumption (IOU_PBUF_RING_INC, kernel
 *        6.12): registration with fallback, pieces, and when a buffer that
 *        the kernel filled in pieces goes back to the pool.
 *
 * What the kernel does (io_uring/kbuf.c, io_kbuf_inc_commit): it keeps the
 * buffer at the ring head and moves the entry's addr/len past the bytes it
 * wrote; the CQE says IORING_CQE_F_BUF_MORE while room is left. Without
 * BUF_MORE (bytes were written and the buffer is full) it moved the head
 * past the entry: it will not write there again. A CQE that wrote no bytes
 * (res <= 0) commits nothing: the buffer stays with the kernel, whatever the
 * flags say, so the ring leaves its books alone then (a buffer is never
 * re-provided while it may still sit at the ring head).
 *
 * A buffer's life here: provided (in the ring) -> first piece: delivered to
 * the pool over the whole buffer, charged to that piece's connection ->
 * more pieces (ring-side, a PieceTable handle each) -> the kernel done and
 * every piece given back: pool.give_back, which re-provides it through the
 * pool's attachment (the Reprovide policy).
 *
 * Not supported in this mode: bundles (refused: invalid_config), on_cqe()
 * (answers error EOPNOTSUPP: pieces need complete()), the ring giving back a
 * sent buffer (a ring-prepared send of a piece completes as `sent`; give the
 * piece back yourself), and UDP datagrams larger than the room left in a
 * buffer (the kernel truncates them at the buffer's end: size buffers as a
 * multiple of the datagram size, or use whole buffers).
 */
#pragma once

#include <arenakit/uring/buf_ring.hpp>

#include <cerrno>
#include <cstdint>
#include <new>
#include <system_error>

namespace arenakit {

/// The per-buffer books and the piece table, when incremental is asked for.
template <class Pool>
std::error_code UringBufRing<Pool>::prepare_incremental(const BufRingConfig& config) noexcept {
  want_incremental_ = config.incremental;
  if (!config.incremental) return {};
  const std::uint64_t n = config.max_pieces != 0 ? config.max_pieces : std::uint64_t{pool_->size()} * 64;
  if (n > detail::PieceTable::max_capacity) return errc::invalid_config;
  inc_.reset(new (std::nothrow) IncBuf[pool_->size()]());
  if (!inc_ || !pieces_.reset(static_cast<std::uint32_t>(n))) return errc::out_of_memory;
  return {};
}

/// Registers with IOU_PBUF_RING_INC when asked; a kernel before 6.12 answers
/// EINVAL, and the same registration without the flag is tried. 0 or -errno.
template <class Pool>
int UringBufRing<Pool>::register_ring(detail::UringBufReg& reg) noexcept {
  if (want_incremental_) {
    reg.flags = static_cast<std::uint16_t>(reg.flags | IOU_PBUF_RING_INC);
    const int rc = detail::register_pbuf_ring(own_fd_, reg);
    reg.flags = static_cast<std::uint16_t>(reg.flags & ~IOU_PBUF_RING_INC);
    incremental_ = rc == 0;
    if (rc != -EINVAL) return rc;
  }
  const int rc = detail::register_pbuf_ring(own_fd_, reg);
  // EINVAL with the flag, accepted without it: the flag was the reason.
  incremental_refused_ = want_incremental_ && rc == 0;
  return rc;
}

template <class Pool>
RecvEvent UringBufRing<Pool>::finish_piece(RecvEvent e, const io_uring_cqe& cqe, ConnId conn) noexcept {
  e.rearm = (cqe.flags & IORING_CQE_F_MORE) == 0;
  if (e.rearm) ++counters_.multishot_ends;
  if (cqe.res <= 0) { // nothing committed: no buffer changes hands (file comment)
    if (cqe.res == 0) {
      e.kind = RecvEventKind::end_of_stream;
    } else if (cqe.res == -ENOBUFS) {
      e.kind = RecvEventKind::no_buffers;
      count_no_buffers();
    } else {
      e.kind = RecvEventKind::error;
      ++counters_.errors;
    }
    e.error = cqe.res;
    return e;
  }
  const auto bid = static_cast<std::uint16_t>(cqe.flags >> IORING_CQE_BUFFER_SHIFT);
  const std::uint32_t len = pool_->buffer_size();
  const auto bytes = static_cast<std::uint32_t>(cqe.res);
  if ((cqe.flags & IORING_CQE_F_BUFFER) == 0 || bid >= pool_->size() || !in_ring_[bid] ||
      bytes > len - inc_[bid].off) {
    ++counters_.bad_bids; // never expected from the kernel
    e.kind = RecvEventKind::error;
    e.error = -EINVAL;
    return e;
  }
  IncBuf& b = inc_[bid];
  e.bid = bid;
  e.offset = b.off;
  b.off += bytes;
  ++counters_.consumed;
  ++counters_.pieces;
  counters_.piece_bytes += bytes;
  if ((cqe.flags & IORING_CQE_F_BUF_MORE) == 0) { // the kernel moved its head past the buffer
    in_ring_[bid] = 0;
    --in_ring_count_;
  }
  const bool first = !b.held;
  if (first) { // the first piece: the pool holds the buffer from now on
    e.view = pool_->deliver(conn, bid, len);
    b.held = static_cast<bool>(e.view);
  }
  e.piece = b.held ? pieces_.open(bid) : 0;
  if (e.piece == 0) { // the pool refused the buffer, or max_pieces are held: these bytes are dropped
    ++counters_.pieces_refused;
    if (b.held) e.view.status = RecvStatus::too_many_pieces;
    e.kind = RecvEventKind::refused;
    (void)settle(bid);
    return e;
  }
  ++b.pieces;
  if (!first) { // a later piece: the view is ours to make (the pool delivered the buffer once)
    e.view.bid = bid;
    if constexpr (requires { pool_->slot_of(bid); }) e.view.id = pool_->slot_of(bid);
  }
  e.view.conn = conn;
  e.view.data = pool_->data(bid) + e.offset;
  e.view.bytes = bytes;
  e.kind = RecvEventKind::data;
  e.payload = e.view.span();
  e.bundle_bytes = bytes;
  return e.op == CqeOp::recvmsg ? finish_recvmsg(e) : e;
}

template <class Pool>
GiveBack UringBufRing<Pool>::give_back_piece(std::uint64_t piece) noexcept {
  GiveBack r;
  // Closed (close(), or the pool's destructor): the ring is inert and its
  // pool no longer ours to touch, so no piece answers; a buffer whose pieces
  // were out stays held in the pool (pool.reclaim_held()).
  const std::int32_t bid = inc_ && pool_ != nullptr ? pieces_.close(piece) : -1;
  if (bid < 0) {
    ++counters_.bad_piece_give_backs;
    r.status = RecvStatus::not_held;
    return r;
  }
  const auto b = static_cast<std::uint16_t>(bid);
  --inc_[b].pieces;
  return settle(b);
}

/// @bid back to the pool if neither the kernel nor a piece has it any more.
template <class Pool>
GiveBack UringBufRing<Pool>::settle(std::uint16_t bid) noexcept {
  IncBuf& b = inc_[bid];
  if (in_ring_[bid] || b.pieces != 0 || pool_ == nullptr) return GiveBack{};
  b.off = 0;
  const bool held = b.held, parked = b.parked;
  b.held = b.parked = false;
  // Parked: given back to the pool early, then taken for posting (posted now).
  if (held && !parked) return pool_->give_back(bid);
  (void)pool_->return_unused(bid); // never delivered (refused), or parked
  return GiveBack{};
}

/// provide() took @bid from the pool while the ring still has it (the
/// application gave it back through the pool directly): keep it out of the
/// ring until settle(). True if parked.
template <class Pool>
bool UringBufRing<Pool>::park_if_busy(std::uint16_t bid) noexcept {
  IncBuf& b = inc_[bid];
  if (!in_ring_[bid] && b.pieces == 0 && !b.held) return false;
  b.parked = true;
  ++counters_.early_give_backs;
  return true;
}

/// close(), after a successful unregister: the kernel can no longer write
/// @bid. A held buffer whose pieces are all back returns to the pool; one
/// with pieces out stays held (pool.reclaim_held() at shutdown).
template <class Pool>
void UringBufRing<Pool>::close_incremental(std::uint16_t bid) noexcept {
  IncBuf& b = inc_[bid];
  if (!b.held && !b.parked) return; // in the ring only: close() returns it
  in_ring_[bid] = 0;
  b.off = 0;
  if (b.parked) {
    b.held = b.parked = false;
    (void)pool_->return_unused(bid);
    ++teardown_.returned;
  } else if (b.pieces == 0) {
    b.held = false;
    (void)pool_->give_back(bid);
    ++teardown_.returned;
  }
}

} // namespace arenakit
