// SPDX-License-Identifier: MIT
/**
 * @file arena/impl/layout.hpp
 * @brief An arena's id layout and per-slot held flags: validation of an id
 *        (tag, shard, index) and the held-flag transitions, in one value the
 *        hot loops copy into locals.
 */
#pragma once

#include <arenakit/config.hpp>
#include <arenakit/detail/test_hook.hpp>
#include <arenakit/detail/word_batch.hpp>
#include <arenakit/slot_id.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace arenakit::detail {

/// A slot's held flag. Not one byte: a store through a character type (GCC
/// gives an enum its underlying type's alias set, so an 8-bit enum too) may
/// alias anything, and the compiler would reload every field of the cache
/// after each flag store. Four bytes, not two: x86-64 scales an index by 4
/// in the address itself, so a cache finds a flag from a raw id with no
/// arithmetic (base + raw * 4, see SlotLayout::flag_at()).
///
/// `held` is set by a cache's acquire (and Arena::acquire_bulk), and a
/// release decides its single winner by exchanging the flag. `held_direct`
/// is set by Arena::acquire() on an arena whose releases go straight back
/// to the shards: its release decides by the bitmap RMW that frees the slot
/// (clearing a clear bit is the detected double release), so the flag
/// costs it no locked instruction (see Arena::release_direct()).
enum class HeldFlag : std::uint32_t { free = 0, held = 1, held_direct = 2 };

/// What an id is to an arena.
enum class SlotValidity : std::uint8_t { valid, foreign, out_of_range };

/// Everything id validation and the held flags need, fixed at
/// configuration. Hot loops copy it into locals: the flag stores are byte
/// stores, which may alias anything, so fields read through `this` would be
/// reloaded after every one of them.
struct SlotLayout {
  HeldFlag* held = nullptr; ///< null unless the arena checks held flags
  unsigned index_bits = 0;
  std::uint32_t index_mask = 0;
  std::uint32_t slots_per_shard = 0;
  std::uint8_t tag = 0;
  /// The held bitmap of the bulk paths (null unless the arena checks held
  /// flags): a slot handed out by a cache's acquire_bulk() is held by its
  /// bit, one handed out singly by its flag, never both (see held_word()).
  std::uint64_t* words = nullptr;
  /// A position's bit is `position & ((1 << word_shift) - 1)` of word
  /// `position >> word_shift` (min(index_bits, 6): a shard of up to 64
  /// slots is one word), stored at `word << word_pad` so that each shard's
  /// words start a cache line of their own, as its flags do.
  unsigned word_shift = 0;
  unsigned word_pad = 0;

  /// word_shift and word_pad for @index_bits; the bitmap then needs
  /// `((max_shards << index_bits) >> shift) << pad` words.
  static constexpr unsigned word_shift_for(unsigned index_bits) noexcept { return index_bits < 6 ? index_bits : 6; }
  static constexpr unsigned word_pad_for(unsigned index_bits) noexcept {
    const unsigned per_shard = index_bits - word_shift_for(index_bits); // log2 words per shard
    return per_shard >= 3 ? 0 : 3 - per_shard;                          // 8 words (a line) per shard
  }

  SlotValidity classify(SlotId id, std::uint32_t shards) const noexcept {
    if (id.tag() != tag) return SlotValidity::foreign;
    const std::uint32_t pos = id.position();
    if ((pos >> index_bits) >= shards || (pos & index_mask) >= slots_per_shard)
      return SlotValidity::out_of_range;
    return SlotValidity::valid;
  }

  /// Position @pos's flag: one flag per position, so a shard of 16 slots or
  /// more starts a cache line of its own and threads whose caches draw from
  /// different shards do not share one. Smaller shards (slots over 4 KB in
  /// 64 KB) share a line with their neighbours: a stride that kept them
  /// apart cost a multiply on every cache acquire and release (2 to 3 of
  /// 32-33 instructions per pair), for shards whose large slots make these
  /// operations rare next to the bytes they carry.
  HeldFlag* flag_at(std::uint32_t pos) const noexcept { return held + pos; }

  std::atomic_ref<HeldFlag> flag(std::uint32_t pos) const noexcept {
    return std::atomic_ref<HeldFlag>(*flag_at(pos));
  }

  // (ar-h1) The held flag is set only by the slot's new owner (the
  // acquirer, who took it from a bitmap or a cache no one else reads), so
  // a plain store. Ownership itself moves through the bitmap's
  // acquire/release pair (BitmapSlots (bm-2)/(bm-3)) or the user's own
  // synchronisation, so relaxed is enough.
  void mark_held(SlotId id, HeldFlag how = HeldFlag::held) const noexcept {
    mark_flag(flag_at(id.position()), how);
  }
  static void mark_flag(HeldFlag* at, HeldFlag how = HeldFlag::held) noexcept {
    std::atomic_ref<HeldFlag>(*at).store(how, std::memory_order_relaxed); // (ar-h1)
  }

  /// Clear @id's held flag; false if it was not held. Exactly one of two
  /// threads racing to release the same id (a use-after-free in the caller)
  /// gets true: the transition is one exchange. A load then a store let
  /// both see "held", and the slot was then handed out twice.
  /// Barrier: none beyond the RMW's atomicity (relaxed, see (ar-h1)).
  /// A slot a bulk acquire handed out is held by its bit instead: tried
  /// when the flag was clear (one RMW more, on that path only).
  bool clear_held(SlotId id) const noexcept {
    return clear_flag(flag_at(id.position())) || take_bit(id.position());
  }

  /// clear_held() on a flag the caller located (the cache computes it from
  /// the raw id). One exchange, no load before it: the exchange's old value
  /// is the answer, and a refusal is the rare case.
  static bool clear_flag(HeldFlag* at) noexcept { return exchange_flag(at) != HeldFlag::free; }

  /// clear_flag() that says what the flag was (a cache must not park a
  /// `held_direct` slot: see HeldFlag).
  static HeldFlag exchange_flag(HeldFlag* at) noexcept {
    std::atomic_ref<HeldFlag> f(*at);
    // (ar-h2) relaxed exchange: the winner is decided by the RMW's
    // atomicity alone; what the releaser wrote to the slot reaches the
    // next owner through the bitmap release (BitmapSlots (bm-3)) after it.
    const HeldFlag was = f.exchange(HeldFlag::free, std::memory_order_relaxed);
    ARENAKIT_TEST_PAUSE(arena_release_held_read);
    return was;
  }

  /// The bitmap word @w (a word index, position >> word_shift).
  std::atomic_ref<std::uint64_t> held_word(std::uint32_t w) const noexcept {
    return std::atomic_ref<std::uint64_t>(words[std::size_t{w} << word_pad]);
  }

  /// Mark a batch held word-wise: one RMW per word (other bits of the word
  /// belong to slots other threads hold and release). Barrier: none, as
  /// (ar-h1): the slots came from the owner's cache.
  void mark_words(const WordBatch& b) const noexcept {
    held_word(b.word[0]).fetch_or(b.mask[0], std::memory_order_relaxed); // (ar-h4) as (ar-h1)
    if (b.mask[1] != 0) held_word(b.word[1]).fetch_or(b.mask[1], std::memory_order_relaxed); // (ar-h4)
  }

  /// Clear the bits @mask of word @w if every one of them is set; false,
  /// changing nothing, if any is clear (a not-held id in the batch). One
  /// CAS decides the whole word: of two threads releasing overlapping
  /// batches, or a batch and one of its ids, exactly one wins each id.
  /// Barrier: none beyond the RMW's atomicity (relaxed, as (ar-h2)).
  bool take_word(std::uint32_t w, std::uint64_t mask) const noexcept {
    std::atomic_ref<std::uint64_t> word = held_word(w);
    std::uint64_t old = word.load(std::memory_order_relaxed); // (ar-h5) as (ar-h2)
    do {
      if ((old & mask) != mask) return false;
    } while (!word.compare_exchange_weak(old, old & ~mask, std::memory_order_relaxed)); // (ar-h5)
    return true;
  }

  /// Clear the bit of position @pos; false if it was clear. The slow half
  /// of a single release whose flag was clear: the slot may have been
  /// handed out by a bulk acquire. One RMW (relaxed, as (ar-h2)).
  bool take_bit(std::uint32_t pos) const noexcept {
    const std::uint64_t bit = std::uint64_t{1} << (pos & ((std::uint32_t{1} << word_shift) - 1u));
    return (held_word(pos >> word_shift).fetch_and(~bit, std::memory_order_relaxed) & bit) != 0; // (ar-h5)
  }

  /// Whether position @pos is held by its bit (a snapshot, relaxed: pairs
  /// with nothing).
  bool bit_held(std::uint32_t pos) const noexcept {
    const std::uint64_t bit = std::uint64_t{1} << (pos & ((std::uint32_t{1} << word_shift) - 1u));
    return (held_word(pos >> word_shift).load(std::memory_order_relaxed) & bit) != 0; // a snapshot: pairs with nothing
  }

  /// exchange_flag() without the RMW, for PlainHeldFlagsCheck's caches: a
  /// double release ordered after the first is refused; two racing ones may
  /// both pass (the policy's documented trade).
  /// Returns what the flag was; clears it only if it was `held` (anything
  /// else goes to the caller's slow path, as after exchange_flag()).
  static HeldFlag take_flag_plain(HeldFlag* at) noexcept {
    std::atomic_ref<HeldFlag> f(*at);
    // (ar-h3) relaxed load and store, as (ar-h2): the order of the slot's
    // contents comes from the bitmap release after it, or from the cache's
    // owner being the next acquirer; the atomics only make the racing case
    // (which the policy accepts to lose) free of undefined behaviour.
    const HeldFlag was = f.load(std::memory_order_relaxed); // (ar-h3), as (ar-h2): pairs with nothing
    ARENAKIT_TEST_PAUSE(arena_release_held_read); // the window two racing releases both pass
    if (ARENAKIT_LIKELY(was == HeldFlag::held)) f.store(HeldFlag::free, std::memory_order_relaxed); // (ar-h3)
    return was;
  }
};

} // namespace arenakit::detail
