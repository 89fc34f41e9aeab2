#include <arenakit/error.hpp>

#include <doctest/doctest.h>

#include <type_traits>

#include <system_error>

using namespace arenakit;

TEST_CASE("errc converts to std::error_code in the arenakit category") {
  std::error_code ec = errc::limit_reached;
  CHECK(ec);
  CHECK(ec.category().name() == std::string("arenakit"));
  CHECK(ec == make_error_code(errc::limit_reached));
  CHECK(ec != make_error_code(errc::out_of_memory));
  CHECK(ec.message() == "configured shard or byte limit reached");
}

TEST_CASE("every errc has its own message") {
  for (int v = 1; v <= static_cast<int>(errc::size_overflow); ++v) {
    const std::string m = make_error_code(static_cast<errc>(v)).message();
    CHECK(m != "unknown arenakit error");
  }
}

TEST_CASE("Result carries a value or an error, never both") {
  Result<int> ok = 42;
  REQUIRE(ok);
  CHECK(*ok == 42);
  CHECK_FALSE(ok.error());
  Result<int> bad = errc::map_failed;
  CHECK_FALSE(bad);
  CHECK(bad.error() == make_error_code(errc::map_failed));
}

namespace {
// No default constructor: Result<T> must not need one (issue 11: no public
// type gets a "must not be used" default state for Result's sake).
struct NoDefault {
  explicit NoDefault(int v) noexcept : value(v) {}
  int value;
};
} // namespace

TEST_CASE("Result stores like an optional: no default-constructed T, and an empty code is still an error") {
  static_assert(!std::is_default_constructible_v<NoDefault>);
  Result<NoDefault> ok = NoDefault{7};
  REQUIRE(ok);
  CHECK(ok->value == 7);
  Result<NoDefault> bad = errc::out_of_memory;
  CHECK_FALSE(bad);
  CHECK(bad.error() == make_error_code(errc::out_of_memory));
  Result<NoDefault> empty_code = std::error_code{}; // a caller bug: no value, no error
  CHECK_FALSE(empty_code);
  CHECK(empty_code.error() == make_error_code(errc::invalid_config));
  Result<NoDefault> moved = std::move(ok);
  CHECK(moved->value == 7);
}
