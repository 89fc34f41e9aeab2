// SPDX-License-Identifier: MIT
/**
 * @file recv/impl/recv_pool.hpp
 * @brief RecvPool's out-of-line members: set-up, the give-backs through a
 *        release list, connections and counters (the per-buffer owner
 *        paths are in recv/recv_pool.hpp).
 */
#pragma once

#include <arenakit/recv/recv_pool.hpp>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <new>
#include <system_error>

namespace arenakit {

template <class ArenaT, class SyncT>
inline Result<std::unique_ptr<RecvPool<ArenaT, SyncT>>> RecvPool<ArenaT, SyncT>::create(ArenaT& arena,
    const RecvPoolConfig& config, SyncT sync) noexcept {
  std::unique_ptr<RecvPool> pool(new (std::nothrow) RecvPool(arena, config, static_cast<SyncT&&>(sync)));
  if (!pool) return errc::out_of_memory;
  if (pool->error_) return pool->error_;
  return pool;
}

template <class ArenaT, class SyncT>
inline Result<ConnId> RecvPool<ArenaT, SyncT>::add_connection(std::uint32_t quota) noexcept {
  if (connectionless_) return refuse_code(RecvStatus::connectionless);
  if (quota == 0 || quota > count_) return refuse_code(RecvStatus::bad_quota);
  // Set-up path: a scan over the table (max_connections entries).
  for (std::uint32_t c = 0; c < max_conns_; ++c) {
    Conn& conn = conns_[c];
    if (conn.quota.load(std::memory_order_relaxed) != 0) continue;
    conn.reset();
    conn.quota.store(quota, std::memory_order_relaxed); // owner-written; counters() reads
    detail::owner_add(connections_, 1);
    return ConnId{static_cast<std::uint16_t>(c)};
  }
  return refuse_code(RecvStatus::too_many_connections);
}

template <class ArenaT, class SyncT>
inline std::error_code RecvPool<ArenaT, SyncT>::remove_connection(ConnId conn) noexcept {
  if (connectionless_) return refuse_code(RecvStatus::connectionless);
  Conn* c = find(conn);
  if (c == nullptr) return refuse_code(RecvStatus::unknown_connection);
  if (get(c->held) != 0) return refuse_code(RecvStatus::connection_busy);
  c->quota.store(0, std::memory_order_relaxed);
  detail::owner_sub(connections_, 1);
  return {};
}

template <class ArenaT, class SyncT>
inline RecvConnCounters RecvPool<ArenaT, SyncT>::connection_counters(ConnId conn) const noexcept {
  RecvConnCounters r;
  const Conn* c = find(conn);
  if (c == nullptr) return r;
  r.quota = c->quota.load(std::memory_order_relaxed);
  r.held = get(c->held);
  r.delivered = get(c->delivered);
  r.bytes = get(c->bytes);
  r.given_back = get(c->given_back);
  r.quota_hits = get(c->quota_hits);
  r.over_quota_deliveries = get(c->over_quota);
  return r;
}

template <class ArenaT, class SyncT>
inline RecvPoolCounters RecvPool<ArenaT, SyncT>::counters() const noexcept {
  RecvPoolCounters r;
  r.buffers = count_;
  r.buffer_size = buffer_size_;
  r.connections = get(connections_);
  // held before posted: deliver() moves a buffer posted -> held by
  // lowering posted_ first, so this order sees it in neither count rather
  // than in both; and free never goes below zero, whatever the reads
  // (the owner's fields are relaxed, so the order is a help, not a proof).
  r.held = get(held_);
  ARENAKIT_TEST_PAUSE(recv_counters_held_read);
  r.posted = get(posted_);
  r.free = r.posted + r.held >= r.buffers ? 0 : r.buffers - r.posted - r.held;
  r.posts = get(posts_);
  r.delivered = get(delivered_);
  r.bytes_delivered = get(bytes_);
  r.given_back = get(given_back_);
  r.given_back_queued = get(given_back_queued_);
  const std::uint64_t queued = queued_total_.load(std::memory_order_relaxed);
  r.queued = queued > r.given_back_queued ? queued - r.given_back_queued : 0;
  r.returned_unused = get(returned_unused_);
  r.quota_hits = get(quota_hits_);
  r.over_quota_deliveries = get(over_quota_);
  r.sync_failures = get(sync_failures_);
  r.reclaimed_held = get(reclaimed_held_);
  r.rings_attached = get(rings_attached_);
  for (std::size_t i = 1; i < recv_status_count; ++i) {
    r.refused_by[i] = refused_[i].load(std::memory_order_relaxed);
    r.refused += r.refused_by[i];
  }
  return r;
}

template <class ArenaT, class SyncT>
inline std::error_code RecvPool<ArenaT, SyncT>::setup(const RecvPoolConfig& config) noexcept {
  if (config.buffers == 0 || config.buffers > max_buffers) return errc::invalid_config;
  if (config.mode != PoolMode::per_connection && config.mode != PoolMode::shared &&
      config.mode != PoolMode::connectionless)
    return errc::invalid_config; // a value outside the enum (a cast): not a mode
  if (config.mode != PoolMode::shared && config.max_connections > 1) return errc::invalid_config;
  if (config.max_connections == 0 || config.max_connections > 0xFFFF) return errc::invalid_config;
  if (arena_->slot_size() > std::numeric_limits<std::uint32_t>::max()) return errc::invalid_config;
  const std::uint32_t n = config.buffers;
  entries_.reset(new (std::nothrow) Entry[n]);
  free_stack_.reset(new (std::nothrow) std::uint16_t[n]);
  scratch_.reset(new (std::nothrow) SlotId[n]);
  conns_.reset(new (std::nothrow) Conn[config.max_connections]);
  if (!entries_ || !free_stack_ || !scratch_ || !conns_) {
    entries_.reset();
    return errc::out_of_memory;
  }
  if (arena_->acquire_bulk(scratch_.get(), n) != n) {
    entries_.reset(); // nothing taken: the destructor must not release anything
    return errc::limit_reached;
  }
  tag_ = scratch_[0].tag();
  std::uint32_t lo = scratch_[0].position(), hi = lo;
  for (std::uint32_t i = 0; i < n; ++i) {
    lo = std::min(lo, scratch_[i].position());
    hi = std::max(hi, scratch_[i].position());
  }
  min_position_ = lo;
  span_ = hi - lo + 1;
  slot_to_bid_.reset(new (std::nothrow) std::uint16_t[span_]);
  if (!slot_to_bid_) {
    arena_->release_bulk(scratch_.get(), n);
    entries_.reset();
    return errc::out_of_memory;
  }
  std::fill_n(slot_to_bid_.get(), span_, no_bid);
  buffer_size_ = static_cast<std::uint32_t>(arena_->slot_size());
  count_ = n;
  max_conns_ = config.max_connections;
  for (std::uint32_t bid = 0; bid < n; ++bid) {
    Entry& e = entries_[bid];
    e.id = scratch_[bid];
    e.data = arena_->pointer(e.id);
    slot_to_bid_[e.id.position() - lo] = static_cast<std::uint16_t>(bid);
    // Ascending ids on top of the stack first: the first post is bid 0.
    free_stack_[n - 1 - bid] = static_cast<std::uint16_t>(bid);
  }
  free_top_ = n;
  if (config.mode == PoolMode::connectionless) {
    // The implicit connection: quota N, so Arming::stop means "every buffer is held".
    conns_[0].quota.store(n, std::memory_order_relaxed); // owner-written; counters() reads
    detail::owner_add(connections_, 1);
    connectionless_ = true;
  }
  return {};
}

template <class ArenaT, class SyncT>
inline std::uint32_t RecvPool<ArenaT, SyncT>::reclaim_posted() noexcept {
  std::uint32_t n = 0;
  for (std::uint32_t bid = 0; bid < count_; ++bid) {
    Entry& e = entries_[bid];
    if (e.state.load(std::memory_order_relaxed) != posted_state) continue; // owner-only states
    take_back_posted(e, static_cast<std::uint16_t>(bid));
    ++n;
  }
  return n;
}

template <class ArenaT, class SyncT>
inline std::uint32_t RecvPool<ArenaT, SyncT>::reclaim_held() noexcept {
  std::uint32_t n = 0;
  for (std::uint32_t bid = 0; bid < count_; ++bid) {
    Entry& e = entries_[bid];
    std::uint8_t expected = held_state;
    // The same one-winner CAS as give_back: a queue_give_back racing the
    // shutdown keeps its buffer (queued), this one is skipped.
    if (!e.state.compare_exchange_strong(expected, free_state, std::memory_order_relaxed)) continue;
    (void)finish_give_back(e, static_cast<std::uint16_t>(bid));
    ++n;
  }
  detail::owner_add(reclaimed_held_, n);
  return n;
}

// queue_give_back: any thread (see the declaration for the contract).
template <class ArenaT, class SyncT>
template <class List>
inline RecvStatus RecvPool<ArenaT, SyncT>::queue_give_back(List& list, std::uint16_t bid) noexcept {
  if (bid >= count_) return refuse(RecvStatus::unknown_buffer);
  Entry& e = entries_[bid];
  std::uint8_t expected = held_state;
  // Relaxed CAS: the node is published to the drainer by the list's own
  // release CAS (ReleaseList (rl-1)), which the owner's drain acquires (rl-2).
  if (!e.state.compare_exchange_strong(expected, queued_state, std::memory_order_relaxed))
    return refuse(expected == queued_state ? RecvStatus::already_queued : RecvStatus::not_held);
  if (list.release(e) == ReleaseResult::refused_closed) {
    e.state.store(held_state, std::memory_order_relaxed); // nobody else touches a queued buffer
    return refuse(RecvStatus::list_closed);
  }
  queued_total_.fetch_add(1, std::memory_order_relaxed); // statistic; any thread
  return RecvStatus::ok;
}

template <class ArenaT, class SyncT>
inline GiveBack RecvPool<ArenaT, SyncT>::give_back_queued(LlistNode* node) noexcept {
  GiveBack r;
  const auto* first = static_cast<const LlistNode*>(entries_.get());
  const auto p = reinterpret_cast<std::uintptr_t>(node);
  const auto lo = reinterpret_cast<std::uintptr_t>(first);
  if (node == nullptr || p < lo || p >= lo + sizeof(Entry) * count_ || (p - lo) % sizeof(Entry) != 0)
    return refuse_give_back(r, RecvStatus::foreign_slot);
  // By index, not a cast of @node: g++ with ASan warned of a write into a stray node.
  Entry* e = &entries_[(p - lo) / sizeof(Entry)];
  std::uint8_t expected = queued_state;
  // Relaxed CAS: the drain's acquire exchange on the list (ReleaseList (rl-2)) already
  // ordered the queuer's writes; the CAS only makes queued -> free one-shot.
  if (!e->state.compare_exchange_strong(expected, free_state, std::memory_order_relaxed))
    return refuse_give_back(r, RecvStatus::not_held);
  detail::owner_add(given_back_queued_, 1);
  return finish_give_back(*e, static_cast<std::uint16_t>(e - entries_.get()));
}

} // namespace arenakit
