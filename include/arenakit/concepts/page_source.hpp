// SPDX-License-Identifier: MIT
/**
 * @file concepts/page_source.hpp
 * @brief The PageSource concept: where a PagePool's pages come from and where overflow goes.
 */
#pragma once

#include <concepts>
#include <cstddef>

namespace arenakit {

/**
 * PageSource - where a pool's pages come from and where overflow goes.
 * allocate_page() returns null on failure; free_page() must be thread-safe
 * (producers overflow from any thread). Pages are at least 64 bytes and
 * aligned for a pointer (the pool keeps its link in the page).
 */
template <class S>
concept PageSource = requires(S& s, const S& cs, std::byte* page) {
  { s.allocate_page() } noexcept -> std::same_as<std::byte*>;
  { s.free_page(page) } noexcept;
  { cs.page_size() } noexcept -> std::convertible_to<std::size_t>;
  { cs.numa_node() } noexcept -> std::convertible_to<int>;
};

} // namespace arenakit
