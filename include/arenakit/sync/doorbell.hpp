// SPDX-License-Identifier: MIT
/**
 * @file sync/doorbell.hpp
 * @brief Doorbell: a latching wake-up for one owner thread, and RingDoorbell, the Waker that rings it.
 */
#pragma once

#include <atomic>
#include <cstdint>

namespace arenakit {

/**
 * Doorbell - a latching wake-up for one owner thread (C++20 atomic wait).
 *
 * Owner:  auto seen = bell.snapshot(); if (list.park(teardown)) bell.wait(seen);
 * Waker:  bell.ring();
 *
 * Taking the snapshot before park() is what makes it latch: a ring between
 * the snapshot and wait() changes the sequence, and wait() returns at once.
 * Progress: ring() is lock-free (one RMW plus a futex wake when someone may
 * be waiting); wait() blocks.
 */
class Doorbell {
public:
  /// Current sequence; pass it to wait().
  [[nodiscard]] std::uint32_t snapshot() const noexcept {
    // (db-1) acquire: pairs with (db-2); what the ringer did before ringing is
    // visible after a wait() that saw the new value.
    return seq_.load(std::memory_order_acquire);
  }
  /// Blocks while the sequence still equals @seen.
  void wait(std::uint32_t seen) const noexcept { seq_.wait(seen, std::memory_order_acquire); } // (db-1') as (db-1): pairs with (db-2)
  /// Wakes the owner (or makes its next wait() return at once).
  void ring() noexcept {
    seq_.fetch_add(1, std::memory_order_release); // (db-2) pairs with (db-1), (db-1')
    seq_.notify_one();
  }
  /// Rings seen so far (for tests and counters).
  [[nodiscard]] std::uint32_t rings() const noexcept { return seq_.load(std::memory_order_relaxed); }

private:
  std::atomic<std::uint32_t> seq_{0};
};

/// A Waker that rings a Doorbell.
struct RingDoorbell {
  Doorbell* bell;
  void operator()() const noexcept { bell->ring(); }
};

} // namespace arenakit
