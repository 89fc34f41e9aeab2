// SPDX-License-Identifier: MIT
/**
 * @file lists/wake_policy.hpp
 * @brief When does a release wake the owner that drains a ReleaseList?
 *        Named policies, plus Doorbell: a latching wake-up a Waker can ring.
 *
 * - `WakeOnEdge`: wake when a release makes the list non-empty. The
 *   next release after a drain always sees an empty list, so a release that
 *   lands after the owner's last drain always wakes it: nothing is stranded on
 *   an idle connection. Under load the owner's own drains between requests
 *   keep the wake-ups to at most one per drain.
 * - `WakeAtWatermark`: wake when `watermark` releases are pending, and - the
 *   backstop - whenever the owner has parked (ReleaseList::park() returned
 *   true): a parked owner is woken by the first release, so a short burst
 *   below the watermark on an idle connection is not stranded either.
 * - `WakeNever`: releases never wake anyone; the owner polls on its own
 *   schedule. There is no park() for such a list: the owner cannot declare
 *   itself safely asleep, and must poll with a bounded period. It is
 *   ReleaseList's default: the only policy that needs no Waker, so
 *   `ReleaseList<>` compiles, and the only one that cannot strand a release
 *   on a sleeping owner (a WakeNever list has no park(), so its owner cannot
 *   sleep on it). Name WakeOnEdge or WakeAtWatermark, with a Waker, to let
 *   the owner sleep.
 *
 * check_wake_policy<P>() and check_waker<W>() assert the two concepts with
 * messages that name what is wrong (ReleaseList asserts both).
 */
#pragma once

#include <arenakit/error.hpp>
#include <arenakit/sync/doorbell.hpp> // the usual Waker: RingDoorbell

#include <atomic>
#include <concepts>
#include <cstdint>
#include <type_traits>

namespace arenakit {

/// Wake on the empty-to-non-empty edge (the kernel's llist_add() cue).
struct WakeOnEdge {};

/// Wake once `watermark` releases are pending, or at once if the owner parked.
class WakeAtWatermark {
public:
  /**
   * make - a watermark policy, validated
   * @watermark: pending releases that trigger a wake (>= 1)
   *
   * Returns errc::invalid_config for 0 (a list that would wake on nothing).
   */
  static Result<WakeAtWatermark> create(std::uint32_t watermark) noexcept {
    if (watermark == 0) return errc::invalid_config;
    return WakeAtWatermark(watermark);
  }
  WakeAtWatermark() noexcept = default; // watermark 64 (for Result<T>'s storage)
  [[nodiscard]] std::uint32_t watermark() const noexcept { return watermark_; }

private:
  explicit WakeAtWatermark(std::uint32_t watermark) noexcept : watermark_(watermark) {}
  std::uint32_t watermark_ = 64;
};

/// Never wake: the owner polls.
struct WakeNever {};

template <class P>
concept WakePolicy = std::same_as<P, WakeOnEdge> || std::same_as<P, WakeAtWatermark> ||
                     std::same_as<P, WakeNever>;

/// The waker of a WakeNever list (and only of one).
struct NoWaker {
  void operator()() const noexcept {}
};

/// A Waker is a nothrow callable returning void that must not drop a wake:
/// a wake delivered before the owner sleeps must still wake it (Doorbell,
/// eventfd, a condition variable with a predicate, an io_uring msg_ring...).
template <class W>
concept Waker = std::is_nothrow_invocable_r_v<void, W&>;

template <class P>
constexpr bool check_wake_policy() {
  static_assert(WakePolicy<P>,
                "arenakit: WakePolicy must be one of WakeOnEdge, WakeAtWatermark or WakeNever "
                "(the list reads the policy at compile time)");
  return true;
}

template <class W>
constexpr bool check_waker() {
  static_assert(std::is_nothrow_invocable_r_v<void, W&>,
                "arenakit: Waker must be callable as `w()` noexcept, returning void (e.g. "
                "RingDoorbell{&bell}; NoWaker for a WakeNever list)");
  return true;
}

} // namespace arenakit
