// SPDX-License-Identifier: MIT
/**
 * @file tokens/refs/single_writer.hpp
 * @brief SingleWriterRefs: the page-reference policy with no locked
 *        instruction per token. One producer delivers for the binding
 *        (OneProducer); each consumer gives references back through its
 *        one Returner (TokenTracker::claim_returner()), used by one thread
 *        at a time. No page-free hook: the producer polls page_refs().
 *
 * A page held by one consumer keeps two single-writer counters
 * (detail::token_word::SwPage, 16 bytes per page beside the page word):
 * `held` = | owner index + 1 | delivered |, written only by the producer,
 * and `returned`, written only by the owner's Returner (and, once that
 * consumer is closed and its Returner quiet, by its drain). The owner holds
 * `delivered - returned`. When the two are equal nobody holds this part and
 * the producer may give the page to any consumer. References of a second
 * consumer on the page live in the page word, shared mode (page_words.hpp).
 *
 * Why no hook: a Returner's plain store cannot learn whether another
 * consumer's shared return dropped the page's other references at the same
 * moment without a StoreLoad barrier (the locked instruction this policy
 * removes), so nobody could call a hook exactly once.
 *
 * Memory orders (labels sw-*):
 * - (sw-1) the producer acquires `returned` before it reuses or extends a
 *   page: pairs with (sw-5), (sw-6): the owner's use of the page
 *   happens-before the page goes to anyone.
 * - (sw-2) the producer's store of `held` releases: pairs with (sw-4) and
 *   page_refs()' (sw-8): a Returner that sees itself as owner also sees the
 *   `returned` the producer saw (it never starts from an older value).
 * - (sw-3) a Returner (sw_view()) acquires `returned`, then (sw-4) `held`,
 *   then re-reads `returned`: a former owner never extends a new owner's
 *   count (whoever wrote `returned` last had seen the `held` naming it).
 * - (sw-5) a Returner's store of `returned` releases, (sw-6) so does the
 *   drain's: pair with (sw-1), (sw-3), (sw-7).
 * - (sw-7)/(sw-8) page_refs() acquires `returned` then `held`.
 */
#pragma once

#include <arenakit/config.hpp>
#include <arenakit/detail/owner_counter.hpp>
#include <arenakit/detail/test_hook.hpp>
#include <arenakit/detail/token_word.hpp>
#include <arenakit/tokens/refs/page_words.hpp>
#include <arenakit/tokens/refs/producers.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <utility>

namespace arenakit {

class SingleWriterRefs {
  using SwPage = detail::token_word::SwPage;

public:
  using producer_policy = OneProducer;
  static constexpr bool one_producer = true;
  /// Returns go through the consumer's one Returner.
  static constexpr bool one_returner = true;
  static constexpr bool calls_hook = false;
  static constexpr std::size_t bytes_per_page = sizeof(std::uint64_t) + sizeof(SwPage);

  SingleWriterRefs() noexcept = default;
  SingleWriterRefs(SingleWriterRefs&& o) noexcept : words_(std::move(o.words_)), sw_(std::exchange(o.sw_, nullptr)) {}
  SingleWriterRefs& operator=(SingleWriterRefs&& o) noexcept {
    words_ = std::move(o.words_);
    std::swap(sw_, o.sw_);
    return *this;
  }
  ~SingleWriterRefs() { std::free(sw_); }

  bool allocate(std::uint64_t pages) noexcept {
    // calloc: zeroed lazily, like the page words. {0, 0}: no owner, no share.
    sw_ = static_cast<SwPage*>(std::calloc(static_cast<std::size_t>(pages), sizeof(SwPage)));
    return sw_ != nullptr && words_.allocate(pages);
  }
  bool begin_batch() noexcept { return producer_.begin_batch(); }
  void end_batch() noexcept { producer_.end_batch(); }
  ARENAKIT_ALWAYS_INLINE void prefetch(std::uint32_t p) const noexcept { detail::prefetch_for_write(&sw_[p]); }

  /// deliver() - on the one producer's thread. No locked instruction when
  /// the page's single-writer part is free or already this consumer's.
  template <class Hook>
  ARENAKIT_ALWAYS_INLINE detail::PageStep deliver(detail::PageCtx<Hook> x, std::uint32_t p) noexcept {
    namespace tw = detail::token_word;
    SwPage& e = sw_[p];
    std::atomic_ref<std::uint64_t> held(e.held);
    const std::uint64_t o = held.load(std::memory_order_relaxed); // only this thread writes `held`
    // (sw-1) pairs with (sw-5), (sw-6).
    const std::uint32_t r = std::atomic_ref<std::uint32_t>(e.returned).load(std::memory_order_acquire);
    const std::uint32_t d = tw::sw_delivered(o);
    const std::uint32_t me = x.index + 1;
    if (d == r) { // nobody holds the single-writer part: it is ours now
      if (ARENAKIT_UNLIKELY(!x.c.log.has_room()) && !make_room(x))
        return detail::page_refused(TokenRefusal::no_memory);
      // (sw-2) pairs with (sw-4), (sw-8): owner and count in one store.
      held.store(tw::sw_held(me, d + 1), std::memory_order_release);
      x.c.log.push(p);
      return detail::page_done;
    }
    if (tw::sw_owner(o) == me) {
      if (ARENAKIT_UNLIKELY(static_cast<std::uint32_t>(d - r) == tw::count_max))
        return detail::page_refused(TokenRefusal::count_saturated);
      held.store(tw::sw_held(me, d + 1), std::memory_order_release); // (sw-2)
      return detail::page_done;
    }
    return words_.add_shared(x, p); // another consumer owns the single-writer part
  }

  /// give_back() - through the consumer's Returner (one thread). No RMW on
  /// its own share: only it writes `returned` while it holds a share (the
  /// producer cannot give the page away before delivered == returned, and
  /// a close waits for the Returner call to end).
  template <class Hook>
  ARENAKIT_ALWAYS_INLINE detail::PageStep give_back(detail::PageCtx<Hook> x, std::uint32_t p) noexcept {
    SwPage& e = sw_[p];
    const View v = view(e, x.index + 1);
    if (ARENAKIT_LIKELY(v.share != 0)) {
      // (sw-5) pairs with (sw-1), (sw-3), (sw-7).
      std::atomic_ref<std::uint32_t>(e.returned).store(v.returned + 1, std::memory_order_release);
      return detail::page_done;
    }
    return give_back_shared(x, p, v.other);
  }

  /// drain() - close: the consumer's Returner is quiet for good and no
  /// delivery to it runs, so for a page it owns with a share left nobody
  /// else writes `returned`, and `held` is stable too.
  template <class Hook>
  std::uint64_t drain(detail::PageCtx<Hook> x, std::uint64_t& visits) noexcept {
    std::uint64_t released = 0;
    for (const std::uint32_t p : x.c.log) {
      ++visits;
      // The entry may be stale: the page may be another consumer's now,
      // whose Returner moves `returned` right now; read as a Returner does
      // (view()), so our old count never rolls back its newer returns.
      const View v = view(sw_[p], x.index + 1);
      if (v.share == 0) continue; // stale entry, or listed twice
      // (sw-6) pairs with (sw-1), (sw-3), (sw-7).
      std::atomic_ref<std::uint32_t>(sw_[p].returned).store(v.returned + v.share, std::memory_order_release);
      released += v.share;
    }
    x.c.log.reset(x.bytes);
    return released + words_.drain_shared(x, visits);
  }

  /// page_refs() - shared count plus the single-writer share. Exact for the
  /// producer (the only thread that adds references); a snapshot for
  /// others. `returned` before `held`: whoever wrote the `returned` we read
  /// had seen this `held` or an older one, so the share never reads
  /// negative. Saturates.
  std::uint32_t page_refs(std::uint32_t p) const noexcept {
    namespace tw = detail::token_word;
    const std::uint32_t shared = words_.count_acquire(p);
    // (sw-7) pairs with (sw-5), (sw-6).
    const std::uint32_t r = std::atomic_ref<std::uint32_t>(sw_[p].returned).load(std::memory_order_acquire);
    // (sw-8) pairs with (sw-2).
    const std::uint32_t d = tw::sw_delivered(std::atomic_ref<std::uint64_t>(sw_[p].held).load(std::memory_order_acquire));
    const std::uint64_t sum = std::uint64_t{shared} + static_cast<std::uint32_t>(d - r);
    return sum > tw::count_max ? tw::count_max : static_cast<std::uint32_t>(sum);
  }

  template <class Hook>
  std::uint32_t refs_of(detail::PageCtx<Hook> x, std::uint32_t p) const noexcept {
    namespace tw = detail::token_word;
    const std::uint32_t n = view(sw_[p], x.index + 1).share;
    // (pw-4)-style acquire, pairs with (pw-2).
    const std::uint64_t v = words_.word(p).load(std::memory_order_acquire);
    if ((v & (tw::busy_bit | tw::shared_bit)) == 0) return n;
    return n + words_.shared_refs(x.c, p, 0);
  }

  /// count_returned() - only the consumer's Returner writes its `returned`
  /// statistic: no RMW. Release: (tt-s3).
  static void count_returned(std::atomic<std::uint64_t>& returned, std::uint64_t n) noexcept {
    detail::owner_add<std::memory_order_release>(returned, n);
  }

private:
  /// What a Returner of consumer `me` (index + 1) sees on a page.
  struct View {
    std::uint32_t share = 0;    ///< references it holds there (0: none, or not its page)
    std::uint32_t returned = 0; ///< the `returned` value to extend
    bool other = false;         ///< another consumer holds the single-writer part
  };

  /// view() - `returned`, `held`, `returned` again (see the file comment).
  ARENAKIT_ALWAYS_INLINE static View view(SwPage& e, std::uint32_t me) noexcept {
    namespace tw = detail::token_word;
    std::atomic_ref<std::uint32_t> ret(e.returned);
    std::atomic_ref<std::uint64_t> held(e.held);
    View out;
    for (int attempt = 0; attempt < 2; ++attempt) {
      // (sw-3) pairs with (sw-5), (sw-6).
      const std::uint32_t r1 = ret.load(std::memory_order_acquire);
      ARENAKIT_TEST_PAUSE(token_sw_first_read);
      // (sw-4) pairs with (sw-2).
      const std::uint64_t o = held.load(std::memory_order_acquire);
      const std::uint32_t r = ret.load(std::memory_order_relaxed); // ordered after (sw-4)
      const std::uint32_t d = tw::sw_delivered(o);
      if (r != r1) continue; // someone else wrote it meanwhile: look again
      out.returned = r;
      if (tw::sw_owner(o) == me) {
        out.share = static_cast<std::uint32_t>(d - r);
      } else {
        out.other = d != r;
      }
      return out;
    }
    out.other = true; // `returned` keeps moving: another consumer's Returner owns it
    return out;
  }

  /// give_back_shared() - the single-writer part is not ours: the reference
  /// may sit in our shared table. @other: another consumer holds the
  /// single-writer part (not_held rather than underflow).
  template <class Hook>
  ARENAKIT_NOINLINE detail::PageStep give_back_shared(detail::PageCtx<Hook> x, std::uint32_t p, bool other) noexcept {
    // relaxed: a hint; return_shared() decides under the page's spin bit.
    if (words_.word(p).load(std::memory_order_relaxed) != 0) {
      const detail::PageStep step = words_.return_shared(x, p);
      if (step == detail::page_done) return step;
      // Our table is intact during our call (a close defers to it): any
      // refusal other than "nobody" means "not ours".
      if (step != detail::page_refused(TokenRefusal::underflow))
        return detail::page_refused(TokenRefusal::not_held);
    }
    return detail::page_refused(other ? TokenRefusal::not_held : TokenRefusal::underflow);
  }

  template <class Hook>
  ARENAKIT_NOINLINE bool make_room(detail::PageCtx<Hook> x) noexcept {
    const std::uint32_t owner = x.index + 1;
    return x.c.log.make_room(
        [this, owner](std::uint32_t p) noexcept {
          // relaxed: only this thread (the producer) writes `held`. A stale
          // `returned` is older, i.e. smaller: it can only keep a page that
          // was returned (harmless), never drop one still held.
          const std::uint64_t o = std::atomic_ref<std::uint64_t>(sw_[p].held).load(std::memory_order_relaxed);
          const std::uint32_t r = std::atomic_ref<std::uint32_t>(sw_[p].returned).load(std::memory_order_relaxed);
          return detail::token_word::sw_owner(o) == owner && detail::token_word::sw_delivered(o) != r;
        },
        [this](std::uint32_t p) noexcept { detail::prefetch_for_write(&sw_[p]); }, x.bytes);
  }

  detail::PageWords words_;
  SwPage* sw_ = nullptr; ///< accessed through std::atomic_ref only
  OneProducer producer_;
};

} // namespace arenakit
