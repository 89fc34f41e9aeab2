// SPDX-License-Identifier: MIT
/**
 * @file recv/status.hpp
 * @brief RecvStatus: why a RecvPool call was refused, as a std::error_code
 *        enum (category "arenakit.recv_pool").
 */
#pragma once

#include <arenakit/detail/error_category.hpp>

#include <cstddef>
#include <cstdint>
#include <system_error>
#include <type_traits>

namespace arenakit {

/// Why a RecvPool call was refused (0 = accepted). Also an error_code enum.
enum class RecvStatus : std::uint8_t {
  ok = 0,
  unknown_buffer,       ///< buffer id out of range
  not_posted,           ///< delivery of a buffer that is not posted (stale or duplicate completion)
  not_held,             ///< give-back of a buffer not delivered (given back twice, or never delivered)
  already_queued,       ///< give-back of a buffer whose give-back is already on a release list
  unknown_connection,   ///< connection id never added, or removed
  foreign_slot,         ///< a SlotId or list node that is not one of this pool's buffers
  bad_length,           ///< a delivery longer than the buffer
  list_closed,          ///< queue_give_back on a closed release list: the caller still holds the buffer
  connection_busy,      ///< remove_connection while it still holds buffers
  too_many_connections, ///< add_connection past max_connections (1 in per_connection mode)
  bad_quota,            ///< quota 0 or larger than the pool
  sync_failed,          ///< SyncT refused begin_cpu_access: the buffer stays posted
  ring_attached,        ///< attach() while another ring is attached to the pool
  connectionless,       ///< add/remove_connection on a PoolMode::connectionless pool
  too_many_pieces,      ///< incremental ring: BufRingConfig::max_pieces pieces are held; this one was dropped
};
inline constexpr std::size_t recv_status_count = 16;

namespace detail {
/// The category behind RecvStatus ("arenakit.recv_pool").
struct RecvStatusErrors {
  static constexpr const char* name = "arenakit.recv_pool";
  static constexpr const char* unknown = "unknown recv_pool status";
  static constexpr ErrorMessage<RecvStatus> messages[] = {
      {RecvStatus::ok, "success"},
      {RecvStatus::unknown_buffer, "buffer id is out of the pool's range"},
      {RecvStatus::not_posted, "completion for a buffer that is not posted (stale or duplicate)"},
      {RecvStatus::not_held, "buffer is not held: given back twice, or never delivered"},
      {RecvStatus::already_queued, "buffer's give-back is already queued on a release list"},
      {RecvStatus::unknown_connection, "unknown connection id"},
      {RecvStatus::foreign_slot, "slot id or node does not belong to this pool"},
      {RecvStatus::bad_length, "received length exceeds the buffer size"},
      {RecvStatus::list_closed, "release list is closed: the caller still holds the buffer"},
      {RecvStatus::connection_busy, "connection still holds buffers"},
      {RecvStatus::too_many_connections, "connection table is full (per_connection mode has one)"},
      {RecvStatus::bad_quota, "quota must be between 1 and the pool's buffer count"},
      {RecvStatus::sync_failed, "CPU sync (begin_cpu_access) failed: buffer left posted"},
      {RecvStatus::ring_attached, "a provided-buffer ring is already attached to this pool"},
      {RecvStatus::connectionless, "the pool is connectionless: it has no connections to add or remove"},
      {RecvStatus::too_many_pieces, "incremental ring: max_pieces pieces are held; the piece was dropped"},
  };
};
} // namespace detail

inline const std::error_category& recv_pool_category() noexcept {
  return detail::category_of<detail::RecvStatusErrors>();
}
inline std::error_code make_error_code(RecvStatus s) noexcept {
  return {static_cast<int>(s), recv_pool_category()};
}

} // namespace arenakit

template <>
struct std::is_error_code_enum<arenakit::RecvStatus> : std::true_type {};
