// SPDX-License-Identifier: MIT
/**
 * @file detail/spin_lock.hpp
 * @brief The one spin lock (test-and-test-and-set) and its backoff, for
 *        short critical sections off the hot paths (a token consumer's
 *        shared-page table, an epoch domain's registry and advance).
 *
 * Barriers:
 * - lock() / try_lock(): acquire if it succeeds (sl-1), pairs with the
 *   previous holder's unlock() (sl-2): that holder's writes are visible.
 * - unlock(): release (sl-2), pairs with the next holder's (sl-1).
 * - cpu_relax(), SpinWait, backoff_sleep(): no ordering effect.
 *
 * Progress: try_lock and unlock are wait-free; lock blocks (it spins a few
 * times with a pause, then yields the CPU, so a waiter never starves the
 * holder on a machine with fewer cores than threads).
 */
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>

namespace arenakit::detail {

/// cpu_relax() - tell the core we are spinning (no ordering effect).
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

/// Spins a few times, then yields the CPU: on a machine with fewer cores than
/// threads a spinner must not starve the thread it waits for.
struct SpinWait {
  unsigned n = 0;
  void operator()() noexcept {
    if (++n < 64) {
      cpu_relax();
    } else {
      std::this_thread::yield();
    }
  }
};

/**
 * backoff_sleep - wait before retry number @attempt of something that waits
 *                 on another thread's progress (a reader leaving its guard)
 *
 * Yields for the first 16 attempts, then sleeps 10 us per attempt, at most
 * 1 ms. Blocking; no ordering effect.
 */
inline void backoff_sleep(unsigned attempt) noexcept {
  if (attempt < 16)
    std::this_thread::yield();
  else
    std::this_thread::sleep_for(std::chrono::microseconds(std::min(1000u, 10u * attempt)));
}

/**
 * SpinLock - test-and-test-and-set lock (4 bytes). Hold it for a few
 * operations, never across user code.
 */
class SpinLock {
public:
  /// try_lock - take the lock if it is free (wait-free); acquire on success (sl-1).
  [[nodiscard]] bool try_lock() noexcept {
    // Relaxed test first: a held lock costs no RMW (no line ping-pong).
    // (sl-1) acquire, pairs with (sl-2) of the previous holder.
    return v_.load(std::memory_order_relaxed) == 0 && v_.exchange(1, std::memory_order_acquire) == 0;
  }
  /// lock - take the lock (blocking); acquire (sl-1).
  void lock() noexcept {
    SpinWait wait;
    // (sl-1) acquire: pairs with (sl-2) of the previous holder, so its
    // writes under the lock are visible to us.
    while (v_.exchange(1, std::memory_order_acquire) != 0) {
      while (v_.load(std::memory_order_relaxed) != 0) wait(); // test: no RMW while held
    }
  }
  /// unlock - (sl-2) release, pairs with the next holder's (sl-1).
  void unlock() noexcept { v_.store(0, std::memory_order_release); }

private:
  std::atomic<std::uint32_t> v_{0};
};

static_assert(sizeof(SpinLock) == 4, "a SpinLock is one 32-bit word");

/// RAII guard for SpinLock (noexcept, no allocation).
class SpinLockGuard {
public:
  explicit SpinLockGuard(SpinLock& l) noexcept : l_(l) { l_.lock(); }
  ~SpinLockGuard() { l_.unlock(); }
  SpinLockGuard(const SpinLockGuard&) = delete;
  SpinLockGuard& operator=(const SpinLockGuard&) = delete;

private:
  SpinLock& l_;
};

} // namespace arenakit::detail
