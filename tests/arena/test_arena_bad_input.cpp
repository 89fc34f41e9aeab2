// Every bad input is refused with a clear answer, counted by reason, and
// changes nothing: no slot lost, none handed out twice, no abort.
#include <arenakit/arena/arena.hpp>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

using namespace arenakit;

namespace {
using DefaultArena = Arena<>;

struct Snapshot {
  std::uint64_t in_use, shards, mappings;
  explicit Snapshot(const ArenaCounters& c) : in_use(c.slots_in_use), shards(c.shards), mappings(c.mappings) {}
  bool operator==(const Snapshot&) const = default;
};

/// A source that fails on demand and counts what it gave out and got back.
struct FlakySource {
  int* allocations;
  int* deallocations;
  bool fail;
  Result<Region> allocate(std::size_t bytes, std::size_t alignment) noexcept {
    if (fail) return errc::out_of_memory;
    auto r = MmapSource{}.allocate(bytes, alignment);
    if (r) ++*allocations;
    return r;
  }
  void deallocate(const Region& r) noexcept {
    ++*deallocations;
    MmapSource{}.deallocate(r);
  }
};

/// A mapper that refuses every region (a device out of MRs).
struct RefusingMapper {
  struct mapping_type {};
  Result<mapping_type> map(const Region&) noexcept { return errc::map_failed; }
  void unmap(mapping_type&) noexcept {}
  std::uint64_t device_address(const mapping_type&) const noexcept { return 0; }
};
} // namespace

TEST_CASE("release of an out-of-range id is refused and counted") {
  DefaultArena arena(ArenaConfig{.slot_size = 3000, .shard_size = 64 * 1024}); // 21 slots, 5 index bits
  SlotId id = arena.acquire();
  REQUIRE(id);
  const Snapshot before(arena.counters());
  const std::uint32_t tag = std::uint32_t{arena.tag()} << 24;
  CHECK_FALSE(arena.release(SlotId{tag | (7u << 5) | 0u}));  // shard 7 does not exist
  CHECK_FALSE(arena.release(SlotId{tag | (0u << 5) | 25u})); // index 25 >= 21 slots
  CHECK_FALSE(arena.release(SlotId{tag | 0x00FFFFFFu}));
  auto c = arena.counters();
  CHECK(c.refused_out_of_range == 3);
  CHECK(c.refused_releases == 3);
  CHECK(Snapshot(c) == before);
  CHECK(arena.is_held(id));
  CHECK(arena.release(id));
}

TEST_CASE("automatic tags: a new arena never takes a live arena's tag, however many came and went") {
  // 300 arenas created and destroyed between A and B: a counter modulo 255
  // gave B A's tag, and A then accepted B's id and freed its own slot.
  const ArenaConfig small{.max_shards = 4};
  DefaultArena a(small);
  for (int i = 0; i < 300; ++i) {
    DefaultArena passing(small);
    CHECK(passing.tag() != a.tag());
  }
  ArenaConfig fixed = small;
  fixed.tag = static_cast<std::uint8_t>(a.tag() % 255u + 1u);
  DefaultArena explicit_tag(fixed);
  DefaultArena b(small);
  CHECK(b.tag() != a.tag());
  CHECK(b.tag() != explicit_tag.tag()); // automatic tags avoid explicit ones too
  const SlotId from_a = a.acquire();
  const SlotId from_b = b.acquire();
  REQUIRE(from_a);
  REQUIRE(from_b);
  CHECK_FALSE(a.release(from_b));
  CHECK(a.counters().refused_foreign == 1);
  CHECK(a.is_held(from_a));
  CHECK(a.release(from_a));
  CHECK(b.release(from_b));
  // 255 live arenas hold 255 distinct tags.
  std::vector<std::unique_ptr<DefaultArena>> live;
  std::vector<bool> seen(256, false);
  seen[a.tag()] = seen[b.tag()] = seen[explicit_tag.tag()] = true;
  for (int i = 0; i < 252; ++i) {
    live.push_back(std::make_unique<DefaultArena>(small));
    CHECK_FALSE(seen[live.back()->tag()]);
    seen[live.back()->tag()] = true;
  }
}

TEST_CASE("automatic tags: arenas created by two threads at once get distinct tags") {
  const ArenaConfig small{.max_shards = 1};
  std::vector<std::unique_ptr<DefaultArena>> made[2];
  auto create = [&](int me) {
    for (int i = 0; i < 120; ++i) made[me].push_back(std::make_unique<DefaultArena>(small));
  };
  std::thread t0(create, 0);
  std::thread t1(create, 1);
  t0.join();
  t1.join();
  std::vector<bool> seen(256, false);
  for (const auto& list : made) {
    for (const auto& arena : list) {
      CHECK_FALSE(seen[arena->tag()]);
      seen[arena->tag()] = true;
    }
  }
}

TEST_CASE("release of another arena's id is refused and leaves both arenas alone") {
  DefaultArena a(ArenaConfig{.tag = 1});
  DefaultArena b(ArenaConfig{.tag = 2});
  SlotId from_a = a.acquire();
  SlotId from_b = b.acquire();
  REQUIRE(from_a);
  REQUIRE(from_b);
  CHECK(from_a.position() == from_b.position()); // same place, different arenas
  CHECK_FALSE(b.release(from_a));
  CHECK(b.counters().refused_foreign == 1);
  CHECK(b.is_held(from_b)); // b's own slot at that position is untouched
  CHECK(a.is_held(from_a));
  CHECK_FALSE(b.release(SlotId{})); // the empty id belongs to nobody
  CHECK(b.counters().refused_foreign == 2);
  CHECK(a.release(from_a));
  CHECK(b.release(from_b));
}

TEST_CASE("double release and release of a never-acquired slot are refused") {
  DefaultArena arena(ArenaConfig{});
  SlotId id = arena.acquire();
  SlotId other = arena.acquire();
  REQUIRE(arena.release(id));
  const Snapshot before(arena.counters());
  CHECK_FALSE(arena.release(id));
  CHECK(arena.counters().refused_not_held == 1);
  CHECK(Snapshot(arena.counters()) == before);
  // A slot of an existing shard that nobody acquired.
  SlotId never{other.raw ^ 1u};
  if (!arena.is_held(never)) {
    CHECK_FALSE(arena.release(never));
    CHECK(arena.counters().refused_not_held == 2);
  }
  // The refused double release did not free the slot twice: one acquire gets
  // it back, and it is not handed out again while held.
  std::vector<SlotId> all;
  for (SlotId s = arena.acquire(); s && all.size() < 64; s = arena.acquire()) all.push_back(s);
  std::vector<std::uint32_t> raws;
  for (SlotId s : all) raws.push_back(s.raw);
  std::sort(raws.begin(), raws.end());
  CHECK(std::adjacent_find(raws.begin(), raws.end()) == raws.end());
  for (SlotId s : all) arena.release(s);
  arena.release(other);
}

TEST_CASE("double release through a cache is refused too") {
  DefaultArena arena(ArenaConfig{});
  DefaultArena::Cache cache(arena);
  SlotId id = cache.acquire();
  REQUIRE(cache.release(id));
  CHECK_FALSE(cache.release(id));
  CHECK_FALSE(arena.release(id));
  CHECK(arena.counters().refused_not_held == 2);
  // The cache holds the slot once: two acquires give two different slots.
  SlotId x = cache.acquire();
  SlotId y = cache.acquire();
  CHECK(x != y);
  cache.release(x);
  cache.release(y);
}

TEST_CASE("a cache refuses each bad id by reason and knows shards added after it looked") {
  // 21 slots of 3000 bytes per 64 KB shard: index 21..31 are holes.
  DefaultArena arena(ArenaConfig{.slot_size = 3000, .shard_size = 64 * 1024, .max_shards = 4, .initial_shards = 1});
  DefaultArena other(ArenaConfig{});
  REQUIRE(arena);
  DefaultArena::Cache cache(arena, 1); // looks at the shard count now: 1
  const std::uint32_t base = std::uint32_t{arena.tag()} << 24;
  const SlotId hole{base | 25u};             // shard 0, index 25: no such slot
  const SlotId unbuilt{base | (3u << 5)};    // shard 3: not created yet
  const SlotId never{base | 7u};             // shard 0, index 7: never acquired
  const SlotId foreign = other.acquire();
  CHECK_FALSE(cache.release(hole));
  CHECK_FALSE(cache.release(unbuilt));
  CHECK_FALSE(cache.release(never));
  CHECK_FALSE(cache.release(foreign));
  ArenaCounters c = arena.counters();
  CHECK(c.refused_out_of_range == 2);
  CHECK(c.refused_not_held == 1);
  CHECK(c.refused_foreign == 1);
  CHECK(c.slots_in_use == 0);
  // Another thread's arena use adds shard 1 after the cache looked; a slot of
  // it released through the cache is accepted (the cache looks again).
  std::vector<SlotId> direct;
  for (int i = 0; i < 30; ++i) direct.push_back(arena.acquire());
  REQUIRE(arena.counters().shards == 2);
  const SlotId newer = direct.back();
  REQUIRE((newer.position() >> 5) == 1u);
  CHECK(cache.release(newer));
  CHECK_FALSE(cache.release(newer)); // and the fast path now refuses it twice
  CHECK(arena.counters().refused_not_held == 2);
  direct.pop_back();
  for (SlotId id : direct) CHECK(cache.release(id));
  cache.flush();
  CHECK(arena.counters().slots_in_use == 0);
  CHECK(arena.counters().slots_cached == 0);
}

TEST_CASE("bulk release skips the bad ids and keeps the good ones") {
  DefaultArena arena(ArenaConfig{.tag = 9});
  SlotId ids[4];
  REQUIRE(arena.acquire_bulk(ids, 4) == 4);
  SlotId mixed[6] = {ids[0], SlotId{}, ids[1], ids[1], SlotId{0x0AFFFFFFu}, ids[2]};
  CHECK(arena.release_bulk(mixed, 6) == 3);
  auto c = arena.counters();
  CHECK(c.refused_releases == 3);
  CHECK(c.slots_in_use == 1);
  CHECK(arena.release(ids[3]));
}

TEST_CASE("acquire at the limit fails cleanly, bulk takes nothing") {
  DefaultArena arena(ArenaConfig{.slot_size = 32 * 1024, .shard_size = 64 * 1024, .max_shards = 1});
  SlotId a = arena.acquire();
  SlotId b = arena.acquire();
  REQUIRE(a);
  REQUIRE(b);
  CHECK_FALSE(arena.acquire());
  SlotId bulk[2];
  CHECK(arena.acquire_bulk(bulk, 2) == 0);
  DefaultArena::Cache cache(arena);
  CHECK_FALSE(cache.acquire());
  CHECK(cache.acquire_bulk(bulk, 1) == 0);
  CHECK(arena.counters().slots_in_use == 2);
  CHECK(arena.counters().limit_hits >= 3);
  CHECK(arena.last_growth_error() == std::error_code{}); // the limit is not a failure
  arena.release(a);
  arena.release(b);
}

TEST_CASE("invalid configurations are refused with an error code, and hand out nothing") {
  struct Case {
    ArenaConfig config;
    errc expected;
  };
  const Case cases[] = {
      {ArenaConfig{.shard_size = 100 * 1024}, errc::invalid_config},             // not a power of two
      {ArenaConfig{.slot_size = 128 * 1024}, errc::invalid_config},              // slot larger than shard
      {ArenaConfig{.slot_size = 4}, errc::invalid_config},                       // slot too small
      {ArenaConfig{.max_shards = 1u << 21}, errc::id_space_exhausted},           // 2^21 shards x 16 slots > 2^24
      {ArenaConfig{.max_bytes = 1000}, errc::invalid_config},                    // less than one shard
      {ArenaConfig{.max_shards = 2, .initial_shards = 3}, errc::limit_reached},  // cannot pre-create
      // Geometry that overflows (issue 10, defect 4): 2^42 / 1023 slots do
      // not fit 32 bits (once accepted as 4,198,404 slots), 2^24 slots leave
      // no bit for the shard, and a slot's length must fit 32 bits.
      {ArenaConfig{.slot_size = 1023, .shard_size = std::size_t{1} << 42}, errc::id_space_exhausted},
      {ArenaConfig{.slot_size = 8, .shard_size = std::size_t{1} << 27}, errc::id_space_exhausted},
      {ArenaConfig{.slot_size = std::size_t{1} << 32, .shard_size = std::size_t{1} << 33}, errc::size_overflow},
      // Initial shards that need more mappings than the budget: refused
      // before any is made (the first was made and handed out before).
      {ArenaConfig{.max_shards = 4, .initial_shards = 2, .max_mappings = 1}, errc::mapping_budget},
      {ArenaConfig{.max_shards = 8, .initial_shards = 5, .shards_per_extent = 2, .max_mappings = 2},
       errc::mapping_budget},
  };
  for (const Case& k : cases) {
    DefaultArena arena(k.config);
    CHECK(arena.error() == make_error_code(k.expected));
    CHECK_FALSE(arena);
    CHECK_FALSE(arena.acquire());
    CHECK_FALSE(arena.release(SlotId{0x01000000u}));
  }
}

TEST_CASE("Arena::create refuses what the constructor refuses, and leaves nothing behind") {
  int allocs = 0, deallocs = 0;
  using Flaky = Arena<NoopMapper, BitmapSlots, ImmediateReclaimer, FlakySource>;
  // A bad geometry: the constructor's error, no arena.
  auto bad = Flaky::create(ArenaConfig{.shard_size = 100 * 1024}, FlakySource{&allocs, &deallocs, false});
  REQUIRE_FALSE(bad);
  CHECK(bad.error() == make_error_code(errc::invalid_config));
  // An initial shard the source cannot supply: the source's error.
  auto starved = Flaky::create(ArenaConfig{.initial_shards = 1}, FlakySource{&allocs, &deallocs, true});
  REQUIRE_FALSE(starved);
  CHECK(starved.error() == make_error_code(errc::out_of_memory));
  // A mapper that refuses the initial shard: its error, and the region went back.
  auto unmapped = Arena<RefusingMapper, BitmapSlots, ImmediateReclaimer, FlakySource>::create(
      ArenaConfig{.initial_shards = 1}, FlakySource{&allocs, &deallocs, false});
  REQUIRE_FALSE(unmapped);
  CHECK(unmapped.error() == make_error_code(errc::map_failed));
  CHECK(allocs == deallocs);
  // A good one works like a constructed one; policies by type, any order.
  auto good = Flaky::create(ArenaConfig{.initial_shards = 1}, FlakySource{&allocs, &deallocs, false}, NoopMapper{});
  REQUIRE(good);
  Flaky& arena = **good;
  const SlotId id = arena.acquire();
  CHECK(id);
  CHECK(arena.release(id));
  CHECK(arena.counters().shards == 1);
}

TEST_CASE("the largest geometries that fit are accepted with their true slot counts") {
  DefaultArena most_slots(ArenaConfig{.slot_size = 8, .shard_size = std::size_t{1} << 26, .max_shards = 1});
  CHECK(most_slots);
  CHECK(most_slots.slots_per_shard() == (1u << 23)); // 23 index bits, 1 shard bit
  CHECK(most_slots.max_shards() == 1);
  DefaultArena widest_slot(ArenaConfig{.slot_size = 0xFFFF'FFFFu, .shard_size = std::size_t{1} << 34, .max_shards = 1});
  CHECK(widest_slot);
  CHECK(widest_slot.slots_per_shard() == 4); // 2^34 / (2^32 - 1), truncated in 64 bits
  CHECK(make_error_code(errc::size_overflow).message().find("32 bits") != std::string::npos);
}

TEST_CASE("a source that fails: growth failure counted, nothing leaks") {
  int allocs = 0, deallocs = 0;
  {
    Arena<NoopMapper, BitmapSlots, ImmediateReclaimer, FlakySource> arena(
        ArenaConfig{}, FlakySource{&allocs, &deallocs, true});
    CHECK(arena.last_growth_error() == std::error_code{});
    CHECK_FALSE(arena.acquire());
    CHECK(arena.counters().growth_failures == 1);
    CHECK(arena.counters().shards == 0);
    CHECK(arena.last_growth_error() == make_error_code(errc::out_of_memory)); // why, not just that
  }
  CHECK(allocs == 0);
  CHECK(deallocs == 0);
}

TEST_CASE("a mapper that refuses: the region goes back to its source") {
  int allocs = 0, deallocs = 0;
  {
    Arena<RefusingMapper, BitmapSlots, ImmediateReclaimer, FlakySource> arena(
        ArenaConfig{}, FlakySource{&allocs, &deallocs, false});
    CHECK_FALSE(arena.acquire());
    CHECK(arena.counters().growth_failures == 1);
    CHECK(arena.counters().mappings == 0);
    CHECK(arena.last_growth_error() == make_error_code(errc::map_failed));
  }
  CHECK(allocs == 1);
  CHECK(deallocs == 1);
}

namespace {
/// A deferred-style reclaimer that needs 32 bytes of the slot for its link.
struct NeedsRoom {
  static constexpr bool immediate = false;
  static constexpr std::size_t min_slot_size = 32;
  template <class Sink>
  void retire(SlotId id, std::byte*, Sink& sink) noexcept { sink(id); }
  template <class Sink>
  std::size_t reclaim(Sink&) noexcept { return 0; }
  std::size_t pending() const noexcept { return 0; }
};
} // namespace

TEST_CASE("a slot too small for the reclaimer's intrusive link is refused at configuration") {
  Arena<NoopMapper, BitmapSlots, NeedsRoom> small(ArenaConfig{.slot_size = 16});
  CHECK(small.error() == make_error_code(errc::invalid_config));
  CHECK_FALSE(small.acquire());
  Arena<NoopMapper, BitmapSlots, NeedsRoom> roomy(ArenaConfig{.slot_size = 32});
  CHECK(roomy);
  SlotId id = roomy.acquire();
  CHECK(id);
  CHECK(roomy.release(id));
}

namespace {
/// NeedsRoom whose link must be 8-byte aligned (as DeferredReclaimer's and EpochReclaimer's).
struct Aligned8 : NeedsRoom {
  static constexpr std::size_t slot_alignment = 8;
};
} // namespace

TEST_CASE("a slot size the reclaimer's link cannot be aligned in is refused at configuration") {
  // A deferred or epoch reclaimer writes its link at the start of a
  // released slot: a slot size that is not a multiple of the link's
  // alignment put it at a misaligned address (an assert, or UB under NDEBUG).
  for (const std::size_t bad : {std::size_t{33}, std::size_t{36}, std::size_t{4092}}) {
    Arena<NoopMapper, BitmapSlots, Aligned8> arena(ArenaConfig{.slot_size = bad});
    CHECK(arena.error() == make_error_code(errc::invalid_config));
    CHECK_FALSE(arena.acquire());
    CHECK(arena.counters().shards == 0);
  }
  Arena<NoopMapper, BitmapSlots, Aligned8> fine(ArenaConfig{.slot_size = 40});
  REQUIRE(fine);
  const SlotId id = fine.acquire();
  CHECK(id);
  CHECK(fine.release(id));
}

// The sanitizers reserve terabytes of shadow memory: no address-space cap under them.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define ARENA_TEST_NO_AS_CAP 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define ARENA_TEST_NO_AS_CAP 1
#endif
#endif
#if !defined(ARENA_TEST_NO_AS_CAP)
TEST_CASE("an arena whose own tables could not be reserved is refused and hands out nothing") {
  // Address space capped in a child (the sanitizers reserve terabytes of
  // shadow, so not under them): 2^24 possible shards of 64 KiB need more
  // table space than 512 MiB. The limit was set before the tables were
  // reserved, so the refused arena grew into tables it did not have.
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    const rlimit cap{std::size_t{512} << 20, std::size_t{512} << 20};
    if (::setrlimit(RLIMIT_AS, &cap) != 0) ::_exit(9);
    DefaultArena arena(ArenaConfig{.slot_size = 64 * 1024, .shard_size = 64 * 1024});
    int rc = 0;
    if (arena.error() != make_error_code(errc::out_of_memory)) rc |= 1;
    if (arena.acquire()) rc |= 2;
    SlotId ids[4];
    if (arena.acquire_bulk(ids, 4) != 0) rc |= 4;
    if (arena.counters().shards != 0) rc |= 8;
    ::_exit(rc);
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  INFO("child status " << status);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}
#endif
