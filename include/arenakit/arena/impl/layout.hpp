// SPDX-License-Identifier: MIT
/**
 * @file arena/impl/layout.hpp
 * @brief An arena's id layout and per-slot held flags: validation of an id
 *        (tag, shard, index) and the held-flag transitions, in one value the
 *        hot loops copy into locals.
 */
#pragma once

#include <arenakit/config.hpp>
#include <arenakit/detail/test_hook.hpp>
#include <arenakit/slot_id.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace arenakit::detail {

/// What an id is to an arena.
enum class SlotValidity : std::uint8_t { valid, foreign, out_of_range };

/// Everything id validation and the held flags need, fixed at
/// configuration. Hot loops copy it into locals: the flag stores are byte
/// stores, which may alias anything, so fields read through `this` would be
/// reloaded after every one of them.
struct SlotLayout {
  std::uint8_t* held = nullptr;
  unsigned index_bits = 0;
  unsigned held_shift = 6;
  std::uint32_t index_mask = 0;
  std::uint32_t slots_per_shard = 0;
  std::uint8_t tag = 0;
  bool track_held = true;

  SlotValidity classify(SlotId id, std::uint32_t shards) const noexcept {
    if (id.tag() != tag) return SlotValidity::foreign;
    const std::uint32_t pos = id.position();
    if ((pos >> index_bits) >= shards || (pos & index_mask) >= slots_per_shard)
      return SlotValidity::out_of_range;
    return SlotValidity::valid;
  }

  // Each shard's flags start on a cache line of their own, so threads whose
  // caches draw from different shards never share a line.
  std::atomic_ref<std::uint8_t> flag(std::uint32_t pos) const noexcept {
    const std::size_t at = (std::size_t{pos >> index_bits} << held_shift) | (pos & index_mask);
    return std::atomic_ref<std::uint8_t>(held[at]);
  }

  // (ar-h1) The held flag is set only by the slot's new owner (the
  // acquirer, who took it from a bitmap or a cache no one else reads), so
  // a plain store. Ownership itself moves through the bitmap's
  // acquire/release pair (BitmapSlots (bm-2)/(bm-3)) or the user's own
  // synchronisation, so relaxed is enough.
  void mark_held(SlotId id) const noexcept {
    if (track_held) flag(id.position()).store(1, std::memory_order_relaxed);
  }

  /// Clear @id's held flag; false if it was not held. Exactly one of two
  /// threads racing to release the same id (a use-after-free in the caller)
  /// gets true: the transition is one exchange. A load then a store let
  /// both see "held", and the slot was then handed out twice.
  /// Barrier: none beyond the RMW's atomicity (relaxed, see (ar-h1)); a
  /// flag already clear is refused by a plain load, without the RMW.
  bool clear_held(SlotId id) const noexcept {
    if (!track_held) return true;
    auto f = flag(id.position());
    if (ARENAKIT_UNLIKELY(f.load(std::memory_order_relaxed) == 0)) return false;
    // (ar-h2) relaxed exchange: the winner is decided by the RMW's
    // atomicity alone; what the releaser wrote to the slot reaches the
    // next owner through the bitmap release (BitmapSlots (bm-3)) after it.
    const std::uint8_t was = f.exchange(0, std::memory_order_relaxed);
    ARENAKIT_TEST_PAUSE(arena_release_held_read);
    return was != 0;
  }
};

} // namespace arenakit::detail
