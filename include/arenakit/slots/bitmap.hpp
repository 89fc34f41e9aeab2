// SPDX-License-Identifier: MIT
/**
 * @file slots/bitmap.hpp
 * @brief BitmapSlots: one bit per slot (1 = taken) plus a free counter.
 *
 * The counter is the admission ticket: claim() first reserves k slots by
 * decrementing `free_` (so a full shard is recognised in one load, never by
 * scanning), then sets k clear bits. Since release() clears the bit before it
 * increments the counter, and claim() decrements the counter before it sets a
 * bit, there are always at least `free_` clear bits: a claimer that reserved k
 * finds k bits, possibly after passing words that concurrent claimers
 * emptied. Progress: lock-free (a CAS fails only because another thread's
 * claim or release succeeded).
 *
 * Bits past `capacity` in the last word are set at construction and never
 * cleared, so a search need not special-case the tail.
 *
 * Shards of at most 64 slots (16 x 4 KB in 64 KB, the receive-pool case) have
 * a single word, and the word is its own counter: "full" is all ones, so
 * claim and release are one atomic RMW each and `free_` is not used. Such a
 * release answers `maybe_was_full` (its RMW returns only the slot's bit).
 */
#pragma once

#include <arenakit/config.hpp>
#include <arenakit/concepts/slot_allocator.hpp>

#include <atomic>
#include <bit>
#include <cstdint>
#include <memory>
#include <new>

namespace arenakit {

class BitmapSlots {
public:
  explicit BitmapSlots(std::uint32_t slots) noexcept
      : capacity_(slots), words_((slots + 63) / 64) {
    if (words_ <= inline_words) {
      bits_ = inline_;
    } else {
      heap_.reset(new (std::nothrow) std::atomic<std::uint64_t>[words_]);
      bits_ = heap_.get();
    }
    if (bits_ == nullptr || slots == 0) {
      capacity_ = 0;
      return;
    }
    for (std::uint32_t w = 0; w < words_; ++w) bits_[w].store(0, std::memory_order_relaxed);
    if (const std::uint32_t tail = slots % 64; tail != 0)
      bits_[words_ - 1].store(~std::uint64_t{0} << tail, std::memory_order_relaxed);
    // Published to other threads by the arena's release of the shard pointer.
    free_.store(words_ == 1 ? 0 : slots, std::memory_order_relaxed);
  }
  BitmapSlots(const BitmapSlots&) = delete;
  BitmapSlots& operator=(const BitmapSlots&) = delete;

  bool ready() const noexcept { return capacity_ != 0; }
  std::uint32_t capacity() const noexcept { return capacity_; }
  /// seq_cst: the arena reads this right after clearing a shard's `listed`
  /// flag, and the pair must not reorder (a plain load on x86).
  std::uint32_t free_count() const noexcept {
    if (words_ == 1)
      return static_cast<std::uint32_t>(std::popcount(~inline_[0].load(std::memory_order_seq_cst))); // pairs with (bm-3') and the arena's (ar-5)
    return free_.load(std::memory_order_seq_cst);
  }

  bool is_free(std::uint32_t index) const noexcept {
    if (index >= capacity_) return false;
    return (bits_[index / 64].load(std::memory_order_relaxed) & (std::uint64_t{1} << (index % 64))) == 0;
  }

  /**
   * claim - take up to @max free slots.
   * @out: receives the indexes taken.
   * Return: how many were taken; 0 if the shard is full.
   */
  std::uint32_t claim(std::uint32_t* out, std::uint32_t max) noexcept {
    if (words_ == 1) return claim_single_word(out, max);
    std::uint32_t avail = free_.load(std::memory_order_relaxed);
    std::uint32_t want;
    do {
      if (avail == 0 || max == 0) return 0;
      want = avail < max ? avail : max;
      // (bm-1) acquire pairs with (bm-4) in release(): the count we reserve
      // includes slots whose bits were cleared before (bm-4).
    } while (!free_.compare_exchange_weak(avail, avail - want, std::memory_order_acquire,
                                          std::memory_order_relaxed));
    std::uint32_t got = 0;
    std::uint32_t w = hint_.load(std::memory_order_relaxed);
    if (w >= words_) w = 0;
    while (got < want) {
      std::uint64_t old = bits_[w].load(std::memory_order_relaxed);
      while (~old != 0) {
        std::uint64_t pick = lowest_bits(~old, want - got);
        // (bm-2) acquire pairs with (bm-3) in release(): the previous holder's
        // writes to the slot happen-before ours.
        if (bits_[w].compare_exchange_weak(old, old | pick, std::memory_order_acquire,
                                           std::memory_order_relaxed)) {
          while (pick != 0) {
            out[got++] = w * 64 + static_cast<std::uint32_t>(std::countr_zero(pick));
            pick &= pick - 1;
          }
          break;
        }
      }
      if (got < want) w = w + 1 == words_ ? 0 : w + 1;
    }
    hint_.store(w, std::memory_order_relaxed); // a hint only: any value is correct
    return got;
  }

  /// claim_one()'s answer when the shard is full.
  static constexpr std::uint32_t no_slot = ~std::uint32_t{0};

  /**
   * claim_one - take one free slot (the arena's single acquire).
   * Return: its index, or no_slot if the shard is full (a value, not an
   * out-parameter: the index stays in a register).
   * Ordering: acquire on success, as claim() ((bm-2') / (bm-2)).
   */
  ARENAKIT_ALWAYS_INLINE std::uint32_t claim_one() noexcept {
    if (words_ != 1) {
      std::uint32_t index;
      return claim(&index, 1) == 1 ? index : no_slot;
    }
    std::atomic<std::uint64_t>& word = inline_[0]; // a single word is always inline_[0]: no load of bits_
    std::uint64_t old = word.load(std::memory_order_relaxed); // a guess: the CAS below decides, pairs with nothing
    do {
      if (ARENAKIT_UNLIKELY(~old == 0)) return no_slot;
      // (bm-2'') acquire pairs with (bm-3') in release(), as (bm-2');
      // `old | (old + 1)` sets the lowest clear bit.
    } while (!word.compare_exchange_weak(old, old | (old + 1), std::memory_order_acquire, // (bm-2'')
                                         std::memory_order_relaxed)); // a failed try: pairs with nothing
    // ~old is not zero (checked above), so the builtin's one undefined
    // input cannot occur: a bit scan, without std::countr_one()'s zero test
    // and conditional move (4 instructions fewer per acquire).
    return static_cast<std::uint32_t>(__builtin_ctzll(~old));
  }

  /// release - return slot @index. Refused (nothing changes) if already
  /// free. Inline: the arena's direct release is this and little else.
  ARENAKIT_ALWAYS_INLINE SlotRelease release(std::uint32_t index) noexcept {
    if (index >= capacity_) return SlotRelease::refused;
    const std::uint64_t mask = std::uint64_t{1} << (index % 64);
    if (words_ == 1) {
      // (bm-3') seq_cst: pairs with (bm-2') like (bm-3) with (bm-2), and is
      // the count update the arena's listing protocol reads (see
      // free_count()). Only the bit is tested, so this is one bit-test-and-
      // reset (x86 `lock btr`), not a CAS loop that would also say whether
      // the word was full: the arena asks its listing instead.
      if ((inline_[0].fetch_and(~mask, std::memory_order_seq_cst) & mask) == 0) return SlotRelease::refused;
      return SlotRelease::maybe_was_full;
    }
    // (bm-3) release pairs with (bm-2): our writes to the slot reach the next owner.
    const std::uint64_t old = bits_[index / 64].fetch_and(~mask, std::memory_order_release);
    if ((old & mask) == 0) return SlotRelease::refused; // clearing a clear bit changed nothing
    // (bm-4) pairs with (bm-1); seq_cst because the arena's "shard is findable"
    // protocol reads this count after clearing its listed flag (Dekker style).
    const std::uint32_t before = free_.fetch_add(1, std::memory_order_seq_cst);
    return before == 0 ? SlotRelease::was_full : SlotRelease::released;
  }

private:
  static constexpr std::uint32_t inline_words = 4;
  static_assert(inline_words >= 1, "arenakit: a single-word bitmap is inline_[0] (its paths skip bits_)");

  static std::uint64_t lowest_bits(std::uint64_t set, std::uint32_t n) noexcept {
    std::uint64_t pick = 0;
    for (; n != 0 && set != 0; --n) {
      const std::uint64_t lowest = set & (~set + 1);
      pick |= lowest;
      set ^= lowest;
    }
    return pick;
  }

  std::uint32_t claim_single_word(std::uint32_t* out, std::uint32_t max) noexcept {
    std::uint64_t old = inline_[0].load(std::memory_order_relaxed); // a guess: the CAS decides, pairs with nothing
    std::uint64_t pick;
    do {
      if (~old == 0 || max == 0) return 0;
      pick = lowest_bits(~old, max);
      // (bm-2') acquire pairs with (bm-3') in release().
    } while (!inline_[0].compare_exchange_weak(old, old | pick, std::memory_order_acquire,
                                             std::memory_order_relaxed));
    std::uint32_t got = 0;
    for (; pick != 0; pick &= pick - 1) out[got++] = static_cast<std::uint32_t>(std::countr_zero(pick));
    return got;
  }

  // Everything a claim or release touches sits in one cache line for the
  // common shard (up to 256 slots): one line moves between threads, not two.
  alignas(cache_line_size) std::atomic<std::uint32_t> free_{0};
  std::atomic<std::uint32_t> hint_{0};
  std::uint32_t capacity_;
  std::uint32_t words_;
  std::atomic<std::uint64_t>* bits_ = nullptr;
  std::atomic<std::uint64_t> inline_[inline_words];
  std::unique_ptr<std::atomic<std::uint64_t>[]> heap_;
};

static_assert(SlotAllocator<BitmapSlots>);
static_assert(sizeof(BitmapSlots) <= 2 * cache_line_size, "BitmapSlots grew past two cache lines");

} // namespace arenakit
