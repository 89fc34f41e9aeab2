// SPDX-License-Identifier: MIT
/**
 * @file detail/shard_index.hpp
 * @brief Address -> shard lookup in O(1): an open-addressing table keyed
 *        by address frame (address >> log2(shard size)); erase() leaves a
 *        tombstone (a shard given back by Arena::shrink()).
 *
 * A shard of size 2^k covers at most two frames of size 2^k (one if it is
 * aligned, as every MmapSource/HeapSource shard is), so each shard inserts at
 * most two keys and a lookup probes a short run of slots. Inserts happen under
 * the arena's growth mutex (one writer); lookups run concurrently without
 * locks. The table is sized for the arena's shard limit and never resizes,
 * so readers never see it move.
 */
#pragma once

#include <arenakit/detail/virtual_array.hpp>

#include <atomic>
#include <cstddef>
#include <bit>
#include <cstdint>

namespace arenakit::detail {

class ShardIndex {
public:
  static constexpr std::uint32_t none = 0xFFFF'FFFFu;

  bool allocate(std::size_t max_shards, unsigned frame_shift) noexcept {
    shift_ = frame_shift;
    std::size_t cap = std::bit_ceil(max_shards * 4 < 16 ? std::size_t{16} : max_shards * 4);
    bits_ = static_cast<unsigned>(std::countr_zero(cap));
    return keys_.allocate(cap) && values_.allocate(cap);
  }

  /// Record that [base, base + size) belongs to @shard. One writer at a time.
  void insert(std::uint64_t base, std::uint64_t size, std::uint32_t shard) noexcept {
    const std::uint64_t first = base >> shift_;
    const std::uint64_t last = (base + size - 1) >> shift_;
    for (std::uint64_t frame = first; frame <= last; ++frame) put(frame, shard);
  }

  /// Forget that [base, base + size) belongs to @shard (a shard given back).
  /// One writer at a time (the inserter's). A reader racing it sees the key
  /// or the tombstone: either way its match() decides by the shard's current
  /// range, and a tombstone is probed past, never taken for the end.
  void erase(std::uint64_t base, std::uint64_t size, std::uint32_t shard) noexcept {
    const std::uint64_t first = base >> shift_;
    const std::uint64_t last = (base + size - 1) >> shift_;
    for (std::uint64_t frame = first; frame <= last; ++frame) drop(frame, shard);
  }

  /// Call @match(shard) for each shard recorded on @address's frame until it
  /// returns true; returns that shard, or none.
  template <class Match>
  std::uint32_t find(std::uint64_t address, Match&& match) const noexcept {
    if (keys_.size() == 0) return none;
    const std::uint64_t key = (address >> shift_) + 1;
    const std::size_t mask = keys_.size() - 1;
    for (std::size_t i = hash(key);; i = (i + 1) & mask) {
      // (si-1) acquire pairs with (si-2): the value stored before the key is seen.
      const std::uint64_t k =
          std::atomic_ref<std::uint64_t>(const_cast<std::uint64_t&>(keys_[i])).load(std::memory_order_acquire);
      if (k == 0) return none;
      if (k != key) continue;
      const std::uint32_t shard =
          std::atomic_ref<std::uint32_t>(const_cast<std::uint32_t&>(values_[i])).load(std::memory_order_relaxed);
      if (match(shard)) return shard;
    }
  }

  /// Forget everything (no concurrent readers allowed).
  void clear() noexcept {
    // Give the pages back rather than write zeros over a table sized for the
    // arena's limit (hundreds of MB of address space for 4 KB shards).
    keys_.zero();
  }

private:
  // Fold the high bits onto the low ones instead of scrambling: shards come
  // from consecutive mmaps, so their frames are neighbours and land on
  // neighbouring cells — one page of the (huge, lazily committed) table serves
  // 512 shards instead of one page fault per shard. Frames that collide
  // modulo the table size are resolved by the linear probe as before.
  std::size_t hash(std::uint64_t key) const noexcept {
    return static_cast<std::size_t>((key ^ (key >> bits_) ^ (key >> (2 * bits_))) &
                                    (keys_.size() - 1));
  }

  /// A cell whose shard was given back: probed past by readers, reused by put().
  static constexpr std::uint64_t tombstone = ~std::uint64_t{0};

  void put(std::uint64_t frame, std::uint32_t shard) noexcept {
    const std::uint64_t key = frame + 1; // 0 marks an empty cell
    const std::size_t mask = keys_.size() - 1;
    std::size_t i = hash(key);
    for (;;) { // relaxed: the only writer reads its own stores
      const std::uint64_t k = std::atomic_ref<std::uint64_t>(keys_[i]).load(std::memory_order_relaxed);
      if (k == 0 || k == tombstone) break;
      i = (i + 1) & mask;
    }
    std::atomic_ref<std::uint32_t>(values_[i]).store(shard, std::memory_order_relaxed);
    // (si-2) release pairs with (si-1): a reader that sees the key sees the value.
    std::atomic_ref<std::uint64_t>(keys_[i]).store(key, std::memory_order_release);
  }

  void drop(std::uint64_t frame, std::uint32_t shard) noexcept {
    const std::uint64_t key = frame + 1;
    const std::size_t mask = keys_.size() - 1;
    for (std::size_t i = hash(key);; i = (i + 1) & mask) {
      const std::uint64_t k = std::atomic_ref<std::uint64_t>(keys_[i]).load(std::memory_order_relaxed);
      if (k == 0) return; // not recorded
      if (k == key && std::atomic_ref<std::uint32_t>(values_[i]).load(std::memory_order_relaxed) == shard) {
        // relaxed: readers decide by match(), and put() (same writer) reuses it.
        std::atomic_ref<std::uint64_t>(keys_[i]).store(tombstone, std::memory_order_relaxed);
        return;
      }
    }
  }

  VirtualArray<std::uint64_t> keys_;
  VirtualArray<std::uint32_t> values_;
  unsigned shift_ = 0;
  unsigned bits_ = 4;
};

} // namespace arenakit::detail
