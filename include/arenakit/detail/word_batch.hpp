// SPDX-License-Identifier: MIT
/**
 * @file detail/word_batch.hpp
 * @brief Which one or two 64-bit words of a per-position bitmap a batch of
 *        slot ids falls in, and the bits it names in each: the arena's
 *        word-wise held check for the bulk paths.
 *
 * A cache refilled from one shard hands out batches whose positions fall in
 * one or two words of the held bitmap (one word per shard of up to 64
 * slots), so a batch can be marked with one RMW per word and checked and
 * cleared with one CAS per word instead of one locked instruction per id.
 * word_batch() decides whether a batch has that shape, branch-free over the
 * ids so that the compiler vectorises it; on x86-64 an AVX2 copy is chosen
 * at run time (64-bit variable shifts, vpsllvq, do not exist before AVX2),
 * never by a build-wide -march. A per-function `target` and a dispatch on
 * `__builtin_cpu_supports`, not `target_clones`: an ifunc resolver of an
 * inline function is defined once per translation unit by clang 14 (a link
 * error) and runs before ThreadSanitizer is initialised (a crash).
 */
#pragma once

#include <arenakit/config.hpp>
#include <arenakit/detail/id_lanes.hpp>
#include <arenakit/slot_id.hpp>

#include <bit>
#include <cstdint>
#include <cstring>

namespace arenakit::detail {

/// One or two words and the bits a batch names in each.
struct WordBatch {
  std::uint32_t word[2] = {0, 0}; ///< word indexes (position >> shift); equal when the batch is in one
  std::uint64_t mask[2] = {0, 0}; ///< bits named in each (mask[1] is 0 when the words are equal)
  bool ok = false;                ///< every position below the limit, in the two words, no id twice
};

/// The branch-free body of word_batch(), inlined into each dispatched copy:
/// eight ids at a time, every choice a lane mask, a 64-bit word as two
/// 32-bit halves (AVX2 shifts 32-bit lanes by a count each, vpsllvd).
/// @Wide: words of more than 32 bits (shift 6). Narrower words (a shard of
/// up to 32 slots, e.g. 16 x 4 KB in 64 KB) have no high half and skip its
/// half of the lane work.
template <bool Wide>
ARENAKIT_ALWAYS_INLINE WordBatch word_batch_lanes(const SlotId* ids, std::uint32_t n, std::uint32_t base,
                                                  std::uint32_t limit, unsigned shift) noexcept {
  // The candidates: the words of the first and the last id (a batch from
  // a cache refilled from one shard, then perhaps a second, starts in one
  // and ends in the other). An id in neither makes the batch not ok.
  const std::uint32_t lo = (ids[0].raw - base) >> shift;
  const std::uint32_t hi = (ids[n - 1].raw - base) >> shift;
  const std::uint32_t bit_mask = (std::uint32_t{1} << shift) - 1u;
  IdLanes lo_low{}, lo_high{}, hi_low{}, hi_high{}, outside{};
  auto group = [&](const IdLanes& raw) noexcept {
    const IdLanes pos = raw - base;
    const IdLanes w = pos >> shift;
    const IdLanes b = pos & bit_mask;
    const auto is_lo = static_cast<IdLanes>(w == lo); // all ones or zero per lane
    const auto is_hi = static_cast<IdLanes>(w == hi);
    outside |= ~(is_lo | is_hi);
    if constexpr (Wide) {
      const IdLanes one = (IdLanes{} + 1u) << (b & 31u);
      const IdLanes high = IdLanes{} - (b >> 5u); // all ones: the bit is in the high half
      const IdLanes one_low = one & ~high;
      const IdLanes one_high = one & high;
      lo_low |= one_low & is_lo;
      lo_high |= one_high & is_lo;
      hi_low |= one_low & is_hi;
      hi_high |= one_high & is_hi;
    } else {
      const IdLanes one = (IdLanes{} + 1u) << b; // b < 32
      lo_low |= one & is_lo;
      hi_low |= one & is_hi;
    }
  };
  std::uint32_t i = 0;
  for (; n - i >= 8; i += 8) {
    IdLanes raw;
    load_ids(raw, ids + i);
    group(raw);
  }
  if (i != n) {
    // A short last group repeats the first id: its bit is set already and
    // it is in a candidate word, so it changes nothing.
    IdLanes raw;
    for (std::uint32_t k = 0; k < 8; ++k) raw[k] = ids[i + k < n ? i + k : 0].raw;
    group(raw);
  }
  WordBatch out;
  out.word[0] = lo;
  out.word[1] = hi;
  out.mask[0] = (std::uint64_t{lanes_or(lo_high)} << 32) | lanes_or(lo_low);
  out.mask[1] = lo == hi ? 0 : (std::uint64_t{lanes_or(hi_high)} << 32) | lanes_or(hi_low);
  // An id named twice sets one bit: fewer bits than ids.
  const auto bits = static_cast<std::uint32_t>(std::popcount(out.mask[0]) + std::popcount(out.mask[1]));
  // Every id is in word lo or hi, and @limit is a multiple of a word: the
  // positions are below it when those two words are.
  const std::uint32_t limit_word = limit >> shift;
  out.ok = lanes_or(outside) == 0 && bits == n && lo < limit_word && hi < limit_word;
  return out;
}

/// word_batch_lanes() for @shift (at most 6).
ARENAKIT_ALWAYS_INLINE WordBatch word_batch_body(const SlotId* ids, std::uint32_t n, std::uint32_t base,
                                                 std::uint32_t limit, unsigned shift) noexcept {
  return shift > 5 ? word_batch_lanes<true>(ids, n, base, limit, shift)
                   : word_batch_lanes<false>(ids, n, base, limit, shift);
}

/// word_batch_body() for any x86-64 (and other targets), a call of its own:
/// word_batch(), inlined at each caller, is then a test and a call. Inlined
/// there, this body's 32-byte vectors made every caller realign its stack
/// (37 instructions per call before the AVX2 copy was reached).
ARENAKIT_NOINLINE inline WordBatch word_batch_generic(const SlotId* ids, std::uint32_t n, std::uint32_t base,
                                                     std::uint32_t limit, unsigned shift) noexcept {
  return word_batch_body(ids, n, base, limit, shift);
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
__attribute__((target("avx2"))) inline WordBatch word_batch_avx2(const SlotId* ids, std::uint32_t n,
                                                                  std::uint32_t base, std::uint32_t limit,
                                                                  unsigned shift) noexcept {
  return word_batch_body(ids, n, base, limit, shift);
}

/// Whether this CPU runs the AVX2 copy; asked once per process.
inline bool word_batch_has_avx2() noexcept {
  static const bool has = [] {
    __builtin_cpu_init(); // needed when first called from a constructor
    return __builtin_cpu_supports("avx2") != 0;
  }();
  return has;
}
#endif

/**
 * word_batch - the one or two words of a bitmap that @ids fall in.
 * @base:  subtracted from each raw id to give its position (the arena's tag
 *         base, so that another arena's id wraps past @limit)
 * @limit: positions at or above it are refused (ok = false); a multiple of
 *         `1 << shift` (an arena's shard count << index bits is)
 * @shift: a position's word is `position >> shift`, its bit `position &
 *         ((1 << shift) - 1)`; at most 6
 * @n must be at least 1. The two words tried are those of the first and the
 * last id. Pure: reads @ids only. O(n), branch-free.
 */
ARENAKIT_ALWAYS_INLINE WordBatch word_batch(const SlotId* ids, std::uint32_t n, std::uint32_t base,
                                            std::uint32_t limit, unsigned shift) noexcept {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  if (ARENAKIT_LIKELY(word_batch_has_avx2())) return word_batch_avx2(ids, n, base, limit, shift);
#endif
  return word_batch_generic(ids, n, base, limit, shift);
}

} // namespace arenakit::detail
