// SPDX-License-Identifier: MIT
// detail::ErrorCategory: a table-driven and a computed definition give one
// category instance each, with the given name, messages and conditions.
#include <arenakit/detail/error_category.hpp>

#include <doctest/doctest.h>

#include <cerrno>
#include <string>
#include <system_error>

namespace {
enum class demo_errc : int { first = 1, second };

struct DemoErrors {
  static constexpr const char* name = "demo";
  static constexpr const char* unknown = "unknown demo error";
  static constexpr arenakit::detail::ErrorMessage<demo_errc> messages[] = {
      {demo_errc::first, "the first"},
      {demo_errc::second, "the second"},
  };
};

struct ErrnoErrors {
  static constexpr const char* name = "demo.errno";
  static std::string message(int value) { return "errno " + std::to_string(value); }
  static std::error_condition condition(int value) noexcept { return {value, std::generic_category()}; }
};
} // namespace

TEST_CASE("ErrorCategory from a message table") {
  const std::error_category& c = arenakit::detail::category_of<DemoErrors>();
  CHECK(&c == &arenakit::detail::category_of<DemoErrors>()); // one instance
  CHECK(std::string(c.name()) == "demo");
  CHECK(c.message(1) == "the first");
  CHECK(c.message(2) == "the second");
  CHECK(c.message(42) == "unknown demo error");
  const std::error_code ec(2, c);
  CHECK(ec.default_error_condition().category() == c); // no mapping: its own
}

TEST_CASE("ErrorCategory with computed messages and a generic condition") {
  const std::error_category& c = arenakit::detail::category_of<ErrnoErrors>();
  CHECK(&c != &arenakit::detail::category_of<DemoErrors>());
  CHECK(c.message(12) == "errno 12");
  const std::error_code ec(ENOMEM, c);
  CHECK(ec == std::errc::not_enough_memory);
}
