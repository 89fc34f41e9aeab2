// SPDX-License-Identifier: MIT
/**
 * @file tokens/impl/tracker_returns.hpp
 * @brief TokenTracker's out-of-line members: the return paths. One
 *        work-capped range walk; each page goes back through the
 *        page-reference policy. The two entry points differ only in how a
 *        call is bracketed: a pin (any thread, return_tokens(h, ...)) or the
 *        consumer's one Returner (an exclusive bit).
 *        Memory-order labels (tt-*) are shared with tokens/token_tracker.hpp
 *        and the other tokens/impl/tracker_*.hpp files: one class, one set.
 */
#pragma once

#include <arenakit/tokens/token_tracker.hpp>

namespace arenakit {

template <class OnPageFree, class Refs>
template <class Range>
ARENAKIT_ALWAYS_INLINE auto TokenTracker<OnPageFree, Refs>::walk_ranges(State& s, Slot& c, std::uint32_t index,
    std::span<const Range> ranges) noexcept -> ReturnOutcome {
  ReturnOutcome out;
  Ctx x = s.ctx(c, index);
  std::array<std::uint64_t, token_refusal_count> refused_by{};
  std::uint64_t refused = 0;
  // Copies, not State reads: each releasing CAS of the policy is a compiler
  // barrier, after which a member would be loaded again (callgrind).
  const TokenFormat format = s.format;
  const std::uint64_t page_count = s.page_count;
  const std::uint64_t cap = s.max_tokens_per_call;
  std::uint64_t budget = cap;
  std::uint64_t released = 0;
  const std::size_t n = ranges.size();
  std::size_t i = 0;
  for (; i < n; ++i) {
    // Start the cache miss of a range a few ahead (scattered single-token
    // ranges of a large binding are rarely in cache), as deliver() does.
    if (i + prefetch_distance < n) {
      const std::uint64_t ahead = format.page_hint(ranges[i + prefetch_distance].start);
      if (ahead < page_count) s.refs.prefetch(static_cast<std::uint32_t>(ahead));
    }
    std::uint32_t first = 0;
    std::uint32_t len = 0;
    // Fast path: a valid range that fits what is left of the budget (which
    // never exceeds the cap, so the cap test is the same comparison).
    if (ARENAKIT_LIKELY(format.in_range(ranges[i].start, ranges[i].count, budget, first))) {
      len = static_cast<std::uint32_t>(ranges[i].count);
      budget -= len;
    } else {
      const CheckedRange r = format.check(ranges[i].start, ranges[i].count, cap);
      const std::uint64_t cost = r.ok && r.count != 0 ? r.count : 1;
      if (cost > budget) {
        out.capped = true;
        break;
      }
      budget -= cost;
      if (!r.ok) {
        ++refused_by[static_cast<std::size_t>(r.refusal)];
        ++refused;
        continue;
      }
      if (r.count == 0) continue; // a valid empty range
      first = r.first;
      len = r.count;
    }
    std::uint32_t p = first;
    const std::uint32_t end = first + len;
    do {
      const detail::PageStep step = s.refs.give_back(x, p);
      if (ARENAKIT_LIKELY(step == detail::page_done)) {
        ++released;
      } else {
        ++refused_by[static_cast<std::size_t>(step)];
        ++refused;
      }
    } while (++p != end);
  }
  out.ranges_done = i;
  out.released = released;
  out.refused = refused;
  if (ARENAKIT_UNLIKELY(refused != 0)) {
    for (std::size_t k = 0; k < token_refusal_count; ++k) count(c, static_cast<TokenRefusal>(k), refused_by[k]);
  }
  if (out.capped) c.now.calls_capped.fetch_add(1, std::memory_order_release); // statistic; (tt-s3)
  // (tt-s3) release: the policy knows whether `returned` has one writer.
  if (released != 0) Refs::count_returned(c.now.returned, released);
  return out;
}

/// refuse_call() - the outcome of a call refused whole (stale or closed
/// handle, or a concurrent call through a Returner), counted once.
template <class OnPageFree, class Refs>
inline auto TokenTracker<OnPageFree, Refs>::refuse_call(State& s, Slot* c, ConsumerHandle h,
    TokenRefusal why, std::size_t ranges) noexcept -> ReturnOutcome {
  ReturnOutcome out;
  out.refused = 1;
  out.ranges_done = ranges;
  note_refusal(s, c, h, why, 1);
  return out;
}

/// sw_return_impl() - a Returner's call: exclusive (returning_bit), so a
/// close defers to it and a second concurrent call is refused.
template <class OnPageFree, class Refs>
template <class Range>
inline auto TokenTracker<OnPageFree, Refs>::sw_return_impl(State& s, ConsumerHandle h,
    std::span<const Range> ranges) noexcept -> ReturnOutcome {
  Slot* c = s.consumers.slot(h.index);
  TokenRefusal why = TokenRefusal::consumer_closed;
  if (ARENAKIT_UNLIKELY(c == nullptr || !begin_exclusive(*c, h.generation, Slot::returning_bit,
                                                         TokenRefusal::concurrent_return, why)))
    return refuse_call(s, c, h, why, ranges.size());
  const ReturnOutcome out = walk_ranges(s, *c, h.index, ranges);
  // A delivery in flight drains instead.
  end_exclusive(s, *c, h.index, Slot::returning_bit, Slot::delivering_bit);
  return out;
}

/// return_impl() - return_tokens(h, ...): pinned (any number at once).
template <class OnPageFree, class Refs>
template <class Range>
inline auto TokenTracker<OnPageFree, Refs>::return_impl(ConsumerHandle h,
    std::span<const Range> ranges) noexcept -> ReturnOutcome {
  State& s = *state_;
  Slot* c = s.consumers.slot(h.index);
  if (ARENAKIT_UNLIKELY(c == nullptr || !begin_return(*c, h.generation)))
    return refuse_call(s, c, h, TokenRefusal::consumer_closed, ranges.size());
  const ReturnOutcome out = walk_ranges(s, *c, h.index, ranges);
  end_return(s, *c, h.index);
  return out;
}

} // namespace arenakit
