// SPDX-License-Identifier: MIT
/**
 * @file recv/types.hpp
 * @brief The values a RecvPool takes and gives: connection ids, the pool
 *        mode and configuration, a delivered view, a give-back's outcome,
 *        and the counters.
 */
#pragma once

#include <arenakit/recv/status.hpp>
#include <arenakit/slot_id.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace arenakit {

/// Connection handle (an index into the pool's connection table).
struct ConnId {
  std::uint16_t value = 0;
  friend constexpr bool operator==(ConnId, ConnId) noexcept = default;
};

/// One connection owns the pool, or many share it (SRQ-like), each capped,
/// or there are no connections at all (a UDP socket: every datagram is its
/// own message; deliver(bid, bytes) needs no ConnId).
enum class PoolMode : std::uint8_t {
  per_connection, ///< one connection (add_connection once), quota up to N
  shared,         ///< up to max_connections, each with its own quota
  connectionless, ///< no add_connection: one implicit connection (ConnId{0}) with quota N
};

/// What a delivery or give-back means for the connection's receives.
enum class Arming : std::uint8_t {
  unchanged, ///< keep doing what you do
  stop,      ///< the connection is at (or over) its quota: stop re-arming its receives
  resume,    ///< it dropped below its quota: re-arm
};

struct RecvPoolConfig {
  /// Buffers taken from the arena (1..32768: a buffer id fits in 16 bits and
  /// in an io_uring provided-buffer ring).
  std::uint32_t buffers = 64;
  PoolMode mode = PoolMode::per_connection;
  /// Connection table size in shared mode (1..65535); per_connection mode has 1.
  std::uint32_t max_connections = 1;
};

/// A delivered buffer: the bytes received, ready for the CPU.
struct RecvView {
  SlotId id;
  std::byte* data = nullptr;
  std::uint32_t bytes = 0;
  std::uint16_t bid = 0;
  ConnId conn;
  RecvStatus status = RecvStatus::ok;
  Arming arming = Arming::unchanged;
  explicit operator bool() const noexcept { return status == RecvStatus::ok; }
  std::span<const std::byte> span() const noexcept { return {data, bytes}; }
};

/// What a give-back did.
struct GiveBack {
  RecvStatus status = RecvStatus::ok;
  ConnId conn;
  Arming arming = Arming::unchanged;
  explicit operator bool() const noexcept { return status == RecvStatus::ok; }
};

struct RecvConnCounters {
  std::uint64_t quota = 0;
  std::uint64_t held = 0; ///< delivered, not yet given back (queued ones included)
  std::uint64_t delivered = 0;
  std::uint64_t bytes = 0;
  std::uint64_t given_back = 0;
  std::uint64_t quota_hits = 0;            ///< deliveries that brought it to its quota
  std::uint64_t over_quota_deliveries = 0; ///< deliveries past the quota (receives still in flight)
};

struct RecvPoolCounters {
  std::uint64_t buffers = 0;
  std::uint64_t buffer_size = 0;
  std::uint64_t connections = 0;
  // Where the buffers are now (free + posted + held == buffers; queued is part of held).
  std::uint64_t free = 0;
  std::uint64_t posted = 0;
  std::uint64_t held = 0;
  std::uint64_t queued = 0;
  // Totals.
  std::uint64_t posts = 0;
  std::uint64_t delivered = 0;
  std::uint64_t bytes_delivered = 0;
  std::uint64_t given_back = 0;       ///< direct and drained give-backs
  std::uint64_t given_back_queued = 0; ///< of which came through a release list
  std::uint64_t returned_unused = 0;  ///< posted buffers returned without a delivery
  std::uint64_t quota_hits = 0;
  std::uint64_t over_quota_deliveries = 0;
  std::uint64_t sync_failures = 0;    ///< end_cpu_access errors (the buffer still came back)
  std::uint64_t reclaimed_held = 0;   ///< held buffers taken back by reclaim_held() (shutdown)
  std::uint64_t rings_attached = 0;   ///< 1 while a provided-buffer ring is attached
  std::uint64_t refused = 0;          ///< sum over reasons
  std::array<std::uint64_t, recv_status_count> refused_by = {}; ///< indexed by RecvStatus
  std::uint64_t refused_for(RecvStatus s) const noexcept {
    return refused_by[static_cast<std::size_t>(s)];
  }
};

} // namespace arenakit
