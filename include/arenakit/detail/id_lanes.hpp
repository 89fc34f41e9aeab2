// SPDX-License-Identifier: MIT
/**
 * @file detail/id_lanes.hpp
 * @brief Batches of slot ids eight at a time, written with the GCC / clang
 *        vector extension: the copy and the range check of the bulk paths,
 *        and the lane type word_batch() builds on.
 *
 * Written out, not left to the vectoriser: GCC 12 vectorises no loop of
 * unknown length at -O2 (the level most users build with), so a plain loop
 * over a batch of 32 ids ran scalar there: 2.8 instructions per id for a
 * copy and 13 for the range check, against 0.5 and 3 at -O3 (callgrind,
 * Cache::acquire_bulk + release_bulk with RangeOnlyCheck). Four 32-bit
 * lanes are one SSE2 register, so the copy and the check are vector code at
 * every level and on every x86-64, with no run-time dispatch.
 */
#pragma once

#include <arenakit/config.hpp>
#include <arenakit/slot_id.hpp>

#include <cstdint>
#include <cstring>

namespace arenakit::detail {

/// Eight 32-bit lanes: one AVX2 register, for code compiled with
/// target("avx2") (word_batch()); four: one SSE2 register, native on every
/// x86-64 (GCC lowers eight-lane vectors without AVX through the stack).
typedef std::uint32_t IdLanes __attribute__((vector_size(32)));
typedef std::uint32_t IdQuad __attribute__((vector_size(16)));
/// Signed lanes, for comparisons: SSE2 compares signed 32-bit lanes only,
/// and GCC lowers an unsigned vector compare lane by lane.
typedef std::int32_t IdSignedQuad __attribute__((vector_size(16)));
static_assert(sizeof(SlotId) == sizeof(std::uint32_t), "arenakit: id batches load ids as 32-bit lanes");

/// The ids at @ids into @v (one unaligned load). Through a reference, not
/// returned: a 32-byte vector returned by value changes the ABI with and
/// without AVX (-Wpsabi).
template <class Lanes>
ARENAKIT_ALWAYS_INLINE void load_ids(Lanes& v, const SlotId* ids) noexcept {
  std::memcpy(&v, ids, sizeof v);
}

/// The OR of the four lanes of @v.
ARENAKIT_ALWAYS_INLINE std::uint32_t lanes_or(const IdQuad& v) noexcept { return v[0] | v[1] | v[2] | v[3]; }

/// The OR of the eight lanes of @v.
ARENAKIT_ALWAYS_INLINE std::uint32_t lanes_or(const IdLanes& v) noexcept {
  IdQuad a;
  IdQuad b;
  std::memcpy(&a, &v, sizeof a);
  std::memcpy(&b, reinterpret_cast<const unsigned char*>(&v) + sizeof a, sizeof b);
  return lanes_or(a | b);
}

/// Copy @n ids, four at a time (the raw words: GCC 12 does not vectorise an
/// aggregate copy, and a memcpy call costs more than 32 ids).
ARENAKIT_ALWAYS_INLINE void copy_ids(SlotId* dst, const SlotId* src, std::uint32_t n) noexcept {
  std::uint32_t i = 0;
  for (; n - i >= 4; i += 4) {
    IdQuad v;
    load_ids(v, src + i);
    std::memcpy(static_cast<void*>(dst + i), &v, sizeof v); // SlotId is one trivially copyable word
  }
  for (; i < n; ++i) dst[i].raw = src[i].raw;
}

/**
 * ids_in_range - true when each of @n ids carries @tag_bits (tag <<
 * slot_id_position_bits) and a position below @limit. Branch-free over the
 * batch; pure. The caller still checks anything positions alone cannot say
 * (a hole in a sparse index space).
 *
 * One unsigned compare per id decides both: `raw - tag_bits < limit` (an id
 * of another tag wraps to 2^24 or more, past any limit). SSE2 compares
 * signed lanes only, so both sides are moved by 2^31: with the subtraction
 * folded in, that is one add of `2^31 - tag_bits` and one signed compare
 * against `2^31 + limit` per four ids.
 */
ARENAKIT_ALWAYS_INLINE bool ids_in_range(const SlotId* ids, std::uint32_t n, std::uint32_t tag_bits,
                                         std::uint32_t limit) noexcept {
  constexpr std::uint32_t sign = std::uint32_t{1} << 31;
  const std::uint32_t shift = sign - tag_bits; // raw + shift = (raw - tag_bits) ^ 2^31, wrapping
  const auto bound = static_cast<std::int32_t>(sign + limit);
  IdSignedQuad ok = ~IdSignedQuad{};
  std::uint32_t i = 0;
  for (; n - i >= 4; i += 4) {
    IdQuad raw;
    load_ids(raw, ids + i);
    ok &= __builtin_convertvector(raw + shift, IdSignedQuad) < bound; // -1 per lane in range
  }
  bool tail_ok = true;
  for (; i < n; ++i) tail_ok &= ids[i].raw - tag_bits < limit;
  const IdQuad all = __builtin_convertvector(ok, IdQuad);
  return tail_ok && (all[0] & all[1] & all[2] & all[3]) == ~std::uint32_t{0};
}

} // namespace arenakit::detail
