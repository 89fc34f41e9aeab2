#include <arenakit/arena/arena.hpp>
#include <arenakit/sources/heap.hpp>

#include <doctest/doctest.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <set>
#include <thread>
#include <vector>

#include "hugetlb.hpp"

using namespace arenakit;

namespace {
using DefaultArena = Arena<>;

using arenakit_test::hugetlb_pages_free;
} // namespace

TEST_CASE("72 receive buffers of 4 KB in 64 KB shards take exactly 5 mappings") {
  DefaultArena arena(ArenaConfig{.slot_size = 4096, .shard_size = 64 * 1024});
  REQUIRE(arena);
  std::vector<SlotId> ids;
  for (int i = 0; i < 72; ++i) {
    SlotId id = arena.acquire();
    REQUIRE(id);
    ids.push_back(id);
  }
  auto c = arena.counters();
  CHECK(c.mappings == 5);
  CHECK(c.shards == 5);
  CHECK(c.slots_per_shard == 16);
  CHECK(c.slots_in_use == 72);
  CHECK(c.high_water == 72);
  for (SlotId id : ids) CHECK(arena.release(id));
  CHECK(arena.counters().slots_in_use == 0);
  CHECK(arena.counters().mappings == 5); // mapped for the pool's life, not per buffer
}

TEST_CASE("72 buffers through an owner cache also take exactly 5 mappings") {
  DefaultArena arena(ArenaConfig{.slot_size = 4096, .shard_size = 64 * 1024});
  std::vector<SlotId> ids;
  {
    DefaultArena::Cache cache(arena);
    for (int i = 0; i < 72; ++i) {
      SlotId id = cache.acquire();
      REQUIRE(id);
      ids.push_back(id);
    }
    auto c = arena.counters();
    CHECK(c.mappings == 5);
    CHECK(c.slots_in_use == 72);
    CHECK(c.slots_cached == 8); // 80 slots in 5 shards, 72 held, the rest parked in the cache
    CHECK(c.fast_path_hits + c.slow_path_hits >= 72);
    for (SlotId id : ids) CHECK(cache.release(id));
    CHECK(arena.counters().slots_in_use == 0);
  }
  CHECK(arena.counters().slots_cached == 0); // the cache flushed on destruction
}

TEST_CASE("72 buffers of 4 KB in one 2 MB huge-page shard take 1 mapping") {
  Arena<NoopMapper, BitmapSlots, ImmediateReclaimer, MmapSource> arena(
      ArenaConfig{.slot_size = 4096, .shard_size = std::size_t{2} << 20},
      MmapSource{.pages = PageSize::huge_2m});
  REQUIRE(arena);
  std::vector<SlotId> ids;
  for (int i = 0; i < 72; ++i) ids.push_back(arena.acquire());
  for (SlotId id : ids) REQUIRE(id);
  auto c = arena.counters();
  CHECK(c.mappings == 1);
  CHECK(c.huge_page_fallbacks == (hugetlb_pages_free() > 0 ? 0u : 1u));
  for (SlotId id : ids) std::memset(arena.pointer(id), 0x5A, arena.slot_size());
  CHECK(arena.release_bulk(ids.data(), static_cast<std::uint32_t>(ids.size())) == 72);
}

TEST_CASE("slot ids round-trip through pointer, offset and device address") {
  DefaultArena arena(ArenaConfig{.slot_size = 3000, .shard_size = 64 * 1024}); // 21 slots, not a power of two
  REQUIRE(arena);
  CHECK(arena.slots_per_shard() == 21);
  std::set<std::uintptr_t> addresses;
  std::vector<SlotId> ids;
  for (int i = 0; i < 100; ++i) {
    SlotId id = arena.acquire();
    REQUIRE(id);
    ids.push_back(id);
    std::byte* p = arena.pointer(id);
    CHECK(addresses.insert(reinterpret_cast<std::uintptr_t>(p)).second);
    CHECK(arena.from_pointer(p) == id);
    CHECK(arena.from_pointer(p + 2999) == id); // interior pointers name their slot
    CHECK(arena.from_offset(arena.offset(id)) == id);
    CHECK(arena.from_offset(arena.offset(id) + 17) == id);
    CHECK(arena.from_device_address(arena.device_address(id)) == id);
    CHECK(arena.device_address(id) == reinterpret_cast<std::uint64_t>(p)); // NoopMapper
    auto buf = arena.buffer(id);
    CHECK(buf.data == p);
    CHECK(buf.length == 3000);
    CHECK(buf.mapping != nullptr);
    CHECK(arena.checked_pointer(id) == p);
    CHECK(arena.is_held(id));
  }
  // The 2344 bytes past the 21st slot of a shard belong to no slot.
  std::byte* tail = arena.pointer(ids[0]) - arena.offset(ids[0]) % (64 * 1024) + 21 * 3000;
  CHECK_FALSE(arena.from_pointer(tail));
  int local = 0;
  CHECK_FALSE(arena.from_pointer(&local));
  CHECK_FALSE(arena.from_offset(std::uint64_t{1} << 40));
  CHECK(arena.release_bulk(ids.data(), 100) == 100);
}

TEST_CASE("growth stops at max_shards and at max_bytes with an empty id, no abort") {
  DefaultArena by_shards(ArenaConfig{.slot_size = 4096, .shard_size = 64 * 1024, .max_shards = 2});
  std::vector<SlotId> ids;
  for (int i = 0; i < 32; ++i) ids.push_back(by_shards.acquire());
  for (SlotId id : ids) REQUIRE(id);
  CHECK_FALSE(by_shards.acquire());
  CHECK(by_shards.counters().limit_hits >= 1);
  CHECK(by_shards.counters().shards == 2);
  CHECK(by_shards.release(ids.back()));
  CHECK(by_shards.acquire()); // room again after a release
  for (SlotId id : ids) by_shards.release(id);

  DefaultArena by_bytes(ArenaConfig{.slot_size = 4096, .shard_size = 64 * 1024, .max_bytes = 3 * 64 * 1024 + 100});
  CHECK(by_bytes.max_shards() == 3);
}

TEST_CASE("bulk acquire is all or nothing; bulk release returns everything") {
  DefaultArena arena(ArenaConfig{.slot_size = 4096, .shard_size = 64 * 1024, .max_shards = 3});
  SlotId ids[48];
  CHECK(arena.acquire_bulk(ids, 32) == 32);
  CHECK(arena.counters().slots_in_use == 32);
  SlotId more[32];
  CHECK(arena.acquire_bulk(more, 32) == 0); // only 16 left: nothing taken
  CHECK(arena.counters().slots_in_use == 32);
  CHECK(arena.acquire_bulk(more, 16) == 16);
  CHECK(arena.release_bulk(ids, 32) == 32);
  CHECK(arena.release_bulk(more, 16) == 16);
  CHECK(arena.counters().slots_in_use == 0);
}

TEST_CASE("cache bulk of 32 and the counters of the fast path") {
  DefaultArena arena(ArenaConfig{.slot_size = 256, .shard_size = 64 * 1024});
  DefaultArena::Cache cache(arena);
  SlotId ids[32];
  for (int round = 0; round < 100; ++round) {
    REQUIRE(cache.acquire_bulk(ids, 32) == 32);
    std::set<std::uint32_t> distinct;
    for (SlotId id : ids) distinct.insert(id.raw);
    CHECK(distinct.size() == 32);
    REQUIRE(cache.release_bulk(ids, 32) == 32);
  }
  auto c = arena.counters();
  CHECK(c.slots_in_use == 0);
  CHECK(c.fast_path_hits >= 99 * 32); // after the first refill everything is served locally
  CHECK(c.slow_path_hits <= 2);
  CHECK(c.shards == 1);
}

TEST_CASE("a slot released through one cache can be acquired through another") {
  DefaultArena arena(ArenaConfig{.slot_size = 4096, .shard_size = 64 * 1024, .max_shards = 1});
  DefaultArena::Cache a(arena, 8);
  DefaultArena::Cache b(arena, 8);
  std::vector<SlotId> held;
  for (int i = 0; i < 16; ++i) {
    SlotId id = (i % 2 ? a : b).acquire();
    REQUIRE(id);
    held.push_back(id);
  }
  CHECK_FALSE(a.acquire());
  CHECK(b.release(held.back()));
  held.pop_back();
  b.flush();
  CHECK(a.acquire()); // the slot went back to the shard and a found it
}

TEST_CASE("release_memory refuses while slots are out, then unmaps everything") {
  DefaultArena arena(ArenaConfig{.slot_size = 4096, .shard_size = 64 * 1024});
  SlotId id = arena.acquire();
  REQUIRE(id);
  std::byte* p = arena.pointer(id);
  CHECK(arena.release_memory() == make_error_code(errc::slots_outstanding));
  p[0] = std::byte{1}; // still mapped: nothing was pulled from under the user
  CHECK(arena.counters().mappings == 1);
  CHECK(arena.release(id));
  CHECK_FALSE(arena.release_memory());
  CHECK(arena.counters().mappings == 0);
  CHECK(arena.counters().shards == 0);
  CHECK_FALSE(arena.release(id)); // old ids are out of range now
  CHECK(arena.acquire());        // and the arena grows again
}

TEST_CASE("destroying an arena with slots out keeps the memory and reports it") {
  TeardownReport report;
  std::byte* p = nullptr;
  {
    DefaultArena arena(ArenaConfig{.slot_size = 4096, .shard_size = 64 * 1024, .teardown_report = &report});
    SlotId id = arena.acquire();
    REQUIRE(id);
    p = arena.pointer(id);
  }
  CHECK_FALSE(report.clean);
  CHECK(report.slots_outstanding == 1);
  CHECK(report.shards_kept == 1);
  CHECK(report.bytes_kept == 64 * 1024);
  p[0] = std::byte{42}; // the user's buffer is still there
  CHECK(p[0] == std::byte{42});

  TeardownReport clean;
  {
    DefaultArena arena(ArenaConfig{.teardown_report = &clean});
    SlotId id = arena.acquire();
    arena.release(id);
  }
  CHECK(clean.clean);
  CHECK(clean.slots_outstanding == 0);
}

TEST_CASE("initial shards are created and mapped up front") {
  Arena<NoopMapper, BitmapSlots, ImmediateReclaimer, HeapSource> arena(
      ArenaConfig{.slot_size = 1024, .shard_size = 64 * 1024, .initial_shards = 3});
  REQUIRE(arena);
  CHECK(arena.counters().mappings == 3);
  SlotId id = arena.acquire();
  CHECK(id);
  CHECK(arena.counters().shards == 3); // no growth: a pre-created shard had room
  arena.release(id);
}

namespace {
/// Device memory with no CPU address: regions carry only a device offset
/// (as an imported dma-buf the exporter would not map).
struct DeviceOnlySource {
  std::uint64_t next = 0;
  Result<Region> allocate(std::size_t size, std::size_t alignment) noexcept {
    Region r;
    r.size = size;
    r.alignment = alignment;
    r.dmabuf_fd = 3; // never dereferenced: the mapper below reads only the offset
    r.dmabuf_offset = next;
    next += size;
    return r;
  }
  void deallocate(const Region&) noexcept {}
};
struct OffsetMapper {
  struct mapping_type {
    std::uint64_t offset = 0;
  };
  Result<mapping_type> map(const Region& r) noexcept { return mapping_type{r.dmabuf_offset}; }
  void unmap(mapping_type&) noexcept {}
  std::uint64_t device_address(const mapping_type& m) const noexcept { return m.offset; }
};
} // namespace

TEST_CASE("device-only shards: no CPU pointer is invented, device addresses still map both ways") {
  Arena<OffsetMapper, BitmapSlots, ImmediateReclaimer, DeviceOnlySource> arena(
      ArenaConfig{.slot_size = 4096, .shard_size = 64 * 1024, .max_shards = 4});
  REQUIRE(arena);
  std::vector<SlotId> ids;
  for (int i = 0; i < 40; ++i) ids.push_back(arena.acquire());
  for (SlotId id : ids) {
    REQUIRE(id);
    CHECK(arena.pointer(id) == nullptr);
    CHECK(arena.checked_pointer(id) == nullptr);
    CHECK(arena.buffer(id).data == nullptr);
    CHECK(arena.from_device_address(arena.device_address(id) + 100) == id);
    // A small integer that "pointer = null + offset" would have produced:
    CHECK_FALSE(arena.from_pointer(reinterpret_cast<void*>(arena.device_address(id))));
  }
  CHECK(arena.device_address(ids[17]) == 17u * 4096u);
  for (SlotId id : ids) CHECK(arena.release(id));
}

TEST_CASE("address lookup stays exact when frames collide in the index") {
  // The index for 4 shards has 16 cells and folds a frame's high bits onto
  // its low ones; device frames 0, 15, 255 and 4096 (keys 1, 0x10, 0x100,
  // 0x1001) all fold onto cell 1, so the linear probe must tell them apart.
  struct StridedSource {
    std::size_t next = 0;
    Result<Region> allocate(std::size_t size, std::size_t alignment) noexcept {
      static constexpr std::uint64_t frames[] = {0, 15, 255, 4096};
      if (next == 4) return errc::out_of_memory;
      Region r;
      r.size = size;
      r.alignment = alignment;
      r.dmabuf_fd = 3;
      r.dmabuf_offset = frames[next++] * size;
      return r;
    }
    void deallocate(const Region&) noexcept {}
  };
  Arena<OffsetMapper, BitmapSlots, ImmediateReclaimer, StridedSource> arena(
      ArenaConfig{.slot_size = 4096, .shard_size = 4096, .max_shards = 4});
  REQUIRE(arena);
  std::vector<SlotId> ids;
  for (int i = 0; i < 4; ++i) ids.push_back(arena.acquire());
  for (int i = 0; i < 4; ++i) {
    REQUIRE(ids[static_cast<std::size_t>(i)]);
    const std::uint64_t dev = arena.device_address(ids[static_cast<std::size_t>(i)]);
    CHECK(dev == std::uint64_t{std::array<unsigned, 4>{0, 15, 255, 4096}[static_cast<std::size_t>(i)]} * 4096u);
    CHECK(arena.from_device_address(dev + 7) == ids[static_cast<std::size_t>(i)]);
  }
  CHECK_FALSE(arena.from_device_address(5u * 4096u));    // between shards: nobody's
  CHECK_FALSE(arena.from_device_address(4095u * 4096u)); // a colliding frame nobody holds
  for (SlotId id : ids) CHECK(arena.release(id));
}

// Issue 13: a partial list per group of threads. A thread whose list is dry
// grows a shard of its own (no other thread then claims from its top shard),
// and at the limit takes what the other lists have.
TEST_CASE("a thread grows its own shard before stealing, and steals at the limit") {
  Arena<> arena(ArenaConfig{.slot_size = 4096, .shard_size = 64 * 1024, .max_shards = 2});
  REQUIRE(arena);
  SlotId a, b, c;
  // Threads started one after another take consecutive thread numbers:
  // different partial lists.
  std::thread([&] { a = arena.acquire(); }).join();
  std::thread([&] { b = arena.acquire(); }).join();
  REQUIRE(a);
  REQUIRE(b);
  CHECK(arena.counters().shards == 2);
  CHECK((a.position() >> 4) != (b.position() >> 4)); // one shard each
  // A third thread finds the limit reached: it claims from the others' shards.
  std::thread([&] { c = arena.acquire(); }).join();
  REQUIRE(c);
  CHECK(arena.counters().shards == 2);
  CHECK(arena.counters().slots_in_use == 3);
  // Released from any thread, each slot goes back to its shard's own list.
  std::thread([&] { CHECK(arena.release(a)); CHECK(arena.release(b)); CHECK(arena.release(c)); }).join();
  CHECK(arena.counters().slots_in_use == 0);
  CHECK(arena.release_memory() == std::error_code{});
}
