// SPDX-License-Identifier: MIT
// Issue 15.2: mappings counted in extents, under a budget. A 64 KiB shard is
// the allocation unit; ArenaConfig::shards_per_extent groups shards into one
// mapping (one MR / fixed buffer), and ArenaConfig::max_mappings caps how
// many the arena may hold. Through the seams: a mapper and a source that
// count (and can fail) every call.
#include <arenakit/arena/arena.hpp>
#include <arenakit/sources/mmap.hpp>

#include "arena_seams.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <set>
#include <string>
#include <vector>

using namespace arenakit;

namespace {

using arena_seams::Calls;
using arena_seams::CountingMapper;
using arena_seams::CountingSource;

using ExtentArena = Arena<CountingMapper, BitmapSlots, ImmediateReclaimer, CountingSource>;

ArenaConfig config(std::uint32_t shards_per_extent, std::uint32_t max_mappings = 0,
                                std::uint32_t max_shards = 0) {
  return ArenaConfig{.slot_size = 4096, .shard_size = 64 * 1024, .max_shards = max_shards,
                     .shards_per_extent = shards_per_extent, .max_mappings = max_mappings};
}

/// Grow @a to @shards shards by acquiring every slot; returns the ids.
std::vector<SlotId> fill(ExtentArena& a, std::uint32_t shards) {
  std::vector<SlotId> ids;
  for (std::uint32_t i = 0; i < shards * 16; ++i) {
    const SlotId id = a.acquire();
    if (!id) break;
    ids.push_back(id);
  }
  return ids;
}

} // namespace

TEST_CASE("extents: 1,024 x 64 KiB shards make 1,024 mappings per shard and 32 with 2 MiB extents") {
  for (const std::uint32_t per : {1u, 32u}) {
    Calls calls;
    {
      ExtentArena a(config(per), CountingMapper{&calls}, ImmediateReclaimer{}, CountingSource{&calls});
      REQUIRE(a);
      const auto ids = fill(a, 1024);
      REQUIRE(ids.size() == 1024 * 16);
      const ArenaCounters c = a.counters();
      CHECK(c.shards == 1024);
      CHECK(c.mappings == 1024 / per);
      CHECK(calls.maps.load() == static_cast<int>(1024 / per));
      CHECK(calls.allocations.load() == static_cast<int>(1024 / per));
      CHECK(calls.biggest == std::size_t{per} * 64 * 1024);
      for (SlotId id : ids) CHECK(a.release(id));
    }
    CHECK(calls.unmaps.load() == calls.maps.load());
    CHECK(calls.deallocations.load() == calls.allocations.load());
  }
}

TEST_CASE("extents: a slot's device address, pointer and key stay O(1) lookups across the extent") {
  Calls calls;
  ExtentArena a(config(4), CountingMapper{&calls}, ImmediateReclaimer{}, CountingSource{&calls});
  REQUIRE(a);
  const auto ids = fill(a, 8); // two extents of four shards
  REQUIRE(ids.size() == 8 * 16);
  std::set<std::uint32_t> keys;
  for (SlotId id : ids) {
    const auto b = a.buffer(id);
    REQUIRE(b.mapping != nullptr);
    keys.insert(b.mapping->key);
    // Contiguous on the device: inside its extent's mapping.
    CHECK(b.device_address >= b.mapping->iova);
    CHECK(b.device_address - b.mapping->iova + 4096 <= b.mapping->bytes);
    CHECK(a.from_device_address(b.device_address) == id);
    CHECK(a.from_pointer(b.data) == id);
    // Within an extent, CPU and device offsets agree, shard after shard.
    const auto first = a.buffer(ids[b.mapping->key == 100 ? 0 : 64]);
    REQUIRE(first.mapping->key == b.mapping->key);
    CHECK(b.data - first.data == static_cast<std::ptrdiff_t>(b.device_address - first.device_address));
  }
  CHECK(keys == std::set<std::uint32_t>{100, 101}); // one key per extent, shared by its four shards
  for (SlotId id : ids) CHECK(a.release(id));
}

TEST_CASE("extents: the mapping budget refuses growth at exactly the limit, counted, nothing taken") {
  Calls calls;
  ExtentArena a(config(4, /*max_mappings=*/2), CountingMapper{&calls}, ImmediateReclaimer{}, CountingSource{&calls});
  REQUIRE(a);
  const auto ids = fill(a, 100);
  CHECK(ids.size() == 2 * 4 * 16); // two extents, then the budget
  const ArenaCounters c = a.counters();
  CHECK(c.shards == 8);
  CHECK(c.mappings == 2);
  CHECK(c.mapping_budget_hits >= 1);
  CHECK(a.last_growth_error() == make_error_code(errc::mapping_budget));
  CHECK(calls.maps == 2);
  CHECK(calls.allocations == 2); // the refusal took nothing from the source
  CHECK(std::string(make_error_code(errc::mapping_budget).message()).find("max_mappings") != std::string::npos);
  CHECK(a.release(ids[3]));
  CHECK(a.acquire()); // still usable inside the budget
}

TEST_CASE("extents: a failure mapping extent k leaks nothing and the arena stays usable") {
  Calls calls;
  calls.fail_map_at = 2; // the third extent
  {
    ExtentArena a(config(4), CountingMapper{&calls}, ImmediateReclaimer{}, CountingSource{&calls});
    REQUIRE(a);
    auto ids = fill(a, 100);
    CHECK(ids.size() == 2 * 4 * 16); // extents 0 and 1, then the failure
    CHECK(a.last_growth_error() == make_error_code(errc::map_failed));
    CHECK(a.counters().growth_failures >= 1);
    CHECK(a.counters().mappings == 2);
    CHECK(calls.deallocations == 1); // the failed extent's region went straight back
    // The mapper recovers: growth resumes with the next extent.
    const SlotId more = a.acquire();
    REQUIRE(more);
    CHECK(a.counters().mappings == 3);
    ids.push_back(more);
    for (SlotId id : ids) CHECK(a.release(id));
  }
  CHECK(calls.unmaps == 3);
  CHECK(calls.allocations.load() == calls.deallocations.load());
}

TEST_CASE("extents: the last extent is cut short by max_shards; a bad extent size is refused") {
  Calls calls;
  {
    ExtentArena a(config(4, 0, /*max_shards=*/6), CountingMapper{&calls}, ImmediateReclaimer{},
                  CountingSource{&calls});
    REQUIRE(a);
    const auto ids = fill(a, 100);
    CHECK(ids.size() == 6 * 16);
    CHECK(a.counters().mappings == 2); // 4 + 2 shards
    CHECK(calls.biggest == 4 * 64 * 1024);
    for (SlotId id : ids) CHECK(a.release(id));
  }
  CHECK(calls.allocations.load() == calls.deallocations.load());
  CHECK(calls.unmaps.load() == calls.maps.load());
  for (const std::uint32_t bad : {0u, 3u, 6u}) {
    ExtentArena b(config(bad), CountingMapper{&calls}, ImmediateReclaimer{}, CountingSource{&calls});
    CHECK(b.error() == make_error_code(errc::invalid_config));
  }
}
