// SPDX-License-Identifier: MIT
/**
 * @file error.hpp
 * @brief Set-up errors as std::error_code, and a small Result<T> for calls
 *        that return a value or an error. Works with -fno-exceptions: nothing
 *        here throws.
 */
#pragma once

#include <arenakit/detail/error_category.hpp>

#include <optional>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>

namespace arenakit {

/// Why a set-up call (arena construction, growth, mapping, binding) failed.
/// Hot paths never report through these: they return empty ids or false.
enum class errc : int {
  ok = 0,
  invalid_config = 1,    ///< a size is not a power of two, zero, or inconsistent
  id_space_exhausted,    ///< more ids than the id layout can name (an arena's shards x slots per shard, a token's pages or binding id)
  out_of_memory,         ///< the memory source could not provide a region, or an object's own tables could not be reserved
  map_failed,            ///< the mapper refused to map a region
  limit_reached,         ///< growth would pass the configured shard or byte limit
  hugepages_unavailable, ///< MAP_HUGETLB failed and fallback was not allowed
  numa_bind_failed,      ///< mbind() refused the requested node
  slots_outstanding,     ///< teardown found slots still held by users
  size_overflow,         ///< a byte size or count does not fit its type (slot > 4 GiB - 1, shards x shard size > 2^64)
  mapping_budget,        ///< growth would need a mapping past ArenaConfig::max_mappings
};

namespace detail {
/// The category behind arenakit::errc ("arenakit"); messages are meant for logs.
struct ErrcErrors {
  static constexpr const char* name = "arenakit";
  static constexpr const char* unknown = "unknown arenakit error";
  static constexpr detail::ErrorMessage<errc> messages[] = {
      {errc::ok, "success"},
      {errc::invalid_config, "invalid configuration"},
      {errc::id_space_exhausted,
       "configuration names more than its ids can: an arena's shards x slots per shard past 2^24 "
       "(24 bits of a 32-bit slot id), or a token's pages or binding id past the token's width"},
      {errc::out_of_memory, "out of memory: the memory source could not provide a region, or the tables could not be reserved"},
      {errc::map_failed, "mapper could not map the region"},
      {errc::limit_reached, "configured shard or byte limit reached"},
      {errc::hugepages_unavailable, "huge pages unavailable and fallback disabled"},
      {errc::numa_bind_failed, "mbind() refused the requested NUMA node"},
      {errc::slots_outstanding, "slots are still held by users"},
      {errc::size_overflow,
       "a size does not fit: slot_size must fit 32 bits and max_shards * shard_size 64 bits"},
      {errc::mapping_budget, "growth would need more device mappings than max_mappings allows"},
  };
};
} // namespace detail

/// The one arenakit error category (a function-local static, as the standard
/// categories are: comparing categories compares addresses).
inline const std::error_category& error_category() noexcept { return detail::category_of<detail::ErrcErrors>(); }

inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), error_category()};
}

/// A value or an error code. Deliberately small (no exceptions, no monadic
/// helpers): set-up code checks `if (!r) return r.error();` and moves on.
template <class T>
class Result {
public:
  Result(T value) noexcept(std::is_nothrow_move_constructible_v<T>) // NOLINT: implicit by design
      : value_(std::move(value)) {}
  /// An error. An empty code would claim nothing went wrong without a
  /// value; it is taken as errc::invalid_config so has_value() stays honest.
  Result(std::error_code error) noexcept // NOLINT
      : error_(error ? error : make_error_code(errc::invalid_config)) {}
  Result(errc error) noexcept : Result(make_error_code(error)) {} // NOLINT

  [[nodiscard]] bool has_value() const noexcept { return value_.has_value(); }
  explicit operator bool() const noexcept { return has_value(); }
  /// Empty when has_value().
  [[nodiscard]] std::error_code error() const noexcept { return error_; }

  /// Precondition: has_value().
  T& value() & noexcept { return *value_; }
  const T& value() const& noexcept { return *value_; }
  T&& value() && noexcept { return std::move(*value_); }
  T& operator*() & noexcept { return *value_; }
  const T& operator*() const& noexcept { return *value_; }
  T* operator->() noexcept { return &*value_; }
  const T* operator->() const noexcept { return &*value_; }

private:
  // Optional-style storage: an error holds no T, so T needs no default
  // constructor and no "must not be used" empty state.
  std::optional<T> value_;
  std::error_code error_{};
};

} // namespace arenakit

template <>
struct std::is_error_code_enum<arenakit::errc> : std::true_type {};
