// SPDX-License-Identifier: MIT
/**
 * @file tokens/impl/tracker_returns.hpp
 * @brief TokenTracker's out-of-line members: the return paths: one work-
 *        capped range walk, the any-thread and single-writer page steps.
 *        Memory-order labels (tt-*) are shared with tokens/token_tracker.hpp
 *        and the other tokens/impl/tracker_*.hpp files: one class, one set.
 */
#pragma once

#include <arenakit/tokens/token_tracker.hpp>

namespace arenakit {

template <class OnPageFree, Producers producers, Returners returners>
template <class Range, class PerPage>
ARENAKIT_ALWAYS_INLINE auto TokenTracker<OnPageFree, producers, returners>::walk_ranges(State& s, Slot& c,
    std::span<const Range> ranges, PerPage&& per_page) noexcept -> ReturnOutcome {
  ReturnOutcome out;
  std::array<std::uint64_t, token_refusal_count> refused_by{};
  std::uint64_t budget = s.max_tokens_per_call;
  std::uint64_t released = 0;
  std::size_t i = 0;
  for (; i < ranges.size(); ++i) {
    const CheckedRange r = s.format.check(ranges[i].start, ranges[i].count, s.max_tokens_per_call);
    const std::uint64_t cost = r.ok && r.count != 0 ? r.count : 1;
    if (cost > budget) {
      out.capped = true;
      break;
    }
    budget -= cost;
    if (ARENAKIT_UNLIKELY(!r.ok)) {
      ++refused_by[static_cast<std::size_t>(r.refusal)];
      continue;
    }
    const std::uint32_t end = r.first + r.count;
    for (std::uint32_t p = r.first; p != end; ++p) {
      const Step step = per_page(p);
      if (ARENAKIT_LIKELY(step == released_step)) {
        ++released;
      } else {
        ++refused_by[static_cast<std::size_t>(step)];
      }
    }
  }
  out.ranges_done = i;
  out.released = released;
  std::uint64_t refused = 0;
  for (std::size_t k = 0; k < token_refusal_count; ++k) {
    if (refused_by[k] == 0) continue;
    refused += refused_by[k];
    count(c, static_cast<TokenRefusal>(k), refused_by[k]);
  }
  out.refused = refused;
  if (out.capped) c.now.calls_capped.fetch_add(1, std::memory_order_release); // statistic; (tt-s3)
  return out;
}

/// refuse_call() - the outcome of a call refused whole (stale or closed
/// handle, or a concurrent call through a Returner), counted once.
template <class OnPageFree, Producers producers, Returners returners>
inline auto TokenTracker<OnPageFree, producers, returners>::refuse_call(State& s, Slot* c, ConsumerHandle h,
    TokenRefusal why, std::size_t ranges) noexcept -> ReturnOutcome {
  ReturnOutcome out;
  out.refused = 1;
  out.ranges_done = ranges;
  note_refusal(s, c, h, why, 1);
  return out;
}

/// return_slow() as a Step. Not inlined: the refusal it writes through a
/// reference would otherwise live in memory on the walk's hot path.
template <class OnPageFree, Producers producers, Returners returners>
ARENAKIT_NOINLINE auto TokenTracker<OnPageFree, producers, returners>::return_slow_step(State& s, Slot& c,
    std::uint32_t index, std::uint32_t p) noexcept -> Step {
  TokenRefusal why = TokenRefusal::not_held;
  const Slow res = return_slow(s, c, index, p, why);
  return res == Slow::done ? released_step : res == Slow::refused ? refused_step(why) : retry_step;
}

/// return_slow() - return one reference on a busy or shared page.
template <class OnPageFree, Producers producers, Returners returners>
ARENAKIT_NOINLINE auto TokenTracker<OnPageFree, producers, returners>::return_slow(State& s, Slot& c,
    std::uint32_t index, std::uint32_t p, TokenRefusal& why) noexcept -> Slow {
  namespace tw = detail::token_word;
  std::atomic_ref<std::uint64_t> w(s.words[p]);
  const std::uint64_t v = lock_page(w);
  if (v == 0) { // nobody holds it (not locked)
    why = TokenRefusal::underflow;
    return Slow::refused;
  }
  if (tw::sole_of(v, tw::owner_field(index))) {
    unlock_page(w, v);
    return Slow::retry;
  }
  if ((v & tw::shared_bit) == 0) {
    unlock_page(w, v);
    why = TokenRefusal::not_held;
    return Slow::refused;
  }
  std::uint32_t took;
  {
    detail::SpinLockGuard g(c.shared_lock);
    took = c.shared.take(p, 1, s.bytes);
  }
  if (took == 0) {
    unlock_page(w, v);
    // A close of this very consumer may have taken its table a moment ago.
    why = (c.state.load(std::memory_order_relaxed) & Slot::closed_bit) != 0 ? TokenRefusal::consumer_closed
                                                                             : TokenRefusal::not_held;
    return Slow::refused;
  }
  const bool last = tw::count(v) == 1;
  unlock_page(w, last ? 0 : v - 1);
  if (last) s.hook(p);
  return Slow::done;
}

/// sw_view() - read a page's single-writer part as its owner's Returner.
/// Order: `returned`, `held`, `returned` again.
template <class OnPageFree, Producers producers, Returners returners>
ARENAKIT_ALWAYS_INLINE auto TokenTracker<OnPageFree, producers, returners>::sw_view(detail::token_word::SwPage& e,
    std::uint32_t me) noexcept -> SwView {
  namespace tw = detail::token_word;
  std::atomic_ref<std::uint32_t> ret(e.returned);
  std::atomic_ref<std::uint64_t> held(e.held);
  SwView out;
  for (int attempt = 0; attempt < 2; ++attempt) {
    // acquire: pairs with the release store of whichever Returner wrote
    // `returned` last. If that was the page's next owner's, the producer
    // had stored that owner in `held` before, so the load below sees it
    // and a former owner never extends the next owner's count.
    // (tt-r6) pairs with (tt-r8), (tt-d1).
    const std::uint32_t r1 = ret.load(std::memory_order_acquire);
    ARENAKIT_TEST_PAUSE(token_sw_first_read);
    // acquire: pairs with the producer's release store of `held`: the
    // `returned` the producer saw when it gave us the page is visible to
    // the re-read below (so a new owner never starts from an older value).
    // (tt-r7) pairs with (tt-r4), (tt-r5).
    const std::uint64_t o = held.load(std::memory_order_acquire);
    // relaxed: ordered after the acquire above.
    const std::uint32_t r = ret.load(std::memory_order_relaxed);
    const std::uint32_t d = tw::sw_delivered(o);
    if (r != r1) continue; // someone else wrote it meanwhile: not (or not yet seen as) ours; look again
    out.returned = r;
    if (tw::sw_owner(o) == me) {
      out.share = static_cast<std::uint32_t>(d - r);
    } else {
      out.other = d != r;
    }
    return out;
  }
  out.other = true; // `returned` keeps moving under us: another consumer's Returner owns it
  return out;
}

/// sw_share() - references consumer @index holds on @p's single-writer part.
template <class OnPageFree, Producers producers, Returners returners>
inline auto TokenTracker<OnPageFree, producers, returners>::sw_share(State& s, std::uint32_t index,
    std::uint32_t p) noexcept -> std::uint32_t {
  return sw_view(s.sw[p], index + 1).share;
}

template <class OnPageFree, Producers producers, Returners returners>
inline auto TokenTracker<OnPageFree, producers, returners>::begin_sw_return(Slot& c, std::uint32_t gen,
    TokenRefusal& why) noexcept -> bool {
  return begin_exclusive(c, gen, Slot::returning_bit, TokenRefusal::concurrent_return, why);
}

/// A delivery in flight drains instead.
template <class OnPageFree, Producers producers, Returners returners>
inline auto TokenTracker<OnPageFree, producers, returners>::end_sw_return(State& s, Slot& c,
    std::uint32_t index) noexcept -> void {
  end_exclusive(s, c, index, Slot::returning_bit, Slot::delivering_bit);
}

/// return_shared_sw() - the single-writer part is not ours: the reference
/// may sit in our shared table. @other: another consumer holds the
/// single-writer part (not_held rather than underflow).
template <class OnPageFree, Producers producers, Returners returners>
ARENAKIT_NOINLINE auto TokenTracker<OnPageFree, producers, returners>::return_shared_sw(State& s, Slot& c,
    std::uint32_t index, std::uint32_t p, bool other, TokenRefusal& why) noexcept -> bool {
  namespace tw = detail::token_word;
  // relaxed: a hint; return_slow() decides under the page's spin bit.
  if (std::atomic_ref<std::uint64_t>(s.words[p]).load(std::memory_order_relaxed) != 0) {
    TokenRefusal r = TokenRefusal::not_held;
    const Slow res = return_slow(s, c, index, p, r);
    if (res == Slow::done) return true;
    // Our table is intact during our call (a close defers to it): any
    // refusal other than "nobody" means "not ours".
    if (res == Slow::retry || r != TokenRefusal::underflow) {
      why = TokenRefusal::not_held;
      return false;
    }
  }
  why = other ? TokenRefusal::not_held : TokenRefusal::underflow;
  return false;
}

template <class OnPageFree, Producers producers, Returners returners>
template <class Range>
inline auto TokenTracker<OnPageFree, producers, returners>::sw_return_impl(State& s, ConsumerHandle h,
    std::span<const Range> ranges) noexcept -> ReturnOutcome {
  Slot* c = s.slot(h.index);
  TokenRefusal why = TokenRefusal::consumer_closed;
  if (ARENAKIT_UNLIKELY(c == nullptr || !begin_sw_return(*c, h.generation, why)))
    return refuse_call(s, c, h, why, ranges.size());
  const std::uint32_t me = h.index + 1;
  const ReturnOutcome out = walk_ranges(s, *c, ranges, [&](std::uint32_t p) noexcept -> Step {
    detail::token_word::SwPage& e = s.sw[p];
    const SwView v = sw_view(e, me);
    if (ARENAKIT_LIKELY(v.share != 0)) {
      // No RMW: only we write this page's `returned` while we hold a
      // share of it (the producer cannot give it away before
      // delivered == returned, and a close waits for our call to end).
      // release: pairs with the producer's acquire load of `returned`
      // (our use of the page happens-before its reuse), with the next
      // owner's acquire in sw_view() and with page_refs()' acquire.
      // (tt-r8) pairs with (tt-r3), (tt-r6), (tt-r1).
      std::atomic_ref<std::uint32_t>(e.returned).store(v.returned + 1, std::memory_order_release);
      return released_step;
    }
    TokenRefusal refusal = TokenRefusal::not_held;
    return return_shared_sw(s, *c, h.index, p, v.other, refusal) ? released_step : refused_step(refusal);
  });
  // relaxed, no RMW: a statistic that only this consumer's Returner writes
  // (earlier calls, and earlier consumers of the slot, happen-before us
  // through the state word).
  if (out.released != 0) detail::owner_add<std::memory_order_release>(c->now.returned, out.released); // (tt-s3)
  end_sw_return(s, *c, h.index);
  return out;
}

template <class OnPageFree, Producers producers, Returners returners>
template <class Range>
inline auto TokenTracker<OnPageFree, producers, returners>::return_impl(ConsumerHandle h,
    std::span<const Range> ranges) noexcept -> ReturnOutcome {
  namespace tw = detail::token_word;
  State& s = *state_;
  Slot* c = s.slot(h.index);
  if (ARENAKIT_UNLIKELY(c == nullptr || !begin_return(*c, h.generation)))
    return refuse_call(s, c, h, TokenRefusal::consumer_closed, ranges.size());
  const std::uint64_t me = tw::owner_field(h.index);
  const ReturnOutcome out = walk_ranges(s, *c, ranges, [&](std::uint32_t p) noexcept -> Step {
    std::atomic_ref<std::uint64_t> w(s.words[p]);
    std::uint64_t v = w.load(std::memory_order_relaxed);
    for (;;) {
      if (tw::sole_of(v, me)) {
        const std::uint64_t nv = tw::count(v) == 1 ? 0 : v - 1;
        // release: pairs with the acquire of the page's next delivery
        // and of page_refs(): our use of the page happens-before reuse.
        // (tt-w4) pairs with (tt-w1), (tt-w2), (tt-w3), (tt-w6), (tt-w11).
        if (w.compare_exchange_weak(v, nv, std::memory_order_release, std::memory_order_relaxed)) {
          if (nv == 0) s.hook(p);
          return released_step;
        }
        continue;
      }
      if (v == 0) return refused_step(TokenRefusal::underflow);
      if ((v & (tw::busy_bit | tw::shared_bit)) == 0) return refused_step(TokenRefusal::not_held);
      const Step step = return_slow_step(s, *c, h.index, p);
      if (step != retry_step) return step;
      v = w.load(std::memory_order_relaxed);
    }
  });
  // A statistic with several writers (any thread returns): an RMW. (tt-s3)
  if (out.released != 0) c->now.returned.fetch_add(out.released, std::memory_order_release);
  end_return(s, *c, h.index);
  return out;
}

} // namespace arenakit
