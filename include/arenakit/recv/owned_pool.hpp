// SPDX-License-Identifier: MIT
/**
 * @file recv/owned_pool.hpp
 * @brief RecvPoolSpec (a pool described by its buffers: size and count) and
 *        OwnedRecvPool<Arena, Sync> (the pool and the arena it takes its
 *        buffers from, in one object).
 *
 * Why: a RecvPool borrows its arena, so the user has to derive the arena's
 * geometry (slot size, shard size, shard count) from the buffers they want,
 * and has to destroy the pool before the arena. OwnedRecvPool does both: the
 * arena is derived from the spec and is a member declared before the pool,
 * so it is destroyed after it, whatever the user does.
 *
 * Geometry (arena_config_for): slot = buffer_size; shard = the spec's
 * shard_size, or else the smallest power of two that holds the buffer and is
 * at least 64 KB, but no larger than all the buffers need; max_shards =
 * initial_shards = just enough shards for `buffers` (all mapped up front: the
 * pool takes every buffer at construction anyway). With ReservedSource as the
 * arena's source and a reserve of 0, the reserve is set to exactly those
 * shards: one range, one VMA in use.
 */
#pragma once

#include <arenakit/arena/arena.hpp>
#include <arenakit/error.hpp>
#include <arenakit/recv/recv_pool.hpp>
#include <arenakit/recv/types.hpp>
#include <arenakit/sync/host_memory.hpp>

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <system_error>
#include <utility>

namespace arenakit {

struct RecvPoolSpec {
  std::uint32_t buffer_size = 4096; ///< bytes per buffer (8..2^31)
  std::uint32_t buffers = 64;       ///< 1..32768
  PoolMode mode = PoolMode::per_connection;
  std::uint32_t max_connections = 1; ///< shared mode's connection table
  std::size_t shard_size = 0;       ///< bytes per shard (one mapping each); 0 = derived
};

/// The smallest shard an arena takes (ArenaConfig::shard_size).
inline constexpr std::size_t min_shard_size = 64;

/// The spec's error, if any: errc::invalid_config for a size or count out
/// of range, or an explicit shard_size that is not a power of two of at
/// least max(buffer_size, 64).
inline std::error_code check_spec(const RecvPoolSpec& s) noexcept {
  if (s.buffer_size < 8 || s.buffer_size > (1u << 31) || s.buffers == 0 || s.buffers > 32768)
    return errc::invalid_config;
  if (s.shard_size != 0 &&
      (!std::has_single_bit(s.shard_size) || s.shard_size < s.buffer_size || s.shard_size < min_shard_size))
    return errc::invalid_config;
  return {};
}

/// The arena geometry for @s (see the file comment). If check_spec fails,
/// a configuration every arena refuses (slot_size 0).
inline ArenaConfig arena_config_for(const RecvPoolSpec& s) noexcept {
  if (check_spec(s)) return ArenaConfig{.slot_size = 0};
  ArenaConfig c;
  c.slot_size = s.buffer_size;
  std::size_t shard = s.shard_size;
  if (shard == 0) {
    // At least an arena's smallest shard: a pool of a few tiny buffers
    // (2 x 16 B) would otherwise ask for a 32-byte shard and be refused.
    const std::size_t one = std::bit_ceil(std::size_t{s.buffer_size});
    const std::size_t all = std::bit_ceil(std::size_t{s.buffer_size} * s.buffers);
    shard = std::max({one, std::min(all, std::size_t{64} * 1024), min_shard_size});
  }
  c.shard_size = shard;
  const std::size_t per_shard = shard / s.buffer_size;
  c.max_shards = static_cast<std::uint32_t>((s.buffers + per_shard - 1) / per_shard);
  c.initial_shards = c.max_shards;
  return c;
}

inline RecvPoolConfig pool_config_for(const RecvPoolSpec& s) noexcept {
  return RecvPoolConfig{.buffers = s.buffers, .mode = s.mode, .max_connections = s.max_connections};
}

/**
 * OwnedRecvPool - a RecvPool and its arena, destroyed in the right order
 * @ArenaT: the arena type (Arena<Mapper, Slots, Reclaimer, Source>)
 * @SyncT: the pool's CpuSync
 *
 * Construction is blocking (the arena maps its shards); error() says what
 * failed: the spec, the arena, or the pool. Not movable (a ring points at the pool).
 */
template <class ArenaT = Arena<NoopMapper>, class SyncT = HostMemorySync>
class OwnedRecvPool {
public:
  using pool_type = RecvPool<ArenaT, SyncT>;
  using source_type = typename ArenaT::source_type;

  explicit OwnedRecvPool(const RecvPoolSpec& spec, source_type source = source_type{},
                         SyncT sync = SyncT{}) noexcept
      : spec_error_(check_spec(spec)),
        arena_(spec_error_ ? ArenaConfig{.slot_size = 0} : arena_config_for(spec), sized(std::move(source), spec)),
        pool_(arena_, pool_config_for(spec), std::move(sync)) {}
  OwnedRecvPool(const OwnedRecvPool&) = delete;
  OwnedRecvPool& operator=(const OwnedRecvPool&) = delete;

  std::error_code error() const noexcept {
    if (spec_error_) return spec_error_;
    if (arena_.error()) return arena_.error();
    return pool_.error();
  }
  explicit operator bool() const noexcept { return !error(); }

  pool_type& pool() noexcept { return pool_; }
  const pool_type& pool() const noexcept { return pool_; }
  ArenaT& arena() noexcept { return arena_; }
  const ArenaT& arena() const noexcept { return arena_; }

private:
  /// A reserving source with no reserve gets exactly the spec's shards.
  static source_type sized(source_type source, const RecvPoolSpec& spec) noexcept {
    if constexpr (requires { source.reserve_bytes; }) {
      if (source.reserve_bytes == 0 && !check_spec(spec)) {
        const ArenaConfig c = arena_config_for(spec);
        source.reserve_bytes = c.shard_size * c.max_shards;
      }
    }
    return source;
  }

  std::error_code spec_error_;
  ArenaT arena_; // before pool_: destroyed after it, so the pool never outlives its arena
  pool_type pool_;
};

} // namespace arenakit
