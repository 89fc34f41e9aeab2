// SPDX-License-Identifier: MIT
/**
 * @file arena/impl/arena.hpp
 * @brief Arena's out-of-line members: counters, the address lookups, the
 *        shared claim and release paths (configuration, growth and teardown:
 *        arena/impl/growth.hpp; shrink: arena/impl/shrink.hpp).
 */
#pragma once

#include <arenakit/arena/arena.hpp>
#include <arenakit/detail/bounded_count.hpp>

#include <algorithm>
#include <bit>
#include <cstdint>
#include <limits>
#include <mutex>
#include <new>
#include <system_error>

namespace arenakit {

template <class MapperT, class SlotsT, class ReclaimerT, class SourceT, class CheckT>
inline ArenaCounters Arena<MapperT, SlotsT, ReclaimerT, SourceT, CheckT>::counters() const noexcept {
  ArenaCounters c;
  const std::uint32_t shards = hot_.shard_count.load(std::memory_order_acquire); // (ar-7): pairs with (ar-8)
  const std::uint32_t vacant = stats_.vacant_shards.load(std::memory_order_relaxed); // statistic
  c.shards = shards - std::min(shards, vacant);
  c.vacant_shards = vacant;
  c.shards_given_back = stats_.shards_given_back.load(std::memory_order_relaxed); // statistics only
  c.bytes_given_back = stats_.bytes_given_back.load(std::memory_order_relaxed); // a statistic: pairs with nothing
  c.mappings_removed = stats_.mappings_removed.load(std::memory_order_relaxed); // a statistic: pairs with nothing
  c.unmap_failures = stats_.unmap_failures.load(std::memory_order_relaxed); // a statistic: pairs with nothing
  c.mappings = stats_.mappings.load(std::memory_order_relaxed);
  c.slots_per_shard = slots_per_shard_;
  std::uint64_t cached = 0;
  std::uint64_t fast = 0;
  {
    std::lock_guard lock(cache_mutex_);
    // Under the lock: ~Cache() moves its hits here under the same lock, so
    // each cache's hits are counted once, live or retired.
    fast = stats_.retired_fast_hits.load(std::memory_order_relaxed);
    for (const Cache* cache = caches_; cache != nullptr; cache = cache->next_) {
      const std::uint64_t word = cache->word_.load(std::memory_order_relaxed); // (ca-1)
      cached += Cache::count_of(word);
      fast += Cache::hits_of(word);
    }
  }
  // Slots taken from the shards, summed from their allocators: the direct
  // path keeps no shared count (it would be an RMW on one line per acquire
  // and per release). Each shard is read once, so a sum taken while others
  // claim and release is a mix of moments, never more than exists.
  const std::uint64_t claimed = claimed_slots(shards);
  c.slots_cached = std::min(cached, claimed);
  c.slots_in_use = claimed - c.slots_cached;
  c.high_water = note_high_water(claimed);
  c.fast_path_hits = fast;
  c.slow_path_hits = hot_.slow_hits.load(std::memory_order_relaxed);
  c.growths = stats_.growths.load(std::memory_order_relaxed);
  c.refused_out_of_range = stats_.refused_range.load(std::memory_order_relaxed);
  c.refused_foreign = stats_.refused_foreign.load(std::memory_order_relaxed);
  c.refused_not_held = stats_.refused_not_held.load(std::memory_order_relaxed);
  c.refused_releases = c.refused_out_of_range + c.refused_foreign + c.refused_not_held;
  c.refused_retains = stats_.refused_retains.load(std::memory_order_relaxed); // a statistic: pairs with nothing
  c.huge_page_fallbacks = stats_.fallbacks.load(std::memory_order_relaxed);
  c.growth_failures = stats_.growth_failures.load(std::memory_order_relaxed);
  c.limit_hits = stats_.limit_hits.load(std::memory_order_relaxed);
  c.mapping_budget_hits = stats_.mapping_budget_hits.load(std::memory_order_relaxed); // a statistic: pairs with nothing
  c.reclaim_pending = reclaimer_.pending();
  return c;
}

template <class MapperT, class SlotsT, class ReclaimerT, class SourceT, class CheckT>
inline std::uint64_t Arena<MapperT, SlotsT, ReclaimerT, SourceT, CheckT>::claimed_slots(std::uint32_t shards) const noexcept {
  std::uint64_t claimed = 0;
  // A vacant shard's slots are sealed by the arena itself, not out.
  for (std::uint32_t i = 0; i < shards; ++i)
    if (!shards_[i]->vacant.load(std::memory_order_relaxed)) // a statistic's filter; pairs with nothing
      claimed += slots_per_shard_ - shards_[i]->slots.free_count();
  return claimed;
}

template <class MapperT, class SlotsT, class ReclaimerT, class SourceT, class CheckT>
inline std::uint64_t Arena<MapperT, SlotsT, ReclaimerT, SourceT, CheckT>::note_high_water(std::uint64_t claimed) const noexcept {
  detail::fetch_max(stats_.high_water, claimed); // statistics only (relaxed)
  return stats_.high_water.load(std::memory_order_relaxed);
}

template <class MapperT, class SlotsT, class ReclaimerT, class SourceT, class CheckT>
template <class Base>
inline SlotId Arena<MapperT, SlotsT, ReclaimerT, SourceT, CheckT>::locate(const detail::ShardIndex& index, std::uint64_t a, Base base) const noexcept {
  // The base that matched is the one the index is computed from: a shrink()
  // racing a stale address may clear the view between two reads.
  std::uint64_t matched = 0;
  const std::uint32_t shard = index.find(a, [&](std::uint32_t s) {
    const std::uint64_t b = base(s);
    matched = b;
    return a >= b && a - b < slots_per_shard_ * slot_size_;
  });
  if (shard == detail::ShardIndex::none) return {};
  ARENAKIT_TEST_PAUSE(arena_lookup_matched);
  return make_id(shard, static_cast<std::uint32_t>((a - matched) / slot_size_));
}

// --- bulk acquire and release from any thread ---

template <class MapperT, class SlotsT, class ReclaimerT, class SourceT, class CheckT>
inline std::uint32_t Arena<MapperT, SlotsT, ReclaimerT, SourceT, CheckT>::acquire_bulk(SlotId* out, std::uint32_t n) noexcept {
  if (n == 0) return 0;
  const std::uint32_t got = claim_shared(out, n, n);
  if (got < n) {
    return_shared(out, got);
    return 0;
  }
  if constexpr (track_held) {
    const Layout layout = layout_;
    for (std::uint32_t i = 0; i < n; ++i) layout.mark_held(out[i]);
  }
  return n;
}

template <class MapperT, class SlotsT, class ReclaimerT, class SourceT, class CheckT>
inline std::uint32_t Arena<MapperT, SlotsT, ReclaimerT, SourceT, CheckT>::release_bulk(const SlotId* ids, std::uint32_t n) noexcept
  requires(!CountedSlotAllocator<SlotsT>)
{
  std::uint32_t accepted = 0;
  if constexpr (direct_release) {
    // Each id as release(): a held_direct one decided by its bitmap RMW.
    for (std::uint32_t i = 0; i < n; ++i) accepted += release_direct(ids[i]) ? 1u : 0u;
  } else {
    for (std::uint32_t i = 0; i < n; ++i) {
      if (!take_held(ids[i])) continue;
      if constexpr (ReclaimerT::immediate) {
        return_shared(&ids[i], 1);
      } else {
        retire(ids[i]);
      }
      ++accepted;
    }
  }
  return accepted;
}

// --- conversions: id to CPU address, device address, offset, buffer ---

template <class MapperT, class SlotsT, class ReclaimerT, class SourceT, class CheckT>
inline std::byte* Arena<MapperT, SlotsT, ReclaimerT, SourceT, CheckT>::pointer(SlotId id) const noexcept {
  const std::uint32_t pos = id.position();
  std::byte* base = views_[pos >> index_bits_].cpu_relaxed();
  return base == nullptr ? nullptr : base + std::size_t{pos & index_mask_} * slot_size_;
}

template <class MapperT, class SlotsT, class ReclaimerT, class SourceT, class CheckT>
inline std::uint64_t Arena<MapperT, SlotsT, ReclaimerT, SourceT, CheckT>::device_address(SlotId id) const noexcept {
  const std::uint32_t pos = id.position();
  return views_[pos >> index_bits_].dev_relaxed() + std::uint64_t{pos & index_mask_} * slot_size_;
}

template <class MapperT, class SlotsT, class ReclaimerT, class SourceT, class CheckT>
inline std::uint64_t Arena<MapperT, SlotsT, ReclaimerT, SourceT, CheckT>::offset(SlotId id) const noexcept {
  const std::uint32_t pos = id.position();
  return (std::uint64_t{pos >> index_bits_} << shard_shift_) + std::uint64_t{pos & index_mask_} * slot_size_;
}

template <class MapperT, class SlotsT, class ReclaimerT, class SourceT, class CheckT>
inline auto Arena<MapperT, SlotsT, ReclaimerT, SourceT, CheckT>::buffer(SlotId id) const noexcept
    -> SlotBuffer<mapping_type> {
  const std::uint32_t shard = id.position() >> index_bits_;
  return {pointer(id), device_address(id), static_cast<std::uint32_t>(slot_size_), &shards_[shard]->mapping};
}

// --- reverse lookups: offset, CPU and device address to id ---

template <class MapperT, class SlotsT, class ReclaimerT, class SourceT, class CheckT>
inline SlotId Arena<MapperT, SlotsT, ReclaimerT, SourceT, CheckT>::from_offset(std::uint64_t off) const noexcept {
  const std::uint64_t shard = off >> shard_shift_;
  if (shard >= hot_.shard_count.load(std::memory_order_acquire)) return {}; // (ar-7): pairs with (ar-8)
  const std::uint64_t index = (off & (shard_size_ - 1)) / slot_size_;
  if (index >= slots_per_shard_) return {};
  return make_id(static_cast<std::uint32_t>(shard), static_cast<std::uint32_t>(index));
}

template <class MapperT, class SlotsT, class ReclaimerT, class SourceT, class CheckT>
inline SlotId Arena<MapperT, SlotsT, ReclaimerT, SourceT, CheckT>::from_pointer(const void* p) const noexcept {
  const auto a = reinterpret_cast<std::uint64_t>(p);
  return locate(cpu_index_, a, [this](std::uint32_t s) {
    return reinterpret_cast<std::uint64_t>(views_[s].cpu_relaxed());
  });
}

template <class MapperT, class SlotsT, class ReclaimerT, class SourceT, class CheckT>
inline SlotId Arena<MapperT, SlotsT, ReclaimerT, SourceT, CheckT>::from_device_address(std::uint64_t a) const noexcept {
  return locate(dev_index_, a, [this](std::uint32_t s) { return views_[s].dev_relaxed(); });
}

// --- the shared path: validation, the partial stack, claims and returns ---

template <class MapperT, class SlotsT, class ReclaimerT, class SourceT, class CheckT>
inline bool Arena<MapperT, SlotsT, ReclaimerT, SourceT, CheckT>::count_refusal(Validity v) noexcept {
  // Statistics only: relaxed.
  switch (v) {
  case Validity::foreign: stats_.refused_foreign.fetch_add(1, std::memory_order_relaxed); break;    // pairs with nothing
  case Validity::out_of_range: stats_.refused_range.fetch_add(1, std::memory_order_relaxed); break; // pairs with nothing
  case Validity::valid: stats_.refused_not_held.fetch_add(1, std::memory_order_relaxed); break;    // pairs with nothing
  }
  return false;
}

template <class MapperT, class SlotsT, class ReclaimerT, class SourceT, class CheckT>
inline void Arena<MapperT, SlotsT, ReclaimerT, SourceT, CheckT>::count_refusal(SlotId id) noexcept {
  // A cache found the flag clear: a hole of a sparse shard is out of range,
  // anything else of ours was not held.
  (void)count_refusal(classify(id));
}

template <class MapperT, class SlotsT, class ReclaimerT, class SourceT, class CheckT>
inline bool Arena<MapperT, SlotsT, ReclaimerT, SourceT, CheckT>::take_held(const Layout& layout, SlotId id, std::uint32_t shards) noexcept {
  const Validity v = layout.classify(id, shards);
  if (ARENAKIT_UNLIKELY(v != Validity::valid)) return count_refusal(v);
  if constexpr (track_held) {
    if (ARENAKIT_UNLIKELY(!layout.clear_held(id))) return count_refusal(Validity::valid);
  }
  return true;
}

// release() when direct_release: validate @id, then, for a slot whose flag
// is `held_direct`, clear the flag with a plain store and let the bitmap RMW
// that frees the slot decide (one locked instruction); any other slot goes
// through the flag's exchange (or its bit) first (release_held()).
template <class MapperT, class SlotsT, class ReclaimerT, class SourceT, class CheckT>
ARENAKIT_ALWAYS_INLINE bool Arena<MapperT, SlotsT, ReclaimerT, SourceT, CheckT>::release_direct(SlotId id) noexcept {
  // One compare checks the tag and the shard: another arena's tag wraps
  // past the limit. A hole of a sparse shard passes it, but its flag is
  // never set, so it is refused (and counted as out of range) below.
  // (ar-7') acquire pairs with (ar-8'), as (ar-7): a shard under the limit
  // is fully built.
  const std::uint32_t pos = id.raw - tag_base_;
  if (ARENAKIT_UNLIKELY(pos >= hot_.position_limit.load(std::memory_order_acquire))) return release_refused(id);
  std::atomic_ref<detail::HeldFlag> flag(*layout_.flag_at(pos));
  // (ar-h6) relaxed load and store: only Arena::acquire() writes
  // held_direct, and only for the slot's owner; the flag is cleared before
  // the bitmap release ((bm-3)/(bm-3') orders the store before the next
  // claim, whose owner marks the flag after its (bm-2)), so a new owner's
  // mark is never overwritten. Two releases racing here both clear it and
  // both reach the bitmap: exactly one finds the bit set. A cache release
  // racing with us sees held_direct (or free) in its exchange and goes to
  // the bitmap too (Cache::take_other()), or is refused.
  if (ARENAKIT_LIKELY(flag.load(std::memory_order_relaxed) == detail::HeldFlag::held_direct)) {
    ARENAKIT_TEST_PAUSE(arena_release_held_read);
    flag.store(detail::HeldFlag::free, std::memory_order_relaxed); // (ar-h6)
    return release_to_shard(pos);
  }
  return release_held(id);
}

template <class MapperT, class SlotsT, class ReclaimerT, class SourceT, class CheckT>
ARENAKIT_NOINLINE inline bool Arena<MapperT, SlotsT, ReclaimerT, SourceT, CheckT>::release_held(SlotId id) noexcept {
  // Held by a cache's acquire (its flag) or a bulk acquire (its bit): the
  // exchange or the bit's RMW decides, as for a cache's release. Neither
  // set: a hole of a sparse shard (out of range) or a slot not held.
  if (ARENAKIT_UNLIKELY(!layout_.clear_held(id))) return release_refused(id);
  return_shared(&id, 1);
  return true;
}

template <class MapperT, class SlotsT, class ReclaimerT, class SourceT, class CheckT>
ARENAKIT_NOINLINE inline bool Arena<MapperT, SlotsT, ReclaimerT, SourceT, CheckT>::release_refused(SlotId id) noexcept {
  count_refusal(id);
  return false;
}

// Give position @pos back to its shard's allocator; false (counted as not
// held) if it was already free there. The decision of a `held_direct` release.
template <class MapperT, class SlotsT, class ReclaimerT, class SourceT, class CheckT>
ARENAKIT_ALWAYS_INLINE bool Arena<MapperT, SlotsT, ReclaimerT, SourceT, CheckT>::release_to_shard(std::uint32_t pos) noexcept {
  const std::uint32_t shard = pos >> index_bits_;
  Shard* const s = shards_[shard]; // held in a register across the RMW (a reload otherwise)
  // (ar-h6) the allocator's release ((bm-3) / (bm-3')) publishes the slot
  // and the cleared flag to the next claimer.
  const SlotRelease r = s->slots.release(pos & index_mask_);
  if (ARENAKIT_UNLIKELY(r == SlotRelease::refused)) {
    stats_.refused_not_held.fetch_add(1, std::memory_order_relaxed); // statistics only: pairs with nothing
    return false;
  }
  relist(shard, *s, r);
  return true;
}

template <class MapperT, class SlotsT, class ReclaimerT, class SourceT, class CheckT>
ARENAKIT_ALWAYS_INLINE void Arena<MapperT, SlotsT, ReclaimerT, SourceT, CheckT>::relist(std::uint32_t shard, const Shard& s, SlotRelease r) noexcept {
  if (ARENAKIT_UNLIKELY(r == SlotRelease::was_full)) {
    list_shard(shard);
  } else if (r == SlotRelease::maybe_was_full) {
    // (ar-6') seq_cst load after the allocator's seq_cst RMW, as (ar-6)
    // pairs with (ar-5) in pop_full(): either we see the popper's `false`
    // and list the shard, or the popper's free_count() sees our slot.
    if (ARENAKIT_UNLIKELY(!s.listed.load(std::memory_order_seq_cst))) list_shard(shard);
  }
}

template <class MapperT, class SlotsT, class ReclaimerT, class SourceT, class CheckT>
inline void Arena<MapperT, SlotsT, ReclaimerT, SourceT, CheckT>::push_partial(std::uint32_t shard) noexcept {
  // (ar-9) the push releases (TaggedIndexStack (ts-1)), pairing with
  // (ar-10): a claimer that sees this head sees the shard's link and
  // everything add_shard_locked() built.
  hot_.lists[shards_[shard]->home].head.push(shard, link_of());
}

// Make @shard findable unless it already is.
template <class MapperT, class SlotsT, class ReclaimerT, class SourceT, class CheckT>
inline void Arena<MapperT, SlotsT, ReclaimerT, SourceT, CheckT>::list_shard(std::uint32_t shard) noexcept {
  // (ar-6) seq_cst: with (ar-5) in pop_full(), either this exchange sees the
  // popper's `false` or the popper sees our free-count increment.
  if (!shards_[shard]->listed.exchange(true, std::memory_order_seq_cst)) push_partial(shard);
}

// The top shard @shard of @list was found full: take it off the list.
template <class MapperT, class SlotsT, class ReclaimerT, class SourceT, class CheckT>
inline void Arena<MapperT, SlotsT, ReclaimerT, SourceT, CheckT>::pop_full(detail::TaggedIndexStack& list, std::uint64_t head, std::uint32_t shard) noexcept {
  Shard* s = shards_[shard];
  // acq_rel (TaggedIndexStack (ts-3)): acquire the pushes we pass over,
  // release for the next popper.
  if (!list.pop_if(head, link_of())) return; // someone else moved the head: the caller retries
  // (ar-5) seq_cst store, then the seq_cst load inside free_count(): pairs
  // with (ar-6), with (ar-6') in relist() and with the seq_cst RMW in
  // SlotAllocator::release().
  s->listed.store(false, std::memory_order_seq_cst);
  const std::uint32_t free = s->slots.free_count();
  ARENAKIT_TEST_PAUSE(arena_unlisted_counted);
  if (free != 0) list_shard(shard);
}

// Claim from the top shard of @list until @take says stop or the list is
// empty; @take(shard) returns true when it got all it wanted.
template <class MapperT, class SlotsT, class ReclaimerT, class SourceT, class CheckT>
template <class Take>
inline bool Arena<MapperT, SlotsT, ReclaimerT, SourceT, CheckT>::claim_from(detail::TaggedIndexStack& list, Take&& take) noexcept {
  for (;;) {
    // (ar-10) acquire (TaggedIndexStack (ts-4)) pairs with (ar-9): the top
    // shard is fully built.
    const std::uint64_t head = list.peek();
    const std::uint32_t top = detail::TaggedIndexStack::top_of(head);
    if (top == none) return false;
    ARENAKIT_TEST_PAUSE(arena_claim_peeked);
    if (take(top)) return true;
    pop_full(list, head, top); // it had less than wanted: full now, or soon refilled and re-listed
  }
}

// Claim through the calling thread's list first, then grow a shard for it
// (if @may_grow), then steal from the other lists (as per-CPU slabs do);
// false when nothing more can be had (limit or growth failure).
template <class MapperT, class SlotsT, class ReclaimerT, class SourceT, class CheckT>
template <class Take>
inline bool Arena<MapperT, SlotsT, ReclaimerT, SourceT, CheckT>::claim_any(Take&& take, bool may_grow) noexcept {
  const std::uint32_t mine = my_list();
  for (int second_look = 0;; ++second_look) {
    if (claim_from(hot_.lists[mine].head, take)) return true;
    // Our list is dry: a shard of our own if the limit allows (no other
    // thread then shares its lines), else what the other lists have.
    if (may_grow && grow(mine)) continue;
    for (std::uint32_t k = 1; k < partial_lists; ++k)
      if (claim_from(hot_.lists[(mine + k) & (partial_lists - 1)].head, take)) return true;
    // shrink() may have given back the shards we passed over since our
    // growth found the limit: they can be mapped again (once more only, so
    // a shrinker that keeps racing us cannot hold this call forever).
    // relaxed: a hint; grow() decides under the growth lock.
    if (may_grow && second_look == 0 && stats_.vacant_shards.load(std::memory_order_relaxed) != 0) continue;
    return false;
  }
}

// claim_shared - take between @min and @max slots from the shards. Grows
// (one shard at a time) only while fewer than @min were found. Return: how
// many ids were written to @out (less than @min only at the limit or when
// growth failed). @Draining (a cache's refill): a counted allocator's slots
// come without a reference (CountedSlotAllocator's claim_draining()); the
// cache gives each its first one as it hands it out.
template <class MapperT, class SlotsT, class ReclaimerT, class SourceT, class CheckT>
template <bool Draining>
inline std::uint32_t Arena<MapperT, SlotsT, ReclaimerT, SourceT, CheckT>::claim_shared(SlotId* out, std::uint32_t min, std::uint32_t max) noexcept {
  std::uint32_t got = 0;
  std::uint32_t index[claim_chunk];
  // True when the shard gave something; a shard that gave nothing is full.
  auto take = [&](std::uint32_t shard) noexcept {
    const std::uint32_t want = std::min(max - got, claim_chunk);
    std::uint32_t k;
    if constexpr (Draining && CountedSlotAllocator<SlotsT>) {
      k = shards_[shard]->slots.claim_draining(index, want);
    } else {
      k = shards_[shard]->slots.claim(index, want);
    }
    for (std::uint32_t i = 0; i < k; ++i) out[got + i] = make_id(shard, index[i]);
    got += k;
    return k != 0;
  };
  // Grows only while fewer than @min were found.
  while (got < max && claim_any(take, got < min)) {
  }
  return got;
}

template <class MapperT, class SlotsT, class ReclaimerT, class SourceT, class CheckT>
ARENAKIT_ALWAYS_INLINE bool Arena<MapperT, SlotsT, ReclaimerT, SourceT, CheckT>::claim_one_from(std::uint32_t shard, SlotId& id) noexcept {
  std::uint32_t index;
  bool claimed;
  if constexpr (requires(SlotsT& slots) {
                  { slots.claim_one() } -> std::same_as<std::uint32_t>;
                  { SlotsT::no_slot } -> std::convertible_to<std::uint32_t>;
                }) {
    index = shards_[shard]->slots.claim_one(); // an allocator's own single-slot path
    claimed = index != SlotsT::no_slot;
  } else {
    claimed = shards_[shard]->slots.claim(&index, 1) != 0;
  }
  if (ARENAKIT_LIKELY(claimed)) {
    id = make_id(shard, index);
    // (ar-h1) acquire()'s mark, here where the position is at hand and
    // the claim is known to have succeeded (no test of the id after it).
    if constexpr (track_held)
      Layout::mark_flag(layout_.flag_at((shard << index_bits_) | index),
                        direct_release ? detail::HeldFlag::held_direct : detail::HeldFlag::held);
  }
  return claimed;
}

template <class MapperT, class SlotsT, class ReclaimerT, class SourceT, class CheckT>
ARENAKIT_ALWAYS_INLINE SlotId Arena<MapperT, SlotsT, ReclaimerT, SourceT, CheckT>::claim_one() noexcept {
  // The common case inline: the top shard of our list has room.
  // (ar-10') acquire (TaggedIndexStack (ts-4)) pairs with (ar-9), as (ar-10).
  const std::uint32_t top = detail::TaggedIndexStack::top_of(hot_.lists[my_list()].head.peek());
  SlotId id;
  if (ARENAKIT_LIKELY(top != none) && claim_one_from(top, id)) return id;
  return claim_one_slow();
}

template <class MapperT, class SlotsT, class ReclaimerT, class SourceT, class CheckT>
ARENAKIT_NOINLINE inline SlotId Arena<MapperT, SlotsT, ReclaimerT, SourceT, CheckT>::claim_one_slow() noexcept {
  SlotId id;
  claim_any([&](std::uint32_t shard) noexcept { return claim_one_from(shard, id); }, true);
  return id;
}

template <class MapperT, class SlotsT, class ReclaimerT, class SourceT, class CheckT>
inline void Arena<MapperT, SlotsT, ReclaimerT, SourceT, CheckT>::return_shared(const SlotId* ids, std::uint32_t n) noexcept {
  if (n == 0) return;
  std::uint32_t refused = 0;
  for (std::uint32_t i = 0; i < n; ++i) {
    const std::uint32_t pos = ids[i].position();
    const std::uint32_t shard = pos >> index_bits_;
    Shard* const s = shards_[shard];
    const SlotRelease r = s->slots.release(pos & index_mask_);
    relist(shard, *s, r);
    refused += r == SlotRelease::refused ? 1u : 0u;
  }
  ARENAKIT_TEST_PAUSE(arena_return_bitmap_done);
  if (ARENAKIT_UNLIKELY(refused != 0)) {
    // Only RangeOnlyCheck (or a racing PlainHeldFlagsCheck cache) lets a
    // double release reach a bitmap: the bitmap refuses it and changes nothing.
    stats_.refused_not_held.fetch_add(refused, std::memory_order_relaxed); // statistics only
  }
}

} // namespace arenakit
