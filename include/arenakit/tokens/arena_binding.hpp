// SPDX-License-Identifier: MIT
/**
 * @file tokens/arena_binding.hpp
 * @brief ArenaBinding: a devmem binding that is an arena. The binding's
 *        pages are the page-sized slots of one shard of a counted arena
 *        (Arena<..., CountedSlots, ...>); a TokenTracker over that shard's
 *        region adds per-consumer attribution, and a page whose last consumer
 *        reference comes back goes home through the arena's reclaimer.
 *
 * Contract
 * - The arena has exactly one shard (max_shards = 1, initial_shards = 1):
 *   the binding is one region, as a dma-buf is. Its slot size is the page
 *   size (a power of two). Page p of the tracker is the slot at offset
 *   p * page_size: page_of() and id_of() are a shift each.
 * - References. The arena counts who holds a page, the tracker counts which
 *   consumer holds how many references:
 *     receive path   id = arena.acquire()            1 arena reference: the receive path's
 *                    tracker.deliver(h, frags)       n tracker references for consumer h; when
 *                                                    the page's tracker count leaves 0, the
 *                                                    hook's taken() retains one arena
 *                                                    reference for all consumers
 *                    ... receive path done with the page ...
 *                    arena.release(id)               the receive path's reference
 *     consumers      return_tokens() / close()       tracker references back; when the count
 *                                                    falls to 0 the hook drops the consumers'
 *                                                    arena reference
 *   So a page is never back in the arena while the receive path or any
 *   consumer still uses it, whichever finishes first; the receive path may
 *   deliver a page in as many batches as it likes while it holds it; and a
 *   delivery of a page the receive path no longer holds (its slot free or
 *   draining) is refused as page_not_live, counted, and changes nothing.
 * - Recycling. With a deferred reclaimer (DeferredReclaimer over a
 *   ReleaseList) the last drop queues the page, from whichever thread
 *   returned or closed, and the receive thread takes pages back in a batch
 *   with arena.reclaim() before it acquires: no free ring beside the arena.
 *   The deferred link lives in the page's first bytes, so this needs memory
 *   with a CPU address; device memory uses ImmediateReclaimer.
 * - The hook is the TokenTracker's PageFreeHook and PageTakeHook
 *   (tokens/types.hpp), so the tracker's page-reference policy must call
 *   hooks (AnyThreadRefs, the default, or OneProducerRefs).
 */
#pragma once

#include <arenakit/concepts/counted_slot_allocator.hpp>
#include <arenakit/error.hpp>
#include <arenakit/region.hpp>
#include <arenakit/slot_id.hpp>

#include <bit>
#include <cstddef>
#include <cstdint>

namespace arenakit {

/// The hook of a tracker over an ArenaBinding: taken() retains the page's
/// arena slot for the consumers when the page's tracker count leaves 0 (the
/// producer still holds its own reference, so this succeeds unless the page
/// is not the producer's to hand out); the call drops that reference when
/// the count falls back to 0. Any thread; lock-free (one CAS each, and for
/// the last drop the reclaimer's retire).
template <class ArenaT>
struct ReleaseToArena {
  ArenaT* arena = nullptr;
  unsigned page_shift = 0;
  bool taken(std::uint32_t page) const noexcept { return arena->retain(id(page)); }
  void operator()(std::uint32_t page) const noexcept { (void)arena->release(id(page)); }

private:
  SlotId id(std::uint32_t page) const noexcept { return arena->from_offset(std::uint64_t{page} << page_shift); }
};

template <class ArenaT>
class ArenaBinding {
  static_assert(CountedSlotAllocator<typename ArenaT::slots_type>,
                "arenakit: ArenaBinding needs an arena of counted slots (policy::slots<CountedSlots>)");

public:
  /**
   * create() - the binding over @arena's one shard.
   * Return: errc::invalid_config when the arena failed to set up, may hold
   * more than one shard, has none yet, or its slot size is not a power of
   * two. The arena must outlive the binding, its tracker and their hooks.
   */
  static Result<ArenaBinding> create(ArenaT& arena) noexcept {
    if (!arena || arena.max_shards() != 1 || !std::has_single_bit(arena.slot_size()))
      return errc::invalid_config;
    const SlotId first = arena.from_offset(0);
    if (!first) return errc::invalid_config; // no shard was created
    ArenaBinding b;
    b.arena_ = &arena;
    b.page_shift_ = static_cast<unsigned>(std::countr_zero(arena.slot_size()));
    b.region_ = Region{arena.pointer(first), std::size_t{arena.slots_per_shard()} * arena.slot_size()};
    return b;
  }

  /// The binding as a TokenTracker sees it (data is null for device memory).
  [[nodiscard]] const Region& region() const noexcept { return region_; }
  [[nodiscard]] std::size_t page_size() const noexcept { return std::size_t{1} << page_shift_; }
  [[nodiscard]] ArenaT& arena() const noexcept { return *arena_; }

  /// The tracker page of slot @id (precondition: arena().owns(id)).
  [[nodiscard]] std::uint32_t page_of(SlotId id) const noexcept {
    return static_cast<std::uint32_t>(arena_->offset(id) >> page_shift_);
  }
  /// The slot of tracker page @page; the empty id past the binding.
  [[nodiscard]] SlotId id_of(std::uint32_t page) const noexcept {
    return arena_->from_offset(std::uint64_t{page} << page_shift_);
  }

  /// The hook to create the TokenTracker with.
  [[nodiscard]] ReleaseToArena<ArenaT> hook() const noexcept { return {arena_, page_shift_}; }

private:
  ArenaBinding() noexcept = default;

  ArenaT* arena_ = nullptr;
  unsigned page_shift_ = 0;
  Region region_{};
};

} // namespace arenakit
