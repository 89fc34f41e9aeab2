// SPDX-License-Identifier: MIT
/**
 * @file detail/layout.hpp
 * @brief Compile-time checks of which cache line a field sits on, for the
 *        types whose comments say "line 1 / line 2" (rigtorp-style
 *        offsetof / alignof asserts).
 *
 *     ARENAKIT_LAYOUT_CHECK_BEGIN
 *     static_assert(ARENAKIT_LINE_OF(T, head_) != ARENAKIT_LINE_OF(T, counters_), "...");
 *     ARENAKIT_LAYOUT_CHECK_END
 *
 * Put the asserts in a member function body (the class is complete there,
 * and private fields are in reach); in a class template, one that is always
 * instantiated (the destructor). offsetof on a type that is not
 * standard-layout (a user's Waker or Source may make it so) is
 * conditionally supported: GCC and Clang give the real offset of a
 * non-virtual class, and the BEGIN/END pair silences their warning.
 * No runtime code.
 */
#pragma once

#include <arenakit/config.hpp>

#include <cstddef>

namespace arenakit::detail {

/// The cache line (counted from the object's start) of byte @offset.
constexpr std::size_t cache_line_of(std::size_t offset) noexcept { return offset / cache_line_size; }

} // namespace arenakit::detail

#define ARENAKIT_LINE_OF(T, member) (::arenakit::detail::cache_line_of(offsetof(T, member)))

#if defined(__GNUC__) || defined(__clang__)
#define ARENAKIT_LAYOUT_CHECK_BEGIN                                                              \
  _Pragma("GCC diagnostic push") _Pragma("GCC diagnostic ignored \"-Winvalid-offsetof\"")
#define ARENAKIT_LAYOUT_CHECK_END _Pragma("GCC diagnostic pop")
#else
#define ARENAKIT_LAYOUT_CHECK_BEGIN
#define ARENAKIT_LAYOUT_CHECK_END
#endif
