// SPDX-License-Identifier: MIT
/**
 * @file tokens/refs/sole_or_shared.hpp
 * @brief SoleOrSharedRefs: the default page-reference policy. Any thread
 *        returns (return_tokens(h, ...), several at once); a page one
 *        consumer holds alone carries that consumer in its word, so
 *        attribution costs nothing beyond 8 bytes per page, and deliver and
 *        return are one CAS each. Aliases: AnyThreadRefs (many producers,
 *        the default), OneProducerRefs (one producer per binding).
 *
 * Page word states (detail/token_word.hpp): free (0) -> sole (owner +
 * count) on a delivery; sole -> shared (page_words.hpp) when a second
 * consumer takes the page; back to free when the last reference drops.
 *
 * Memory orders (labels so-*):
 * - (so-1) a delivery to a page we hold alone acquires, as the claim of a
 *   free word does ((pr-3)/(pr-4) in producers.hpp): pairs with (so-2),
 *   (so-4) and (pw-2)/(pw-3): the use of the page by whoever dropped a
 *   reference last happens-before this delivery.
 * - (so-2) a return releases, (so-4) so does close's drain: pair with
 *   (so-1), (pr-3), (pr-4), (pw-1), (pw-4) and (so-3).
 * - (so-3) refs_of() acquires the word: pairs with (so-2), (so-4), (pw-2).
 */
#pragma once

#include <arenakit/config.hpp>
#include <arenakit/detail/spin_lock.hpp>
#include <arenakit/detail/token_word.hpp>
#include <arenakit/tokens/refs/page_words.hpp>
#include <arenakit/tokens/refs/producers.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace arenakit {

template <class ProducerPolicy = ManyProducers>
class SoleOrSharedRefs {
public:
  using producer_policy = ProducerPolicy;
  static constexpr bool one_producer = ProducerPolicy::one;
  /// Returns come from any thread through the consumer's handle.
  static constexpr bool one_returner = false;
  /// The page-free hook runs on whichever thread drops a page's last reference.
  static constexpr bool calls_hook = true;
  static constexpr std::size_t bytes_per_page = sizeof(std::uint64_t);

  bool allocate(std::uint64_t pages) noexcept { return words_.allocate(pages); }
  bool begin_batch() noexcept { return producer_.begin_batch(); }
  void end_batch() noexcept { producer_.end_batch(); }
  ARENAKIT_ALWAYS_INLINE void prefetch(std::uint32_t p) const noexcept { words_.prefetch(p); }

  /// deliver() - one more reference for @x's consumer on @p: one load and
  /// one CAS when the page is free or its alone, plus a 4-byte log append
  /// when it was free. Lock-free on unshared pages.
  template <class Hook>
  ARENAKIT_ALWAYS_INLINE detail::PageStep deliver(detail::PageCtx<Hook> x, std::uint32_t p) noexcept {
    namespace tw = detail::token_word;
    const std::uint64_t me = tw::owner_field(x.index);
    std::atomic_ref<std::uint64_t> w = words_.word(p);
    std::uint64_t v = w.load(std::memory_order_relaxed); // decided by the CAS / claim below
    for (;;) {
      // A free page first: the receive path mostly hands out pages that came
      // back free (the fall-through path, no taken branch).
      if (v == 0) {
        if (ARENAKIT_UNLIKELY(!x.c.log.has_room()) && !make_room(x))
          return detail::page_refused(TokenRefusal::no_memory);
        // The page goes from 0 to 1: the hook may refuse it (PageTakeHook).
        if (ARENAKIT_UNLIKELY(!detail::take_page(x.hook, p)))
          return detail::page_refused(TokenRefusal::page_not_live);
        if (ProducerPolicy::claim(w, v, me | 1)) { // (pr-3) / (pr-4)
          x.c.log.push(p);
          return detail::page_done;
        }
        // Another deliverer claimed it first: give the take back at once.
        if constexpr (PageTakeHook<Hook>) x.hook(p);
        continue;
      }
      if (tw::sole_of(v, me)) {
        if (ARENAKIT_UNLIKELY(tw::count(v) == tw::count_max))
          return detail::page_refused(TokenRefusal::count_saturated);
        // (so-1) pairs with (so-2), (so-4), (pw-2), (pw-3).
        if (w.compare_exchange_weak(v, v + 1, std::memory_order_acquire, std::memory_order_relaxed))
          return detail::page_done;
        continue;
      }
      const detail::PageStep step = words_.deliver_slow(x, p);
      if (step != detail::page_retry) return step;
      v = w.load(std::memory_order_relaxed);
    }
  }

  /// give_back() - drop one of @x's consumer's references on @p. One CAS
  /// on a page it holds alone; lock-free there.
  template <class Hook>
  ARENAKIT_ALWAYS_INLINE detail::PageStep give_back(detail::PageCtx<Hook> x, std::uint32_t p) noexcept {
    namespace tw = detail::token_word;
    const std::uint64_t me = tw::owner_field(x.index);
    std::atomic_ref<std::uint64_t> w = words_.word(p);
    std::uint64_t v = w.load(std::memory_order_relaxed); // decided by the CAS below
    for (;;) {
      if (tw::sole_of(v, me)) {
        const std::uint64_t nv = tw::count(v) == 1 ? 0 : v - 1;
        // (so-2) pairs with (so-1), (pr-3), (pr-4), (pw-1), (pw-4), (so-3).
        if (w.compare_exchange_weak(v, nv, std::memory_order_release, std::memory_order_relaxed)) {
          if (nv == 0) x.hook(p);
          return detail::page_done;
        }
        continue;
      }
      if (v == 0) return detail::page_refused(TokenRefusal::underflow);
      if ((v & (tw::busy_bit | tw::shared_bit)) == 0) return detail::page_refused(TokenRefusal::not_held);
      const detail::PageStep step = words_.return_shared(x, p);
      if (step != detail::page_retry) return step;
      v = w.load(std::memory_order_relaxed);
    }
  }

  /**
   * drain() - close: give back everything @x's consumer holds. Runs once;
   * nobody appends to its log any more. The log first (after it, no page
   * is its alone, so nothing can be added to its table), then the table.
   */
  template <class Hook>
  std::uint64_t drain(detail::PageCtx<Hook> x, std::uint64_t& visits) noexcept {
    namespace tw = detail::token_word;
    const std::uint64_t me = tw::owner_field(x.index);
    std::uint64_t released = 0;
    for (const std::uint32_t p : x.c.log) {
      ++visits;
      std::atomic_ref<std::uint64_t> w = words_.word(p);
      detail::SpinWait wait;
      std::uint64_t v = w.load(std::memory_order_relaxed); // decided by the CAS below
      for (;;) {
        if ((v & tw::busy_bit) != 0) { // a transition to shared in progress: let it finish
          wait();
          v = w.load(std::memory_order_relaxed);
          continue;
        }
        if (!tw::sole_of(v, me)) break; // stale entry
        // (so-4) pairs with (so-1), (pr-3), (pr-4), (pw-1), (pw-4), (so-3).
        if (w.compare_exchange_weak(v, 0, std::memory_order_release, std::memory_order_relaxed)) {
          released += tw::count(v);
          x.hook(p);
          break;
        }
      }
    }
    x.c.log.reset(x.bytes);
    return released + words_.drain_shared(x, visits);
  }

  /// page_refs() - references on @p, all consumers; (pw-4) acquire.
  std::uint32_t page_refs(std::uint32_t p) const noexcept { return words_.count_acquire(p); }

  /// refs_of() - @x's consumer's references on @p now (the caller checks
  /// the handle before and after). Cold path: may take the spin bit.
  template <class Hook>
  std::uint32_t refs_of(detail::PageCtx<Hook> x, std::uint32_t p) const noexcept {
    namespace tw = detail::token_word;
    const std::uint64_t me = tw::owner_field(x.index);
    // (so-3) pairs with (so-2), (so-4), (pw-2).
    const std::uint64_t v = words_.word(p).load(std::memory_order_acquire);
    if (tw::sole_of(v, me)) return tw::count(v);
    if ((v & (tw::busy_bit | tw::shared_bit)) == 0) return 0;
    return words_.shared_refs(x.c, p, me);
  }

  /// count_returned() - the consumer's `returned` statistic has several
  /// writers (any thread returns): an RMW. Release: (tt-s3).
  static void count_returned(std::atomic<std::uint64_t>& returned, std::uint64_t n) noexcept {
    returned.fetch_add(n, std::memory_order_release);
  }

private:
  /// make_room() - compact the consumer's log (deliverer context). A page
  /// stays listed while its word says "held by this consumer alone".
  template <class Hook>
  ARENAKIT_NOINLINE bool make_room(detail::PageCtx<Hook> x) noexcept {
    const std::uint64_t me = detail::token_word::owner_field(x.index);
    return x.c.log.make_room(
        [this, me](std::uint32_t p) noexcept {
          // relaxed: only this thread makes a page sole-owned by `me`, so a
          // value that is not "mine" can never become mine behind us. The
          // busy bit is ignored: a page mid-way to shared is kept (harmless).
          const std::uint64_t v = words_.word(p).load(std::memory_order_relaxed);
          return (v & (detail::token_word::shared_bit | detail::token_word::owner_mask)) == me;
        },
        [this](std::uint32_t p) noexcept { words_.prefetch(p); }, x.bytes);
  }

  detail::PageWords words_;
  [[no_unique_address]] ProducerPolicy producer_;
};

/// The default: any threads deliver (one per consumer at a time) and return.
using AnyThreadRefs = SoleOrSharedRefs<ManyProducers>;
/// One deliverer per binding (plain-store claims), any threads return.
using OneProducerRefs = SoleOrSharedRefs<OneProducer>;

} // namespace arenakit
