// libFuzzer target: random acquire / release / bulk / cache operations and
// random (often garbage) ids thrown at an arena, checked against a model.
// Invariants: an id is accepted exactly when the model says it is held; a
// refused release changes nothing; slots_in_use equals the model's count; no
// slot is handed out twice; the limit is never passed.
#include <arenakit/arena/arena.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <set>
#include <vector>

namespace {
using FuzzArena = arenakit::Arena<>;

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

[[noreturn]] void fail() { std::abort(); }
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Input in{data, size};
  FuzzArena arena(arenakit::ArenaConfig{.slot_size = 1024u << (in.byte() % 3), .shard_size = 16 * 1024,
                                        .max_shards = 1u + in.byte() % 6, .tag = 77});
  if (!arena) fail();
  std::set<std::uint32_t> held;
  std::uint64_t refused = 0;
  {
    FuzzArena::Cache cache(arena, 1u + in.byte() % 16);
    auto take = [&](arenakit::SlotId id) {
      if (!id) return;
      if (!held.insert(id.raw).second) fail(); // handed out twice
    };
    auto give = [&](arenakit::SlotId id, bool accepted) {
      const bool expected = held.erase(id.raw) == 1;
      if (accepted != expected) fail();
      if (!accepted) ++refused;
    };
    while (in.n != 0) {
      switch (in.byte() % 8) {
      case 0: take(arena.acquire()); break;
      case 1: take(cache.acquire()); break;
      case 2: { // release something held, through either path
        if (held.empty()) break;
        auto it = held.begin();
        std::advance(it, in.byte() % held.size());
        const arenakit::SlotId id{*it};
        give(id, (in.byte() & 1) ? cache.release(id) : arena.release(id));
        break;
      }
      case 3: { // release an arbitrary, usually bad, id
        const arenakit::SlotId id{in.word()};
        give(id, (in.byte() & 1) ? cache.release(id) : arena.release(id));
        break;
      }
      case 4: { // bulk acquire: all or nothing
        arenakit::SlotId ids[40];
        const std::uint32_t n = 1u + in.byte() % 40;
        const std::uint32_t got = (in.byte() & 1) ? cache.acquire_bulk(ids, n) : arena.acquire_bulk(ids, n);
        if (got != 0 && got != n) fail();
        for (std::uint32_t i = 0; i < got; ++i) take(ids[i]);
        break;
      }
      case 5: { // bulk release of a mix of held and garbage ids (duplicates too)
        arenakit::SlotId ids[16];
        const std::uint32_t n = in.byte() % 16;
        for (std::uint32_t i = 0; i < n; ++i) {
          if ((in.byte() & 1) && !held.empty()) {
            auto it = held.begin();
            std::advance(it, in.byte() % held.size());
            ids[i] = arenakit::SlotId{*it};
          } else {
            ids[i] = arenakit::SlotId{in.word()};
          }
        }
        std::set<std::uint32_t> before = held;
        std::uint32_t expected = 0;
        for (std::uint32_t i = 0; i < n; ++i) expected += before.erase(ids[i].raw) == 1 ? 1u : 0u;
        const std::uint32_t accepted = (in.byte() & 1) ? cache.release_bulk(ids, n) : arena.release_bulk(ids, n);
        if (accepted != expected) fail();
        refused += n - accepted;
        held = before;
        break;
      }
      case 6: cache.flush(); break;
      default: {
        const auto c = arena.counters();
        if (c.slots_in_use != held.size()) fail();
        if (c.refused_releases != refused) fail();
        if (c.shards > arena.max_shards()) fail();
        for (std::uint32_t raw : held)
          if (!arena.is_held(arenakit::SlotId{raw})) fail();
        break;
      }
      }
    }
    for (std::uint32_t raw : held)
      if (!cache.release(arenakit::SlotId{raw})) fail();
    held.clear();
  }
  const auto c = arena.counters();
  if (c.slots_in_use != 0 || c.slots_cached != 0) fail();
  return 0;
}
