// SPDX-License-Identifier: MIT
/**
 * @file slots/counted.hpp
 * @brief CountedSlots: an atomic reference count per slot (the design card's
 *        "array of atomic token counts") plus a free list, a
 *        CountedSlotAllocator.
 *
 * Each slot has one 32-bit word, its count, in one of three states:
 *
 *     free      the word is `free_mark`: on the free list, claimable
 *     held      1 .. max_refs: that many references
 *     draining  0: drop() took the last reference (or claim_draining()
 *               claimed it without one); release() frees it (at once, or
 *               after the arena's reclaimer), first_ref() gives it to a
 *               new holder
 *
 * Every transition is one CAS on that word, so a retain() racing the last
 * drop() is decided by the word alone: the retain either lands first (the
 * drop then keeps the slot) or sees 0 / free_mark and is refused. Nothing
 * is ever incremented from zero, nothing decremented below it: refused
 * retains and drops are counted in counters() and change nothing.
 *
 * Finding a free slot is O(1) at any fullness: free slots sit on a tagged
 * lock-free LIFO (detail/tagged_index_stack.hpp) whose links live beside the
 * counts, and a count of claimed slots bounded by the capacity
 * (detail/bounded_count.hpp) is the admission ticket, as BitmapSlots' free
 * counter is: claim() reserves k before it pops, release() pushes before it
 * gives its unit back, so the list always holds at least `capacity -
 * claimed` entries and a reserved pop never finds it empty. LIFO order also hands out the
 * slot released last, the one most likely still in cache.
 *
 * Progress: every operation is lock-free (a CAS fails only because another
 * thread's operation on the same word succeeded). Memory: 8 bytes per slot.
 */
#pragma once

#include <arenakit/config.hpp>
#include <arenakit/concepts/counted_slot_allocator.hpp>
#include <arenakit/concepts/slot_allocator.hpp>
#include <arenakit/detail/bounded_count.hpp>
#include <arenakit/detail/tagged_index_stack.hpp>
#include <arenakit/detail/test_hook.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <new>

namespace arenakit {

/// Refusals a CountedSlots counted (relaxed snapshots).
struct CountedSlotsCounters {
  std::uint64_t refused_retains = 0; ///< retain() of a slot at zero, free, saturated or out of range
  std::uint64_t refused_drops = 0;   ///< drop() / release() of a slot with no reference to drop
};

class CountedSlots {
public:
  /// A count past this is refused by retain() (a leak, not a use).
  static constexpr std::uint32_t max_refs = 0x7FFF'FFFFu;

  explicit CountedSlots(std::uint32_t slots) noexcept : capacity_(slots) {
    if (slots != 0) entries_.reset(new (std::nothrow) Entry[slots]);
    if (!entries_) {
      capacity_ = 0;
      return;
    }
    // Lowest index on top, so a fresh allocator hands out 0, 1, 2, ...
    for (std::uint32_t i = slots; i-- > 0;) free_list_.push(i, link_of());
  }
  CountedSlots(const CountedSlots&) = delete;
  CountedSlots& operator=(const CountedSlots&) = delete;

  bool ready() const noexcept { return capacity_ != 0; }
  std::uint32_t capacity() const noexcept { return capacity_; }
  /// seq_cst: the arena pairs it with its shard-listing flag (see the
  /// SlotAllocator concept); release() updates it with a seq_cst RMW (cs-4).
  std::uint32_t free_count() const noexcept { return capacity_ - claimed_.load(std::memory_order_seq_cst); }

  bool is_free(std::uint32_t index) const noexcept {
    // Relaxed: a snapshot for the caller's checks; it orders nothing.
    return index < capacity_ && entries_[index].refs.load(std::memory_order_relaxed) == free_mark;
  }

  /// The references @index holds now (0 for free, draining or out of range).
  /// Relaxed: a snapshot; a concurrent retain or drop may change it at once.
  std::uint32_t refs(std::uint32_t index) const noexcept {
    if (index >= capacity_) return 0;
    const std::uint32_t c = entries_[index].refs.load(std::memory_order_relaxed);
    return c == free_mark ? 0 : c;
  }

  /**
   * claim - take up to @max free slots, each with one reference.
   * @out: receives the indexes taken.
   * Return: how many were taken; 0 if none is free. O(1) per slot at any
   * fullness. Acquire: the previous holder's writes to each slot happen
   * before ours ((cs-1) and the free list's pop (ts-2)).
   */
  std::uint32_t claim(std::uint32_t* out, std::uint32_t max) noexcept { return claim_with(out, max, 1); }

  /**
   * claim_draining - claim() that leaves each slot draining (claimed, no
   * reference: retains and drops are refused), for an owner that keeps
   * slots aside, as Arena::Cache does, and gives one its first reference
   * with first_ref() when it hands it out. release() frees such a slot.
   * Progress and ordering: as claim().
   */
  std::uint32_t claim_draining(std::uint32_t* out, std::uint32_t max) noexcept { return claim_with(out, max, 0); }

  /**
   * first_ref - give a draining slot the caller owns (from claim_draining(),
   * or a drop() that returned SlotDrop::last and was not released) its first
   * reference. Wait-free: one plain store, no RMW.
   * Relaxed (cs-6): the slot is the caller's alone until it publishes the
   * id, and its holders learn the count through that publication, as after
   * claim() (cs-2). A racing retain or drop of a stale id read 0 and is
   * refused, or reads 1 after it, as it would for any reused slot.
   */
  void first_ref(std::uint32_t index) noexcept {
    if (index < capacity_) entries_[index].refs.store(1, std::memory_order_relaxed); // (cs-6)
  }

  /**
   * retain - add a reference to a slot that holds one ("increment if
   * non-zero"). Return: false (counted, nothing changes) for a slot at
   * zero, free, at max_refs or out of range. Lock-free. Relaxed (cs-3):
   * the caller reached the slot through a holder's own synchronisation.
   */
  bool retain(std::uint32_t index) noexcept {
    if (index >= capacity_) return refuse_retain();
    std::atomic<std::uint32_t>& refs = entries_[index].refs;
    std::uint32_t c = refs.load(std::memory_order_relaxed); // (cs-3)
    ARENAKIT_TEST_PAUSE(counted_retain_read);
    do {
      if (c == 0 || c >= max_refs) return refuse_retain(); // free_mark > max_refs
      // (cs-3) relaxed, like shared_ptr's increment: adding a reference to a
      // held slot publishes nothing. The CAS, not a fetch_add, is what
      // refuses a slot whose last reference went since our load.
    } while (!refs.compare_exchange_weak(c, c + 1, std::memory_order_relaxed, std::memory_order_relaxed));
    return true;
  }

  /**
   * drop - drop one reference ("decrement if non-zero").
   * Return: SlotDrop::refused (counted, nothing changes) for a slot with none,
   * kept while others remain, last when the count reached zero: the slot is
   * then draining, and the caller hands it to release(). Lock-free.
   * acq_rel (cs-5): our writes to the slot happen-before the release() that
   * frees it, and the last dropper sees every other holder's writes.
   */
  SlotDrop drop(std::uint32_t index) noexcept {
    if (index >= capacity_) return refuse_drop(SlotDrop::refused);
    std::atomic<std::uint32_t>& refs = entries_[index].refs;
    std::uint32_t c = refs.load(std::memory_order_relaxed); // (cs-5) decides by the CAS below
    ARENAKIT_TEST_PAUSE(counted_drop_read);
    do {
      if (c == 0 || c == free_mark) return refuse_drop(SlotDrop::refused);
      // (cs-5) acq_rel: release pairs with the acquire of the drop that
      // takes the count to zero (and through it with the free list's push).
    } while (!refs.compare_exchange_weak(c, c - 1, std::memory_order_acq_rel, std::memory_order_relaxed));
    return c == 1 ? SlotDrop::last : SlotDrop::kept;
  }

  /**
   * release - drop one reference and free the slot at zero (a slot drop()
   * left draining is freed without a second drop).
   * Return: refused (counted, nothing changes) for a free slot or one out of
   * range; kept while references remain; released, or was_full when the
   * allocator had no free slot before. Lock-free.
   */
  SlotRelease release(std::uint32_t index) noexcept {
    if (index >= capacity_) return refuse_drop(SlotRelease::refused);
    std::atomic<std::uint32_t>& refs = entries_[index].refs;
    std::uint32_t c = refs.load(std::memory_order_relaxed); // (cs-5) decides by the CAS below
    ARENAKIT_TEST_PAUSE(counted_drop_read);
    for (;;) {
      if (c == free_mark) return refuse_drop(SlotRelease::refused);
      const std::uint32_t next = c <= 1 ? free_mark : c - 1;
      // (cs-5) acq_rel, as in drop(): the free below follows every holder's writes.
      if (refs.compare_exchange_weak(c, next, std::memory_order_acq_rel, std::memory_order_relaxed)) break;
    }
    if (c > 1) return SlotRelease::kept;
    // (ts-1) release, pairs with claim()'s pop (ts-2): the slot's contents
    // reach its next holder.
    free_list_.push(index, link_of());
    // (cs-4) seq_cst: pairs with (cs-1), and is the count update the arena's
    // listing protocol reads after clearing its flag (Dekker style, as
    // BitmapSlots (bm-4)).
    const std::uint32_t before = claimed_.release<std::memory_order_seq_cst>(1);
    return before == capacity_ ? SlotRelease::was_full : SlotRelease::released;
  }

  /// Refusals so far. Relaxed snapshots: statistics only.
  CountedSlotsCounters counters() const noexcept {
    return {refused_retains_.load(std::memory_order_relaxed), refused_drops_.load(std::memory_order_relaxed)};
  }

private:
  static constexpr std::uint32_t free_mark = 0xFFFF'FFFFu;

  /// claim() with each slot's count set to @refs (1, or 0: draining).
  std::uint32_t claim_with(std::uint32_t* out, std::uint32_t max, std::uint32_t refs) noexcept {
    // (cs-1) acquire pairs with (cs-4) in release(): the slots we reserve
    // were pushed on the free list before (cs-4) gave their units back.
    const std::uint32_t want = claimed_.reserve<std::memory_order_acquire>(max, capacity_).taken;
    for (std::uint32_t i = 0; i < want; ++i) {
      // (ts-2) acquire, pairs with the push's (ts-1) in release(): the slot's
      // last holder's writes happen-before ours. Never `none`: the list holds
      // at least every reservation made (see the file comment).
      const std::uint32_t index = free_list_.pop(link_of());
      // (cs-2) Relaxed: until we publish the id, the slot is ours alone; its
      // holders learn the count through that publication.
      entries_[index].refs.store(refs, std::memory_order_relaxed);
      out[i] = index;
    }
    return want;
  }

  struct Entry {
    std::atomic<std::uint32_t> refs{free_mark};
    std::atomic<std::uint32_t> next{detail::TaggedIndexStack::none}; ///< the free list's link
  };

  /// The free list's links (see detail::TaggedIndexStack).
  struct LinkOf {
    Entry* entries;
    std::atomic<std::uint32_t>& operator()(std::uint32_t i) const noexcept { return entries[i].next; }
  };
  LinkOf link_of() noexcept { return LinkOf{entries_.get()}; }

  bool refuse_retain() noexcept {
    refused_retains_.fetch_add(1, std::memory_order_relaxed); // statistics only
    return false;
  }
  template <class R>
  R refuse_drop(R r) noexcept {
    refused_drops_.fetch_add(1, std::memory_order_relaxed); // statistics only
    return r;
  }

  // What every claim and release touches, on one line.
  alignas(cache_line_size) detail::BoundedCount<std::uint32_t> claimed_;
  std::uint32_t capacity_;
  detail::TaggedIndexStack free_list_;
  std::unique_ptr<Entry[]> entries_;
  // Written only on refusals.
  alignas(cache_line_size) std::atomic<std::uint64_t> refused_retains_{0};
  std::atomic<std::uint64_t> refused_drops_{0};
};

static_assert(CountedSlotAllocator<CountedSlots>);
static_assert(sizeof(CountedSlots) <= 2 * cache_line_size, "CountedSlots grew past two cache lines");

} // namespace arenakit
