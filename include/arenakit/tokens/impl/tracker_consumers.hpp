// SPDX-License-Identifier: MIT
/**
 * @file tokens/impl/tracker_consumers.hpp
 * @brief TokenTracker's out-of-line members: create(), and the consumer
 *        lifecycle over the registry (tokens/impl/consumer_registry.hpp):
 *        open, close, the slot state machine (who drains, who recycles),
 *        the queries that check a handle, counters.
 *        Memory-order labels (tt-*) are shared with tokens/token_tracker.hpp
 *        and the other tokens/impl/tracker_*.hpp files: one class, one set.
 */
#pragma once

#include <arenakit/tokens/token_tracker.hpp>

namespace arenakit {

template <class OnPageFree, class Refs>
inline auto TokenTracker<OnPageFree, Refs>::create(const Region& binding,
    const TokenTrackerConfig& cfg, OnPageFree hook) noexcept -> Result<TokenTracker> {
  if (cfg.page_size == 0 || !std::has_single_bit(cfg.page_size)) return errc::invalid_config;
  if (binding.size == 0 || binding.size % cfg.page_size != 0) return errc::invalid_config;
  if (cfg.max_consumers == 0 || cfg.max_consumers > detail::token_word::max_consumer_index + 1)
    return errc::invalid_config;
  if (cfg.max_tokens_per_call == 0) return errc::invalid_config;
  const std::uint64_t pages = binding.size / cfg.page_size;
  auto fmt = TokenFormat::create(cfg.token_width, pages, cfg.page_bits, cfg.binding_bits, cfg.binding_id);
  if (!fmt) return fmt.error();

  std::unique_ptr<State> s(new (std::nothrow) State(std::move(hook)));
  if (!s) return errc::out_of_memory;
  s->format = *fmt;
  s->region = binding;
  s->page_size = cfg.page_size;
  s->page_shift = static_cast<unsigned>(std::countr_zero(cfg.page_size));
  s->page_count = pages;
  s->max_tokens_per_call = cfg.max_tokens_per_call;
  // The policy's page memory (calloc'd: the pages of a large binding cost
  // nothing until touched), then the registry's chunk table.
  if (!s->refs.allocate(pages)) return errc::out_of_memory;
  s->bytes.store(sizeof(State) + static_cast<std::size_t>(pages) * Refs::bytes_per_page, std::memory_order_relaxed);
  if (!s->consumers.init(cfg.max_consumers, s->bytes)) return errc::out_of_memory;
  TokenTracker t;
  t.state_ = std::move(s);
  return t;
}

template <class OnPageFree, class Refs>
inline auto TokenTracker<OnPageFree, Refs>::open_consumer() noexcept -> Result<ConsumerHandle> {
  State& s = *state_;
  std::uint32_t index = 0;
  if (const std::error_code ec = s.consumers.take(index, s.bytes)) return ec;
  Slot& c = *s.consumers.slot(index);
  const std::uint64_t old = c.state.load(std::memory_order_relaxed);
  std::uint32_t gen = Slot::generation_of(old) + 1;
  if (gen == 0) gen = 1; // 0 names no consumer
  // (tt-s2) copy_from() stores with release: pairs with (tt-s1) in
  // consumer_counters(): a reader of the old handle that sees the reset also
  // sees the slot freed (or renamed) when it reads the state again.
  c.base.copy_from(c.now);
  // release: pairs with the acquire in begin_delivery()/begin_return()/
  // close(): whoever uses the handle sees the reset slot.
  // (tt-g1) pairs with (tt-x1), (tt-g4), (tt-c1), (tt-g2), (tt-g3).
  c.state.store(std::uint64_t{gen} << Slot::generation_shift, std::memory_order_release);
  s.consumers_open.fetch_add(1, std::memory_order_relaxed); // statistic
  return ConsumerHandle{index, gen};
}

template <class OnPageFree, class Refs>
inline auto TokenTracker<OnPageFree, Refs>::close(ConsumerHandle h) noexcept -> CloseOutcome {
  State& s = *state_;
  CloseOutcome out;
  Slot* c = s.consumers.slot(h.index);
  if (c == nullptr) {
    note_refusal(s, c, h, TokenRefusal::consumer_closed, 1);
    return out;
  }
  std::uint64_t st = c->state.load(std::memory_order_relaxed);
  for (;;) {
    if (Slot::generation_of(st) != h.generation || (st & (Slot::closed_bit | Slot::free_bit)) != 0) {
      note_refusal(s, c, h, TokenRefusal::consumer_closed, 1);
      return out;
    }
    // acq_rel: acquire pairs with end_delivery()'s release (the last
    // batch's log is visible to our drain); release hands our view to the
    // delivery we defer to.
    // (tt-c1) pairs with (tt-x2) and (tt-g1).
    if (c->state.compare_exchange_weak(st, st | Slot::closed_bit, std::memory_order_acq_rel,
                                       std::memory_order_relaxed))
      break;
  }
  s.consumers_open.fetch_sub(1, std::memory_order_relaxed); // statistic
  // The drain runs exactly once, on whichever of this close, the delivery
  // in flight or (SingleWriterRefs) the Returner call in flight leaves
  // last: each clears its bit with an RMW on this word, so exactly one of
  // them sees "closed, neither bit set".
  if ((st & (Slot::delivering_bit | Slot::returning_bit)) != 0) {
    out.status = (st & Slot::delivering_bit) != 0 ? CloseStatus::deferred_to_delivery
                                                  : CloseStatus::deferred_to_return;
    return out;
  }
  out.released = drain(s, *c, h.index);
  out.status = CloseStatus::drained;
  finish_close(s, *c, h.index);
  return out;
}

template <class OnPageFree, class Refs>
inline auto TokenTracker<OnPageFree, Refs>::counters() const noexcept -> BindingStats {
  const State& s = *state_;
  BindingStats out;
  s.consumers.for_each_slot([&out](const Slot& c) noexcept { c.now.add_to(out); });
  for (std::size_t i = 0; i < token_refusal_count; ++i)
    out.refused[i] += s.stale_refused[i].load(std::memory_order_relaxed);
  out.page_count = s.page_count;
  out.page_size = s.page_size;
  out.consumers_open = s.consumers_open.load(std::memory_order_relaxed);
  out.tracking_bytes = tracking_bytes();
  return out;
}

template <class OnPageFree, class Refs>
inline auto TokenTracker<OnPageFree, Refs>::consumer_counters(ConsumerHandle h) const noexcept -> std::optional<ConsumerStats> {
  State& s = *state_;
  Slot* c = s.consumers.slot(h.index);
  if (c == nullptr) return std::nullopt;
  // (tt-g3) pairs with (tt-g1).
  const std::uint64_t st = c->state.load(std::memory_order_acquire); // pairs with open's release
  if (Slot::generation_of(st) != h.generation || (st & Slot::free_bit) != 0) return std::nullopt;
  ConsumerStats out;
  ARENAKIT_TEST_PAUSE(token_handle_checked);
  c->now.add_to(out);
  c->base.add_to(out, -1);
  // The slot may have been closed, recycled and reopened for another
  // consumer while we read (a LIFO free list makes that the next open):
  // then the numbers are not @h's. Read the state again, seqlock style.
  // (tt-s1) add_to() read every counter with acquire, pairing with the
  // release writes (tt-s2) of open_consumer()'s reset and (tt-s3) of the
  // new consumer's calls: if we read one of them, the slot's recycling
  // happened-before this reload, which sees it freed or renamed.
  const std::uint64_t again = c->state.load(std::memory_order_relaxed);
  if (Slot::generation_of(again) != h.generation || (again & Slot::free_bit) != 0) return std::nullopt;
  out.open = (again & Slot::closed_bit) == 0;
  out.held_log_capacity = c->log.published_capacity();
  {
    detail::SpinLockGuard g(c->shared_lock);
    out.shared_pages = c->shared.size();
    out.tracking_bytes = sizeof(Slot) + c->shared.capacity() * sizeof(std::uint64_t);
  }
  out.tracking_bytes += out.held_log_capacity * sizeof(std::uint32_t);
  return out;
}

template <class OnPageFree, class Refs>
inline auto TokenTracker<OnPageFree, Refs>::count(Slot& c, TokenRefusal r,
    std::uint64_t n) noexcept -> void {
  if (n != 0) c.now.refused[static_cast<std::size_t>(r)].fetch_add(n, std::memory_order_release); // statistic; (tt-s3)
}

/// note_refusal() - charge a call-level refusal to the consumer when the
/// handle still names it, else to the binding (a stale handle must not
/// pollute the counters of the slot's next consumer).
template <class OnPageFree, class Refs>
inline auto TokenTracker<OnPageFree, Refs>::note_refusal(State& s, Slot* c, ConsumerHandle h,
    TokenRefusal r, std::uint64_t n) noexcept -> void {
  if (c != nullptr && Slot::generation_of(c->state.load(std::memory_order_relaxed)) == h.generation) {
    count(*c, r, n);
  } else {
    s.stale_refused[static_cast<std::size_t>(r)].fetch_add(n, std::memory_order_relaxed); // statistic
  }
}

/**
 * begin_exclusive() - set @bit (delivering_bit or returning_bit) on an
 * open slot of generation @gen; refuse with @busy when it is already set.
 *
 * (tt-x1) acquire on success: pairs with (tt-x2) of the previous holder of
 * @bit (maybe on another thread) and with open_consumer()'s release of
 * this generation (tt-g1): the previous batch's log writes (delivering) or its
 * `returned` stores (returning) are ours to extend now.
 */
// Always inlined, as the two copies it replaces were: the bits are then
// constants again (measured: a called copy cost the deliver+return pair
// up to 0.3 ns).
template <class OnPageFree, class Refs>
ARENAKIT_ALWAYS_INLINE auto TokenTracker<OnPageFree, Refs>::begin_exclusive(Slot& c,
    std::uint32_t gen, std::uint64_t bit, TokenRefusal busy, TokenRefusal& why) noexcept -> bool {
  std::uint64_t st = c.state.load(std::memory_order_relaxed); // checked, then confirmed by the CAS
  for (;;) {
    if (Slot::generation_of(st) != gen || (st & (Slot::closed_bit | Slot::free_bit)) != 0) {
      why = TokenRefusal::consumer_closed;
      return false;
    }
    if ((st & bit) != 0) {
      why = busy;
      return false;
    }
    if (c.state.compare_exchange_weak(st, st | bit, std::memory_order_acquire, // (tt-x1)
                                      std::memory_order_relaxed))
      return true;
  }
}

/**
 * end_exclusive() - clear @bit; if close() deferred to us and the holder
 * of @other is not in flight, drain and finish the close here.
 *
 * (tt-x2) acq_rel: release publishes this batch's log / `returned` stores
 * to the next holder's (tt-x1), to the drainer (close or the other
 * exclusive call, whichever RMW on this word comes after ours); acquire
 * pairs with close()'s release (tt-c1) when it deferred to us, and with the other
 * exclusive call's (tt-x2) (the log it extended).
 */
template <class OnPageFree, class Refs>
ARENAKIT_ALWAYS_INLINE auto TokenTracker<OnPageFree, Refs>::end_exclusive(State& s, Slot& c,
    std::uint32_t index, std::uint64_t bit, std::uint64_t other) noexcept -> void {
  const std::uint64_t st = c.state.fetch_and(~bit, std::memory_order_acq_rel); // (tt-x2)
  if (ARENAKIT_UNLIKELY((st & (Slot::closed_bit | other)) == Slot::closed_bit)) {
    (void)drain(s, c, index);
    finish_close(s, c, index);
  }
}

template <class OnPageFree, class Refs>
inline auto TokenTracker<OnPageFree, Refs>::begin_return(Slot& c,
    std::uint32_t gen) noexcept -> bool {
  std::uint64_t st = c.state.load(std::memory_order_relaxed);
  for (;;) {
    if (Slot::generation_of(st) != gen || (st & (Slot::closed_bit | Slot::free_bit)) != 0) return false;
    assert((st & Slot::pins_mask) != Slot::pins_mask);
    // acquire: pairs with open_consumer()'s release of this generation.
    // (tt-g4) pairs with (tt-g1).
    if (c.state.compare_exchange_weak(st, st + Slot::pin_unit, std::memory_order_acquire,
                                      std::memory_order_relaxed))
      return true;
  }
}

template <class OnPageFree, class Refs>
inline auto TokenTracker<OnPageFree, Refs>::end_return(State& s, Slot& c,
    std::uint32_t index) noexcept -> void {
  // acq_rel: release orders our page and counter updates before a recycler
  // (pairs with try_recycle()'s acquire); acquire lets us recycle.
  // (tt-c2) pairs with (tt-c4), (tt-c5).
  const std::uint64_t st = c.state.fetch_sub(Slot::pin_unit, std::memory_order_acq_rel) - Slot::pin_unit;
  if (ARENAKIT_UNLIKELY((st & Slot::drained_bit) != 0 && (st & Slot::pins_mask) == 0)) try_recycle(s, c, index);
}

template <class OnPageFree, class Refs>
inline auto TokenTracker<OnPageFree, Refs>::finish_close(State& s, Slot& c,
    std::uint32_t index) noexcept -> void {
  // release: the drain happens-before the slot's reuse (pairs with
  // try_recycle()'s acquire, whoever runs it).
  // (tt-c3) pairs with (tt-c4), (tt-c5).
  c.state.fetch_or(Slot::drained_bit, std::memory_order_release);
  try_recycle(s, c, index);
}

/// try_recycle() - the last of close / returners / deliverer to leave puts
/// the slot on the free list; the CAS that sets free_bit picks exactly one.
template <class OnPageFree, class Refs>
inline auto TokenTracker<OnPageFree, Refs>::try_recycle(State& s, Slot& c,
    std::uint32_t index) noexcept -> void {
  constexpr std::uint64_t done = Slot::closed_bit | Slot::drained_bit;
  // acquire: pairs with the releases of finish_close() and end_return().
  // (tt-c4) pairs with (tt-c2), (tt-c3).
  std::uint64_t st = c.state.load(std::memory_order_acquire);
  for (;;) {
    if ((st & done) != done ||
        (st & (Slot::delivering_bit | Slot::returning_bit | Slot::free_bit | Slot::pins_mask)) != 0)
      return;
    // (tt-c5) pairs with (tt-c2), (tt-c3).
    if (c.state.compare_exchange_weak(st, st | Slot::free_bit, std::memory_order_acq_rel,
                                      std::memory_order_acquire))
      break;
  }
  s.consumers.put(index); // (ts-1) release: the drain reaches the next opener
}

/**
 * drain() - give back everything the closed consumer holds, through the
 * policy (its log, then its shared table). Runs once, by close() or by the
 * call close() deferred to; nobody appends to the log any more.
 */
template <class OnPageFree, class Refs>
inline auto TokenTracker<OnPageFree, Refs>::drain(State& s, Slot& c, std::uint32_t index) noexcept -> std::uint64_t {
  Ctx x = s.ctx(c, index);
  std::uint64_t visits = 0;
  const std::uint64_t released = s.refs.drain(x, visits);
  c.now.close_released.fetch_add(released, std::memory_order_release); // statistic; (tt-s3)
  c.now.close_visits.fetch_add(visits, std::memory_order_release);     // statistic; (tt-s3)
  return released;
}

template <class OnPageFree, class Refs>
inline auto TokenTracker<OnPageFree, Refs>::page_refs(std::uint32_t page) const noexcept -> std::uint32_t {
  if (page >= state_->page_count) return 0;
  return state_->refs.page_refs(page); // acquire: see the policy
}

template <class OnPageFree, class Refs>
inline auto TokenTracker<OnPageFree, Refs>::held_by(ConsumerHandle h, std::uint32_t page) const noexcept
    -> std::uint32_t {
  State& s = *state_;
  Slot* c = s.consumers.slot(h.index);
  if (c == nullptr || page >= s.page_count) return 0;
  // (tt-g2) pairs with (tt-g1): the reset slot of this generation.
  const std::uint64_t st = c->state.load(std::memory_order_acquire);
  if (Slot::generation_of(st) != h.generation || (st & (Slot::closed_bit | Slot::free_bit)) != 0) return 0;
  ARENAKIT_TEST_PAUSE(token_handle_checked);
  Ctx x = s.ctx(*c, h.index);
  const std::uint32_t n = s.refs.refs_of(x, page);
  // The slot may have been closed, recycled and reopened meanwhile, and the
  // owner field is the slot index in every generation: what we counted
  // may be the next consumer's. Read the state again.
  // (tt-s5) refs_of() read the page memory (and the shared table, under
  // its lock) with acquire: a delivery to the new consumer that we counted
  // happens-before this reload, and so does the reopen before it.
  const std::uint64_t again = c->state.load(std::memory_order_relaxed);
  if (Slot::generation_of(again) != h.generation || (again & (Slot::closed_bit | Slot::free_bit)) != 0) return 0;
  return n;
}

} // namespace arenakit
