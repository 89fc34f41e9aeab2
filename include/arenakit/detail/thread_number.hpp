// SPDX-License-Identifier: MIT
/**
 * @file detail/thread_number.hpp
 * @brief A small number per thread, handed out round-robin at the thread's
 *        first call: spreads threads over per-group structures (an arena's
 *        partial lists) the way per-CPU slabs spread CPUs, without asking
 *        the kernel which CPU we are on (a thread that migrates keeps its
 *        number; correctness never depends on it).
 */
#pragma once

#include <atomic>
#include <cstdint>

namespace arenakit::detail {

inline std::atomic<std::uint32_t> next_thread_number{0};
// Constant-initialised, so an access is one TLS load (a dynamic initialiser
// would put a call to the TLS wrapper on every access).
inline thread_local std::uint32_t this_thread_number = 0xFFFF'FFFFu;

inline std::uint32_t thread_number() noexcept {
  std::uint32_t mine = this_thread_number;
  if (__builtin_expect(mine == 0xFFFF'FFFFu, 0)) {
    // Relaxed: a spread, not a publication; any value is correct.
    mine = next_thread_number.fetch_add(1, std::memory_order_relaxed) & 0x7FFF'FFFFu;
    this_thread_number = mine;
  }
  return mine;
}

} // namespace arenakit::detail
