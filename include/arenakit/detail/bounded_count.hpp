// SPDX-License-Identifier: MIT
/**
 * @file detail/bounded_count.hpp
 * @brief A count that reservations never push past a bound (a hard bound: a
 *        CAS loop, not check-then-add), and the CAS loops that keep a
 *        running maximum or minimum (fetch_max / fetch_min).
 *
 * Why a CAS and not "if (count < max) count += n": N threads can all pass
 * the check and add N past the bound. The CAS adds only to the value it
 * checked.
 *
 * Barriers: reserve() takes its success order as a template argument
 * (relaxed for a pure budget; acquire when the room was given back by a
 * release() that published something, as a page pool does); the failure
 * order is always relaxed (a failed CAS only retries with the fresh value).
 * release() takes its order the same way. add_over_bound(), fetch_max() and
 * fetch_min() are relaxed: they are budgets and statistics, never
 * publications.
 *
 * Progress: reserve, fetch_max and fetch_min are lock-free (a CAS retries
 * only when another update succeeded in between); release and
 * add_over_bound are wait-free (one RMW).
 */
#pragma once

#include <algorithm>
#include <atomic>
#include <type_traits>

namespace arenakit::detail {

/// What reserve() got: @taken units (0 when the bound was reached), and the
/// count right after its own CAS (for a high-water mark).
template <class T>
struct Reservation {
  T taken;
  T now;
};

/**
 * BoundedCount - an atomic count with a hard upper bound on reservations.
 * The bound is passed to reserve() (callers keep it on a cold line).
 */
template <class T>
  requires std::is_unsigned_v<T>
class BoundedCount {
public:
  /**
   * reserve - add up to @want without passing @bound (lock-free)
   * @Success: the CAS's success order
   *
   * Returns what was taken (possibly less than @want; 0 when full) and the
   * count after the add.
   */
  template <std::memory_order Success = std::memory_order_relaxed>
  Reservation<T> reserve(T want, T bound) noexcept {
    T current = v_.load(std::memory_order_relaxed); // checked, then confirmed by the CAS
    T take;
    do {
      if (current >= bound) return {0, current};
      take = std::min(want, static_cast<T>(bound - current));
      // Success order chosen by the caller (see the file comment); failure
      // relaxed: only a retry with the fresh value.
    } while (!v_.compare_exchange_weak(current, static_cast<T>(current + take), Success,
                                       std::memory_order_relaxed));
    return {take, static_cast<T>(current + take)};
  }

  /// release - give @n units back (wait-free; one fetch_sub with @Order).
  /// Returns the count before (a caller can tell it was at its bound).
  template <std::memory_order Order = std::memory_order_relaxed>
  T release(T n) noexcept {
    return v_.fetch_sub(n, Order);
  }

  /// add_over_bound - take @n units whatever the bound (relaxed: a budget).
  void add_over_bound(T n) noexcept { v_.fetch_add(n, std::memory_order_relaxed); }

  [[nodiscard]] T load(std::memory_order order = std::memory_order_relaxed) const noexcept {
    return v_.load(order);
  }

private:
  std::atomic<T> v_{0};
};

/**
 * fetch_max - raise @a to @value unless it is already at least that
 *
 * Relaxed: a statistic. Writes only when it grows, so a warm high-water mark
 * costs one load.
 */
template <class T>
void fetch_max(std::atomic<T>& a, T value) noexcept {
  T seen = a.load(std::memory_order_relaxed);
  while (value > seen && !a.compare_exchange_weak(seen, value, std::memory_order_relaxed)) {
  }
}

/// fetch_min - lower @a to @value unless it is already at most that (relaxed, as fetch_max).
template <class T>
void fetch_min(std::atomic<T>& a, T value) noexcept {
  T seen = a.load(std::memory_order_relaxed);
  while (value < seen && !a.compare_exchange_weak(seen, value, std::memory_order_relaxed)) {
  }
}

} // namespace arenakit::detail
