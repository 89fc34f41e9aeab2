// SPDX-License-Identifier: MIT
/**
 * @file tokens/impl/tracker_deliver.hpp
 * @brief TokenTracker's out-of-line members: deliver(), the producer path.
 *        Per page it calls the page-reference policy (tokens/refs/); what
 *        is here is the batch: handle check, refusal by reason, prefetch,
 *        statistics.
 *        Memory-order labels (tt-*) are shared with tokens/token_tracker.hpp
 *        and the other tokens/impl/tracker_*.hpp files: one class, one set.
 */
#pragma once

#include <arenakit/tokens/token_tracker.hpp>

namespace arenakit {

template <class OnPageFree, class Refs>
inline auto TokenTracker<OnPageFree, Refs>::deliver(ConsumerHandle h,
    std::span<const std::uint32_t> pages) noexcept -> DeliverOutcome {
  State& s = *state_;
  DeliverOutcome out;
  Slot* c = s.consumers.slot(h.index);
  TokenRefusal why = TokenRefusal::consumer_closed;
  if (ARENAKIT_UNLIKELY(c == nullptr || !begin_exclusive(*c, h.generation, Slot::delivering_bit,
                                                         TokenRefusal::concurrent_delivery, why))) {
    out.refused = pages.size();
    out.last_refusal = why;
    note_refusal(s, c, h, why, pages.size());
    return out;
  }
  // One producer per binding: a second batch running anywhere is refused
  // ((pr-1)/(pr-2) in tokens/refs/producers.hpp).
  if (ARENAKIT_UNLIKELY(!s.refs.begin_batch())) {
    end_exclusive(s, *c, h.index, Slot::delivering_bit, Slot::returning_bit);
    out.refused = pages.size();
    out.last_refusal = TokenRefusal::concurrent_delivery;
    count(*c, TokenRefusal::concurrent_delivery, pages.size());
    return out;
  }
  Ctx x = s.ctx(*c, h.index);
  std::size_t refused_by[3] = {0, 0, 0}; // out_of_range, count_saturated, others (no_memory, page_not_live)
  std::size_t not_live = 0;
  std::size_t done = 0;
  const std::size_t n_pages = pages.size();
  // A copy, not a State read: each CAS of the policy is a compiler barrier.
  const std::uint64_t page_count = s.page_count;
  for (std::size_t i = 0; i < n_pages; ++i) {
    const std::uint32_t p = pages[i];
    // The batch says which pages come next: start their cache misses now
    // (random pages of a large binding are rarely in cache). Every page: a
    // test to skip lines already fetched cost more than the prefetches it
    // saved (callgrind: 12 instructions per token against 4).
    if (i + prefetch_distance < n_pages && pages[i + prefetch_distance] < page_count)
      s.refs.prefetch(pages[i + prefetch_distance]);
    if (ARENAKIT_UNLIKELY(p >= page_count)) {
      ++refused_by[0];
      out.last_refusal = TokenRefusal::out_of_range;
      continue;
    }
    const detail::PageStep step = s.refs.deliver(x, p);
    if (ARENAKIT_LIKELY(step == detail::page_done)) {
      ++done;
    } else {
      const auto r = static_cast<TokenRefusal>(step);
      ++refused_by[r == TokenRefusal::count_saturated ? 1 : 2];
      not_live += r == TokenRefusal::page_not_live ? 1 : 0;
      out.last_refusal = r;
    }
  }
  s.refs.end_batch();
  // Only this consumer's deliverer writes `delivered`: no RMW needed.
  // (tt-s3) release: pairs with (tt-s1) (a plain store on x86).
  detail::owner_add<std::memory_order_release>(c->now.delivered, done);
  if (ARENAKIT_UNLIKELY(refused_by[0] | refused_by[1] | refused_by[2])) {
    count(*c, TokenRefusal::out_of_range, refused_by[0]);
    count(*c, TokenRefusal::count_saturated, refused_by[1]);
    count(*c, TokenRefusal::no_memory, refused_by[2] - not_live);
    count(*c, TokenRefusal::page_not_live, not_live);
  }
  ARENAKIT_TEST_PAUSE(token_deliver_before_end);
  // A Returner call still in flight (SingleWriterRefs) drains instead.
  end_exclusive(s, *c, h.index, Slot::delivering_bit, Slot::returning_bit);
  out.delivered = done;
  out.refused = refused_by[0] + refused_by[1] + refused_by[2];
  return out;
}

} // namespace arenakit
