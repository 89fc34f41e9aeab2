#include <arenakit/mappers/noop.hpp>

#include <doctest/doctest.h>

#include <cstdint>

using namespace arenakit;

TEST_CASE("NoopMapper: device address is the CPU address, unmap forgets it") {
  alignas(64) std::byte buf[256];
  NoopMapper m;
  Region r;
  r.data = buf;
  r.size = sizeof buf;
  auto mapping = m.map(r);
  REQUIRE(mapping);
  CHECK(m.device_address(*mapping) == reinterpret_cast<std::uint64_t>(buf));
  m.unmap(*mapping);
  CHECK(m.device_address(*mapping) == 0);
}
