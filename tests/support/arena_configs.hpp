// SPDX-License-Identifier: MIT
// Arena geometries the arena tests share: 4 KB slots in 64 KB shards (16
// slots, one word of the held bitmap per shard).
#pragma once

#include <arenakit/arena/config.hpp>

namespace arena_test {

/// 16-slot shards, as many as the id space allows.
inline arenakit::ArenaConfig small_shards() {
  arenakit::ArenaConfig cfg;
  cfg.slot_size = 4096;
  cfg.shard_size = 64 * 1024;
  return cfg;
}

/// One shard of 16 slots, and no more.
inline arenakit::ArenaConfig one_shard() {
  arenakit::ArenaConfig cfg = small_shards();
  cfg.max_shards = 1;
  return cfg;
}

} // namespace arena_test
