// SPDX-License-Identifier: MIT
/**
 * @file tokens/impl/tracker_pages.hpp
 * @brief TokenTracker's out-of-line members: page words: the spin bit, drain
 *        (close), page_refs(), held_by().
 *        Memory-order labels (tt-*) are shared with tokens/token_tracker.hpp
 *        and the other tokens/impl/tracker_*.hpp files: one class, one set.
 */
#pragma once

#include <arenakit/tokens/token_tracker.hpp>

namespace arenakit {

template <class OnPageFree, Producers producers, Returners returners>
inline auto TokenTracker<OnPageFree, producers,
    returners>::page_refs(std::uint32_t page) const noexcept -> std::uint32_t {
  namespace tw = detail::token_word;
  if (page >= state_->page_count) return 0;
  const std::uint32_t shared = tw::count(
      // (tt-w6) pairs with (tt-w4), (tt-w5), (tt-w8).
      std::atomic_ref<std::uint64_t>(state_->words[page]).load(std::memory_order_acquire));
  if constexpr (single_writer) {
    // one_per_consumer: plus the single-writer share. `returned` first
    // (acquire: pairs with the Returner's / drain's release store), then
    // `held` (acquire: pairs with the producer's release store): whoever
    // wrote the `returned` we read had seen this `held` or an older one,
    // so delivered - returned does not go below zero. For the producer
    // (the only thread that adds references) a 0 is stable: it may reuse
    // the page; for other threads this is a snapshot. The sum saturates.
    detail::token_word::SwPage& e = state_->sw[page];
    // (tt-r1) pairs with (tt-r8), (tt-d1).
    const std::uint32_t r = std::atomic_ref<std::uint32_t>(e.returned).load(std::memory_order_acquire);
    // (tt-r2) pairs with (tt-r4), (tt-r5).
    const std::uint32_t d = tw::sw_delivered(std::atomic_ref<std::uint64_t>(e.held).load(std::memory_order_acquire));
    const std::uint64_t sum = std::uint64_t{shared} + static_cast<std::uint32_t>(d - r);
    return sum > tw::count_max ? tw::count_max : static_cast<std::uint32_t>(sum);
  }
  return shared;
}

template <class OnPageFree, Producers producers, Returners returners>
inline auto TokenTracker<OnPageFree, producers, returners>::held_by(ConsumerHandle h,
    std::uint32_t page) const noexcept -> std::uint32_t {
  namespace tw = detail::token_word;
  State& s = *state_;
  Slot* c = s.slot(h.index);
  if (c == nullptr || page >= s.page_count) return 0;
  // acquire: pairs with open_consumer()'s release of this generation.
  // (tt-g2) pairs with (tt-g1).
  const std::uint64_t st = c->state.load(std::memory_order_acquire);
  if (Slot::generation_of(st) != h.generation || (st & (Slot::closed_bit | Slot::free_bit)) != 0) return 0;
  ARENAKIT_TEST_PAUSE(token_handle_checked);
  const std::uint32_t n = refs_of(s, *c, h.index, page);
  // The slot may have been closed, recycled and reopened meanwhile, and the
  // owner field is the slot index in every generation: what we counted
  // may be the next consumer's. Read the state again.
  // (tt-s5) refs_of() read the page words (and the shared table, under
  // its lock) with acquire: a delivery to the new consumer that we counted
  // happens-before this reload, and so does the reopen before it.
  const std::uint64_t again = c->state.load(std::memory_order_relaxed);
  if (Slot::generation_of(again) != h.generation || (again & (Slot::closed_bit | Slot::free_bit)) != 0) return 0;
  return n;
}

/// lock_page() - set the page's spin bit; returns the word as it was.
/// A free word (0) is returned without locking it: free words are written
/// only by claims (a plain store under Producers::one), so the caller must
/// not unlock it. Blocking (the holder never waits while holding it).
template <class OnPageFree, Producers producers, Returners returners>
inline auto TokenTracker<OnPageFree, producers,
    returners>::lock_page(std::atomic_ref<std::uint64_t> w) noexcept -> std::uint64_t {
  namespace tw = detail::token_word;
  detail::SpinWait wait;
  std::uint64_t v = w.load(std::memory_order_relaxed);
  for (;;) {
    if (v == 0) return 0;
    if ((v & tw::busy_bit) != 0) {
      wait();
      v = w.load(std::memory_order_relaxed);
      continue;
    }
    // acquire: pairs with unlock_page()'s release and with the release of
    // fast-path returns: the tables the last holder changed are visible.
    // (tt-w7) pairs with (tt-w8), (tt-w4), (tt-w9).
    if (w.compare_exchange_weak(v, v | tw::busy_bit, std::memory_order_acquire, std::memory_order_relaxed))
      return v;
  }
}

/// unlock_page() - publish @v (busy bit clear). release: pairs with
/// lock_page()'s acquire, the fast paths' and page_refs()' acquire.
template <class OnPageFree, Producers producers, Returners returners>
inline auto TokenTracker<OnPageFree, producers, returners>::unlock_page(std::atomic_ref<std::uint64_t> w,
    std::uint64_t v) noexcept -> void {
  // (tt-w8) pairs with (tt-w7), (tt-w6), (tt-w10), (tt-w11), (tt-w1).
  w.store(v & ~detail::token_word::busy_bit, std::memory_order_release);
}

/**
 * drain() - give back everything the closed consumer holds. Runs once, by
 * close() or by the delivery close() deferred to; nobody appends to the log
 * any more. Walks the log first (after it, no page is held by this
 * consumer alone, so nothing can be added to its table), then the shared
 * table, which it takes whole under the consumer's lock.
 */
template <class OnPageFree, Producers producers, Returners returners>
inline auto TokenTracker<OnPageFree, producers, returners>::drain(State& s, Slot& c,
    std::uint32_t index) noexcept -> std::uint64_t {
  namespace tw = detail::token_word;
  const std::uint64_t me = tw::owner_field(index);
  std::uint64_t released = 0;
  std::uint64_t visits = 0;
  if constexpr (single_writer) {
    // The consumer's Returner is quiet for good (closed, its last call
    // ended before us: our state RMW acquired its release), and no delivery
    // to it runs: for a page it owns with a share left, nobody else writes
    // `returned`, and the producer cannot give the page away (it needs
    // delivered == returned), so `held` is stable too.
    const std::uint32_t owner = index + 1;
    for (const std::uint32_t p : c.log) {
      ++visits;
      // The entry may be stale: A gave every reference back, the producer
      // handed the page to B (`held` = {B, d + 1}) and B's Returner is
      // moving `returned` right now. So read as a Returner does
      // (sw_view(): `returned`, then `held`, then `returned` again, each
      // pairing explained there): a `held` naming us with a share left is
      // then stable, while `held` first and `returned` second could pair
      // our old count with B's newer returns and roll them back.
      const SwView v = sw_view(s.sw[p], owner);
      if (v.share == 0) continue; // stale entry (page free, or another consumer's), or listed twice
      // (tt-d1) release: pairs with the producer's acquire load of
      // `returned` (reuse, (tt-r3)) and page_refs()' acquire (tt-r1), as a
      // Returner's store (tt-r8) does.
      std::atomic_ref<std::uint32_t>(s.sw[p].returned).store(v.returned + v.share, std::memory_order_release);
      released += v.share;
    }
  } else {
  for (const std::uint32_t p : c.log) {
    ++visits;
    std::atomic_ref<std::uint64_t> w(s.words[p]);
    detail::SpinWait wait;
    std::uint64_t v = w.load(std::memory_order_relaxed);
    for (;;) {
      if ((v & tw::busy_bit) != 0) { // a transition to shared in progress: let it finish
        wait();
        v = w.load(std::memory_order_relaxed);
        continue;
      }
      if (!tw::sole_of(v, me)) break; // stale entry
      // release: pairs with the acquire of the page's next delivery and of
      // page_refs() (same as a return).
      // (tt-w5) pairs with (tt-w1), (tt-w2), (tt-w3), (tt-w6), (tt-w11).
      if (w.compare_exchange_weak(v, 0, std::memory_order_release, std::memory_order_relaxed)) {
        released += tw::count(v);
        s.hook(p);
        break;
      }
    }
  }
  } // single_writer
  c.log.reset(s.bytes);
  detail::PageCountTable mine;
  {
    detail::SpinLockGuard g(c.shared_lock);
    mine.swap(c.shared);
  }
  mine.for_each([&](std::uint32_t p, std::uint32_t k) noexcept {
    ++visits;
    std::atomic_ref<std::uint64_t> w(s.words[p]);
    const std::uint64_t v = lock_page(w);
    assert((v & tw::shared_bit) != 0 && tw::count(v) >= k);
    if (ARENAKIT_UNLIKELY(v == 0)) return; // cannot happen: our share keeps the page held
    const std::uint32_t left = tw::count(v) - k;
    unlock_page(w, left == 0 ? 0 : (tw::shared_bit | left));
    released += k;
    if (left == 0) s.hook(p);
  });
  mine.reset(s.bytes);
  c.now.close_released.fetch_add(released, std::memory_order_release); // statistic; (tt-s3)
  c.now.close_visits.fetch_add(visits, std::memory_order_release);     // statistic; (tt-s3)
  return released;
}

/// refs_of() - references slot @index (consumer @c) holds on @page now;
/// the caller checks the handle before and after (see held_by()).
template <class OnPageFree, Producers producers, Returners returners>
inline auto TokenTracker<OnPageFree, producers, returners>::refs_of(State& s, Slot& slot, std::uint32_t index,
    std::uint32_t page) noexcept -> std::uint32_t {
  namespace tw = detail::token_word;
  Slot* c = &slot;
  std::atomic_ref<std::uint64_t> w(s.words[page]);
  if constexpr (single_writer) {
    // The single-writer share (read as a Returner reads it: see
    // sw_share()), plus what the shared table holds.
    std::uint32_t n = sw_share(s, index, page);
    // (tt-w10) pairs with (tt-w8).
    const std::uint64_t v = w.load(std::memory_order_acquire); // pairs with unlock_page's release
    if ((v & (tw::busy_bit | tw::shared_bit)) == 0) return n;
    const std::uint64_t locked = lock_page(w);
    if (locked == 0) return n; // freed meanwhile (and not locked)
    {
      detail::SpinLockGuard g(c->shared_lock);
      n += c->shared.get(page);
    }
    unlock_page(w, locked);
    return n;
  }
  const std::uint64_t me = tw::owner_field(index);
  // (tt-w11) pairs with (tt-w8), (tt-w4), (tt-w5).
  const std::uint64_t v = w.load(std::memory_order_acquire); // pairs with unlock_page / CAS releases
  if (tw::sole_of(v, me)) return tw::count(v);
  if ((v & (tw::busy_bit | tw::shared_bit)) == 0) return 0;
  const std::uint64_t locked = lock_page(w);
  if (locked == 0) return 0; // freed meanwhile (and not locked)
  std::uint32_t n = 0;
  if (tw::sole_of(locked, me)) {
    n = tw::count(locked);
  } else if ((locked & tw::shared_bit) != 0) {
    detail::SpinLockGuard g(c->shared_lock);
    n = c->shared.get(page);
  }
  unlock_page(w, locked);
  return n;
}

} // namespace arenakit
