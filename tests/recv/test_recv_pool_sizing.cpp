// SPDX-License-Identifier: MIT
// Sizing a receive pool from (buffer size, count): the derived arena
// geometry, OwnedRecvPool's order of destruction, and ReservedSource keeping
// the process's mapping count (VMAs in /proc/self/maps) flat as shards grow.
#include <arenakit/arena/arena.hpp>
#include <arenakit/recv/owned_pool.hpp>
#include <arenakit/sources/mmap.hpp>
#include <arenakit/sources/reserved.hpp>

#include <doctest/doctest.h>

#include <cstdio>
#include <cstdint>
#include <fstream>
#include <set>
#include <utility>
#include <vector>
#include <string>

using namespace arenakit;

namespace {

/// Lines of /proc/self/maps: the process's VMAs.
int vmas() {
  std::ifstream f("/proc/self/maps");
  int n = 0;
  for (std::string line; std::getline(f, line);) ++n;
  return n;
}

/// How many distinct VMAs hold the pool's buffers (robust to whatever else
/// the process maps meanwhile, a sanitizer's allocator included).
template <class PoolT>
std::size_t vmas_holding(const PoolT& pool) {
  std::ifstream f("/proc/self/maps");
  std::vector<std::pair<std::uintptr_t, std::uintptr_t>> maps;
  for (std::string line; std::getline(f, line);) {
    std::uintptr_t lo = 0, hi = 0;
    if (std::sscanf(line.c_str(), "%lx-%lx", &lo, &hi) == 2) maps.emplace_back(lo, hi);
  }
  std::set<std::size_t> used;
  for (std::uint32_t bid = 0; bid < pool.size(); ++bid) {
    const auto p = reinterpret_cast<std::uintptr_t>(pool.data(static_cast<std::uint16_t>(bid)));
    for (std::size_t i = 0; i < maps.size(); ++i)
      if (p >= maps[i].first && p < maps[i].second) used.insert(i);
  }
  return used.size();
}

using ReservedArena = Arena<NoopMapper, BitmapSlots, ImmediateReclaimer, ReservedSource>;

} // namespace

TEST_CASE("the arena geometry is derived from (buffer size, count)") {
  ArenaConfig c = arena_config_for(RecvPoolSpec{.buffer_size = 4096, .buffers = 72});
  CHECK(c.slot_size == 4096);
  CHECK(c.shard_size == 64 * 1024);
  CHECK(c.max_shards == 5); // 72 / 16 per shard, rounded up
  CHECK(c.initial_shards == 5);
  c = arena_config_for(RecvPoolSpec{.buffer_size = 512, .buffers = 4});
  CHECK(c.shard_size == 2048); // no larger than the buffers need
  CHECK(c.max_shards == 1);
  c = arena_config_for(RecvPoolSpec{.buffer_size = 200 * 1024, .buffers = 3});
  CHECK(c.shard_size == 256 * 1024); // one buffer per shard at least
  CHECK(c.max_shards == 3);
  c = arena_config_for(RecvPoolSpec{.buffer_size = 1500, .buffers = 100, .shard_size = 1 << 20});
  CHECK(c.max_shards == 1); // 699 per MB shard
  CHECK(check_spec(RecvPoolSpec{.buffer_size = 4}) == errc::invalid_config);
  CHECK(check_spec(RecvPoolSpec{.buffers = 40000}) == errc::invalid_config);
  CHECK(check_spec(RecvPoolSpec{.buffer_size = 4096, .shard_size = 3000}) == errc::invalid_config);
  CHECK(check_spec(RecvPoolSpec{.buffer_size = 16, .buffers = 2, .shard_size = 32}) == errc::invalid_config);
  // A spec check_spec refuses gives a geometry every arena refuses (it divided
  // by zero before), not a crash.
  CHECK(arena_config_for(RecvPoolSpec{.buffer_size = 4096, .buffers = 4, .shard_size = 3000}).slot_size == 0);
  CHECK(arena_config_for(RecvPoolSpec{.buffer_size = 4}).slot_size == 0);
}

TEST_CASE("OwnedRecvPool: every spec check_spec accepts builds, tiny ones included") {
  // Fewer than 64 bytes of buffers in all asked for a shard under the
  // arena's 64-byte minimum, and the pool failed with invalid_config.
  for (const std::uint32_t size : {8u, 16u, 24u, 32u, 48u, 63u}) {
    for (const std::uint32_t count : {1u, 2u, 3u, 7u}) {
      const RecvPoolSpec spec{.buffer_size = size, .buffers = count, .mode = PoolMode::connectionless};
      REQUIRE(!check_spec(spec));
      CHECK(arena_config_for(spec).shard_size >= 64);
      OwnedRecvPool<> owned(spec);
      CHECK_MESSAGE(owned, "buffer_size ", size, " buffers ", count, ": ", owned.error().message());
      if (owned) CHECK(owned.pool().size() == count);
    }
  }
}

TEST_CASE("OwnedRecvPool: every buffer from one spec, the arena destroyed after the pool, clean") {
  {
    OwnedRecvPool<> owned(RecvPoolSpec{.buffer_size = 1500, .buffers = 100, .mode = PoolMode::connectionless});
    REQUIRE(owned);
    CHECK(owned.pool().size() == 100);
    CHECK(owned.pool().buffer_size() == 1500);
    CHECK(owned.arena().counters().mappings == 3); // 43 of 1500 B per 64 KB shard
    std::uint16_t bid = 0;
    REQUIRE(owned.pool().take_for_post(&bid, 1) == 1);
    REQUIRE(owned.pool().deliver(bid, 10));
    // Held at destruction: the pool keeps it acquired, the arena (destroyed
    // after the pool, by declaration order) keeps its shard and says so.
  }
  OwnedRecvPool<> bad(RecvPoolSpec{.buffer_size = 4096, .buffers = 0});
  CHECK(bad.error() == errc::invalid_config);
}

TEST_CASE("ReservedSource: shards from one reserved range, the VMA count does not grow with shards") {
  constexpr std::uint32_t shards = 64;
  const RecvPoolSpec spec{.buffer_size = 4096, .buffers = shards * 16}; // 64 shards of 64 KB
  const int before = vmas();
  int added_mmap = 0, added_reserved = 0;
  std::size_t holding_mmap = 0, holding_reserved = 0;
  {
    OwnedRecvPool<> owned(spec);
    REQUIRE(owned);
    CHECK(owned.arena().counters().shards == shards);
    added_mmap = vmas() - before;
    holding_mmap = vmas_holding(owned.pool());
  }
  {
    OwnedRecvPool<ReservedArena> owned(spec);
    REQUIRE(owned);
    CHECK(owned.arena().counters().shards == shards);
    added_reserved = vmas() - before;
    holding_reserved = vmas_holding(owned.pool());
  }
  MESSAGE("64 shards of 64 KB: the buffers lie in ", holding_mmap, " VMAs with MmapSource (", added_mmap,
          " added), ", holding_reserved, " with ReservedSource (", added_reserved, " added)");
  CHECK(holding_reserved == 1); // one read-write run, however many shards
  CHECK(holding_mmap > holding_reserved);
}

TEST_CASE("ReservedSource refuses what it cannot carve and gives shards back in place") {
  ReservedSource src(4 * 65536);
  auto a = src.allocate(65536, 65536);
  REQUIRE(a);
  CHECK(reinterpret_cast<std::uintptr_t>(a->data) % 65536 == 0);
  a->data[0] = std::byte{1}; // read-write now
  CHECK(src.allocate(4096, 4096).error() == errc::invalid_config); // another size
  auto b = src.allocate(65536, 65536);
  REQUIRE(b);
  CHECK(b->data == a->data + 65536); // lowest first: one contiguous run
  auto c = src.allocate(65536, 65536);
  auto d = src.allocate(65536, 65536);
  REQUIRE((c && d));
  CHECK(src.allocate(65536, 65536).error() == errc::limit_reached);
  src.deallocate(*b);
  CHECK(src.shards_in_use() == 3);
  auto e = src.allocate(65536, 65536);
  REQUIRE(e);
  CHECK(e->data == b->data); // the hole is reused
  CHECK(static_cast<int>(e->data[0]) == 0); // its pages were given back: zero again
  ReservedSource moved(std::move(src));
  CHECK(moved.shards_in_use() == 4);
  CHECK(src.base() == nullptr);
  for (auto* r : {&*a, &*c, &*d, &*e}) moved.deallocate(*r);
  CHECK(moved.shards_in_use() == 0);
}
