// SPDX-License-Identifier: MIT
/**
 * @file concepts/reclaimer.hpp
 * @brief The Reclaimer concept: when does a released slot become reusable?
 *
 * An arena validates a release (range, owner arena, not already free), marks
 * the slot as no longer held by a user, then hands it to its Reclaimer:
 *
 *     reclaimer.retire(id, cpu_address, sink);
 *
 * `sink(id)` really returns the slot to the arena's free space. A reclaimer
 * calls it now (ImmediateReclaimer), at a later drain by the owner (the llist
 * deferred reclaimer), or after a grace period (the epoch reclaimer). The
 * arena calls `reclaimer.reclaim(sink)` when the user asks it to make deferred
 * releases reusable (Arena::reclaim) and before it tears down.
 *
 * Requirements on R (each is checked by arenakit::check_reclaimer<R>() with a
 * message naming what is missing):
 * - `R::immediate` : a `static constexpr bool`; true when retire() always
 *   calls sink before returning. Arenas then let owner-thread caches keep a
 *   released slot locally instead of calling retire().
 * - `r.retire(SlotId, std::byte* cpu, Sink& sink) noexcept` for any sink
 *   callable as `sink(SlotId)`. `cpu` is the slot's first byte: a deferred
 *   reclaimer may keep its intrusive link there (the slot is not in use), so
 *   retire never allocates.
 * - `r.reclaim(Sink& sink) noexcept -> std::size_t` makes everything whose
 *   time has come reusable, returning how many slots it passed to sink.
 * - `r.pending() const noexcept -> std::size_t` : retired, not yet reclaimed.
 */
#pragma once

#include <arenakit/slot_id.hpp>

#include <concepts>
#include <cstddef>
#include <type_traits>

namespace arenakit {

namespace detail {
/// Stands in for an arena's sink when a reclaimer is checked on its own.
struct SinkArchetype {
  void operator()(SlotId) const noexcept {}
};
} // namespace detail

template <class R>
concept Reclaimer =
    requires(R& r, const R& cr, SlotId id, std::byte* cpu, detail::SinkArchetype& sink) {
      { R::immediate } -> std::convertible_to<bool>;
      { r.retire(id, cpu, sink) } noexcept;
      { r.reclaim(sink) } noexcept -> std::same_as<std::size_t>;
      { cr.pending() } noexcept -> std::convertible_to<std::size_t>;
    };

/// Checks R piece by piece so the compiler names what is missing; returns true
/// so it can sit in a static_assert or a constexpr initializer.
template <class R>
constexpr bool check_reclaimer() {
  static_assert(requires { { R::immediate } -> std::convertible_to<bool>; },
                "arenakit: Reclaimer is missing `static constexpr bool immediate` "
                "(true when retire() returns the slot before it returns)");
  static_assert(requires(R& r, SlotId id, std::byte* cpu, detail::SinkArchetype& sink) {
                  { r.retire(id, cpu, sink) } noexcept;
                },
                "arenakit: Reclaimer is missing `retire(SlotId, std::byte*, Sink&) noexcept`");
  static_assert(requires(R& r, detail::SinkArchetype& sink) {
                  { r.reclaim(sink) } noexcept -> std::same_as<std::size_t>;
                },
                "arenakit: Reclaimer is missing `reclaim(Sink&) noexcept -> std::size_t`");
  static_assert(requires(const R& r) { { r.pending() } noexcept -> std::convertible_to<std::size_t>; },
                "arenakit: Reclaimer is missing `pending() const noexcept -> std::size_t`");
  return true;
}

} // namespace arenakit
