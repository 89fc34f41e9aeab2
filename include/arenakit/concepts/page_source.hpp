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
 *
 * check_page_source<S>() asserts each requirement with a message that names
 * what is missing (PagePool asserts it on its Source).
 */
template <class S>
concept PageSource = requires(S& s, const S& cs, std::byte* page) {
  { s.allocate_page() } noexcept -> std::same_as<std::byte*>;
  { s.free_page(page) } noexcept;
  { cs.page_size() } noexcept -> std::convertible_to<std::size_t>;
  { cs.numa_node() } noexcept -> std::convertible_to<int>;
};

template <class S>
constexpr bool check_page_source() {
  static_assert(requires(S& s) {
                  { s.allocate_page() } noexcept -> std::same_as<std::byte*>;
                },
                "arenakit: PageSource is missing `allocate_page() noexcept -> std::byte*` "
                "(null on failure)");
  static_assert(requires(S& s, std::byte* page) { { s.free_page(page) } noexcept; },
                "arenakit: PageSource is missing `free_page(std::byte*) noexcept` "
                "(thread-safe: producers overflow from any thread)");
  static_assert(requires(const S& s) {
                  { s.page_size() } noexcept -> std::convertible_to<std::size_t>;
                },
                "arenakit: PageSource is missing `page_size() const noexcept -> std::size_t`");
  static_assert(requires(const S& s) {
                  { s.numa_node() } noexcept -> std::convertible_to<int>;
                },
                "arenakit: PageSource is missing `numa_node() const noexcept -> int`");
  return true;
}

} // namespace arenakit
