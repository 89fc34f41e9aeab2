// SPDX-License-Identifier: MIT
/**
 * @file config.hpp
 * @brief Compile-time knobs and portability macros shared by every header.
 */
#pragma once

#include <cstddef>

namespace arenakit {

/// Destructive interference size used to keep hot atomics of different
/// writers on different cache lines. 64 on every x86-64 and most arm64 parts;
/// a constant rather than std::hardware_destructive_interference_size so the
/// ABI of our types does not move with -mtune (GCC warns about exactly that).
inline constexpr std::size_t cache_line_size = 64;

} // namespace arenakit

#if defined(__GNUC__) || defined(__clang__)
#define ARENAKIT_LIKELY(x) __builtin_expect(!!(x), 1)
#define ARENAKIT_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define ARENAKIT_ALWAYS_INLINE inline __attribute__((always_inline))
#define ARENAKIT_NOINLINE __attribute__((noinline))
#else
#define ARENAKIT_LIKELY(x) (x)
#define ARENAKIT_UNLIKELY(x) (x)
#define ARENAKIT_ALWAYS_INLINE inline
#define ARENAKIT_NOINLINE
#endif

namespace arenakit::detail {

/// Ask for the cache line at @p, to be written soon (a hint; no effect on
/// correctness, nothing where the compiler has no builtin).
/// Always inlined, and so must be every wrapper whose only effect is this
/// prefetch: GCC treats __builtin_prefetch as free of side effects, marks
/// such a wrapper const and deletes its calls as dead code before it
/// inlines (g++ 12 -O1 and up: TokenTracker's returns lost their prefetch).
ARENAKIT_ALWAYS_INLINE void prefetch_for_write(const void* p) noexcept {
#if defined(__GNUC__) || defined(__clang__)
  __builtin_prefetch(p, 1, 3);
#else
  (void)p;
#endif
}

} // namespace arenakit::detail
