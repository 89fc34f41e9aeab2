// SPDX-License-Identifier: MIT
/**
 * @file arena/cache.hpp
 * @brief Arena::Cache: the owner-thread cache of free slots (the fast path).
 */
#pragma once

#include <arenakit/arena/arena.hpp>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <mutex>

namespace arenakit {

/**
 * Arena::Cache - an owner-thread cache of free slots.
 *
 * One thread owns a cache: acquire() and release() on it are plain loads and
 * stores (no atomic RMW); the cache refills `batch` slots from the shards when
 * empty and flushes `batch` back when full. Any thread may release into any
 * cache it owns: a slot acquired through one cache can be released through
 * another, or through Arena::release(). Destroy caches before their arena;
 * destruction flushes everything back.
 *
 * Counters stay exact: the cache's count and hits are relaxed atomics written
 * only by the owner (plain stores on x86), read by Arena::counters().
 */
template <class MapperT, class SlotsT, class ReclaimerT, class SourceT>
class Arena<MapperT, SlotsT, ReclaimerT, SourceT>::Cache {
public:
  static constexpr std::uint32_t capacity = 64;
  static constexpr std::uint32_t default_batch = 32;

  explicit Cache(Arena& arena, std::uint32_t batch = default_batch) noexcept
      : arena_(&arena), batch_(std::clamp<std::uint32_t>(batch, 1, capacity / 2)) {
    // A cached slot is parked without its count: a counted arena's release
    // must drop one reference (Arena::release()), which a cache cannot do.
    static_assert(!CountedSlotAllocator<SlotsT>,
                  "arenakit: Arena::Cache needs an uncounted slot allocator; "
                  "use Arena::acquire/release with CountedSlots");
    std::lock_guard lock(arena_->cache_mutex_);
    next_ = arena_->caches_;
    if (next_ != nullptr) next_->prev_ = this;
    arena_->caches_ = this;
  }
  Cache(const Cache&) = delete;
  Cache& operator=(const Cache&) = delete;

  ~Cache() {
    flush();
    std::lock_guard lock(arena_->cache_mutex_);
    if (prev_ != nullptr) prev_->next_ = next_;
    else arena_->caches_ = next_;
    if (next_ != nullptr) next_->prev_ = prev_;
    // Relaxed both: statistics, and the arena's cache_mutex_ (held here and in
    // Arena::counters()) orders this move against every reader.
    arena_->retired_fast_hits_.fetch_add(fast_hits_.load(std::memory_order_relaxed),
                                         std::memory_order_relaxed);
  }

  /// One slot, or the empty id at the arena's limit. Owner thread only.
  /// Progress: wait-free from the cache (plain loads and stores); a refill
  /// is Arena::acquire_bulk's (lock-free, blocking only to grow).
  /// Ordering: as Arena::acquire(): the refill's bitmap claim is the acquire,
  /// and a slot released into this cache by this thread needs none.
  ARENAKIT_ALWAYS_INLINE SlotId acquire() noexcept {
    std::uint32_t n = count_.load(std::memory_order_relaxed); // (ca-1)
    if (ARENAKIT_UNLIKELY(n == 0)) {
      n = refill(1);
      if (n == 0) return {};
    } else {
      bump_fast_hits(1);
    }
    const SlotId id = ids_[--n];
    count_.store(n, std::memory_order_relaxed); // (ca-1)
    arena_->mark_held(id);
    return id;
  }

  /// Same contract as Arena::release(), owner thread only (any slot of the
  /// arena may come back through any cache). Progress: wait-free; one
  /// exchange on the held flag (none with ReleaseCheck::range_only), plain
  /// stores into the cache, a batched flush when it is full.
  ARENAKIT_ALWAYS_INLINE bool release(SlotId id) noexcept {
    if (!arena_->take_held(id)) return false;
    if constexpr (!ReclaimerT::immediate) {
      arena_->retire(id);
    } else {
      std::uint32_t n = count_.load(std::memory_order_relaxed); // (ca-1)
      if (ARENAKIT_UNLIKELY(n == capacity)) n = flush_some(batch_);
      ids_[n] = id;
      count_.store(n + 1, std::memory_order_relaxed); // (ca-1)
    }
    return true;
  }

  /// Exactly @n slots or none (@n at most capacity); returns @n or 0.
  /// Owner thread only; progress and ordering as acquire().
  std::uint32_t acquire_bulk(SlotId* out, std::uint32_t n) noexcept {
    if (n > capacity) return arena_->acquire_bulk(out, n);
    std::uint32_t have = count_.load(std::memory_order_relaxed); // (ca-1)
    if (have < n) {
      have = refill(n - have);
      if (have < n) return 0;
    } else {
      bump_fast_hits(n);
    }
    have -= n;
    const Layout layout = arena_->layout_;
    if (layout.track_held) {
      for (std::uint32_t i = 0; i < n; ++i) {
        out[i] = ids_[have + i];
        layout.mark_held(out[i]);
      }
    } else {
      // A plain loop, not memcpy: the compiler vectorises it inline, where
      // a call would cost more than the copy for a batch of 32.
      for (std::uint32_t i = 0; i < n; ++i) out[i] = ids_[have + i];
    }
    count_.store(have, std::memory_order_relaxed); // (ca-1)
    return n;
  }

  /// Same contract as Arena::release_bulk(), owner thread only; progress as
  /// release() per id (range_only with every id in range: one vectorised
  /// check and a copy).
  std::uint32_t release_bulk(const SlotId* ids, std::uint32_t n) noexcept {
    if constexpr (!ReclaimerT::immediate) {
      std::uint32_t accepted = 0;
      for (std::uint32_t i = 0; i < n; ++i) accepted += release(ids[i]) ? 1u : 0u;
      return accepted;
    } else {
      // (ar-7) once per batch: ids of shards counted now stay valid.
      const std::uint32_t shards = arena_->hot_.shard_count.load(std::memory_order_acquire); // (ar-7): pairs with (ar-8)
      const Layout layout = arena_->layout_;
      std::uint32_t accepted = 0;
      if (!layout.track_held && all_in_range(layout, ids, n, shards)) {
        // Every id is ours and in range: a copy (the common case).
        while (n != 0) {
          const std::uint32_t chunk = std::min(n, capacity);
          std::uint32_t have = count_.load(std::memory_order_relaxed); // (ca-1)
          if (have + chunk > capacity) have = flush_some(have + chunk - capacity);
          for (std::uint32_t i = 0; i < chunk; ++i) ids_[have + i] = ids[i];
          count_.store(have + chunk, std::memory_order_relaxed); // (ca-1)
          accepted += chunk;
          ids += chunk;
          n -= chunk;
        }
        return accepted;
      }
      while (n != 0) {
        const std::uint32_t chunk = std::min(n, capacity);
        std::uint32_t have = count_.load(std::memory_order_relaxed); // (ca-1)
        if (have + chunk > capacity) have = flush_some(have + chunk - capacity);
        std::uint32_t kept = have;
        for (std::uint32_t i = 0; i < chunk; ++i) {
          ids_[kept] = ids[i];
          kept += arena_->take_held(layout, ids[i], shards) ? 1u : 0u;
        }
        count_.store(kept, std::memory_order_relaxed); // (ca-1)
        accepted += kept - have;
        ids += chunk;
        n -= chunk;
      }
      return accepted;
    }
  }

  /// Give every cached slot back to the shards (owner thread; lock-free,
  /// release ordering per slot as Arena::release()).
  void flush() noexcept { flush_some(count_.load(std::memory_order_relaxed)); } // (ca-1)

  std::uint32_t cached() const noexcept { return count_.load(std::memory_order_relaxed); } // (ca-1)
  Arena& arena() const noexcept { return *arena_; }

private:
  /// Branch-free over the batch so the compiler can vectorise it.
  static bool all_in_range(const Layout& layout, const SlotId* ids, std::uint32_t n,
                           std::uint32_t shards) noexcept {
    const std::uint32_t tag_bits = std::uint32_t{layout.tag} << slot_id_position_bits;
    const std::uint32_t limit = shards << layout.index_bits;
    const bool dense = layout.slots_per_shard == layout.index_mask + 1;
    std::uint32_t bad = 0;
    for (std::uint32_t i = 0; i < n; ++i) {
      const std::uint32_t raw = ids[i].raw;
      bad |= ((raw & 0xFF00'0000u) ^ tag_bits) | static_cast<std::uint32_t>((raw & 0x00FF'FFFFu) >= limit);
    }
    return bad == 0 && dense; // sparse index spaces take the per-id path
  }

  void bump_fast_hits(std::uint32_t n) noexcept {
    detail::owner_add(fast_hits_, n); // owner-written, read by Arena::counters()
  }

  /// Top up to at least @need (and up to batch beyond what is held); grows
  /// the arena only if the shards have fewer than @need free.
  ARENAKIT_NOINLINE std::uint32_t refill(std::uint32_t need) noexcept {
    const std::uint32_t have = count_.load(std::memory_order_relaxed); // (ca-1)
    const std::uint32_t room = capacity - have;
    const std::uint32_t want = std::min(room, std::max(need, batch_));
    const std::uint32_t got = arena_->claim_shared(ids_ + have, need, want);
    arena_->hot_.slow_hits.fetch_add(1, std::memory_order_relaxed); // statistics only
    count_.store(have + got, std::memory_order_relaxed); // (ca-1)
    return have + got;
  }

  ARENAKIT_NOINLINE std::uint32_t flush_some(std::uint32_t k) noexcept {
    const std::uint32_t n = count_.load(std::memory_order_relaxed); // (ca-1)
    k = std::min(k, n);
    arena_->return_shared(ids_ + (n - k), k);
    count_.store(n - k, std::memory_order_relaxed); // (ca-1)
    return n - k;
  }

  Arena* arena_;
  std::uint32_t batch_;
  // (ca-1) Written only by the owner thread, so every access is relaxed and
  // pairs with nothing: the owner reads its own stores, and Arena::counters()
  // reads a snapshot (an atomic only so that the read is not a data race).
  std::atomic<std::uint32_t> count_{0};
  std::atomic<std::uint64_t> fast_hits_{0};
  Cache* next_ = nullptr;
  Cache* prev_ = nullptr;
  SlotId ids_[capacity];

  friend class Arena;
};

} // namespace arenakit
