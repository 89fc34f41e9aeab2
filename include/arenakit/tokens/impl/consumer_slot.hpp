// SPDX-License-Identifier: MIT
/**
 * @file tokens/impl/consumer_slot.hpp
 * @brief One consumer's state in a TokenTracker: its lifecycle word, its
 *        held-page log and shared table, and its counters. The transitions
 *        of the lifecycle word are TokenTracker's (tokens/impl/tracker_consumers.hpp).
 */
#pragma once

#include <arenakit/config.hpp>
#include <arenakit/detail/spin_lock.hpp>
#include <arenakit/detail/tagged_index_stack.hpp>
#include <arenakit/detail/token_held.hpp>
#include <arenakit/tokens/types.hpp>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace arenakit {

namespace detail {

/// Counters of one consumer slot, cumulative over every consumer that used
/// the slot (per-consumer figures subtract a snapshot taken at open, so the
/// binding's totals never lose history and never double count). Relaxed
/// atomics: statistics, nothing is published through them.
struct TokenSlotCounters {
  std::atomic<std::uint64_t> delivered{0};
  std::atomic<std::uint64_t> returned{0};
  std::atomic<std::uint64_t> close_released{0};
  std::atomic<std::uint64_t> close_visits{0};
  std::atomic<std::uint64_t> calls_capped{0};
  std::array<std::atomic<std::uint64_t>, token_refusal_count> refused{};

  void add_to(TokenCounters& out, int sign = +1) const noexcept {
    auto f = [sign](std::uint64_t& dst, const std::atomic<std::uint64_t>& src) {
      // (tt-s1) acquire: pairs with the release writes (tt-s2)/(tt-s3); free
      // on x86, and what lets consumer_counters() detect a reused slot.
      const std::uint64_t v = src.load(std::memory_order_acquire);
      dst = sign > 0 ? dst + v : dst - v;
    };
    // What came back before what went out: a later delivery then only makes
    // outstanding() read high for a moment, never below zero.
    f(out.returned, returned);
    f(out.close_released, close_released);
    f(out.delivered, delivered);
    f(out.close_visits, close_visits);
    f(out.calls_capped, calls_capped);
    for (std::size_t i = 0; i < token_refusal_count; ++i) f(out.refused[i], refused[i]);
  }
  void copy_from(const TokenSlotCounters& o) noexcept {
    auto f = [](std::atomic<std::uint64_t>& dst, const std::atomic<std::uint64_t>& src) {
      dst.store(src.load(std::memory_order_relaxed), std::memory_order_release); // (tt-s2) pairs with (tt-s1)
    };
    f(delivered, o.delivered);
    f(returned, o.returned);
    f(close_released, o.close_released);
    f(close_visits, o.close_visits);
    f(calls_capped, o.calls_capped);
    for (std::size_t i = 0; i < token_refusal_count; ++i) f(refused[i], o.refused[i]);
  }
};

/**
 * struct TokenConsumerSlot - one consumer's state.
 *
 * `state` (64 bits): | generation:32 | pins:26 | claimed | returning | free | drained | delivering | closed |
 * - generation: bumped at every open; a handle carries the one it was given.
 * - pins: return_tokens() calls in flight (they keep the slot from reuse).
 * - returning / claimed (SingleWriterRefs only): a Returner call
 *   is in flight (it keeps the slot from reuse and defers a close, like
 *   delivering) / the consumer's Returner was handed out.
 * - delivering: a deliver() batch is in flight (it owns `log`).
 * - closed / drained: close() called / every reference given back.
 * - free: on the free list (not open).
 */
struct alignas(cache_line_size) TokenConsumerSlot {
  static constexpr std::uint64_t closed_bit = 1;
  static constexpr std::uint64_t delivering_bit = 2;
  static constexpr std::uint64_t drained_bit = 4;
  static constexpr std::uint64_t free_bit = 8;
  static constexpr std::uint64_t returning_bit = 16;
  static constexpr std::uint64_t claimed_bit = 32;
  static constexpr std::uint64_t pin_unit = 64;
  static constexpr std::uint64_t pins_mask = 0xFFFF'FFC0u;
  static constexpr unsigned generation_shift = 32;

  static constexpr std::uint32_t generation_of(std::uint64_t s) noexcept {
    return static_cast<std::uint32_t>(s >> generation_shift);
  }

  // --- line 0: lifecycle word and the deliverer-private log.
  std::atomic<std::uint64_t> state{free_bit};
  std::atomic<std::uint32_t> next_free{detail::TaggedIndexStack::none}; ///< free-list link (TaggedIndexStack)
  SpinLock shared_lock;                    ///< guards `shared`
  HeldLog log;                             ///< owned by the deliverer, then the drainer
  PageCountTable shared;                   ///< guarded by shared_lock
  // --- counters: cumulative (now) and the snapshot taken at open (base).
  TokenSlotCounters now;
  TokenSlotCounters base;
};
static_assert(offsetof(TokenConsumerSlot, state) == 0, "the state word leads the slot");
static_assert(sizeof(TokenConsumerSlot) % cache_line_size == 0, "slots must not share cache lines");
static_assert(sizeof(TokenConsumerSlot) <= 6 * cache_line_size, "a consumer slot must stay small: 10k consumers");

} // namespace detail

} // namespace arenakit
