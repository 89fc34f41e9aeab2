// SPDX-License-Identifier: MIT
// Issue 15.1: idle shards given back. A burst to 1,024 shards, everything
// released, one shrink() leaves exactly the configured spare; a shard with
// any slot out (held, cached, waiting in the reclaimer) is never given
// back; a stale release into a given-back shard is refused; a failing
// unmap keeps the extent (counted, retried); the next growth maps the
// given-back numbers again. Through counting seams (tests/support/arena_seams.hpp).
#include <arenakit/arena/arena.hpp>
#include <arenakit/lists/release_list.hpp>
#include <arenakit/reclaimers/deferred.hpp>
#include <arenakit/sources/mmap.hpp>

#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#include "arena_seams.hpp"

using namespace arenakit;
using arena_seams::Calls;
using arena_seams::CountingMapper;
using arena_seams::CountingSource;

namespace {

using ShrinkArena = Arena<CountingMapper, BitmapSlots, ImmediateReclaimer, CountingSource>;

ArenaConfig config(std::uint32_t per_extent = 1) {
  return ArenaConfig{.slot_size = 4096, .shard_size = 64 * 1024, .shards_per_extent = per_extent};
}

std::vector<SlotId> burst(ShrinkArena& a, std::uint32_t shards) {
  std::vector<SlotId> ids;
  for (std::uint32_t i = 0; i < shards * 16; ++i) {
    const SlotId id = a.acquire();
    REQUIRE(id);
    std::memset(a.pointer(id), 0x5A, 64); // touched: the memory is really there
    ids.push_back(id);
  }
  return ids;
}

/// Resident set of this process, KiB (a figure, not asserted: it depends on the machine).
long rss_kib() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return -1;
  long pages = 0, resident = 0;
  const int n = std::fscanf(f, "%ld %ld", &pages, &resident);
  std::fclose(f);
  return n == 2 ? resident * 4 : -1;
}

} // namespace

TEST_CASE("shrink: a burst to 1,024 shards, all released, one shrink leaves exactly the spare") {
  Calls calls;
  {
    ShrinkArena a(config(), CountingMapper{&calls}, ImmediateReclaimer{}, CountingSource{&calls});
    REQUIRE(a);
    const long rss0 = rss_kib();
    std::vector<SlotId> ids = burst(a, 1024);
    CHECK(a.counters().shards == 1024);
    CHECK(a.counters().mappings == 1024);
    const long rss1 = rss_kib();
    for (SlotId id : ids) REQUIRE(a.release(id));
    const ShrinkResult r = a.shrink(ShrinkPolicy{.keep_spare_shards = 4});
    const long rss2 = rss_kib();
    MESSAGE("RSS KiB: before the burst " << rss0 << ", after it " << rss1 << ", after shrink " << rss2);
    CHECK(r.shards_given_back == 1020);
    CHECK(r.mappings_removed == 1020);
    CHECK(r.bytes_given_back == 1020u * 64 * 1024);
    CHECK(r.unmap_failures == 0);
    const ArenaCounters c = a.counters();
    CHECK(c.shards == 4);
    CHECK(c.mappings == 4);
    CHECK(c.vacant_shards == 1020);
    CHECK(c.shards_given_back == 1020);
    CHECK(c.slots_in_use == 0);
    CHECK(calls.unmaps.load() == 1020);
    CHECK(calls.deallocations.load() == 1020);
    CHECK(a.shrink(ShrinkPolicy{.keep_spare_shards = 4}).shards_given_back == 0); // nothing more to give
    // The next burst maps the given-back numbers again before any new one.
    ids = burst(a, 1024);
    CHECK(a.counters().shards == 1024);
    CHECK(a.counters().vacant_shards == 0);
    CHECK(a.counters().mappings == 1024);
    for (SlotId id : ids) {
      CHECK(a.from_pointer(a.pointer(id)) == id);
      CHECK(a.from_device_address(a.device_address(id)) == id);
    }
    for (SlotId id : ids) REQUIRE(a.release(id));
    CHECK(a.shrink(ShrinkPolicy{.keep_spare_shards = 0}).shards_given_back == 1024);
    CHECK(a.counters().shards == 0);
  }
  CHECK(calls.maps.load() == calls.unmaps.load());
  CHECK(calls.allocations.load() == calls.deallocations.load());
}

TEST_CASE("shrink: whole extents only") {
  Calls calls;
  ShrinkArena a(config(32), CountingMapper{&calls}, ImmediateReclaimer{}, CountingSource{&calls});
  REQUIRE(a);
  std::vector<SlotId> ids = burst(a, 1024);
  CHECK(a.counters().mappings == 32);
  // One slot held in the 6th extent keeps that extent whole.
  const SlotId keep = ids[5 * 32 * 16 + 7 * 16 + 3];
  for (SlotId id : ids)
    if (id != keep) REQUIRE(a.release(id));
  const ShrinkResult r = a.shrink(ShrinkPolicy{.keep_spare_shards = 1}); // rounds up to one whole extent
  CHECK(r.shards_kept_busy == 1);
  CHECK(r.mappings_removed == 30);
  CHECK(r.shards_given_back == 30 * 32);
  CHECK(a.counters().mappings == 2);
  CHECK(a.counters().shards == 64);
  std::memset(a.pointer(keep), 1, 4096); // the held slot's memory is still there
  CHECK(a.release(keep));
}

TEST_CASE("shrink: a shard with a slot held, cached or waiting in the reclaimer is never given back") {
  Calls calls;
  ShrinkArena a(config(), CountingMapper{&calls}, ImmediateReclaimer{}, CountingSource{&calls});
  REQUIRE(a);
  std::vector<SlotId> ids = burst(a, 3);
  // Shard 0: one slot held. Shard 1: slots parked in a cache. Shard 2: idle.
  for (std::size_t i = 1; i < ids.size(); ++i) REQUIRE(a.release(ids[i]));
  {
    ShrinkArena::Cache cache(a, 8);
    std::vector<SlotId> taken;
    for (int i = 0; i < 8; ++i) taken.push_back(cache.acquire());
    for (SlotId id : taken) REQUIRE(cache.release(id)); // parked in the cache, still claimed in the shard
    const ShrinkResult r = a.shrink(ShrinkPolicy{.keep_spare_shards = 0});
    CHECK(r.shards_kept_busy >= 2);
    CHECK(a.counters().shards == 3 - r.shards_given_back);
    CHECK(r.shards_given_back <= 1);
  } // the cache flushes
  CHECK(a.release(ids[0]));
  CHECK(a.shrink(ShrinkPolicy{.keep_spare_shards = 0}).shards_kept_busy == 0);
  CHECK(a.counters().shards == 0);
}

TEST_CASE("shrink: slots waiting in a deferred reclaimer keep their shard") {
  using List = ReleaseList<WakeNever, NoWaker, Counting::exact>;
  using DeferredArena = Arena<NoopMapper, BitmapSlots, DeferredReclaimer<List>>;
  List list;
  DeferredArena a(ArenaConfig{.slot_size = 4096, .shard_size = 64 * 1024}, DeferredReclaimer<List>{list});
  REQUIRE(a);
  const SlotId id = a.acquire();
  REQUIRE(id);
  REQUIRE(a.release(id)); // queued, not yet back in the shard
  CHECK(a.shrink(ShrinkPolicy{.keep_spare_shards = 0}).shards_given_back == 0);
  CHECK(a.reclaim() == 1);
  CHECK(a.shrink(ShrinkPolicy{.keep_spare_shards = 0}).shards_given_back == 1);
}

TEST_CASE("shrink: a stale release into a given-back shard is refused, by either path, and changes nothing") {
  Calls calls;
  ShrinkArena a(config(), CountingMapper{&calls}, ImmediateReclaimer{}, CountingSource{&calls});
  REQUIRE(a);
  const SlotId direct = a.acquire();
  REQUIRE(direct);
  SlotId cached;
  {
    ShrinkArena::Cache cache(a, 4);
    cached = cache.acquire();
    REQUIRE(cached);
    REQUIRE(cache.release(cached));
  }
  REQUIRE(a.release(direct));
  REQUIRE(a.shrink(ShrinkPolicy{.keep_spare_shards = 0}).shards_given_back == 1);
  const std::uint64_t refused = a.counters().refused_not_held;
  CHECK_FALSE(a.release(direct));
  CHECK_FALSE(a.release(cached));
  {
    ShrinkArena::Cache cache(a, 4);
    CHECK_FALSE(cache.release(direct));
  }
  CHECK(a.counters().refused_not_held == refused + 3);
  CHECK(a.counters().slots_in_use == 0);
  CHECK(a.counters().vacant_shards == 1);
  // Reopened, the shard hands out every slot exactly once.
  std::vector<SlotId> again;
  for (int i = 0; i < 16; ++i) again.push_back(a.acquire());
  for (SlotId id : again) REQUIRE(id);
  CHECK(a.counters().shards == 1);
  for (SlotId id : again) CHECK(a.release(id));
}

TEST_CASE("shrink: min_idle gives back only shards idle at every shrink for that long") {
  Calls calls;
  ShrinkArena a(config(), CountingMapper{&calls}, ImmediateReclaimer{}, CountingSource{&calls});
  REQUIRE(a);
  std::vector<SlotId> ids = burst(a, 2);
  for (SlotId id : ids) REQUIRE(a.release(id));
  const ShrinkPolicy patient{.keep_spare_shards = 0, .min_idle = std::chrono::hours(1)};
  CHECK(a.shrink(patient).shards_given_back == 0); // the clock starts now
  CHECK(a.shrink(patient).shards_given_back == 0);
  CHECK(a.shrink(ShrinkPolicy{.keep_spare_shards = 0, .min_idle = std::chrono::nanoseconds(1)}).shards_given_back == 2);
}

TEST_CASE("shrink: an unmap that fails keeps the extent, counted, and the next shrink retries it") {
  Calls calls;
  calls.fail_unmaps = 1;
  ShrinkArena a(config(), CountingMapper{&calls}, ImmediateReclaimer{}, CountingSource{&calls});
  REQUIRE(a);
  std::vector<SlotId> ids = burst(a, 1);
  for (SlotId id : ids) REQUIRE(a.release(id));
  const ShrinkResult first = a.shrink(ShrinkPolicy{.keep_spare_shards = 0});
  CHECK(first.unmap_failures == 1);
  CHECK(first.shards_given_back == 0);
  CHECK(a.counters().unmap_failures == 1);
  CHECK(a.counters().shards == 1);
  CHECK(calls.deallocations.load() == 0); // memory still mapped and allocated
  // Still usable: its slots were unsealed.
  const SlotId id = a.acquire();
  REQUIRE(id);
  std::memset(a.pointer(id), 2, 4096);
  REQUIRE(a.release(id));
  const ShrinkResult second = a.shrink(ShrinkPolicy{.keep_spare_shards = 0});
  CHECK(second.shards_given_back == 1);
  CHECK(calls.deallocations.load() == 1);
}

TEST_CASE("shrink: the teardown report of an arena destroyed with a slot out keeps only the shards still mapped") {
  Calls calls;
  TeardownReport report;
  std::uint64_t mapped = 0;
  {
    ArenaConfig c = config(2);
    c.teardown_report = &report;
    ShrinkArena a(c, CountingMapper{&calls}, ImmediateReclaimer{}, CountingSource{&calls});
    REQUIRE(a);
    std::vector<SlotId> ids = burst(a, 10); // five extents of two shards
    for (std::size_t i = 1; i < ids.size(); ++i) REQUIRE(a.release(ids[i])); // ids[0] stays out
    REQUIRE(a.shrink(ShrinkPolicy{.keep_spare_shards = 0}).shards_given_back == 8);
    mapped = a.counters().shards;
    REQUIRE(mapped == 2);
    REQUIRE(a.counters().vacant_shards == 8);
  } // destroyed with ids[0] held: its extent is kept, the vacant ones are gone already
  CHECK(report.slots_outstanding == 1);
  CHECK_FALSE(report.clean);
  CHECK(report.shards_kept == mapped);
  CHECK(report.bytes_kept == mapped * 64 * 1024);
}
