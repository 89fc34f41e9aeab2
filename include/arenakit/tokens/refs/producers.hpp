// SPDX-License-Identifier: MIT
/**
 * @file tokens/refs/producers.hpp
 * @brief Who may deliver at the same time, as the part of a page-reference
 *        policy that brackets a deliver() batch and claims a free page word.
 *
 * - ManyProducers: any number of threads deliver at once, one per consumer
 *   at a time (devmem: each socket's recvmsg). A free page is claimed by a
 *   CAS.
 * - OneProducer: one thread at a time for the whole binding (one receive
 *   queue per binding, as io_uring zcrx's area per interface queue). Only
 *   that thread writes a free page word, so a claim is a plain store: one
 *   locked instruction fewer per token. A second concurrent deliverer is
 *   refused (concurrent_delivery) at the cost of one exchange per batch.
 *
 * Memory orders (labels pr-*): (pr-1) OneProducer's batch exchange acquires,
 * pairing with (pr-2), the release that ends the previous batch (maybe on
 * another thread): its plain-store claims are ordered before ours.
 * A claim acquires the page (pr-3/pr-4), pairing with the release of the
 * return or close that freed it (so-2, so-4 in sole_or_shared.hpp, pw-2/pw-3).
 */
#pragma once

#include <arenakit/config.hpp>

#include <atomic>
#include <cstdint>

namespace arenakit {

struct ManyProducers {
  static constexpr bool one = false;
  /// begin_batch() - always admitted. Wait-free, no barrier.
  bool begin_batch() noexcept { return true; }
  void end_batch() noexcept {}
  /// claim() - turn the free word @w (last read as @v == 0) into @mine.
  /// Return: false when the word changed (@v then holds it).
  static bool claim(std::atomic_ref<std::uint64_t> w, std::uint64_t& v, std::uint64_t mine) noexcept {
    // (pr-3) acquire: pairs with the releasing drop that freed the page.
    return w.compare_exchange_weak(v, mine, std::memory_order_acquire, std::memory_order_relaxed);
  }
};

struct OneProducer {
  static constexpr bool one = true;
  OneProducer() noexcept = default;
  OneProducer(OneProducer&&) noexcept {} // a fresh flag: moved only at set-up, with no batch running
  OneProducer& operator=(OneProducer&&) noexcept { return *this; }

  /// begin_batch() - admit this batch unless another is running.
  /// Wait-free; (pr-1) acquire pairs with (pr-2).
  bool begin_batch() noexcept { return busy_.exchange(1, std::memory_order_acquire) == 0; }
  /// end_batch() - (pr-2) release: pairs with (pr-1).
  void end_batch() noexcept { busy_.store(0, std::memory_order_release); }

  static bool claim(std::atomic_ref<std::uint64_t> w, std::uint64_t& v, std::uint64_t mine) noexcept {
    // Only this thread writes a free word (returns, closes and the spin bit
    // never touch one). (pr-4) acquire re-load (an L1 hit; no fence, which
    // TSan cannot model): pairs with the releasing drop that freed the
    // page. The store is relaxed: the token reaches the application
    // through the caller's own hand-off.
    v = w.load(std::memory_order_acquire);
    if (ARENAKIT_UNLIKELY(v != 0)) return false; // cannot happen: only we write free words
    w.store(mine, std::memory_order_relaxed);
    return true;
  }

private:
  /// A batch is running; its own line: the producer keeps it in cache.
  alignas(cache_line_size) std::atomic<std::uint32_t> busy_{0};
};

} // namespace arenakit
