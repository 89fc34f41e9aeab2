// SPDX-License-Identifier: MIT
/**
 * @file ibverbs/recv.hpp
 * @brief Receive posts for slots of an IbvMapper arena: one ibv_sge per slot,
 *        a chained ibv_recv_wr batch, re-posted with one verbs call to a QP
 *        or to an SRQ. Optional: needs libibverbs (target arenakit::ibverbs).
 *
 * Contract
 * - `IbvRecvChain` works over caller-owned storage (a span of ibv_recv_wr and
 *   one of ibv_sge, equal length); `IbvRecvBatch<N>` owns N of each inline.
 *   Neither allocates: building and posting are loads and stores plus the one
 *   post call, so a receive loop can clear, refill and re-post a batch on
 *   every poll.
 * - add(arena, id) appends one work request in O(1): wr_id = id.raw (32 bits,
 *   so the completion's wr_id comes back to a SlotId with slot_of()), one
 *   sge {addr = arena.device_address(id), length = slot size, lkey = the
 *   shard's MR lkey}, and links the previous request's `next` to it. It
 *   refuses (returns false, adds nothing) when the chain is full or the id is
 *   not a slot held by the caller in that arena: a post would hand the device
 *   memory nobody owns.
 * - post(qp) / post(srq) hands the chain, from `first` on, to
 *   ibv_post_recv / ibv_post_srq_recv in one call through the IbvOps table.
 *   Per connection: post to the connection's QP. Shared by many connections
 *   (SRQ-like mode): post to the SRQ, and any QP attached to it may consume
 *   the buffers; a per-connection quota is the caller's (or a recv pool's)
 *   policy, not this header's.
 *
 * Ownership after a post
 * On success every slot of the chain (from `first`) belongs to the device
 * until its completion comes back. On failure libibverbs names the first work
 * request it refused (bad_wr): requests before it were posted and belong to
 * the device, it and everything after stay the caller's. IbvPostResult says
 * so by count (`posted`, `not_posted`), by position (`bad_index`) and by id
 * (`bad_slot`); post(qp, ops, result.bad_index) retries the rest. Should a
 * provider return a bad_wr that is not one of ours (a provider bug),
 * `ownership_known` is false: treat every slot as posted until the queue is
 * flushed (destroyed or moved to the error state), never reuse them.
 *
 * Threads
 * A chain belongs to one thread at a time (the receive thread that builds
 * it). Posting to one SRQ from several threads is safe in libibverbs. A chain
 * points into its own storage: IbvRecvBatch cannot be copied or moved.
 */
#pragma once

#include <arenakit/arena/arena.hpp>
#include <arenakit/error.hpp>
#include <arenakit/ibverbs/mapper.hpp>
#include <arenakit/slot_id.hpp>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <system_error>

#include <infiniband/verbs.h>

namespace arenakit {

/// An arena whose shards are ibverbs MRs: buffer(id).mapping has the lkey.
template <class A>
concept IbvArena = std::same_as<typename A::mapper_type, IbvMapper> &&
                   requires(const A& a, SlotId id) {
                     { a.buffer(id) } noexcept;
                     { a.is_held(id) } noexcept -> std::same_as<bool>;
                   };

/// The SlotId a completion's wr_id carries (empty for a wr_id no chain built:
/// anything above 32 bits). Check it with arena.checked_pointer() / owns():
/// a wr_id from the wire is untrusted.
constexpr SlotId slot_of(std::uint64_t wr_id) noexcept {
  return wr_id > std::numeric_limits<std::uint32_t>::max() ? SlotId{}
                                                           : SlotId{static_cast<std::uint32_t>(wr_id)};
}
inline SlotId slot_of(const ibv_wc& wc) noexcept { return slot_of(wc.wr_id); }

/// What one post did: which slots the device now owns, which are still ours.
struct IbvPostResult {
  std::error_code error;             ///< empty on success; "arenakit.ibverbs" otherwise
  std::uint32_t posted = 0;          ///< requests [first, first + posted) belong to the device
  std::uint32_t not_posted = 0;      ///< the rest [bad_index, size) are still the caller's
  std::uint32_t bad_index = 0;       ///< position of bad_wr in the chain (== size on success)
  const ibv_recv_wr* bad_wr = nullptr; ///< what libibverbs reported, or null
  SlotId bad_slot;                   ///< the slot of bad_wr (empty on success)
  bool ownership_known = true;       ///< false: bad_wr was not ours; see the file comment
  explicit operator bool() const noexcept { return !error; }
};

/**
 * IbvRecvChain - a chained receive batch over caller-owned storage.
 *
 * The storage must outlive the chain and must not move while it is used (the
 * requests point at each other and at their sges).
 */
class IbvRecvChain {
public:
  IbvRecvChain(std::span<ibv_recv_wr> wrs, std::span<ibv_sge> sges) noexcept
      : wrs_(wrs.data()), sges_(sges.data()),
        capacity_(static_cast<std::uint32_t>(wrs.size() < sges.size() ? wrs.size() : sges.size())) {}

  IbvRecvChain(const IbvRecvChain&) = delete;
  IbvRecvChain& operator=(const IbvRecvChain&) = delete;

  /// Appends @id (held by the caller in @arena). O(1). False, and nothing
  /// added, when the chain is full or @id is not a held slot of @arena.
  template <IbvArena A>
  bool add(const A& arena, SlotId id) noexcept {
    if (size_ == capacity_ || !arena.is_held(id)) return false;
    const auto buf = arena.buffer(id);
    ibv_sge& sge = sges_[size_];
    sge.addr = buf.device_address;
    sge.length = buf.length;
    sge.lkey = buf.mapping->lkey;
    ibv_recv_wr& wr = wrs_[size_];
    wr.wr_id = id.raw;
    wr.next = nullptr;
    wr.sg_list = &sge;
    wr.num_sge = 1;
    if (size_ != 0) wrs_[size_ - 1].next = &wr;
    ++size_;
    return true;
  }

  /// Replaces the chain with @ids, all or nothing: returns false (chain
  /// left empty) if any id is refused or they do not all fit.
  template <IbvArena A>
  bool assign(const A& arena, std::span<const SlotId> ids) noexcept {
    clear();
    if (ids.size() > capacity_) return false;
    for (SlotId id : ids) {
      if (!add(arena, id)) {
        clear();
        return false;
      }
    }
    return true;
  }

  void clear() noexcept { size_ = 0; }

  /// Posts requests [first, size) to @qp's receive queue in one call.
  IbvPostResult post(ibv_qp* qp, const IbvOps& ops = ibv_default_ops,
                     std::uint32_t first = 0) noexcept {
    return post_to(qp, ops.post_recv, IbvCall::post_recv, first);
  }

  /// Posts requests [first, size) to a shared receive queue in one call: the
  /// buffers serve every QP attached to @srq.
  IbvPostResult post(ibv_srq* srq, const IbvOps& ops = ibv_default_ops,
                     std::uint32_t first = 0) noexcept {
    return post_to(srq, ops.post_srq_recv, IbvCall::post_srq_recv, first);
  }

  std::uint32_t size() const noexcept { return size_; }
  std::uint32_t capacity() const noexcept { return capacity_; }
  bool empty() const noexcept { return size_ == 0; }
  /// Head of the chain (null when empty): what a post hands to the device.
  const ibv_recv_wr* head() const noexcept { return size_ != 0 ? wrs_ : nullptr; }
  std::span<const ibv_recv_wr> requests() const noexcept { return {wrs_, size_}; }
  std::span<const ibv_sge> sges() const noexcept { return {sges_, size_}; }
  /// The slot of request @i (i < size()).
  SlotId slot(std::uint32_t i) const noexcept { return SlotId{static_cast<std::uint32_t>(wrs_[i].wr_id)}; }

private:
  /// The one post: a queue pair or a shared receive queue, through @post_fn
  /// (IbvOps' post_recv or post_srq_recv).
  template <class Queue>
  IbvPostResult post_to(Queue* queue, int (*post_fn)(Queue*, ibv_recv_wr*, ibv_recv_wr**), IbvCall call,
                        std::uint32_t first) noexcept {
    if (queue == nullptr) return refuse(call, first);
    if (first >= size_) return {};
    ibv_recv_wr* bad = nullptr;
    const int rc = post_fn(queue, &wrs_[first], &bad); // before reading bad
    return settle(call, first, rc, bad);
  }

  IbvPostResult refuse(IbvCall call, std::uint32_t first) const noexcept {
    IbvPostResult r;
    r.error = make_ibverbs_error(call, EINVAL);
    r.bad_index = first < size_ ? first : size_;
    r.not_posted = size_ - r.bad_index;
    if (r.bad_index < size_) r.bad_slot = slot(r.bad_index);
    return r;
  }

  IbvPostResult settle(IbvCall call, std::uint32_t first, int rc, ibv_recv_wr* bad) const noexcept {
    IbvPostResult r;
    r.bad_wr = bad;
    if (rc == 0) {
      r.posted = size_ - first;
      r.bad_index = size_;
      r.bad_wr = nullptr;
      return r;
    }
    r.error = make_ibverbs_error(call, rc > 0 ? rc : (errno != 0 ? errno : EIO));
    // O(1): bad_wr is one of our requests iff it lies inside [first, size).
    const auto a = reinterpret_cast<std::uintptr_t>(bad);
    const auto lo = reinterpret_cast<std::uintptr_t>(&wrs_[first]);
    const auto hi = reinterpret_cast<std::uintptr_t>(wrs_ + size_);
    if (bad != nullptr && a >= lo && a < hi && (a - lo) % sizeof(ibv_recv_wr) == 0) {
      r.bad_index = static_cast<std::uint32_t>(bad - wrs_);
      r.posted = r.bad_index - first;
      r.not_posted = size_ - r.bad_index;
      r.bad_slot = slot(r.bad_index);
    } else {
      // Unknown: every request may have reached the device, so none is
      // reported as still the caller's.
      r.ownership_known = false;
      r.bad_index = size_;
      r.posted = size_ - first;
      r.not_posted = 0;
    }
    return r;
  }

  ibv_recv_wr* wrs_;
  ibv_sge* sges_;
  std::uint32_t capacity_;
  std::uint32_t size_ = 0;
};

namespace detail {
template <std::uint32_t N>
struct IbvRecvStorage {
  ibv_recv_wr storage_wrs[N]{};
  ibv_sge storage_sges[N]{};
};
} // namespace detail

/// A chained receive batch with room for @Capacity requests, stored inline
/// (the storage base is built before the chain that points into it).
template <std::uint32_t Capacity>
class IbvRecvBatch : private detail::IbvRecvStorage<Capacity>, public IbvRecvChain {
  static_assert(Capacity > 0, "arenakit: IbvRecvBatch needs room for at least one request");

public:
  IbvRecvBatch() noexcept
      : detail::IbvRecvStorage<Capacity>{},
        IbvRecvChain(std::span<ibv_recv_wr>(this->storage_wrs), std::span<ibv_sge>(this->storage_sges)) {}
};

} // namespace arenakit
