// SPDX-License-Identifier: MIT
/**
 * @file reclaimers/epoch.hpp
 * @brief EpochReclaimer: the epoch-based Reclaimer, built on an EpochDomain.
 *
 * A released slot becomes reusable once no guard that could have seen it
 * is alive (see epoch/epoch.hpp for the domain, threads and guards).
 */
#pragma once

#include <arenakit/concepts/reclaimer.hpp>
#include <arenakit/epoch/epoch.hpp>
#include <arenakit/slot_id.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <utility>

namespace arenakit {

/**
 * EpochReclaimer - the epoch Reclaimer for an arena: a released slot becomes
 * reusable only after every guard of the domain that could still see it has
 * ended. retire() (any thread) keeps a link, the id and the epoch stamp in
 * the slot's first `min_slot_size` bytes and pushes it on a lock-free list;
 * reclaim() (arena.reclaim(), one thread at a time; concurrent calls return
 * 0) advances the domain and returns every slot whose stamp is two epochs
 * old. With no reader inside a guard, one reclaim() returns everything.
 *
 * Move-construct it only before the arena is shared (the arena does so once).
 */
class EpochReclaimer {
public:
  static constexpr bool immediate = false;
  /// Bytes of the slot used for the link, id and stamp, and their alignment:
  /// an Arena refuses a smaller slot or a size not a multiple of it.
  static constexpr std::size_t min_slot_size = sizeof(detail::EpochSlot);
  static constexpr std::size_t slot_alignment = alignof(detail::EpochSlot);
  static_assert(min_slot_size <= 64, "the epoch link must fit in the smallest slot");

  explicit EpochReclaimer(EpochDomain& domain) noexcept : domain_(&domain) {}
  EpochReclaimer(EpochReclaimer&& other) noexcept
      : domain_(other.domain_), waiting_(std::exchange(other.waiting_, nullptr)),
        pending_(other.pending_.exchange(0, std::memory_order_relaxed)) {
    LlistNode* chain = other.incoming_.take_all();
    if (chain != nullptr) {
      LlistNode* last = chain;
      while (last->next != nullptr) last = last->next;
      incoming_.push_bulk(*chain, *last);
    }
  }
  EpochReclaimer& operator=(EpochReclaimer&&) = delete;

  /// retire - stamp the slot and queue it (any thread). Lock-free; the
  /// stamp's full fence (ep-S1) orders the caller's last use before the
  /// stamp, the push (ll-1) releases the slot to reclaim().
  template <class Sink>
  void retire(SlotId id, std::byte* cpu, Sink& /*sink*/) noexcept {
    assert(cpu != nullptr && reinterpret_cast<std::uintptr_t>(cpu) % alignof(detail::EpochSlot) == 0);
    auto* slot = ::new (static_cast<void*>(cpu)) detail::EpochSlot{};
    slot->id = id;
    slot->stamp = domain_->stamp(); // (ep-S1)(ep-S2): after the caller stopped publishing the slot
    pending_.fetch_add(1, std::memory_order_relaxed); // a count
    incoming_.push(*slot);                            // (ll-1)
  }

  /// reclaim - hand back every slot two grace periods old (any thread; one
  /// at a time, others return 0 at once). Non-blocking; acquire on the
  /// incoming list (ll-2) and on the epoch (ep-A4) before a slot is reused.
  template <class Sink>
  std::size_t reclaim(Sink& sink) noexcept {
    // (er-1) acquire / (er-2) release: one reclaimer at a time owns waiting_.
    if (busy_.exchange(true, std::memory_order_acquire)) return 0; // (er-1) pairs with (er-2)
    LlistNode* incoming = incoming_.take_all(); // (ll-2)
    if (incoming != nullptr) {
      LlistNode* last = incoming;
      while (last->next != nullptr) last = last->next;
      last->next = waiting_;
      waiting_ = incoming;
    }
    std::size_t returned = 0;
    // Up to three advances: enough for a slot stamped now when no reader is in.
    for (int round = 0; round < 3 && waiting_ != nullptr; ++round) {
      domain_->try_reclaim();
      const std::uint64_t safe = domain_->epoch(); // (ep-A4)
      LlistNode** link = &waiting_;
      while (*link != nullptr) {
        auto* slot = static_cast<detail::EpochSlot*>(*link);
        if (slot->stamp + 2 <= safe) {
          *link = slot->next;
          SlotId id = slot->id;
          sink(id);
          ++returned;
        } else {
          link = &slot->next;
        }
      }
    }
    if (returned != 0) pending_.fetch_sub(returned, std::memory_order_relaxed); // a count
    busy_.store(false, std::memory_order_release);                                // (er-2)
    return returned;
  }

  [[nodiscard]] std::size_t pending() const noexcept {
    return pending_.load(std::memory_order_relaxed);
  }
  [[nodiscard]] EpochDomain& domain() const noexcept { return *domain_; }

private:
  EpochDomain* domain_;
  Llist incoming_;
  LlistNode* waiting_ = nullptr; // owned by the thread inside reclaim()
  std::atomic<std::size_t> pending_{0};
  std::atomic<bool> busy_{false};
};

} // namespace arenakit
