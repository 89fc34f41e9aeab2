// SPDX-License-Identifier: MIT
/**
 * @file tokens/refs/page_words.hpp
 * @brief What every page-reference policy shares: the page words (8 bytes
 *        per page, detail/token_word.hpp), their spin bit, and the shared
 *        mode — a page several consumers hold, with each holder's count in
 *        its own PageCountTable. Also the context a policy is called with
 *        and the one-page result type (PageStep).
 *
 * Memory orders (labels pw-*; the fast paths that pair with them are in
 * sole_or_shared.hpp (so-*) and single_writer.hpp (sw-*)):
 * - lock() acquires the spin bit (pw-1): the tables and the count the last
 *   holder changed are visible. unlock() publishes with release (pw-2).
 * - Dropping a reference releases (pw-2, pw-3), so the holder's use of the
 *   page happens-before whoever sees the count reach 0: count_acquire()
 *   (pw-4), the next delivery, the hook.
 */
#pragma once

#include <arenakit/config.hpp>
#include <arenakit/detail/spin_lock.hpp>
#include <arenakit/detail/token_held.hpp>
#include <arenakit/detail/token_word.hpp>
#include <arenakit/tokens/impl/consumer_registry.hpp>
#include <arenakit/tokens/impl/consumer_slot.hpp>
#include <arenakit/tokens/types.hpp>

#include <atomic>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <utility>

namespace arenakit::detail {

/// What one page of a deliver or a return did: a TokenRefusal, or
/// page_done (one register, so a hot loop keeps no refusal in memory).
using PageStep = std::uint8_t;
inline constexpr PageStep page_done = 0xFF;
inline constexpr PageStep page_retry = 0xFE; ///< a slow path gave the page back to the fast path
static_assert(token_refusal_count < page_retry);
constexpr PageStep page_refused(TokenRefusal why) noexcept { return static_cast<PageStep>(why); }

/**
 * struct PageCtx - what a policy needs to act for one consumer in one call:
 * its slot (log, shared table), its index (the owner field), the registry
 * (to reach another owner's table), the tracker's byte counter and hook.
 */
template <class Hook>
struct PageCtx {
  ConsumerRegistry& consumers;
  TokenConsumerSlot& c;
  std::uint32_t index;
  std::atomic<std::size_t>& bytes;
  Hook& hook;
};

/**
 * class PageWords - one 64-bit word per page (| busy | shared | owner |
 * count |, detail/token_word.hpp), allocated zeroed and lazily (calloc),
 * plus the shared-mode operations every policy uses.
 */
class PageWords {
public:
  PageWords() noexcept = default;
  PageWords(PageWords&& o) noexcept : words_(std::exchange(o.words_, nullptr)) {}
  PageWords& operator=(PageWords&& o) noexcept {
    std::swap(words_, o.words_);
    return *this;
  }
  ~PageWords() { std::free(words_); }

  /// allocate() - @pages zeroed words. Return: false when out of memory.
  bool allocate(std::uint64_t pages) noexcept {
    words_ = static_cast<std::uint64_t*>(std::calloc(static_cast<std::size_t>(pages), sizeof(std::uint64_t)));
    return words_ != nullptr;
  }

  std::atomic_ref<std::uint64_t> word(std::uint32_t p) const noexcept { return std::atomic_ref<std::uint64_t>(words_[p]); }
  // Always inlined, as every prefetch wrapper (detail::prefetch_for_write()).
  ARENAKIT_ALWAYS_INLINE void prefetch(std::uint32_t p) const noexcept { prefetch_for_write(&words_[p]); }

  /// count_acquire() - the page word's count. (pw-4) acquire: pairs with
  /// (pw-2), (pw-3) and the fast paths' releasing drops.
  std::uint32_t count_acquire(std::uint32_t p) const noexcept {
    return token_word::count(word(p).load(std::memory_order_acquire));
  }

  /// lock() - set the page's spin bit; returns the word as it was. A free
  /// word (0) is returned without locking it (the caller must not unlock).
  /// Blocking: the holder never waits while holding it.
  static std::uint64_t lock(std::atomic_ref<std::uint64_t> w) noexcept {
    SpinWait wait;
    std::uint64_t v = w.load(std::memory_order_relaxed);
    for (;;) {
      if (v == 0) return 0;
      if ((v & token_word::busy_bit) != 0) {
        wait();
        v = w.load(std::memory_order_relaxed);
        continue;
      }
      // (pw-1) acquire: pairs with (pw-2), (pw-3) and the fast paths'
      // releasing drops: the tables the last holder changed are visible.
      if (w.compare_exchange_weak(v, v | token_word::busy_bit, std::memory_order_acquire, std::memory_order_relaxed))
        return v;
    }
  }

  /// unlock() - publish @v with the busy bit clear. (pw-2) release: pairs
  /// with (pw-1), (pw-4) and the fast paths' acquiring loads.
  static void unlock(std::atomic_ref<std::uint64_t> w, std::uint64_t v) noexcept {
    w.store(v & ~token_word::busy_bit, std::memory_order_release);
  }

  /**
   * add_shared() - one more reference for @x's consumer on page @p in
   * shared mode: the page is free, already shared, or (single-writer) its
   * word counts only the non-owners. Claims a free word with a plain store,
   * so only the binding's one producer may call it on a free page.
   */
  template <class Hook>
  ARENAKIT_NOINLINE PageStep add_shared(PageCtx<Hook> x, std::uint32_t p) noexcept {
    std::atomic_ref<std::uint64_t> w = word(p);
    const std::uint64_t v = lock(w); // 0: not locked
    if (token_word::count(v) == token_word::count_max) {
      unlock(w, v);
      return page_refused(TokenRefusal::count_saturated);
    }
    const bool ok = add_to_table(x.c, p, 1, x.bytes);
    if (v == 0) {
      if (!ok) return page_refused(TokenRefusal::no_memory);
      // (pw-3) release: pairs with (pw-1): a return that finds the page
      // shared finds our table entry.
      w.store(token_word::shared_bit | 1, std::memory_order_release);
      return page_done;
    }
    unlock(w, ok ? v + 1 : v);
    return ok ? page_done : page_refused(TokenRefusal::no_memory);
  }

  /**
   * deliver_slow() - the page is busy, shared, or held by another consumer
   * alone: the latter's count moves into its own table, ours into ours,
   * then the word says "shared". The other owner cannot drain the page
   * meanwhile: its close waits on the busy bit. page_retry when the page
   * became free or ours while we waited.
   */
  template <class Hook>
  ARENAKIT_NOINLINE PageStep deliver_slow(PageCtx<Hook> x, std::uint32_t p) noexcept {
    std::atomic_ref<std::uint64_t> w = word(p);
    const std::uint64_t v = lock(w);
    if (v == 0) return page_retry; // freed while we waited (not locked)
    if (token_word::sole_of(v, token_word::owner_field(x.index))) {
      unlock(w, v);
      return page_retry;
    }
    if (token_word::count(v) == token_word::count_max) {
      unlock(w, v);
      return page_refused(TokenRefusal::count_saturated);
    }
    if ((v & token_word::shared_bit) != 0) {
      const bool ok = add_to_table(x.c, p, 1, x.bytes);
      unlock(w, ok ? v + 1 : v);
      return ok ? page_done : page_refused(TokenRefusal::no_memory);
    }
    TokenConsumerSlot& other = *x.consumers.slot(token_word::owner_index(v));
    const std::uint32_t theirs = token_word::count(v);
    bool ok = add_to_table(other, p, theirs, x.bytes);
    if (ok) {
      ok = add_to_table(x.c, p, 1, x.bytes);
      if (!ok) {
        SpinLockGuard g(other.shared_lock); // never held together with ours
        (void)other.shared.take(p, theirs, x.bytes);
      }
    }
    if (!ok) {
      unlock(w, v);
      return page_refused(TokenRefusal::no_memory);
    }
    unlock(w, token_word::shared_bit | (std::uint64_t{theirs} + 1));
    return page_done;
  }

  /**
   * return_shared() - give back one of @x's references on a busy or shared
   * page. page_retry when the page turned out to be @x's alone (the fast
   * path's business); underflow when nobody holds it, not_held when others
   * do, consumer_closed when a close of this consumer took its table.
   */
  template <class Hook>
  ARENAKIT_NOINLINE PageStep return_shared(PageCtx<Hook> x, std::uint32_t p) noexcept {
    std::atomic_ref<std::uint64_t> w = word(p);
    const std::uint64_t v = lock(w);
    if (v == 0) return page_refused(TokenRefusal::underflow); // nobody holds it (not locked)
    if (token_word::sole_of(v, token_word::owner_field(x.index))) {
      unlock(w, v);
      return page_retry;
    }
    if ((v & token_word::shared_bit) == 0) {
      unlock(w, v);
      return page_refused(TokenRefusal::not_held);
    }
    std::uint32_t took;
    {
      SpinLockGuard g(x.c.shared_lock);
      took = x.c.shared.take(p, 1, x.bytes);
    }
    if (took == 0) {
      unlock(w, v);
      // relaxed: a hint for the refusal's reason only.
      return page_refused((x.c.state.load(std::memory_order_relaxed) & TokenConsumerSlot::closed_bit) != 0
                              ? TokenRefusal::consumer_closed
                              : TokenRefusal::not_held);
    }
    const bool last = token_word::count(v) == 1;
    unlock(w, last ? 0 : v - 1); // (pw-2)
    if (last) x.hook(p);
    return page_done;
  }

  /**
   * drain_shared() - close: give back every reference @x's consumer holds
   * in shared mode. Takes its table whole under its lock (nothing can be
   * added any more: the caller drained its sole pages first).
   */
  template <class Hook>
  std::uint64_t drain_shared(PageCtx<Hook> x, std::uint64_t& visits) noexcept {
    PageCountTable mine;
    {
      SpinLockGuard g(x.c.shared_lock);
      mine.swap(x.c.shared);
    }
    std::uint64_t released = 0;
    mine.for_each([&](std::uint32_t p, std::uint32_t k) noexcept {
      ++visits;
      std::atomic_ref<std::uint64_t> w = word(p);
      const std::uint64_t v = lock(w);
      assert((v & token_word::shared_bit) != 0 && token_word::count(v) >= k);
      if (ARENAKIT_UNLIKELY(v == 0)) return; // cannot happen: our share keeps the page held
      const std::uint32_t left = token_word::count(v) - k;
      unlock(w, left == 0 ? 0 : (token_word::shared_bit | left)); // (pw-2)
      released += k;
      if (left == 0) x.hook(p);
    });
    mine.reset(x.bytes);
    return released;
  }

  /// shared_refs() - @c's references on @p in shared mode (0 when the page
  /// is not shared); @sole_owner: the owner field whose sole count to
  /// report instead, or 0. Cold path: takes the spin bit.
  std::uint32_t shared_refs(TokenConsumerSlot& c, std::uint32_t p, std::uint64_t sole_owner) const noexcept {
    std::atomic_ref<std::uint64_t> w = word(p);
    const std::uint64_t locked = lock(w);
    if (locked == 0) return 0; // freed meanwhile (and not locked)
    std::uint32_t n = 0;
    if (sole_owner != 0 && token_word::sole_of(locked, sole_owner)) {
      n = token_word::count(locked);
    } else if ((locked & token_word::shared_bit) != 0) {
      SpinLockGuard g(c.shared_lock);
      n = c.shared.get(p);
    }
    unlock(w, locked);
    return n;
  }

private:
  static bool add_to_table(TokenConsumerSlot& c, std::uint32_t p, std::uint32_t n,
                           std::atomic<std::size_t>& bytes) noexcept {
    SpinLockGuard g(c.shared_lock);
    return c.shared.add(p, n, bytes);
  }

  std::uint64_t* words_ = nullptr; ///< accessed through std::atomic_ref only
};

} // namespace arenakit::detail
