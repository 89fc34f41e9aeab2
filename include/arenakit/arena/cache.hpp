// SPDX-License-Identifier: MIT
/**
 * @file arena/cache.hpp
 * @brief Arena::Cache: the owner-thread cache of free slots (the fast path).
 */
#pragma once

#include <arenakit/arena/arena.hpp>
#include <arenakit/detail/id_lanes.hpp>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <mutex>

namespace arenakit {

/**
 * Arena::Cache - an owner-thread cache of free slots.
 *
 * One thread owns a cache: acquire() and release() on it are plain loads and
 * stores (no atomic RMW); the cache refills `batch` slots from the shards when
 * empty and flushes `batch` back when full. Any thread may release into any
 * cache it owns: a slot acquired through one cache can be released through
 * another, or through Arena::release(). Destroy caches before their arena;
 * destruction flushes everything back.
 *
 * Counters stay exact: the cache's count and hits are relaxed atomics written
 * only by the owner (plain stores on x86), read by Arena::counters().
 *
 * Counted arenas (CountedSlotAllocator, e.g. CountedSlots): a parked slot is
 * draining (claimed, no reference), so a stale retain or release of it is
 * refused by its count. acquire() gives the slot its first reference with a
 * plain store (first_ref()); release() drops one reference with the
 * allocator's CAS, and only the last one parks the slot. A pair with one
 * retain in between is three locked instructions, the floor for
 * "increment if non-zero" and "decrement if non-zero" on one count.
 */
template <class MapperT, class SlotsT, class ReclaimerT, class SourceT, class CheckT>
class Arena<MapperT, SlotsT, ReclaimerT, SourceT, CheckT>::Cache {
public:
  static constexpr std::uint32_t capacity = 64;
  static constexpr std::uint32_t default_batch = 32;

  /// The parts of the owner word (ca-1): cached slots, fast-path hits.
  static constexpr std::uint32_t count_of(std::uint64_t word) noexcept {
    return static_cast<std::uint32_t>(word & count_mask);
  }
  static constexpr std::uint64_t hits_of(std::uint64_t word) noexcept { return word >> count_bits; }

  explicit Cache(Arena& arena, std::uint32_t batch = default_batch) noexcept
      : arena_(&arena), held_(arena.layout_.held),
        tag_base_(arena.tag_base_),
        flag_base_(reinterpret_cast<std::uintptr_t>(held_) - std::uintptr_t{tag_base_} * sizeof(HeldFlag)),
        index_mask_(arena.index_mask_), slots_per_shard_(arena.slots_per_shard_),
        batch_(std::clamp<std::uint32_t>(batch, 1, capacity / 2)) {
    see_shards();
    std::lock_guard lock(arena_->cache_mutex_);
    next_ = arena_->caches_;
    if (next_ != nullptr) next_->prev_ = this;
    arena_->caches_ = this;
  }
  Cache(const Cache&) = delete;
  Cache& operator=(const Cache&) = delete;

  ~Cache() {
    flush();
    std::lock_guard lock(arena_->cache_mutex_);
    if (prev_ != nullptr) prev_->next_ = next_;
    else arena_->caches_ = next_;
    if (next_ != nullptr) next_->prev_ = prev_;
    // Relaxed both: statistics, and the arena's cache_mutex_ (held here and in
    // Arena::counters()) orders this move against every reader.
    arena_->stats_.retired_fast_hits.fetch_add(hits_of(word_.load(std::memory_order_relaxed)), // (ca-1)
                                         std::memory_order_relaxed);
  }

  /// One slot, or the empty id at the arena's limit. Owner thread only.
  /// Progress: wait-free from the cache (plain loads and stores); a refill
  /// is Arena::acquire_bulk's (lock-free, blocking only to grow).
  /// Ordering: as Arena::acquire(): the refill's bitmap claim is the acquire,
  /// and a slot released into this cache by this thread needs none.
  ARENAKIT_ALWAYS_INLINE SlotId acquire() noexcept {
    std::uint64_t word = word_.load(std::memory_order_relaxed); // (ca-1)
    if (ARENAKIT_UNLIKELY(count_of(word) == 0)) {
      if (refill(1) == 0) return {};
      word = word_.load(std::memory_order_relaxed); // (ca-1)
      word -= one_hit;                              // a refill is not a fast-path hit
    }
    // A 64-bit index taken from the word as it is (the mask leaves it
    // zero-extended): the -1 folds into the load's displacement.
    const SlotId id = ids_[(word & count_mask) - 1];
    word_.store(word + one_hit - 1, std::memory_order_relaxed); // (ca-1) one slot out, one hit
    if constexpr (counted) slots_of(id.raw - tag_base_).first_ref(index_of(id.raw - tag_base_));
    if constexpr (track_held) Layout::mark_flag(flag_of_raw(id.raw)); // (ar-h1)
    return id;
  }

  /// Same contract as Arena::release(), owner thread only (any slot of the
  /// arena may come back through any cache). A counted arena's release drops
  /// one reference (one CAS, lock-free) and parks the slot at the last one.
  /// Progress: wait-free; one
  /// exchange on the held flag (a plain load and store with
  /// PlainHeldFlagsCheck, nothing with RangeOnlyCheck), plain stores into the
  /// cache, a batched flush when it is full (see take() for the check). A
  /// slot from Arena::acquire() is not parked: it goes back to its shard
  /// with one bitmap RMW, which decides against a racing direct release.
  ARENAKIT_ALWAYS_INLINE bool release(SlotId id) noexcept {
    const Took took = take(id);
    if (ARENAKIT_LIKELY(took == Took::keep)) {
      keep(id);
      return true;
    }
    return took == Took::returned;
  }

  /// Exactly @n slots or none (@n at most capacity); returns @n or 0.
  /// Owner thread only; progress and ordering as acquire(). With
  /// HeldFlagsCheck a batch in one or two words of the held bitmap (the
  /// usual case) is marked with one RMW per word, else (and always with
  /// PlainHeldFlagsCheck) a plain flag store per slot.
  std::uint32_t acquire_bulk(SlotId* out, std::uint32_t n) noexcept {
    if (n > capacity) return arena_->acquire_bulk(out, n);
    std::uint32_t have = cached();
    std::uint64_t hits = n;
    if (have < n) {
      have = refill(n - have);
      if (have < n) return 0;
      hits = 0; // a refill is not a fast-path hit
    }
    have -= n;
    if constexpr (counted) {
      for (std::uint32_t i = 0; i < n; ++i) {
        out[i] = ids_[have + i];
        const std::uint32_t pos = out[i].raw - tag_base_;
        slots_of(pos).first_ref(index_of(pos));
        if constexpr (track_held) Layout::mark_flag(held_ + pos); // (ar-h1)
      }
    } else if constexpr (track_held) {
      const SlotId* src = ids_ + have;
      const detail::WordBatch b = word_wise && n >= word_batch_min ? batch_of(src, n) : detail::WordBatch{};
      if (b.ok) {
        // One or two words (the usual case: the cache was refilled from one
        // shard): held by their bits, one RMW per word.
        detail::copy_ids(out, src, n);
        arena_->layout_.mark_words(b); // (ar-h4)
      } else {
        // Plain flags (PlainHeldFlagsCheck, or a batch too short or too
        // spread for words): a copy, then one store per flag, addressed from
        // the raw id through a local base (a member would be reloaded after
        // every flag store).
        detail::copy_ids(out, src, n);
        const std::uintptr_t base = flag_base_;
#pragma GCC unroll 4
        for (std::uint32_t i = 0; i < n; ++i) Layout::mark_flag(flag_of_raw(base, src[i].raw)); // (ar-h1)
      }
    } else {
      // Through a pointer, not ids_[have + i]: a 32-bit index may wrap,
      // and that possibility alone kept the loop scalar.
      detail::copy_ids(out, ids_ + have, n);
    }
    set_count(have, hits);
    return n;
  }

  /// Same contract as Arena::release_bulk(), owner thread only; progress as
  /// release() per id (range_only with every id in range: one vectorised
  /// check and a copy; HeldFlagsCheck with a batch in one or two words of
  /// the held bitmap: one CAS per word and a copy, see take_words();
  /// PlainHeldFlagsCheck: one vectorised range check, then a flag load and
  /// store per id in a loop of its own, see take_plain()).
  std::uint32_t release_bulk(const SlotId* ids, std::uint32_t n) noexcept {
    if constexpr (!ReclaimerT::immediate) {
      std::uint32_t accepted = 0;
      for (std::uint32_t i = 0; i < n; ++i) accepted += release(ids[i]) ? 1u : 0u;
      return accepted;
    } else {
      // (ar-7) once per batch: ids of shards counted now stay valid.
      const std::uint32_t shards = arena_->hot_.shard_count.load(std::memory_order_acquire); // (ar-7): pairs with (ar-8)
      const Layout layout = arena_->layout_;
      std::uint32_t accepted = 0;
      if (!track_held && !counted && all_in_range(layout, ids, n, shards)) {
        // Every id is ours and in range: a copy (the common case).
        while (n != 0) {
          const std::uint32_t chunk = std::min(n, capacity);
          std::uint32_t have = cached();
          if (have + chunk > capacity) have = flush_some(have + chunk - capacity);
          SlotId* dst = ids_ + have; // a pointer, not a 32-bit index: see acquire_bulk()
          detail::copy_ids(dst, ids, chunk);
          set_count(have + chunk);
          accepted += chunk;
          ids += chunk;
          n -= chunk;
        }
        return accepted;
      }
      while (n != 0) {
        const std::uint32_t chunk = std::min(n, capacity);
        std::uint32_t have = cached();
        if (have + chunk > capacity) have = flush_some(have + chunk - capacity);
        std::uint32_t kept = have;
        std::uint32_t returned = 0; // held_direct slots that went back to their shards
        if (word_wise && chunk >= word_batch_min) {
          kept = take_words(ids, chunk, kept, returned);
        } else if (plain_flags) {
          kept = take_plain(ids, chunk, kept, returned);
        } else {
          for (std::uint32_t i = 0; i < chunk; ++i) kept = take_into(ids[i], kept, returned);
        }
        set_count(kept);
        accepted += kept - have + returned;
        ids += chunk;
        n -= chunk;
      }
      return accepted;
    }
  }

  /// Give every cached slot back to the shards (owner thread; lock-free,
  /// release ordering per slot as Arena::release()).
  void flush() noexcept { flush_some(cached()); }

  std::uint32_t cached() const noexcept { return count_of(word_.load(std::memory_order_relaxed)); } // (ca-1)
  Arena& arena() const noexcept { return *arena_; }

private:
  /// Every id ours and in range, for the range_only copy path (vector code
  /// at any -O level: detail/id_lanes.hpp).
  static bool all_in_range(const Layout& layout, const SlotId* ids, std::uint32_t n,
                           std::uint32_t shards) noexcept {
    const bool dense = layout.slots_per_shard == layout.index_mask + 1;
    return dense && // sparse index spaces take the per-id path
           detail::ids_in_range(ids, n, std::uint32_t{layout.tag} << slot_id_position_bits, shards << layout.index_bits);
  }

  using HeldFlag = detail::HeldFlag;
  static constexpr unsigned count_bits = 8;
  static constexpr std::uint64_t count_mask = (std::uint64_t{1} << count_bits) - 1;
  static constexpr std::uint64_t one_hit = std::uint64_t{1} << count_bits;
  static_assert(capacity <= count_mask, "arenakit: the cache's count must fit its bits of the owner word");
  /// A counted arena's slots: the cache parks them draining and counts
  /// references through the shard's allocator.
  static constexpr bool counted = CountedSlotAllocator<SlotsT>;
  /// HeldFlagsCheck marks and checks batches word-wise, one RMW per word of
  /// the held bitmap instead of one exchange per id. PlainHeldFlagsCheck
  /// keeps its flags' plain loads and stores, which cost less than even one
  /// locked instruction per word (measured: 1.3 against 2.0 ns per object
  /// for a batch of 32).
  /// A counted arena's flags are marked and cleared one by one: its
  /// references, not the flags, decide a release.
  static constexpr bool word_wise = track_held && !plain_held && !counted;
  /// PlainHeldFlagsCheck's bulk release: a flag load and store per id, in a
  /// loop of its own (see take_plain()).
  static constexpr bool plain_flags = track_held && plain_held && !counted;
  /// Batches at least this long are marked and checked word-wise (below it
  /// the flags' plain stores cost less than a locked RMW per word).
  static constexpr std::uint32_t word_batch_min = 4;

  /// The flag of a raw id of this arena, without subtracting the tag base:
  /// flag_base_ is held_ moved back by the tag base's flags (an address
  /// computed as an integer: it points before the array, so it is never a
  /// pointer until a valid id is added).
  HeldFlag* flag_of_raw(std::uint32_t raw) const noexcept { return flag_of_raw(flag_base_, raw); }
  static HeldFlag* flag_of_raw(std::uintptr_t base, std::uint32_t raw) noexcept {
    return reinterpret_cast<HeldFlag*>(base + std::uintptr_t{raw} * sizeof(HeldFlag));
  }

  /// The allocator of the shard @pos is in, and @pos's index in it.
  SlotsT& slots_of(std::uint32_t pos) const noexcept { return arena_->shards_[pos >> arena_->index_bits_]->slots; }
  std::uint32_t index_of(std::uint32_t pos) const noexcept { return pos & index_mask_; }

  /// True if @pos (raw id - tag base) is a slot of a shard this cache has
  /// seen counted: its held flag may be looked up without further checks.
  /// With RangeOnlyCheck there is no flag to refuse a hole in a sparse
  /// shard, so the index is checked too, and so it is for a counted arena,
  /// whose count, not the flag, decides.
  bool known(std::uint32_t pos) const noexcept {
    if constexpr (track_held && !counted) {
      return pos < known_limit_;
    } else {
      return pos < known_limit_ && (pos & index_mask_) < slots_per_shard_;
    }
  }

  /// (ca-2) acquire pairs with (ar-8) in add_shard_locked(), as (ar-7): a
  /// shard counted here is fully built, its flags and bitmap included.
  void see_shards() noexcept {
    known_limit_ = arena_->hot_.shard_count.load(std::memory_order_acquire) << arena_->index_bits_;
  }

  /// Into the cache (or the reclaimer): the id is valid and no longer held.
  ARENAKIT_ALWAYS_INLINE void keep(SlotId id) noexcept {
    if constexpr (!ReclaimerT::immediate) {
      arena_->retire(id);
    } else {
      std::uint64_t word = word_.load(std::memory_order_relaxed); // (ca-1)
      if (ARENAKIT_UNLIKELY(count_of(word) == capacity)) {
        flush_some(batch_);
        word = word_.load(std::memory_order_relaxed); // (ca-1)
      }
      ids_[count_of(word)] = id;
      word_.store(word + 1, std::memory_order_relaxed); // (ca-1) one slot in
    }
  }

  /// What take() decided: refuse (counted), park the slot in the cache, or
  /// accepted with nothing more to do (a `held_direct` slot went back to its
  /// shard, or a counted slot kept other references).
  enum class Took : std::uint8_t { refused, keep, returned };

  /// Validate @id and clear its held flag. The id is checked against what
  /// this cache knows (its arena's tag, the shards counted when it last
  /// looked, the held flag): one subtraction, one compare and the flag.
  /// Anything else goes to the slow paths.
  ARENAKIT_ALWAYS_INLINE Took take(SlotId id) noexcept {
    const std::uint32_t pos = id.raw - tag_base_; // another arena's tag wraps past known_limit_
    if (ARENAKIT_UNLIKELY(!known(pos))) return take_unknown(id);
    return take_known(id, pos);
  }

  ARENAKIT_ALWAYS_INLINE Took take_known(SlotId id, std::uint32_t pos) noexcept {
    if constexpr (counted) {
      // The allocator's acq_rel CAS (CountedSlots (cs-5)) decides, and
      // orders every holder's writes before the last drop.
      switch (slots_of(pos).drop(index_of(pos))) {
      case SlotDrop::kept: return Took::returned; // accepted; others still hold it
      case SlotDrop::refused: arena_->count_refusal(Validity::valid); return Took::refused;
      case SlotDrop::last: break;
      }
      // The last reference: ours alone, so a plain store clears the flag
      // (as Arena::release() of a counted slot, (ar-h1)).
      if constexpr (track_held) Layout::mark_flag(held_ + pos, HeldFlag::free);
      return Took::keep;
    } else if constexpr (track_held) {
      // From the raw id, as acquire() marks it: the known() check's
      // subtraction stays off the address (one lea and a copy fewer).
      HeldFlag* const flag = flag_of_raw(id.raw);
      const HeldFlag was = plain_held ? Layout::take_flag_plain(flag) : Layout::exchange_flag(flag);
      if (ARENAKIT_UNLIKELY(was != HeldFlag::held)) return take_other(id, pos, was);
    }
    return Took::keep;
  }

  /// The one or two held-bitmap words @ids fall in, if they do (see
  /// detail::word_batch()); positions the cache does not know are refused.
  detail::WordBatch batch_of(const SlotId* ids, std::uint32_t n) const noexcept {
    return detail::word_batch(ids, n, tag_base_, known_limit_, arena_->layout_.word_shift);
  }

  /// release_bulk()'s check of @n ids with held flags, into ids_ from @kept
  /// on; returns the new count. Word-wise when the batch falls in one or two
  /// words of the held bitmap: one CAS per word checks and clears every bit
  /// the batch names, or changes nothing if one is clear. The ids of a word
  /// that did not pass (a not-held id among them, or ids a single acquire
  /// handed out, held by their flags) go through take() one by one, so one
  /// bad id does not lose the good ones and each refusal is counted by
  /// reason.
  std::uint32_t take_words(const SlotId* ids, std::uint32_t n, std::uint32_t kept, std::uint32_t& returned) noexcept {
    const detail::WordBatch b = batch_of(ids, n);
    const Layout& layout = arena_->layout_;
    bool took[2] = {false, false};
    if (b.ok) {
      took[0] = layout.take_word(b.word[0], b.mask[0]); // (ar-h5)
      took[1] = b.mask[1] == 0 ? took[0] : layout.take_word(b.word[1], b.mask[1]); // (ar-h5)
    }
    if (took[0] && took[1]) {
      SlotId* dst = ids_ + kept; // a pointer, not a 32-bit index: see acquire_bulk()
      detail::copy_ids(dst, ids, n);
      return kept + n;
    }
    const unsigned shift = layout.word_shift;
    for (std::uint32_t i = 0; i < n; ++i) {
      if (b.ok && took[((ids[i].raw - tag_base_) >> shift) == b.word[0] ? 0 : 1]) {
        ids_[kept++] = ids[i];
      } else {
        kept = take_into(ids[i], kept, returned);
      }
    }
    return kept;
  }

  /// release_bulk()'s check of @n ids with plain held flags, into ids_ from
  /// @kept on; returns the new count. When every id is in a shard this cache
  /// knows (one vectorised range check), the flags are taken in one tight
  /// loop (a load and a store each, no call) until one is not `held`, each
  /// id copied into the cache as its flag is taken; the rest go through take() one by
  /// one (so an id named twice in the batch finds its flag clear the second
  /// time, and each refusal is counted by reason).
  std::uint32_t take_plain(const SlotId* ids, std::uint32_t n, std::uint32_t kept, std::uint32_t& returned) noexcept {
    std::size_t i = 0;
    if (detail::ids_in_range(ids, n, tag_base_, known_limit_)) {
      const std::uintptr_t base = flag_base_;
      SlotId* const dst = ids_ + kept; // a pointer, not a 32-bit index: see acquire_bulk()
#pragma GCC unroll 4
      for (; i < n; ++i) {
        const std::uint32_t raw = ids[i].raw;
        if (Layout::take_flag_plain(flag_of_raw(base, raw)) != HeldFlag::held) break; // (ar-h3)
        dst[i].raw = raw;
      }
      kept += static_cast<std::uint32_t>(i);
    }
    for (; i < n; ++i) kept = take_into(ids[i], kept, returned);
    return kept;
  }

  /// take() of @id into ids_[kept]; returns the new count, counts a
  /// `returned` one in @returned.
  ARENAKIT_ALWAYS_INLINE std::uint32_t take_into(SlotId id, std::uint32_t kept, std::uint32_t& returned) noexcept {
    ids_[kept] = id;
    const Took took = take(id);
    returned += took == Took::returned ? 1u : 0u;
    return kept + (took == Took::keep ? 1u : 0u);
  }

  /// take() of an id whose flag was not `held`. `held_direct`: it came
  /// from Arena::acquire(), whose racing release decides by the bitmap, so
  /// this one must too: back to the shard, not parked (see HeldFlag).
  /// `free`: held by its bit (a bulk acquire handed it out), or not held
  /// (counted).
  ARENAKIT_NOINLINE Took take_other(SlotId id, std::uint32_t pos, HeldFlag was) noexcept {
    if (was == HeldFlag::held_direct) {
      // (ar-h6) as Arena::release_direct(): cleared before the bitmap
      // release (the exchange did already; PlainHeldFlagsCheck did not).
      std::atomic_ref<HeldFlag>(held_[pos]).store(HeldFlag::free, std::memory_order_relaxed);
      return arena_->release_to_shard(pos) ? Took::returned : Took::refused;
    }
    if (arena_->layout_.take_bit(pos)) return Took::keep; // (ar-h5)
    arena_->count_refusal(id);
    return Took::refused;
  }

  /// take() of an id the cache does not know: a shard added since it last
  /// looked, or bad input (counted by reason).
  ARENAKIT_NOINLINE Took take_unknown(SlotId id) noexcept {
    const std::uint32_t pos = id.raw - tag_base_;
    for (;;) {
      see_shards();
      if (known(pos)) return take_known(id, pos);
      const auto v = arena_->classify(id);
      if (v != detail::SlotValidity::valid) {
        (void)arena_->count_refusal(v);
        return Took::refused;
      }
      // Valid now but not when we looked: a shard was added in between.
    }
  }

  /// Set the cached count to @n and add @hits fast-path hits.
  void set_count(std::uint32_t n, std::uint64_t hits = 0) noexcept {
    const std::uint64_t word = word_.load(std::memory_order_relaxed); // (ca-1)
    word_.store((word & ~count_mask) + hits * one_hit + n, std::memory_order_relaxed); // (ca-1)
  }

  /// Top up to at least @need (and up to batch beyond what is held); grows
  /// the arena only if the shards have fewer than @need free.
  ARENAKIT_NOINLINE std::uint32_t refill(std::uint32_t need) noexcept {
    const std::uint32_t have = cached();
    const std::uint32_t room = capacity - have;
    const std::uint32_t want = std::min(room, std::max(need, batch_));
    const std::uint32_t got = arena_->template claim_shared<true>(ids_ + have, need, want); // draining when counted
    see_shards();
    arena_->hot_.slow_hits.fetch_add(1, std::memory_order_relaxed); // statistics only
    set_count(have + got);
    return have + got;
  }

  ARENAKIT_NOINLINE std::uint32_t flush_some(std::uint32_t k) noexcept {
    const std::uint32_t n = cached();
    k = std::min(k, n);
    arena_->return_shared(ids_ + (n - k), k);
    set_count(n - k);
    return n - k;
  }

  // Copies of the arena's read-mostly geometry, so the fast paths read them
  // from this (owner-local, hot) object instead of through arena_.
  Arena* arena_;
  HeldFlag* held_;            ///< the arena's held flags (null with RangeOnlyCheck)
  std::uint32_t tag_base_;    ///< tag << 24: raw id - tag_base_ is the position
  std::uintptr_t flag_base_;  ///< see flag_of_raw()
  std::uint32_t index_mask_;
  std::uint32_t slots_per_shard_;
  std::uint32_t known_limit_ = 0; ///< shards counted at the last look << index bits (ca-2)
  std::uint32_t batch_;
  // (ca-1) The cached count (low 8 bits) and the fast-path hits (the rest),
  // in one word so that a pair updates both with one add: an acquire adds
  // one_hit - 1, a release 1. Written only by the owner thread, so every
  // access is relaxed and pairs with nothing: the owner reads its own
  // stores, and Arena::counters() reads a snapshot, exact at each store (an
  // atomic only so that the read is not a data race). 56 bits of hits last
  // 2 years at one hit per nanosecond.
  std::atomic<std::uint64_t> word_{0};
  Cache* next_ = nullptr;
  Cache* prev_ = nullptr;
  SlotId ids_[capacity];

  friend class Arena;
};

} // namespace arenakit
