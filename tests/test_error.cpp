#include <arenakit/error.hpp>

#include <doctest/doctest.h>

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
