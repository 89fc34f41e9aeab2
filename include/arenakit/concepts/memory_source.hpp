// SPDX-License-Identifier: MIT
/**
 * @file concepts/memory_source.hpp
 * @brief The MemorySource concept: where a shard's memory comes from.
 *
 * Requirements on S (each checked by check_memory_source<S>() with a message
 * that names what is missing):
 * - `s.allocate(bytes, alignment) noexcept -> Result<Region>`: a region of
 *   exactly `bytes`, its first byte aligned to `alignment` (a power of two,
 *   at most `bytes`). Fails with an error code, never throws, never aborts.
 * - `s.deallocate(const Region&) noexcept`: gives back a region this source
 *   allocated.
 * - move-constructible: an arena keeps its source by value.
 *
 * Sources are plain configuration values; anything they count travels back in
 * the Region (Region::huge_page_fallback), so the arena owns all counters.
 */
#pragma once

#include <arenakit/error.hpp>
#include <arenakit/region.hpp>

#include <concepts>
#include <cstddef>

namespace arenakit {

template <class S>
concept MemorySource = std::move_constructible<S> &&
                       requires(S& s, std::size_t n, const Region& r) {
                         { s.allocate(n, n) } noexcept -> std::same_as<Result<Region>>;
                         { s.deallocate(r) } noexcept;
                       };

template <class S>
constexpr bool check_memory_source() {
  static_assert(requires(S& s, std::size_t n) {
                  { s.allocate(n, n) } noexcept -> std::same_as<Result<Region>>;
                },
                "arenakit: MemorySource is missing `allocate(std::size_t bytes, std::size_t "
                "alignment) noexcept -> arenakit::Result<arenakit::Region>`");
  static_assert(requires(S& s, const Region& r) { { s.deallocate(r) } noexcept; },
                "arenakit: MemorySource is missing `deallocate(const arenakit::Region&) noexcept`");
  static_assert(std::move_constructible<S>,
                "arenakit: MemorySource must be move-constructible (the arena keeps it by value)");
  return true;
}

} // namespace arenakit
