// SPDX-License-Identifier: MIT
/**
 * @file concepts/slot_allocator.hpp
 * @brief The SlotAllocator concept: free-space tracking for the slots of one
 *        shard.
 *
 * An arena creates one allocator per shard, in place, with the shard's slot
 * count, and drives it from any thread at once. Requirements on A (each
 * checked by check_slot_allocator<A>() with a message naming what is missing):
 * - constructible from `std::uint32_t slots` (in place; need not be movable);
 *   `a.ready() const noexcept -> bool` says whether construction got the
 *   memory it needed (no exceptions: a failed construction is reported here).
 * - `a.claim(std::uint32_t* out, std::uint32_t max) noexcept -> std::uint32_t`:
 *   takes up to `max` free slots, writes their indexes to `out`, returns how
 *   many. 0 means the shard is full. Must synchronize-with the release() that
 *   freed each slot (acquire), so the new owner sees the old owner's writes.
 * - `a.release(std::uint32_t index) noexcept -> SlotRelease`: returns a
 *   slot; `SlotRelease::refused` (and no change at all) if it is already free.
 *   `SlotRelease::was_full` tells the arena the shard just stopped being full;
 *   `SlotRelease::maybe_was_full` that it may have (an allocator whose one
 *   RMW does not return the rest of the state, e.g. a bit-test-and-reset):
 *   the arena then lists the shard unless it is listed (a seq_cst load).
 *   (A counted allocator answers `SlotRelease::kept` when it only dropped a
 *   reference: see concepts/counted_slot_allocator.hpp.)
 * - `a.free_count() const noexcept` (a seq_cst read: the arena pairs it with
 *   its shard-listing flag, and release() must update the count with a
 *   seq_cst read-modify-write), `a.capacity() const noexcept`
 *   (-> std::uint32_t) and `a.is_free(std::uint32_t) const noexcept -> bool`.
 */
#pragma once

#include <concepts>
#include <cstdint>

namespace arenakit {

/// What release() did.
enum class SlotRelease : std::uint8_t {
  refused,  ///< the slot was already free: nothing changed
  released, ///< returned; the shard had other free slots
  was_full, ///< returned; the shard had none before (it must become findable)
  kept,     ///< a counted slot (CountedSlotAllocator) dropped one reference; others remain
  maybe_was_full, ///< returned; the shard may have had none before (the arena checks its listing)
};

template <class A>
concept SlotAllocator = std::constructible_from<A, std::uint32_t> &&
                        requires(A& a, const A& ca, std::uint32_t* out, std::uint32_t n) {
                          { ca.ready() } noexcept -> std::same_as<bool>;
                          { a.claim(out, n) } noexcept -> std::same_as<std::uint32_t>;
                          { a.release(n) } noexcept -> std::same_as<SlotRelease>;
                          { ca.free_count() } noexcept -> std::convertible_to<std::uint32_t>;
                          { ca.capacity() } noexcept -> std::convertible_to<std::uint32_t>;
                          { ca.is_free(n) } noexcept -> std::same_as<bool>;
                        };

template <class A>
constexpr bool check_slot_allocator() {
  static_assert(std::constructible_from<A, std::uint32_t>,
                "arenakit: SlotAllocator must be constructible from `std::uint32_t slots`");
  static_assert(requires(const A& a) { { a.ready() } noexcept -> std::same_as<bool>; },
                "arenakit: SlotAllocator is missing `ready() const noexcept -> bool`");
  static_assert(requires(A& a, std::uint32_t* out, std::uint32_t n) {
                  { a.claim(out, n) } noexcept -> std::same_as<std::uint32_t>;
                },
                "arenakit: SlotAllocator is missing `claim(std::uint32_t* out, std::uint32_t "
                "max) noexcept -> std::uint32_t`");
  static_assert(requires(A& a, std::uint32_t i) {
                  { a.release(i) } noexcept -> std::same_as<SlotRelease>;
                },
                "arenakit: SlotAllocator is missing `release(std::uint32_t) noexcept -> "
                "arenakit::SlotRelease`");
  static_assert(requires(const A& a) { { a.free_count() } noexcept -> std::convertible_to<std::uint32_t>; },
                "arenakit: SlotAllocator is missing `free_count() const noexcept`");
  static_assert(requires(const A& a) { { a.capacity() } noexcept -> std::convertible_to<std::uint32_t>; },
                "arenakit: SlotAllocator is missing `capacity() const noexcept`");
  static_assert(requires(const A& a, std::uint32_t i) { { a.is_free(i) } noexcept -> std::same_as<bool>; },
                "arenakit: SlotAllocator is missing `is_free(std::uint32_t) const noexcept -> bool`");
  return true;
}

} // namespace arenakit
