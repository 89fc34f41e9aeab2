// SPDX-License-Identifier: MIT
/**
 * @file reclaimers/deferred.hpp
 * @brief DeferredReclaimer: the llist deferred Reclaimer, a handle onto a ReleaseList.
 *
 * A released slot is queued on the list (its link lives in the slot) and
 * becomes reusable when the owner drains: Arena::reclaim() or Arena::park().
 */
#pragma once

#include <arenakit/concepts/reclaimer.hpp>
#include <arenakit/lists/llist.hpp>
#include <arenakit/lists/release_list.hpp>
#include <arenakit/slot_id.hpp>

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <new>

namespace arenakit {

namespace detail {
/// What a deferred reclaimer keeps in a retired slot's first bytes.
struct RetiredSlot : LlistNode {
  SlotId id;
};
} // namespace detail

/**
 * DeferredReclaimer - the llist deferred Reclaimer: a handle onto a
 * ReleaseList the user owns.
 *
 *     ReleaseList<WakeOnEdge, RingDoorbell, Counting::exact> list{RingDoorbell{&bell}};
 *     Arena<..., DeferredReclaimer<decltype(list)>, ...> arena(cfg, src, map, DeferredReclaimer{list});
 *
 * arena.release(id) from any thread queues the slot (its link lives in the
 * slot's first `min_slot_size` bytes, so retire never allocates); the slot
 * becomes reusable when the owner calls arena.reclaim(), which drains the
 * list and hands every queued slot to the arena. The list must carry only
 * this arena's slots. pending() is exact with Counting::exact (recommended
 * when arena counters matter), else 0 or 1.
 *
 * The owner's protocol. The list's items are retired slots that only the
 * arena can take back, so the owner never calls list.drain() or
 * list.park() with a teardown of its own (the slots would be lost); it goes
 * through the arena:
 *
 *     arena.reclaim();                          // between requests
 *     auto seen = bell.snapshot();              // before it sleeps
 *     if (arena.park()) bell.wait(seen);        // reclaim, then sleep if no release raced in
 *
 * After list.close() (producers quiesced), a straggler's release is refused
 * and retire() hands its slot straight back: nothing is lost.
 */
template <class List>
class DeferredReclaimer {
public:
  static constexpr bool immediate = false;
  /// Bytes of the slot used for the link: an Arena refuses a smaller slot,
  /// or a slot size that is not a multiple of the link's alignment
  /// (errc::invalid_config).
  static constexpr std::size_t min_slot_size = sizeof(detail::RetiredSlot);
  static constexpr std::size_t slot_alignment = alignof(detail::RetiredSlot);
  static_assert(min_slot_size <= 64, "the deferred link must fit in the smallest slot");

  explicit DeferredReclaimer(List& list) noexcept : list_(&list) {}

  /// retire - queue the slot on the list (any thread). Lock-free; release
  /// through the list's push (rl-1): the slot's last use happens-before the
  /// owner's reclaim hands it back.
  template <class Sink>
  void retire(SlotId id, std::byte* cpu, Sink& sink) noexcept {
    assert(cpu != nullptr && reinterpret_cast<std::uintptr_t>(cpu) % alignof(detail::RetiredSlot) == 0);
    auto* slot = ::new (static_cast<void*>(cpu)) detail::RetiredSlot{};
    slot->id = id;
    // A closed list refuses: the slot goes back at once rather than being lost.
    if (list_->release(*slot) == ReleaseResult::refused_closed) sink(id);
  }

  /// reclaim - the owner's drain: every queued slot back through @sink.
  /// Wait-free apart from @sink; acquire through the list's take (rl-2).
  template <class Sink>
  std::size_t reclaim(Sink& sink) noexcept {
    return list_->drain(to_sink(sink));
  }

  /// The owner's ReleaseList::park() for a list of retired slots (reached as
  /// Arena::park()): every queued slot goes back through @sink, then true
  /// when a later release is guaranteed to call the list's Waker.
  template <class Sink>
    requires requires(List& l) { l.park([](LlistNode*) noexcept {}); }
  [[nodiscard]] bool park(Sink& sink) noexcept {
    return list_->park(to_sink(sink));
  }

  [[nodiscard]] std::size_t pending() const noexcept { return list_->pending(); }
  [[nodiscard]] List& list() const noexcept { return *list_; }

private:
  // The one teardown a list of retired slots may run: the slot back to its
  // arena. A teardown of the user's own (list.drain/park/close with another
  // callable) would drop the slots, which is why the owner goes through the
  // arena: arena.reclaim() and arena.park().
  template <class Sink>
  static auto to_sink(Sink& sink) noexcept {
    return [&sink](LlistNode* node) noexcept {
      SlotId id = static_cast<detail::RetiredSlot*>(node)->id;
      sink(id);
    };
  }

  List* list_;
};

template <class List>
DeferredReclaimer(List&) -> DeferredReclaimer<List>;

} // namespace arenakit
