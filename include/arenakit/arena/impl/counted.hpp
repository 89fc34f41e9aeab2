// SPDX-License-Identifier: MIT
/**
 * @file arena/impl/counted.hpp
 * @brief Arena's reference members, present only when the slot allocator is
 *        counted (CountedSlotAllocator, e.g. CountedSlots): retain(), refs(),
 *        and release() as "drop one reference".
 *
 * A slot acquired from a counted arena holds one reference. retain() adds
 * one; release() drops one, and the one that drops the last clears the held
 * flag and retires the slot through the reclaimer, exactly as an uncounted
 * release does: with a deferred reclaimer the slot comes back to the shards
 * when the owner reclaims, in a batch. Between its last drop and that
 * reclaim the slot is "draining": it holds no reference, so a retain is
 * refused, and it is not free, so no acquire can take it.
 *
 * Arenas over an uncounted allocator (BitmapSlots) do not have these
 * members, and their release() is the one in arena/arena.hpp, unchanged.
 */
#pragma once

#include <arenakit/arena/arena.hpp>

#include <atomic>
#include <cstdint>

namespace arenakit {

template <class MapperT, class SlotsT, class ReclaimerT, class SourceT, class CheckT>
inline bool Arena<MapperT, SlotsT, ReclaimerT, SourceT, CheckT>::admit(SlotId id, std::uint32_t shards) noexcept {
  const Validity v = layout_.classify(id, shards);
  if (ARENAKIT_LIKELY(v == Validity::valid)) return true;
  return count_refusal(v);
}

template <class MapperT, class SlotsT, class ReclaimerT, class SourceT, class CheckT>
inline bool Arena<MapperT, SlotsT, ReclaimerT, SourceT, CheckT>::retain(SlotId id) noexcept
  requires CountedSlotAllocator<SlotsT>
{
  // (ar-7) acquire pairs with (ar-8): a shard we count is fully built.
  if (!admit(id, hot_.shard_count.load(std::memory_order_acquire))) return false;
  const std::uint32_t pos = id.position();
  if (shards_[pos >> index_bits_]->slots.retain(pos & index_mask_)) return true;
  stats_.refused_retains.fetch_add(1, std::memory_order_relaxed); // statistics only
  return false;
}

template <class MapperT, class SlotsT, class ReclaimerT, class SourceT, class CheckT>
inline std::uint32_t Arena<MapperT, SlotsT, ReclaimerT, SourceT, CheckT>::refs(SlotId id) const noexcept
  requires CountedSlotAllocator<SlotsT>
{
  if (!owns(id)) return 0;
  const std::uint32_t pos = id.position();
  return shards_[pos >> index_bits_]->slots.refs(pos & index_mask_);
}

template <class MapperT, class SlotsT, class ReclaimerT, class SourceT, class CheckT>
inline bool Arena<MapperT, SlotsT, ReclaimerT, SourceT, CheckT>::release(SlotId id) noexcept
  requires CountedSlotAllocator<SlotsT>
{
  // (ar-7) acquire pairs with (ar-8): a shard we count is fully built.
  if (!admit(id, hot_.shard_count.load(std::memory_order_acquire))) return false;
  const std::uint32_t pos = id.position();
  // The allocator's acq_rel decrement (CountedSlots (cs-5)) orders every
  // holder's writes before the last drop, and the free it leads to.
  switch (shards_[pos >> index_bits_]->slots.drop(pos & index_mask_)) {
  case SlotDrop::kept: return true;
  case SlotDrop::refused:
    stats_.refused_not_held.fetch_add(1, std::memory_order_relaxed); // statistics only
    return false;
  case SlotDrop::last: break;
  }
  // The last reference: the slot is ours alone, as after an uncounted
  // release's held-flag exchange, so its flag is cleared with a plain store
  // (ar-h1's relaxed store), not an RMW: the drop decided. A counted slot is
  // always held by its flag (no path marks a counted slot by its bit).
  if constexpr (track_held) layout_.mark_held(id, detail::HeldFlag::free);
  retire(id);
  return true;
}

template <class MapperT, class SlotsT, class ReclaimerT, class SourceT, class CheckT>
inline std::uint32_t Arena<MapperT, SlotsT, ReclaimerT, SourceT, CheckT>::release_bulk(const SlotId* ids,
                                                                               std::uint32_t n) noexcept
  requires CountedSlotAllocator<SlotsT>
{
  std::uint32_t accepted = 0;
  for (std::uint32_t i = 0; i < n; ++i) accepted += release(ids[i]) ? 1u : 0u;
  return accepted;
}

} // namespace arenakit
