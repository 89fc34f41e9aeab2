// SPDX-License-Identifier: MIT
/**
 * @file tokens/impl/consumer_registry.hpp
 * @brief ConsumerRegistry: where a TokenTracker's consumer slots live. Slots
 *        are allocated 64 at a time (chunks never move, so a slot pointer is
 *        stable); a closed and drained slot goes back on the shared tagged
 *        free stack (detail/tagged_index_stack.hpp) and is reused LIFO.
 *
 * The registry knows where slots are and which are free; what a slot's
 * lifecycle word means (open, closed, drained, who drains) is the tracker's
 * (tokens/impl/tracker_consumers.hpp).
 *
 * Memory orders (labels cr-*):
 * - (cr-1) a chunk's pointer is stored with release at growth, (cr-2) loaded
 *   with acquire by slot() and for_each_slot(): a slot reached through it is
 *   fully constructed.
 * - (cr-3) chunks_used is stored with release after the chunk pointer,
 *   (cr-4) read with acquire by for_each_slot().
 * - push()/pop() order the slot's contents through the free stack's own
 *   release push / acquire pop (ts-1)/(ts-2).
 */
#pragma once

#include <arenakit/config.hpp>
#include <arenakit/detail/spin_lock.hpp>
#include <arenakit/detail/tagged_index_stack.hpp>
#include <arenakit/error.hpp>
#include <arenakit/tokens/impl/consumer_slot.hpp>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <new>
#include <system_error>

namespace arenakit::detail {

class ConsumerRegistry {
  /// The free stack's links live in the slots (see detail::TaggedIndexStack).
  struct LinkOf {
    const ConsumerRegistry* r;
    std::atomic<std::uint32_t>& operator()(std::uint32_t i) const noexcept { return r->slot(i)->next_free; }
  };
  LinkOf link() const noexcept { return LinkOf{this}; }

public:
  using Slot = TokenConsumerSlot;
  static constexpr unsigned chunk_shift = 6; // 64 slots per chunk
  static constexpr std::uint32_t chunk_slots = 1u << chunk_shift;

  ConsumerRegistry() noexcept = default;
  ConsumerRegistry(const ConsumerRegistry&) = delete;
  ConsumerRegistry& operator=(const ConsumerRegistry&) = delete;
  ~ConsumerRegistry() {
    if (chunks_ == nullptr) return;
    for (std::uint32_t k = 0; k < chunk_count_; ++k) delete[] chunks_[k].load(std::memory_order_relaxed);
    delete[] chunks_;
  }

  /// init() - room for @max_consumers slots (the chunk table only; slots
  /// come with open()). Set-up path. Return: false when out of memory.
  bool init(std::uint32_t max_consumers, std::atomic<std::size_t>& bytes) noexcept {
    max_consumers_ = max_consumers;
    chunk_count_ = (max_consumers + chunk_slots - 1) >> chunk_shift;
    chunks_ = new (std::nothrow) std::atomic<Slot*>[chunk_count_]();
    if (chunks_ == nullptr) return false;
    bytes.fetch_add(chunk_count_ * sizeof(std::atomic<Slot*>), std::memory_order_relaxed); // statistic
    return true;
  }

  [[nodiscard]] std::uint32_t max_consumers() const noexcept { return max_consumers_; }

  /// slot() - the slot at @index, or null when that index was never
  /// allocated (or is past max_consumers). Any thread; wait-free.
  [[nodiscard]] Slot* slot(std::uint32_t index) const noexcept {
    if (index >= max_consumers_) return nullptr;
    // (cr-2) pairs with (cr-1).
    Slot* chunk = chunks_[index >> chunk_shift].load(std::memory_order_acquire);
    return chunk == nullptr ? nullptr : chunk + (index & (chunk_slots - 1));
  }

  /**
   * take() - a slot index for a consumer being opened: a recycled slot
   * (lock-free pop), else the first of a new chunk (the grow lock).
   * Return: errc::limit_reached past max_consumers, errc::out_of_memory.
   * Acquire (the stack's pop (ts-2)): the slot's drain happens-before us.
   */
  std::error_code take(std::uint32_t& index, std::atomic<std::size_t>& bytes) noexcept {
    if (pop(index)) return {};
    SpinLockGuard g(grow_lock_);
    if (pop(index)) return {};
    const std::uint32_t k = chunks_used_.load(std::memory_order_relaxed); // written under grow_lock_ only
    if (k == chunk_count_) return make_error_code(errc::limit_reached);
    Slot* chunk = new (std::nothrow) Slot[chunk_slots];
    if (chunk == nullptr) return make_error_code(errc::out_of_memory);
    bytes.fetch_add(chunk_slots * sizeof(Slot), std::memory_order_relaxed); // statistic
    // (cr-1) pairs with (cr-2).
    chunks_[k].store(chunk, std::memory_order_release);
    // (cr-3) pairs with (cr-4).
    chunks_used_.store(k + 1, std::memory_order_release);
    const std::uint32_t first = k << chunk_shift;
    const std::uint32_t last = std::min<std::uint32_t>(first + chunk_slots, max_consumers_);
    for (std::uint32_t i = last; i-- > first + 1;) put(i); // low indexes pop first
    index = first;
    return {};
  }

  /// put() - a drained slot is free again. Release (ts-1): its drained
  /// state reaches whoever pops it. Lock-free.
  void put(std::uint32_t index) noexcept { free_.push(index, link()); }

  /// for_each_slot() - every slot ever allocated (statistics). Any thread.
  template <class F>
  void for_each_slot(F&& f) const noexcept {
    // (cr-4) pairs with (cr-3).
    const std::uint32_t used = chunks_used_.load(std::memory_order_acquire);
    for (std::uint32_t k = 0; k < used; ++k) {
      // (cr-2) pairs with (cr-1).
      const Slot* chunk = chunks_[k].load(std::memory_order_acquire);
      for (std::uint32_t i = 0; i < chunk_slots; ++i) f(chunk[i]);
    }
  }

private:
  bool pop(std::uint32_t& index) noexcept {
    const std::uint32_t top = free_.pop(link());
    if (top == TaggedIndexStack::none) return false;
    index = top;
    return true;
  }

  std::atomic<Slot*>* chunks_ = nullptr;
  std::uint32_t chunk_count_ = 0;
  std::uint32_t max_consumers_ = 0;
  // Written on set-up paths only.
  alignas(cache_line_size) TaggedIndexStack free_; ///< free slot indexes (tagged against ABA)
  std::atomic<std::uint32_t> chunks_used_{0};
  SpinLock grow_lock_;
};

} // namespace arenakit::detail
