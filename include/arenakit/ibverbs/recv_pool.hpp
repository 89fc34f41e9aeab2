// SPDX-License-Identifier: MIT
/**
 * @file ibverbs/recv_pool.hpp
 * @brief The receive pool's ibverbs door: RecvPool buffers posted to a QP or
 *        an SRQ as one chained batch, and a work completion turned into a
 *        delivery in one call.
 *
 * The io_uring door is UringBufRing (uring/buf_ring.hpp); this is the same
 * pool behind verbs, so one RecvPool serves both:
 *
 *     RecvPool<Arena<IbvMapper>> pool(arena, {.buffers = 72});
 *     IbvPoolPoster<decltype(pool)> poster(pool);
 *     poster.post(srq);                              // every free buffer, one ibv_post_srq_recv
 *     for (const ibv_wc& wc : completions) {
 *       IbvRecvCompletion c = poster.complete(conn, wc); // wr_id -> buffer -> delivery
 *       if (c) use(c.view.span()), pool.give_back(c.view.bid);
 *     }
 *     poster.post(srq);                              // re-post what came back
 *
 * Each request carries one sge (address, length, the shard's lkey) and
 * wr_id = the buffer's SlotId, so a completion finds its buffer in O(1) and
 * a wr_id from the wire is checked (pool.bid_of() refuses a foreign one).
 * A post the device refuses part of returns the buffers it did not take to
 * the pool's free list: nothing is lost, nothing posted twice.
 *
 * Thread roles: the pool's owner (the receive loop) only, like the pool.
 * Progress: post() is wait-free apart from the verbs call; complete() is
 * wait-free (O(1)). Nothing allocates after construction.
 */
#pragma once

#include <arenakit/ibverbs/mapper.hpp>
#include <arenakit/ibverbs/recv.hpp>
#include <arenakit/recv/recv_pool.hpp>

#include <cstdint>

#include <infiniband/verbs.h>

namespace arenakit {

/// What a work completion became.
struct IbvRecvCompletion {
  RecvView view;                                   ///< the delivery (view.status says why not)
  ibv_wc_status device_status = IBV_WC_SUCCESS;    ///< the completion's own status
  bool returned_to_pool = false;                   ///< a failed completion's buffer went back to free
  explicit operator bool() const noexcept { return device_status == IBV_WC_SUCCESS && static_cast<bool>(view); }
};

/**
 * IbvPoolPoster - posts a RecvPool's free buffers to a QP or an SRQ, and
 * delivers their completions.
 * @Pool:     a RecvPool over an arena whose mapper is IbvMapper
 * @Capacity: most requests in one post (the chain lives inside the poster)
 */
template <class Pool, std::uint32_t Capacity = 64>
  requires IbvArena<typename Pool::arena_type>
class IbvPoolPoster {
public:
  explicit IbvPoolPoster(Pool& pool, const IbvOps& ops = ibv_default_ops) noexcept : pool_(&pool), ops_(&ops) {}
  IbvPoolPoster(const IbvPoolPoster&) = delete;
  IbvPoolPoster& operator=(const IbvPoolPoster&) = delete;

  /// Every free buffer (at most Capacity) to @qp's receive queue in one call.
  IbvPostResult post(ibv_qp* qp) noexcept { return post_to(qp); }
  /// Every free buffer (at most Capacity) to the shared receive queue @srq.
  IbvPostResult post(ibv_srq* srq) noexcept { return post_to(srq); }

  /**
   * complete - one work completion of a receive this poster posted, for @conn.
   *
   * Success: the buffer is delivered (pool.deliver: CPU access begun over
   * wc.byte_len bytes, @conn charged). A failed completion (flushed on
   * teardown, a device error) consumed the buffer without data: it goes back
   * to the free list and device_status says why. A wr_id that names none of
   * the pool's buffers, or a buffer that is not posted (a duplicate), is
   * refused by the pool, counted there, and changes nothing.
   */
  IbvRecvCompletion complete(ConnId conn, const ibv_wc& wc) noexcept {
    IbvRecvCompletion out;
    out.device_status = wc.status;
    const SlotId id = slot_of(wc);
    const std::uint16_t bid = pool_->bid_of(id);
    if (wc.status != IBV_WC_SUCCESS) {
      out.view.status = pool_->return_unused(bid);
      out.view.bid = bid;
      out.view.conn = conn;
      out.returned_to_pool = out.view.status == RecvStatus::ok;
      return out;
    }
    out.view = pool_->deliver(conn, bid, wc.byte_len);
    return out;
  }

  Pool& pool() const noexcept { return *pool_; }

private:
  template <class Queue>
  IbvPostResult post_to(Queue* queue) noexcept {
    std::uint16_t bids[Capacity];
    const std::uint32_t n = pool_->take_for_post(bids, Capacity);
    batch_.clear();
    for (std::uint32_t i = 0; i < n; ++i) (void)batch_.add(pool_->arena(), pool_->slot_of(bids[i]));
    if (batch_.size() != n) { // cannot happen for the pool's own buffers: give them all back
      for (std::uint32_t i = 0; i < n; ++i) (void)pool_->return_unused(bids[i]);
      batch_.clear();
      return {};
    }
    if (n == 0) return {};
    const IbvPostResult r = batch_.post(queue, *ops_);
    // What the device did not take is still ours: back to the free list.
    for (std::uint32_t i = r.posted; i < n; ++i) (void)pool_->return_unused(pool_->bid_of(batch_.slot(i)));
    return r;
  }

  Pool* pool_;
  const IbvOps* ops_;
  IbvRecvBatch<Capacity> batch_;
};

} // namespace arenakit
