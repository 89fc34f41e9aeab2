// libFuzzer target: a counted arena (CountedSlots) driven through its owner
// cache and its any-thread paths at once: acquires, retains, releases (one
// reference each), bulk forms, flushes, and arbitrary (mostly bad) ids,
// checked against a model of each slot's references.
// Invariants: a retain or release is accepted exactly when the model says the
// slot holds a reference; refs() is the model's count; a refusal changes
// nothing and is counted; slots_in_use is the number of referenced slots; a
// slot is never handed out while it holds a reference; everything comes back.
#include <arenakit/arena/arena.hpp>
#include <arenakit/slots/counted.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <map>

namespace {
using CountedArena = arenakit::Arena<>::with<arenakit::policy::slots<arenakit::CountedSlots>>;

struct Input {
  const std::uint8_t* p;
  std::size_t n;
  std::uint8_t byte() { return n ? (--n, *p++) : 0; }
  std::uint32_t word() {
    std::uint32_t w = 0;
    for (int i = 0; i < 4; ++i) w = (w << 8) | byte();
    return w;
  }
};

// Which invariant broke, then abort (libFuzzer keeps the input).
[[noreturn]] void fail_at(int line) {
  std::fprintf(stderr, "counted_arena_fuzz: invariant at line %d broken\n", line);
  std::abort();
}
#define fail() fail_at(__LINE__)
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Input in{data, size};
  CountedArena arena(arenakit::ArenaConfig{.slot_size = 1024u << (in.byte() % 3), .shard_size = 16 * 1024,
                                           .max_shards = 1u + in.byte() % 4, .tag = 91});
  if (!arena) fail();
  std::map<std::uint32_t, std::uint32_t> refs; // raw id -> references held (absent: none)
  std::uint64_t refused_releases = 0;
  std::uint64_t refused_retains = 0;
  {
    CountedArena::Cache cache(arena, 1u + in.byte() % 16);
    auto take = [&](arenakit::SlotId id) {
      if (!id) return;
      if (!refs.emplace(id.raw, 1).second) fail(); // handed out while referenced
    };
    // A referenced id (from the model) or an arbitrary one.
    auto pick = [&]() -> arenakit::SlotId {
      if ((in.byte() & 3) != 0 && !refs.empty()) {
        auto it = refs.begin();
        std::advance(it, in.byte() % refs.size());
        return arenakit::SlotId{it->first};
      }
      return arenakit::SlotId{in.word()};
    };
    auto drop = [&](arenakit::SlotId id, bool accepted) {
      const auto it = refs.find(id.raw);
      if (accepted != (it != refs.end())) fail();
      if (!accepted) {
        ++refused_releases;
        return;
      }
      if (--it->second == 0) refs.erase(it);
    };
    while (in.n != 0) {
      switch (in.byte() % 9) {
      case 0: take(arena.acquire()); break;
      case 1: take(cache.acquire()); break;
      case 2: { // retain
        const arenakit::SlotId id = pick();
        const auto it = refs.find(id.raw);
        const bool accepted = arena.retain(id);
        if (accepted != (it != refs.end())) fail();
        if (accepted) ++it->second;
        else ++refused_retains;
        break;
      }
      case 3: { // release one reference, through either path
        const arenakit::SlotId id = pick();
        drop(id, (in.byte() & 1) ? cache.release(id) : arena.release(id));
        break;
      }
      case 4: { // bulk acquire: all or nothing, one reference each
        arenakit::SlotId ids[40];
        const std::uint32_t n = 1u + in.byte() % 40;
        const std::uint32_t got = (in.byte() & 1) ? cache.acquire_bulk(ids, n) : arena.acquire_bulk(ids, n);
        if (got != 0 && got != n) fail();
        for (std::uint32_t i = 0; i < got; ++i) take(ids[i]);
        break;
      }
      case 5: { // bulk release: one reference per id, duplicates and garbage too
        arenakit::SlotId ids[16];
        const std::uint32_t n = in.byte() % 16;
        for (std::uint32_t i = 0; i < n; ++i) ids[i] = pick();
        std::uint32_t expected = 0;
        std::map<std::uint32_t, std::uint32_t> after = refs;
        for (std::uint32_t i = 0; i < n; ++i) {
          const auto it = after.find(ids[i].raw);
          if (it == after.end()) continue;
          ++expected;
          if (--it->second == 0) after.erase(it);
        }
        const std::uint32_t accepted = (in.byte() & 1) ? cache.release_bulk(ids, n) : arena.release_bulk(ids, n);
        if (accepted != expected) fail();
        refused_releases += n - accepted;
        refs.swap(after);
        break;
      }
      case 6: cache.flush(); break;
      case 7: { // refs() of anything
        const arenakit::SlotId id = pick();
        const auto it = refs.find(id.raw);
        if (arena.refs(id) != (it == refs.end() ? 0u : it->second)) fail();
        break;
      }
      default: {
        const auto c = arena.counters();
        if (c.slots_in_use != refs.size()) fail();
        // Refusals are counted by reason: a retain of a foreign or
        // out-of-range id lands in that reason (and so in refused_releases,
        // their sum); refused_retains counts retains of a slot of ours that
        // holds no reference. Every refusal is counted once.
        if (c.refused_releases + c.refused_retains != refused_releases + refused_retains) fail();
        if (c.refused_retains > refused_retains || c.refused_releases < refused_releases) fail();
        for (const auto& [raw, count] : refs)
          if (!arena.is_held(arenakit::SlotId{raw}) || arena.refs(arenakit::SlotId{raw}) != count) fail();
        break;
      }
      }
    }
    for (const auto& [raw, count] : refs)
      for (std::uint32_t k = 0; k < count; ++k)
        if (!cache.release(arenakit::SlotId{raw})) fail();
    refs.clear();
  }
  const auto c = arena.counters();
  if (c.slots_in_use != 0 || c.slots_cached != 0) fail();
  // Every slot is there again, once each.
  std::uint32_t n = 0;
  for (arenakit::SlotId s; (s = arena.acquire());) {
    if (!refs.emplace(s.raw, 1).second) fail();
    ++n;
  }
  if (n != arena.max_shards() * arena.slots_per_shard()) fail();
  // Back again: an arena destroyed with slots out keeps its shards mapped.
  for (const auto& [raw, count] : refs)
    if (!arena.release(arenakit::SlotId{raw})) fail();
  if (arena.release_memory()) fail();
  return 0;
}
