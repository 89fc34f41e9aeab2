// SPDX-License-Identifier: MIT
/**
 * @file tokens/impl/tracker_deliver.hpp
 * @brief TokenTracker's out-of-line members: deliver(): the producer path,
 *        both policies, and its slow paths.
 *        Memory-order labels (tt-*) are shared with tokens/token_tracker.hpp
 *        and the other tokens/impl/tracker_*.hpp files: one class, one set.
 */
#pragma once

#include <arenakit/tokens/token_tracker.hpp>

namespace arenakit {

template <class OnPageFree, Producers producers, Returners returners>
inline auto TokenTracker<OnPageFree, producers, returners>::deliver(ConsumerHandle h,
    std::span<const std::uint32_t> pages) noexcept -> DeliverOutcome {
  namespace tw = detail::token_word;
  State& s = *state_;
  DeliverOutcome out;
  Slot* c = s.slot(h.index);
  TokenRefusal why = TokenRefusal::consumer_closed;
  if (ARENAKIT_UNLIKELY(c == nullptr || !begin_delivery(*c, h.generation, why))) {
    out.refused = pages.size();
    out.last_refusal = why;
    note_refusal(s, c, h, why, pages.size());
    return out;
  }
  if constexpr (producers == Producers::one) {
    // acquire: pairs with the release at the end of the previous batch,
    // which may have run on another thread: its plain-store claims are
    // ordered before ours.
    // (tt-p1) pairs with (tt-p2).
    if (ARENAKIT_UNLIKELY(s.producer_busy.exchange(1, std::memory_order_acquire) != 0)) {
      end_delivery(s, *c, h.index);
      out.refused = pages.size();
      out.last_refusal = TokenRefusal::concurrent_delivery;
      count(*c, TokenRefusal::concurrent_delivery, pages.size());
      return out;
    }
  }
  const std::uint64_t me = tw::owner_field(h.index);
  std::size_t refused_by[3] = {0, 0, 0}; // out_of_range, count_saturated, no_memory
  std::size_t done = 0;
  const std::size_t n_pages = pages.size();
  std::uint64_t prefetched_line = ~std::uint64_t{0};
  for (std::size_t i = 0; i < n_pages; ++i) {
    const std::uint32_t p = pages[i];
    // The batch says which words come next: start their cache misses now
    // (random pages of a large binding are rarely in cache); once per
    // cache line, so sequential pages pay almost nothing for it.
    if (i + prefetch_distance < n_pages) {
      const std::uint32_t ahead = pages[i + prefetch_distance];
      constexpr std::size_t per_line =
          cache_line_size / (single_writer ? sizeof(detail::token_word::SwPage) : sizeof(std::uint64_t));
      const std::uint64_t line = ahead / per_line;
      if (line != prefetched_line && ahead < s.page_count) {
        prefetched_line = line;
        if constexpr (single_writer) {
          detail::prefetch_for_write(&s.sw[ahead]);
        } else {
          detail::prefetch_for_write(&s.words[ahead]);
        }
      }
    }
    if (ARENAKIT_UNLIKELY(p >= s.page_count)) {
      ++refused_by[0];
      out.last_refusal = TokenRefusal::out_of_range;
      continue;
    }
    if constexpr (single_writer) {
      TokenRefusal r = TokenRefusal::no_memory;
      if (ARENAKIT_LIKELY(deliver_sw(s, *c, h.index, p, r))) {
        ++done;
      } else {
        ++refused_by[r == TokenRefusal::count_saturated ? 1 : 2];
        out.last_refusal = r;
      }
      continue;
    }
    std::atomic_ref<std::uint64_t> w(s.words[p]);
    std::uint64_t v = w.load(std::memory_order_relaxed);
    for (;;) {
      if (tw::sole_of(v, me)) {
        if (ARENAKIT_UNLIKELY(tw::count(v) == tw::count_max)) {
          ++refused_by[1];
          out.last_refusal = TokenRefusal::count_saturated;
          break;
        }
        // acquire (here and below): pairs with the release of the return
        // or close that last dropped a reference on this page.
        // (tt-w1) pairs with (tt-w4), (tt-w5), (tt-w8).
        if (w.compare_exchange_weak(v, v + 1, std::memory_order_acquire, std::memory_order_relaxed)) {
          ++done;
          break;
        }
        continue;
      }
      if (v == 0) {
        if (ARENAKIT_UNLIKELY(!c->log.has_room()) && !make_room(s, *c, me)) {
          ++refused_by[2];
          out.last_refusal = TokenRefusal::no_memory;
          break;
        }
        if constexpr (producers == Producers::one) {
          // Only this thread writes a free word (returns, closes and the
          // page spin bit never touch one): a plain store claims it.
          // acquire (re-load, an L1 hit; no fence, which TSan cannot
          // model): pairs with the release of the return/close that freed
          // the page. The store is relaxed: the token reaches the
          // application through the caller's own hand-off.
          // (tt-w2) pairs with (tt-w4), (tt-w5).
          if (ARENAKIT_UNLIKELY(w.load(std::memory_order_acquire) != 0)) { // cannot happen: only we write free words
            v = w.load(std::memory_order_relaxed);
            continue;
          }
          w.store(me | 1, std::memory_order_relaxed);
          c->log.push(p);
          ++done;
          break;
        } else {
          // (tt-w3) pairs with (tt-w4), (tt-w5), (tt-w8).
          if (w.compare_exchange_weak(v, me | 1, std::memory_order_acquire, std::memory_order_relaxed)) {
            c->log.push(p);
            ++done;
            break;
          }
          continue;
        }
      }
      TokenRefusal r = TokenRefusal::no_memory;
      const Slow res = deliver_slow(s, *c, h.index, p, r);
      if (res == Slow::retry) {
        v = w.load(std::memory_order_relaxed);
        continue;
      }
      if (res == Slow::done) {
        ++done;
      } else {
        ++refused_by[r == TokenRefusal::count_saturated ? 1 : 2];
        out.last_refusal = r;
      }
      break;
    }
  }
  // Only this consumer's deliverer writes `delivered`: no RMW needed.
  if constexpr (producers == Producers::one) {
    // (tt-p2) pairs with (tt-p1).
    s.producer_busy.store(0, std::memory_order_release); // pairs with the exchange's acquire
  }
  // (tt-s3) release: pairs with (tt-s1) (a plain store on x86).
  detail::owner_add<std::memory_order_release>(c->now.delivered, done);
  if (ARENAKIT_UNLIKELY(refused_by[0] | refused_by[1] | refused_by[2])) {
    count(*c, TokenRefusal::out_of_range, refused_by[0]);
    count(*c, TokenRefusal::count_saturated, refused_by[1]);
    count(*c, TokenRefusal::no_memory, refused_by[2]);
  }
  ARENAKIT_TEST_PAUSE(token_deliver_before_end);
  end_delivery(s, *c, h.index);
  out.delivered = done;
  out.refused = refused_by[0] + refused_by[1] + refused_by[2];
  return out;
}

/// make_room() - compact the consumer's log (deliverer context). A page
/// stays listed while its word says "held by me alone".
template <class OnPageFree, Producers producers, Returners returners>
ARENAKIT_NOINLINE auto TokenTracker<OnPageFree, producers, returners>::make_room(State& s, Slot& c,
    std::uint64_t me) noexcept -> bool {
  if constexpr (single_writer) {
    const std::uint32_t owner = detail::token_word::sw_owner(me);
    return c.log.make_room(
        [&s, owner](std::uint32_t p) noexcept {
          detail::token_word::SwPage& e = s.sw[p];
          // relaxed: only this thread (the producer) writes `held`. A stale
          // `returned` is older, i.e. smaller: it can only keep a page that
          // was returned (harmless), never drop one still held.
          const std::uint64_t o = std::atomic_ref<std::uint64_t>(e.held).load(std::memory_order_relaxed);
          const std::uint32_t r = std::atomic_ref<std::uint32_t>(e.returned).load(std::memory_order_relaxed);
          return detail::token_word::sw_owner(o) == owner && detail::token_word::sw_delivered(o) != r;
        },
        [&s](std::uint32_t p) noexcept {
          if (p < s.page_count) detail::prefetch_for_write(&s.sw[p]);
        },
        s.bytes);
  }
  return c.log.make_room(
      [&s, me](std::uint32_t p) noexcept {
        // relaxed: only this thread makes a page sole-owned by `me`, so a
        // value that is not "mine" can never become mine again behind us.
        const std::uint64_t v = std::atomic_ref<std::uint64_t>(s.words[p]).load(std::memory_order_relaxed);
        // The busy bit is ignored: a page mid-way to shared is kept (harmless).
        return (v & (detail::token_word::shared_bit | detail::token_word::owner_mask)) == me;
      },
      [&s](std::uint32_t p) noexcept {
        if (p < s.page_count) detail::prefetch_for_write(&s.words[p]);
      },
      s.bytes);
}

/// deliver_slow() - the page is busy, shared, or held by another consumer.
template <class OnPageFree, Producers producers, Returners returners>
ARENAKIT_NOINLINE auto TokenTracker<OnPageFree, producers, returners>::deliver_slow(State& s, Slot& c,
    std::uint32_t index, std::uint32_t p, TokenRefusal& why) noexcept -> Slow {
  namespace tw = detail::token_word;
  std::atomic_ref<std::uint64_t> w(s.words[p]);
  const std::uint64_t me = tw::owner_field(index);
  const std::uint64_t v = lock_page(w);
  if (v == 0) return Slow::retry; // freed while we waited (not locked): fast path again
  if (tw::sole_of(v, me)) {
    unlock_page(w, v);
    return Slow::retry;
  }
  if (tw::count(v) == tw::count_max) {
    unlock_page(w, v);
    why = TokenRefusal::count_saturated;
    return Slow::refused;
  }
  if ((v & tw::shared_bit) != 0) {
    bool ok;
    {
      detail::SpinLockGuard g(c.shared_lock);
      ok = c.shared.add(p, 1, s.bytes);
    }
    unlock_page(w, ok ? v + 1 : v);
    why = TokenRefusal::no_memory;
    return ok ? Slow::done : Slow::refused;
  }
  // Held by another consumer alone: move its count into its own table,
  // add ours to ours, then publish "shared". The owner cannot drain the
  // page meanwhile: its close waits on the busy bit.
  Slot& other = *s.slot(tw::owner_index(v));
  const std::uint32_t theirs = tw::count(v);
  bool ok;
  {
    detail::SpinLockGuard g(other.shared_lock);
    ok = other.shared.add(p, theirs, s.bytes);
  }
  if (ok) {
    detail::SpinLockGuard g(c.shared_lock);
    ok = c.shared.add(p, 1, s.bytes);
    if (!ok) {
      detail::SpinLockGuard g2(other.shared_lock); // never held together with ours: released above
      (void)other.shared.take(p, theirs, s.bytes);
    }
  }
  if (!ok) {
    unlock_page(w, v);
    why = TokenRefusal::no_memory;
    return Slow::refused;
  }
  unlock_page(w, tw::shared_bit | (std::uint64_t{theirs} + 1));
  return Slow::done;
}

/// deliver_sw() - one page to consumer @index, on the one producer's
/// thread. No locked instruction when the page's single-writer part is
/// free or already this consumer's; a page another consumer holds there
/// takes the shared path (deliver_shared_sw()).
template <class OnPageFree, Producers producers, Returners returners>
ARENAKIT_ALWAYS_INLINE auto TokenTracker<OnPageFree, producers, returners>::deliver_sw(State& s, Slot& c,
    std::uint32_t index, std::uint32_t p, TokenRefusal& why) noexcept -> bool {
  namespace tw = detail::token_word;
  tw::SwPage& e = s.sw[p];
  std::atomic_ref<std::uint64_t> held(e.held);
  // relaxed: only this thread writes `held`.
  const std::uint64_t o = held.load(std::memory_order_relaxed);
  // acquire: pairs with the release store of `returned` by the owner's
  // Returner (or its drain): everything the owner did with the page
  // happens-before we give it to anyone, and the next owner's Returner,
  // which acquires our store below, sees `returned` at least at r.
  // (tt-r3) pairs with (tt-r8), (tt-d1).
  const std::uint32_t r = std::atomic_ref<std::uint32_t>(e.returned).load(std::memory_order_acquire);
  const std::uint32_t d = tw::sw_delivered(o);
  const std::uint32_t me = index + 1;
  if (d == r) { // nobody holds the single-writer part: it is ours now
    if (ARENAKIT_UNLIKELY(!c.log.has_room()) && !make_room(s, c, tw::sw_held(me, 0))) {
      why = TokenRefusal::no_memory;
      return false;
    }
    // release: pairs with the acquire load of `held` in sw_view() (the
    // owner check of every Returner) and in drain(); owner and count are
    // one store, so nobody sees the new owner with the old count.
    // (tt-r4) pairs with (tt-r2), (tt-r7).
    held.store(tw::sw_held(me, d + 1), std::memory_order_release);
    c.log.push(p);
    return true;
  }
  if (tw::sw_owner(o) == me) {
    if (ARENAKIT_UNLIKELY(static_cast<std::uint32_t>(d - r) == tw::count_max)) {
      why = TokenRefusal::count_saturated;
      return false;
    }
    // (tt-r5) pairs with (tt-r2), (tt-r7).
    held.store(tw::sw_held(me, d + 1), std::memory_order_release); // release: as above
    return true;
  }
  return deliver_shared_sw(s, c, p, why);
}

/// deliver_shared_sw() - another consumer holds the page's single-writer
/// part: this reference goes to the page word (shared mode, its count is
/// the references of non-owners) and to our table, under the page's spin
/// bit, as in the default policy. The owner's part is left alone.
template <class OnPageFree, Producers producers, Returners returners>
ARENAKIT_NOINLINE auto TokenTracker<OnPageFree, producers, returners>::deliver_shared_sw(State& s, Slot& c,
    std::uint32_t p, TokenRefusal& why) noexcept -> bool {
  namespace tw = detail::token_word;
  std::atomic_ref<std::uint64_t> w(s.words[p]);
  const std::uint64_t v = lock_page(w); // 0: not locked
  if (tw::count(v) == tw::count_max) {
    unlock_page(w, v);
    why = TokenRefusal::count_saturated;
    return false;
  }
  bool ok;
  {
    detail::SpinLockGuard g(c.shared_lock);
    ok = c.shared.add(p, 1, s.bytes);
  }
  if (v == 0) {
    if (!ok) {
      why = TokenRefusal::no_memory;
      return false;
    }
    // Only this thread writes a free page word (returns and closes only
    // write words they locked, which are never 0): a plain store.
    // release: pairs with lock_page()'s acquire: a return that finds the
    // page shared finds our table entry.
    // (tt-w9) pairs with (tt-w7).
    w.store(tw::shared_bit | 1, std::memory_order_release);
    return true;
  }
  unlock_page(w, ok ? v + 1 : v);
  if (!ok) why = TokenRefusal::no_memory;
  return ok;
}

} // namespace arenakit
