// SPDX-License-Identifier: MIT
/**
 * @file detail/error_category.hpp
 * @brief The one way arenakit writes a std::error_category: a definition
 *        type gives the name and the messages, ErrorCategory<Def> is the
 *        category, category_of<Def>() its single instance.
 *
 *     struct MyErrors {
 *       static constexpr const char* name = "arenakit.my";
 *       static constexpr const char* unknown = "unknown arenakit.my error";
 *       static constexpr ErrorMessage<my_errc> messages[] = {
 *           {my_errc::bad, "bad thing"}, ...};
 *     };
 *     inline const std::error_category& my_category() noexcept { return detail::category_of<MyErrors>(); }
 *
 * A definition either lists `messages` (an enum-value -> text table, with
 * `unknown` for values not in it) or writes `static std::string
 * message(int)` itself (messages computed from an errno). It may add
 * `static std::error_condition condition(int) noexcept` to map values to
 * another category's conditions (e.g. generic errno), which becomes
 * default_error_condition().
 *
 * No atomics: the instance is a function-local static (thread-safe
 * initialization; categories compare by address, so there is exactly one).
 */
#pragma once

#include <cstddef>
#include <string>
#include <system_error>

namespace arenakit::detail {

/// One row of a message table.
template <class E>
struct ErrorMessage {
  E value;
  const char* text;
};

/// The message of @value in @table, or @unknown (a linear scan: cold path).
template <class E, std::size_t N>
std::string error_message(const ErrorMessage<E> (&table)[N], int value, const char* unknown) {
  for (const ErrorMessage<E>& row : table)
    if (static_cast<int>(row.value) == value) return row.text;
  return unknown;
}

template <class Def>
class ErrorCategory final : public std::error_category {
public:
  const char* name() const noexcept override { return Def::name; }
  std::string message(int value) const override {
    if constexpr (requires { Def::messages; })
      return error_message(Def::messages, value, Def::unknown);
    else
      return Def::message(value);
  }
  std::error_condition default_error_condition(int value) const noexcept override {
    if constexpr (requires { Def::condition(value); })
      return Def::condition(value);
    else
      return std::error_category::default_error_condition(value);
  }
};

/// The one instance of ErrorCategory<Def> (categories compare by address).
template <class Def>
const std::error_category& category_of() noexcept {
  static const ErrorCategory<Def> category;
  return category;
}

} // namespace arenakit::detail
