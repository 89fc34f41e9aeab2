// SPDX-License-Identifier: MIT
/**
 * @file concepts/counted_slot_allocator.hpp
 * @brief The CountedSlotAllocator concept: a SlotAllocator whose slots carry
 *        a reference count (the design card's "array of atomic token counts").
 *
 * A slot claimed from a counted allocator holds one reference. Requirements
 * on A beyond SlotAllocator (each checked by check_counted_slot_allocator<A>()
 * with a message naming what is missing):
 * - `a.retain(std::uint32_t) noexcept -> bool`: adds a reference to a slot
 *   that holds at least one; refused (false, counted, nothing changes) for a
 *   slot at zero or free: "increment if non-zero", so a retain racing the
 *   last drop either lands before it (the drop then keeps the slot) or is
 *   refused; it never brings a freed slot back.
 * - `a.drop(std::uint32_t) noexcept -> SlotDrop`: drops one reference;
 *   refused (counted, nothing changes) at zero: "decrement if non-zero", so a
 *   count never underflows. On SlotDrop::last the slot is at zero but not yet
 *   free: the caller hands it to release() (directly, or after a reclaimer).
 * - `a.release(std::uint32_t) noexcept -> SlotRelease` (SlotAllocator's):
 *   drops one reference and frees the slot at zero (SlotRelease::kept while
 *   references remain); on a slot drop() left at zero it completes the free.
 * - `a.refs(std::uint32_t) const noexcept -> std::uint32_t`: the count now
 *   (0 for a free slot or one at zero); a snapshot.
 * - `a.claim_draining(std::uint32_t* out, std::uint32_t max) noexcept ->
 *   std::uint32_t`: claim() that leaves each slot at zero (claimed, no
 *   reference), for an owner that keeps slots aside (Arena::Cache).
 * - `a.first_ref(std::uint32_t) noexcept`: gives a slot at zero that the
 *   caller owns its first reference, without an RMW (Arena::Cache hands out
 *   a parked slot with it).
 */
#pragma once

#include <arenakit/concepts/slot_allocator.hpp>

#include <concepts>
#include <cstdint>

namespace arenakit {

/// What drop() did.
enum class SlotDrop : std::uint8_t {
  refused, ///< the slot held no reference: nothing changed (counted)
  kept,    ///< one reference dropped; others remain
  last,    ///< the last reference dropped: the slot waits for release()
};

template <class A>
concept CountedSlotAllocator = SlotAllocator<A> && requires(A& a, const A& ca, std::uint32_t i, std::uint32_t* p) {
  { a.retain(i) } noexcept -> std::same_as<bool>;
  { a.drop(i) } noexcept -> std::same_as<SlotDrop>;
  { ca.refs(i) } noexcept -> std::same_as<std::uint32_t>;
  { a.claim_draining(p, i) } noexcept -> std::same_as<std::uint32_t>;
  { a.first_ref(i) } noexcept;
};

template <class A>
constexpr bool check_counted_slot_allocator() {
  static_assert(check_slot_allocator<A>());
  static_assert(requires(A& a, std::uint32_t i) { { a.retain(i) } noexcept -> std::same_as<bool>; },
                "arenakit: CountedSlotAllocator is missing `retain(std::uint32_t) noexcept -> bool`");
  static_assert(requires(A& a, std::uint32_t i) { { a.drop(i) } noexcept -> std::same_as<SlotDrop>; },
                "arenakit: CountedSlotAllocator is missing `drop(std::uint32_t) noexcept -> "
                "arenakit::SlotDrop`");
  static_assert(requires(const A& a, std::uint32_t i) { { a.refs(i) } noexcept -> std::same_as<std::uint32_t>; },
                "arenakit: CountedSlotAllocator is missing `refs(std::uint32_t) const noexcept -> "
                "std::uint32_t`");
  static_assert(requires(A& a, std::uint32_t* p, std::uint32_t i) { { a.claim_draining(p, i) } noexcept -> std::same_as<std::uint32_t>; },
                "arenakit: CountedSlotAllocator is missing `claim_draining(std::uint32_t*, std::uint32_t) "
                "noexcept -> std::uint32_t`");
  static_assert(requires(A& a, std::uint32_t i) { { a.first_ref(i) } noexcept; },
                "arenakit: CountedSlotAllocator is missing `first_ref(std::uint32_t) noexcept`");
  return true;
}

} // namespace arenakit
