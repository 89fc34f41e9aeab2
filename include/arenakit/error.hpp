// SPDX-License-Identifier: MIT
/**
 * @file error.hpp
 * @brief Set-up errors as std::error_code, and a small Result<T> for calls
 *        that return a value or an error. Works with -fno-exceptions: nothing
 *        here throws.
 */
#pragma once

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
  id_space_exhausted,    ///< the limit needs more shards than a 32-bit id can name
  out_of_memory,         ///< the memory source could not provide a region
  map_failed,            ///< the mapper refused to map a region
  limit_reached,         ///< growth would pass the configured shard or byte limit
  hugepages_unavailable, ///< MAP_HUGETLB failed and fallback was not allowed
  numa_bind_failed,      ///< mbind() refused the requested node
  slots_outstanding,     ///< teardown found slots still held by users
  size_overflow,         ///< a byte size or count does not fit its type (slot > 4 GiB - 1, shards x shard size > 2^64)
};

/// The category behind arenakit::errc; messages are meant for logs.
class error_category_impl final : public std::error_category {
public:
  const char* name() const noexcept override { return "arenakit"; }
  std::string message(int value) const override {
    switch (static_cast<errc>(value)) {
    case errc::ok: return "success";
    case errc::invalid_config: return "invalid configuration";
    case errc::id_space_exhausted: return "configuration needs more shards than a 32-bit slot id can name";
    case errc::out_of_memory: return "memory source could not provide a region";
    case errc::map_failed: return "mapper could not map the region";
    case errc::limit_reached: return "configured shard or byte limit reached";
    case errc::hugepages_unavailable: return "huge pages unavailable and fallback disabled";
    case errc::numa_bind_failed: return "mbind() refused the requested NUMA node";
    case errc::slots_outstanding: return "slots are still held by users";
    case errc::size_overflow:
      return "a size does not fit: slot_size must fit 32 bits and max_shards * shard_size 64 bits";
    }
    return "unknown arenakit error";
  }
};

/// The one arenakit error category (a function-local static, as the standard
/// categories are: comparing categories compares addresses).
inline const std::error_category& error_category() noexcept {
  static const error_category_impl category;
  return category;
}

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
  Result(std::error_code error) noexcept : error_(error) {}         // NOLINT
  Result(errc error) noexcept : error_(make_error_code(error)) {}   // NOLINT

  [[nodiscard]] bool has_value() const noexcept { return !error_; }
  explicit operator bool() const noexcept { return has_value(); }
  [[nodiscard]] std::error_code error() const noexcept { return error_; }

  /// Precondition: has_value().
  T& value() & noexcept { return value_; }
  const T& value() const& noexcept { return value_; }
  T&& value() && noexcept { return std::move(value_); }
  T& operator*() & noexcept { return value_; }
  const T& operator*() const& noexcept { return value_; }
  T* operator->() noexcept { return &value_; }
  const T* operator->() const noexcept { return &value_; }

private:
  T value_{};
  std::error_code error_{};
};

} // namespace arenakit

template <>
struct std::is_error_code_enum<arenakit::errc> : std::true_type {};
