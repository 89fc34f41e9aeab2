// SPDX-License-Identifier: MIT
/**
 * @file reclaimers/immediate.hpp
 * @brief ImmediateReclaimer: a released slot is reusable at once (the default).
 *
 * The arena then lets an owner-thread cache keep a released slot locally,
 * without calling retire() at all.
 */
#pragma once

#include <arenakit/concepts/reclaimer.hpp>
#include <arenakit/slot_id.hpp>

#include <cstddef>

namespace arenakit {

/// The slot is reusable as soon as it is released. The default.
struct ImmediateReclaimer {
  static constexpr bool immediate = true;

  /// retire - the slot goes back at once (wait-free; the arena's own release
  /// barrier orders the caller's use before the slot's reuse).
  template <class Sink>
  void retire(SlotId id, std::byte* /*cpu*/, Sink& sink) noexcept {
    sink(id);
  }
  template <class Sink>
  std::size_t reclaim(Sink& /*sink*/) noexcept {
    return 0;
  }
  std::size_t pending() const noexcept { return 0; }
};

static_assert(Reclaimer<ImmediateReclaimer>);

} // namespace arenakit
