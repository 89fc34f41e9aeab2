// SPDX-License-Identifier: MIT
/**
 * @file slot_id.hpp
 * @brief SlotId: a slot named in 32 bits, small enough to ride in an RDMA
 *        wr_id, an io_uring user_data or a user token.
 *
 * Layout (most significant first):
 *
 *     | tag: 8 | shard: 24 - index_bits | index: index_bits |
 *
 * - `tag` identifies the arena that minted the id (1..255, never 0), so an id
 *   handed to the wrong arena is refused. A new arena takes a tag that no
 *   live arena holds (however many were created and destroyed before), so
 *   live arenas have distinct tags while there are at most 255 of them; past
 *   that, tags are shared and ids of two arenas sharing one are not told
 *   apart. A tag can also be set explicitly in ArenaConfig (automatic tags
 *   then avoid it).
 * - `index_bits` is ceil(log2(slots per shard)), fixed per arena.
 * - The raw value 0 is never a valid id: a default SlotId is "empty".
 */
#pragma once

#include <cstdint>

namespace arenakit {

struct SlotId {
  std::uint32_t raw = 0;

  /// True unless this is the empty id (what a failed acquire returns).
  constexpr explicit operator bool() const noexcept { return raw != 0; }
  constexpr std::uint8_t tag() const noexcept { return static_cast<std::uint8_t>(raw >> 24); }
  /// Shard and index together: a dense number, the slot's position in the
  /// arena if every shard had 2^index_bits slots.
  constexpr std::uint32_t position() const noexcept { return raw & 0x00FF'FFFFu; }
  friend constexpr bool operator==(SlotId, SlotId) noexcept = default;
};

static_assert(sizeof(SlotId) == 4, "SlotId must stay 32 bits: it rides in wr_id / user_data");

inline constexpr unsigned slot_id_tag_bits = 8;
inline constexpr unsigned slot_id_position_bits = 24;

} // namespace arenakit
