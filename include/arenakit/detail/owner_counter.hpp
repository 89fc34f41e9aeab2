// SPDX-License-Identifier: MIT
/**
 * @file detail/owner_counter.hpp
 * @brief Counters written by one thread and read by any: a load and a store
 *        (no locked instruction), through an atomic so readers on other
 *        threads see whole values.
 *
 * Barriers: owner_add()/owner_sub() load relaxed (only the owner writes, so
 * it reads its own last value) and store with the order the caller names as
 * a template argument: relaxed for a statistic (the default), release when
 * the value publishes something (a reader's acquire load then pairs with
 * it). A template argument, not a function argument: a memory order the
 * compiler cannot see as a constant is compiled as seq_cst (a locked
 * instruction on x86), and these counters sit on hot paths.
 *
 * Progress: wait-free (two plain instructions on x86).
 *
 * Precondition: one writer at a time. Two concurrent writers lose updates:
 * use fetch_add for a counter with several writers.
 */
#pragma once

#include <arenakit/config.hpp>

#include <atomic>
#include <type_traits>

namespace arenakit::detail {

/// owner_add - @counter += @n by its only writer; returns the new value.
/// @StoreOrder: relaxed by default (a count readers snapshot, pairing with
/// nothing); a caller that publishes through the store passes release and
/// names its pair at the call.
template <std::memory_order StoreOrder = std::memory_order_relaxed, class T>
ARENAKIT_ALWAYS_INLINE T owner_add(std::atomic<T>& counter, std::type_identity_t<T> n) noexcept {
  // Relaxed load: the owner reads back its own last store.
  const T v = static_cast<T>(counter.load(std::memory_order_relaxed) + n);
  counter.store(v, StoreOrder); // the caller's order (see the file comment)
  return v;
}

/// owner_sub - @counter -= @n by its only writer; returns the new value.
/// @StoreOrder: as owner_add().
template <std::memory_order StoreOrder = std::memory_order_relaxed, class T>
ARENAKIT_ALWAYS_INLINE T owner_sub(std::atomic<T>& counter, std::type_identity_t<T> n) noexcept {
  const T v = static_cast<T>(counter.load(std::memory_order_relaxed) - n); // own last store
  counter.store(v, StoreOrder); // the caller's order
  return v;
}

} // namespace arenakit::detail
