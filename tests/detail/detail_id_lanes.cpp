// SPDX-License-Identifier: MIT
// detail/id_lanes.hpp: the bulk paths' copy and range check, four ids at a
// time with a scalar tail. Every length from 0 to 41 (whole quads, tails of
// 1 to 3), a bad id at every position, and the edges of the range.
#include <arenakit/detail/id_lanes.hpp>

#include <doctest/doctest.h>

#include <cstdint>
#include <vector>

using namespace arenakit;
using arenakit::detail::copy_ids;
using arenakit::detail::ids_in_range;

namespace {
constexpr std::uint32_t tag = 0x5A;
constexpr std::uint32_t tag_bits = tag << slot_id_position_bits;
constexpr std::uint32_t limit = 1000;

std::vector<SlotId> good_ids(std::uint32_t n) {
  std::vector<SlotId> ids(n + 1); // one more, so that .data() is never null
  for (std::uint32_t i = 0; i < n; ++i) ids[i] = SlotId{tag_bits | ((i * 37u) % limit)};
  return ids;
}
} // namespace

TEST_CASE("copy_ids copies exactly n ids, and nothing past them") {
  for (std::uint32_t n = 0; n <= 41; ++n) {
    const std::vector<SlotId> src = good_ids(n);
    std::vector<SlotId> dst(n + 1, SlotId{0xDEAD'BEEFu});
    copy_ids(dst.data(), src.data(), n);
    for (std::uint32_t i = 0; i < n; ++i) CHECK(dst[i] == src[i]);
    CHECK(dst[n].raw == 0xDEAD'BEEFu);
  }
}

TEST_CASE("ids_in_range accepts a batch of our ids below the limit") {
  for (std::uint32_t n = 0; n <= 41; ++n) {
    const std::vector<SlotId> ids = good_ids(n);
    CHECK(ids_in_range(ids.data(), n, tag_bits, limit));
  }
  const SlotId edge[5] = {SlotId{tag_bits}, SlotId{tag_bits | (limit - 1)}, SlotId{tag_bits | 1},
                          SlotId{tag_bits | (limit - 2)}, SlotId{tag_bits | 7}};
  CHECK(ids_in_range(edge, 5, tag_bits, limit));
}

TEST_CASE("ids_in_range refuses a batch with one bad id anywhere, in a quad or in the tail") {
  const std::uint32_t other_tag_bits = (tag + 1) << slot_id_position_bits;
  const std::uint32_t bad[] = {
      tag_bits | limit,                                   // at the limit
      tag_bits | ((1u << slot_id_position_bits) - 1u),    // the largest position
      other_tag_bits | 3u,                                // another arena's tag
      3u,                                                 // no tag
      0xFFFF'FFFFu,                                       // everything set
  };
  for (std::uint32_t n = 1; n <= 41; ++n) {
    for (std::uint32_t at = 0; at < n; ++at) {
      for (std::uint32_t b : bad) {
        std::vector<SlotId> ids = good_ids(n);
        ids[at] = SlotId{b};
        CHECK_FALSE(ids_in_range(ids.data(), n, tag_bits, limit));
      }
    }
  }
}

TEST_CASE("ids_in_range at the largest limit, 2^24: every position of our tag passes") {
  const std::uint32_t top = 1u << slot_id_position_bits;
  const SlotId ids[6] = {SlotId{tag_bits}, SlotId{tag_bits | (top - 1)}, SlotId{tag_bits | (top / 2)},
                         SlotId{tag_bits | 5}, SlotId{tag_bits | (top - 2)}, SlotId{tag_bits | 9}};
  CHECK(ids_in_range(ids, 6, tag_bits, top));
  CHECK_FALSE(ids_in_range(ids, 6, tag_bits, top - 1));
}

TEST_CASE("ids_in_range at the edges of the tag space: the ids either side of the window are refused") {
  // The check is one compare of raw - tag_bits against the limit (moved by
  // 2^31 for SSE2's signed compare): the neighbours of the window, and tags
  // 0x00 and 0xFF, where the subtraction and the move wrap, must not pass.
  const std::uint32_t top = 1u << slot_id_position_bits;
  for (const std::uint32_t t : {0x00u, 0x01u, 0x7Fu, 0x80u, 0xFEu, 0xFFu}) {
    const std::uint32_t bits = t << slot_id_position_bits;
    for (const std::uint32_t lim : {1u, limit, top}) {
      std::vector<SlotId> ids(8, SlotId{bits | (lim - 1)});
      CHECK(ids_in_range(ids.data(), 8, bits, lim));
      for (std::uint32_t at = 0; at < 8; ++at) {
        const std::uint32_t keep = ids[at].raw;
        ids[at] = SlotId{bits - 1u};         // the last position of the tag below (wraps at 0x00)
        CHECK_FALSE(ids_in_range(ids.data(), 8, bits, lim));
        ids[at] = SlotId{bits + top};        // position 0 of the tag above (wraps at 0xFF)
        CHECK_FALSE(ids_in_range(ids.data(), 8, bits, lim));
        ids[at] = SlotId{bits + lim};        // the limit itself (the next tag's 0 when lim = 2^24)
        CHECK_FALSE(ids_in_range(ids.data(), 8, bits, lim));
        ids[at] = SlotId{keep};
      }
    }
    const SlotId one{bits};
    CHECK_FALSE(ids_in_range(&one, 1, bits, 0)); // a limit of 0 (no shard yet) refuses everything
  }
}
