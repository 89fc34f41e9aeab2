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

/// Eight 32-bit lanes (the GCC and clang vector extension): one AVX2
/// register, two SSE2 ones in the portable copy. Written out, not left to
/// the vectoriser: GCC 12 vectorises no loop of unknown length at -O2, and
/// at -O3 spends more on set-up, spills and epilogues than on 32 ids.
typedef std::uint32_t WordBatchLanes __attribute__((vector_size(32)));
typedef std::uint32_t WordBatchHalf __attribute__((vector_size(16)));
static_assert(sizeof(SlotId) == sizeof(std::uint32_t), "arenakit: word_batch() loads ids as 32-bit lanes");

/// The OR of the eight lanes of @v.
ARENAKIT_ALWAYS_INLINE std::uint32_t word_batch_or(const WordBatchLanes& v) noexcept {
  WordBatchHalf a;
  WordBatchHalf b;
  std::memcpy(&a, &v, sizeof a);
  std::memcpy(&b, reinterpret_cast<const unsigned char*>(&v) + sizeof a, sizeof b);
  a |= b;
  return a[0] | a[1] | a[2] | a[3];
}

/// The branch-free body of word_batch(), inlined into each dispatched copy:
/// eight ids at a time, every choice a lane mask, a 64-bit word as two
/// 32-bit halves (AVX2 shifts 32-bit lanes by a count each, vpsllvd).
ARENAKIT_ALWAYS_INLINE WordBatch word_batch_body(const SlotId* ids, std::uint32_t n, std::uint32_t base,
                                                 std::uint32_t limit, unsigned shift) noexcept {
  // The candidates: the words of the first and the last id (a batch from
  // a cache refilled from one shard, then perhaps a second, starts in one
  // and ends in the other). An id in neither makes the batch not ok.
  const std::uint32_t lo = (ids[0].raw - base) >> shift;
  const std::uint32_t hi = (ids[n - 1].raw - base) >> shift;
  const std::uint32_t bit_mask = (std::uint32_t{1} << shift) - 1u;
  WordBatchLanes lo_low{}, lo_high{}, hi_low{}, hi_high{}, outside{};
  auto group = [&](const WordBatchLanes& raw) noexcept {
    const WordBatchLanes pos = raw - base;
    const WordBatchLanes w = pos >> shift;
    const WordBatchLanes b = pos & bit_mask;
    const WordBatchLanes one = (WordBatchLanes{} + 1u) << (b & 31u);
    const WordBatchLanes high = WordBatchLanes{} - (b >> 5u); // all ones: the bit is in the high half
    const auto is_lo = static_cast<WordBatchLanes>(w == lo);   // all ones or zero per lane
    const auto is_hi = static_cast<WordBatchLanes>(w == hi);
    const WordBatchLanes one_low = one & ~high;
    const WordBatchLanes one_high = one & high;
    lo_low |= one_low & is_lo;
    lo_high |= one_high & is_lo;
    hi_low |= one_low & is_hi;
    hi_high |= one_high & is_hi;
    outside |= ~(is_lo | is_hi);
  };
  std::uint32_t i = 0;
  for (; n - i >= 8; i += 8) {
    WordBatchLanes raw;
    std::memcpy(&raw, ids + i, sizeof raw); // one unaligned load
    group(raw);
  }
  if (i != n) {
    // A short last group repeats the first id: its bit is set already and
    // it is in a candidate word, so it changes nothing.
    WordBatchLanes raw;
    for (std::uint32_t k = 0; k < 8; ++k) raw[k] = ids[i + k < n ? i + k : 0].raw;
    group(raw);
  }
  WordBatch out;
  out.word[0] = lo;
  out.word[1] = hi;
  out.mask[0] = (std::uint64_t{word_batch_or(lo_high)} << 32) | word_batch_or(lo_low);
  out.mask[1] = lo == hi ? 0 : (std::uint64_t{word_batch_or(hi_high)} << 32) | word_batch_or(hi_low);
  // An id named twice sets one bit: fewer bits than ids.
  const auto bits = static_cast<std::uint32_t>(std::popcount(out.mask[0]) + std::popcount(out.mask[1]));
  // Every id is in word lo or hi, and @limit is a multiple of a word: the
  // positions are below it when those two words are.
  const std::uint32_t limit_word = limit >> shift;
  out.ok = word_batch_or(outside) == 0 && bits == n && lo < limit_word && hi < limit_word;
  return out;
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
inline WordBatch word_batch(const SlotId* ids, std::uint32_t n, std::uint32_t base, std::uint32_t limit,
                            unsigned shift) noexcept {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  if (word_batch_has_avx2()) return word_batch_avx2(ids, n, base, limit, shift);
#endif
  return word_batch_body(ids, n, base, limit, shift);
}

} // namespace arenakit::detail
