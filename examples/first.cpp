// SPDX-License-Identifier: MIT
// The README's first example, compiled and run as a test so it cannot rot.
#include <arenakit/arenakit.hpp>
#include <cstdio>

int main() {
  using Pool = arenakit::Arena<arenakit::NoopMapper>; // bitmap slots, immediate reuse, mmap'd shards
  auto made = Pool::create(arenakit::ArenaConfig{.slot_size = 4096, .shard_size = 64 * 1024, .max_shards = 64});
  if (!made) return std::fprintf(stderr, "arena: %s\n", made.error().message().c_str()), 1;
  Pool& pool = **made;                         // create(): the arena, or why not

  Pool::Cache cache(pool);                     // one per thread: the fast path, no atomic RMW
  arenakit::SlotId ids[72];                    // 32-bit ids: they fit in a wr_id or user_data
  for (auto& id : ids) id = cache.acquire();   // empty id (false) at the limit, never a throw
  auto buf = pool.buffer(ids[5]);              // {data, device_address, length, mapping}
  arenakit::SlotId back = pool.from_device_address(buf.device_address + 100); // O(1), interior too
  for (auto id : ids) cache.release(id);
  bool refused = !cache.release(ids[5]);       // a double release is refused and counted

  auto c = pool.counters();
  std::printf("72 buffers: %llu mappings (one per 64 KB shard), lookup %s, double release %s\n",
              static_cast<unsigned long long>(c.mappings), back == ids[5] ? "ok" : "WRONG",
              refused ? "refused" : "ACCEPTED");
  return c.mappings == 5 && back == ids[5] && refused ? 0 : 1;
}
