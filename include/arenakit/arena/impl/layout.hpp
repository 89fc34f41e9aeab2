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

/// A slot's held flag. Two bytes, not one: a store through a character type
/// (GCC gives an enum its underlying type's alias set, so an 8-bit enum too)
/// may alias anything, and the compiler would reload every field of the
/// cache after each flag store; a 16-bit flag aliases only 16-bit data.
enum class HeldFlag : std::uint16_t { free = 0, held = 1 };

/// What an id is to an arena.
enum class SlotValidity : std::uint8_t { valid, foreign, out_of_range };

/// Everything id validation and the held flags need, fixed at
/// configuration. Hot loops copy it into locals: the flag stores are byte
/// stores, which may alias anything, so fields read through `this` would be
/// reloaded after every one of them.
struct SlotLayout {
  HeldFlag* held = nullptr; ///< null unless the arena checks held flags
  unsigned index_bits = 0;
  /// A position's flag is at `position << spread`: the shard lands on
  /// `shard << max(index_bits, 5)` flags (a line of its own, see flag()), the
  /// index on `index << spread`, one shift for both (the cache's fast path
  /// computes it from the raw id).
  unsigned spread = 0;
  std::uint32_t index_mask = 0;
  std::uint32_t slots_per_shard = 0;
  std::uint8_t tag = 0;

  SlotValidity classify(SlotId id, std::uint32_t shards) const noexcept {
    if (id.tag() != tag) return SlotValidity::foreign;
    const std::uint32_t pos = id.position();
    if ((pos >> index_bits) >= shards || (pos & index_mask) >= slots_per_shard)
      return SlotValidity::out_of_range;
    return SlotValidity::valid;
  }

  // Each shard's flags start on a cache line of their own, so threads whose
  // caches draw from different shards never share a line.
  std::atomic_ref<HeldFlag> flag(std::uint32_t pos) const noexcept {
    return std::atomic_ref<HeldFlag>(held[std::size_t{pos} << spread]);
  }

  // (ar-h1) The held flag is set only by the slot's new owner (the
  // acquirer, who took it from a bitmap or a cache no one else reads), so
  // a plain store. Ownership itself moves through the bitmap's
  // acquire/release pair (BitmapSlots (bm-2)/(bm-3)) or the user's own
  // synchronisation, so relaxed is enough.
  void mark_held(SlotId id) const noexcept { mark_flag(held + (std::size_t{id.position()} << spread)); }
  static void mark_flag(HeldFlag* at) noexcept {
    std::atomic_ref<HeldFlag>(*at).store(HeldFlag::held, std::memory_order_relaxed); // (ar-h1)
  }

  /// Clear @id's held flag; false if it was not held. Exactly one of two
  /// threads racing to release the same id (a use-after-free in the caller)
  /// gets true: the transition is one exchange. A load then a store let
  /// both see "held", and the slot was then handed out twice.
  /// Barrier: none beyond the RMW's atomicity (relaxed, see (ar-h1)).
  bool clear_held(SlotId id) const noexcept {
    return clear_flag(held + (std::size_t{id.position()} << spread));
  }

  /// clear_held() on a flag the caller located (the cache computes it from
  /// the raw id). One exchange, no load before it: the exchange's old value
  /// is the answer, and a refusal is the rare case.
  static bool clear_flag(HeldFlag* at) noexcept {
    std::atomic_ref<HeldFlag> f(*at);
    // (ar-h2) relaxed exchange: the winner is decided by the RMW's
    // atomicity alone; what the releaser wrote to the slot reaches the
    // next owner through the bitmap release (BitmapSlots (bm-3)) after it.
    const HeldFlag was = f.exchange(HeldFlag::free, std::memory_order_relaxed);
    ARENAKIT_TEST_PAUSE(arena_release_held_read);
    return was != HeldFlag::free;
  }

  /// clear_flag() without the RMW, for PlainHeldFlagsCheck's caches: a
  /// double release ordered after the first is refused; two racing ones may
  /// both pass (the policy's documented trade).
  static bool clear_flag_plain(HeldFlag* at) noexcept {
    std::atomic_ref<HeldFlag> f(*at);
    // (ar-h3) relaxed load and store, as (ar-h2): the order of the slot's
    // contents comes from the bitmap release after it, or from the cache's
    // owner being the next acquirer; the atomics only make the racing case
    // (which the policy accepts to lose) free of undefined behaviour.
    if (ARENAKIT_UNLIKELY(f.load(std::memory_order_relaxed) == HeldFlag::free)) return false;
    f.store(HeldFlag::free, std::memory_order_relaxed);
    return true;
  }
};

} // namespace arenakit::detail
