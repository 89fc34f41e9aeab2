// A consumer's whole program: if arenakit's target, include paths and C++
// level reach it, this builds and exits 0.
#include <arenakit/arenakit.hpp>

int main() {
  arenakit::Arena<> arena(arenakit::ArenaConfig{.slot_size = 4096, .shard_size = 64 * 1024});
  arenakit::SlotId id = arena.acquire();
  if (!id || arena.counters().mappings != 1) return 1;
  return arena.release(id) ? 0 : 2;
}
