// SPDX-License-Identifier: MIT
/**
 * @file epoch/thread.hpp
 * @brief EpochThread (a registered reader and retirer), and the EpochDomain
 *        members that walk the thread records (advance, report, teardown).
 *        See epoch/epoch.hpp for the algorithm and the memory-order labels.
 */
#pragma once

#include <arenakit/config.hpp>
#include <arenakit/detail/layout.hpp>
#include <arenakit/detail/owner_counter.hpp>
#include <arenakit/detail/spin_lock.hpp>
#include <arenakit/epoch/domain.hpp>
#include <arenakit/epoch/types.hpp>
#include <arenakit/lists/llist.hpp>

#include <algorithm>
#include <atomic>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <system_error>
#include <type_traits>

#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace arenakit {

/**
 * EpochThread - a registered reader/retirer (one per thread per domain).
 * Not movable: the domain links to it. Use from one thread at a time.
 */
class EpochThread {
public:
  /**
   * @domain: the domain to register with (must outlive this record)
   * @label: shown in reports as the holder of the epoch (kept by pointer)
   */
  explicit EpochThread(EpochDomain& domain, const char* label = nullptr) noexcept
      : domain_(&domain), epoch_(&domain.epoch_), asymmetric_(domain.asymmetric_), label_(label),
        tid_(detail::epoch_gettid()) {
    detail::SpinLockGuard hold(domain.lock_);
    next_ = domain.threads_;
    domain.threads_ = this;
    ++domain.registered_;
    domain.registered_hint_.store(domain.registered_, std::memory_order_relaxed); // (ep-C1) under the lock
  }

  EpochThread(const EpochThread&) = delete;
  EpochThread& operator=(const EpochThread&) = delete;

  /// Publishes the unsealed batch, returns unused room, unregisters.
  ~EpochThread() {
    ARENAKIT_LAYOUT_CHECK_BEGIN // the layout the field comments promise
    static_assert(ARENAKIT_LINE_OF(EpochThread, state_) != ARENAKIT_LINE_OF(EpochThread, nest_),
                  "arenakit: the announcement (line 1, read by scans) must not share the owner's hot line 2");
    ARENAKIT_LAYOUT_CHECK_END
    if (nest_ != 0)
      std::fprintf(stderr, "arenakit: EpochThread '%s' destroyed inside a guard\n",
                   label_ != nullptr ? label_ : "?");
    flush();
    domain_->unreserve(credit_);
    credit_ = 0;
    detail::SpinLockGuard hold(domain_->lock_);
    for (EpochThread** p = &domain_->threads_; *p != nullptr; p = &(*p)->next_) {
      if (*p == this) {
        *p = next_;
        break;
      }
    }
    --domain_->registered_;
    domain_->registered_hint_.store(domain_->registered_, std::memory_order_relaxed); // (ep-C1) under the lock
  }

  /**
   * enter - begin a read-side critical section (nests; wait-free)
   *
   * Prefer EpochGuard. Only the outermost enter announces the epoch.
   * Wait-free. The announcement (ep-E1) is ordered before the section's
   * reads by the advance's membarrier (ep-A1), or by a full fence (ep-E1')
   * under ReaderFence::symmetric.
   */
  ARENAKIT_ALWAYS_INLINE void enter() noexcept {
    if (nest_++ != 0) return;
    // (ep-E0) seq_cst load (a plain load on x86): the epoch to announce.
    const std::uint64_t e = epoch_->load(std::memory_order_seq_cst);
    // (ep-E1) relaxed: ordered before our reads by the reclaimer's membarrier (ep-A1).
    state_.store((e << 1) | 1u, std::memory_order_relaxed);
    if (asymmetric_) {
      std::atomic_signal_fence(std::memory_order_seq_cst); // compiler barrier only
    } else {
      detail::epoch_full_fence(); // (ep-E1') pairs with the fence in (ep-A1)
    }
  }

  /// End the critical section begun by the matching enter(). Wait-free;
  /// provides release barrier semantics (ep-E2): the section's reads
  /// happen-before the scan (ep-A2) that lets their objects be freed.
  ARENAKIT_ALWAYS_INLINE void exit() noexcept {
    assert(nest_ != 0 && "EpochThread::exit without enter");
    if (--nest_ != 0) return;
    // (ep-E2) release: our reads in the guard happen-before the scan's (ep-A2).
    state_.store(0, std::memory_order_release);
  }

  [[nodiscard]] bool in_guard() const noexcept { return nest_ != 0; }

  /**
   * retire - hand an unlinked object to the domain (batched; never allocates)
   * @hook: the object's EpochHook
   * @deleter: frees it after a grace period
   *
   * Returns RetireResult::refused_bound (the object stays with the caller)
   * when the garbage bound is reached and the bound action refuses.
   * Wait-free between batches; lock-free when a batch is sealed (ep-S1 and
   * the push (ll-1)) except under OnGarbageBound::wait.
   */
  RetireResult retire(EpochHook* hook, void (*deleter)(EpochHook*) noexcept) noexcept {
    if (ARENAKIT_UNLIKELY(credit_ == 0) && !refill_credit()) return RetireResult::refused_bound;
    --credit_;
    hook->deleter = deleter;
    hook->next = batch_first_;
    if (batch_first_ == nullptr) batch_last_ = hook;
    batch_first_ = hook;
    const std::size_t n = detail::owner_add(batch_n_, 1); // owner-written; counters() reads it (relaxed)
    if (ARENAKIT_UNLIKELY(n >= domain_->config_.batch_size)) seal_batch();
    return RetireResult::accepted;
  }

  template <class T>
    requires std::is_base_of_v<EpochHook, T>
  RetireResult retire(T* object) noexcept {
    return retire(object, [](EpochHook* h) noexcept { delete static_cast<T*>(h); });
  }

  /// Publishes this thread's unsealed batch to the domain (stamped now).
  void flush() noexcept {
    const std::size_t n = batch_n_.load(std::memory_order_relaxed);
    if (n == 0) return;
    auto* first = static_cast<EpochHook*>(batch_first_);
    auto* last = static_cast<EpochHook*>(batch_last_);
    batch_first_ = batch_last_ = nullptr;
    // Off the unsealed count before seal() adds it to a bucket's, so a
    // concurrent counters() never counts the batch twice.
    batch_n_.store(0, std::memory_order_relaxed);
    domain_->seal(first, last, n);
  }

  /// flush(), then EpochDomain::synchronize(). Inside this record's own
  /// guard: std::errc::resource_deadlock_would_occur, whichever OS thread
  /// registered it (the domain's check goes by the calling thread's tid).
  std::error_code synchronize() noexcept {
    if (nest_ != 0) return std::make_error_code(std::errc::resource_deadlock_would_occur);
    flush();
    return domain_->synchronize();
  }

  [[nodiscard]] EpochDomain& domain() const noexcept { return *domain_; }
  [[nodiscard]] const char* label() const noexcept { return label_; }
  [[nodiscard]] long tid() const noexcept { return tid_; }
  [[nodiscard]] std::size_t unsealed() const noexcept { return batch_n_.load(std::memory_order_relaxed); }

private:
  friend class EpochDomain;

  /// A full batch, or one the used-up credit paid for: publish it, and try
  /// an advance when the domain says one is due (advance_due()).
  void seal_batch() noexcept {
    flush();
    if (domain_->advance_due()) domain_->try_reclaim_by(this);
  }

  /// Out of credit: seal what the used-up credit paid for, then reserve
  /// more. So a thread's unsealed retires never pass one credit chunk, and
  /// a thread that stops retiring keeps at most one chunk of the bound
  /// (unsealed retires plus unused credit) that no other thread can free.
  /// Sealing only at batch_size let an idle thread hold its whole batch
  /// unsealed, which can be the whole bound (a bound of 100 under a batch
  /// of 128): a waiting retirer on another thread then waited forever.
  bool refill_credit() noexcept {
    if (batch_n_.load(std::memory_order_relaxed) != 0) seal_batch(); // owner-written: our own value
    const std::size_t want = domain_->credit_chunk();
    credit_ = domain_->reserve(want);
    if (credit_ != 0) return true;
    // At the bound: our garbage is sealed (above); try once, then the policy.
    domain_->try_reclaim_by(this);
    credit_ = domain_->reserve(want);
    if (credit_ != 0) return true;
    credit_ = domain_->on_bound(want, nest_ != 0);
    return credit_ != 0;
  }

  // Line 1: the announcement, read by every advance scan.
  alignas(cache_line_size) std::atomic<std::uint64_t> state_{0};
  // Line 2: owner-only hot fields.
  alignas(cache_line_size) std::uint32_t nest_ = 0;
  EpochDomain* domain_;
  const std::atomic<std::uint64_t>* epoch_;
  bool asymmetric_;
  std::size_t credit_ = 0;
  LlistNode* batch_first_ = nullptr;
  LlistNode* batch_last_ = nullptr;
  std::atomic<std::size_t> batch_n_{0};
  // Cold: registry.
  EpochThread* next_ = nullptr;
  const char* label_;
  long tid_;
};

static_assert(alignof(EpochThread) == cache_line_size && sizeof(EpochThread) >= 2 * cache_line_size,
              "an EpochThread's announcement must own its cache line");

// --- EpochDomain out-of-line members -------------------------------------

inline bool EpochDomain::advance_locked(Freed& freed, const EpochThread* caller) noexcept {
  const std::uint64_t g = epoch_.load(std::memory_order_relaxed); // written only under lock_
  // (ep-A1) pairs with (ep-E1) (membarrier) or (ep-E1') (fence): it orders
  // other threads' announcements before their reads. When the registry
  // (stable under lock_, which we hold) has no record but the caller's,
  // there is no other reader to order: the caller's own announcement is
  // program-ordered before its reads, and a thread that registers later
  // takes lock_ after us, so its reads come after this advance and can
  // reach only objects still linked. Exact, not a heuristic.
  if (threads_ == nullptr || (threads_ == caller && caller->next_ == nullptr)) {
    fences_skipped_.fetch_add(1, std::memory_order_relaxed); // statistic
  } else {
    heavy_fence();
  }
  for (const EpochThread* t = threads_; t != nullptr; t = t->next_) {
    // (ep-A2) acquire: pairs with the reader's exit store (ep-E2), so everything
    // a reader did in its guard happens-before we free what it could see.
    std::uint64_t s = t->state_.load(std::memory_order_acquire);
    if ((s & 1u) != 0 && (s >> 1) != g) return false;
  }
  Bucket& b = buckets_[(g + 2) % 3]; // stamp g-1: safe once every reader announced g
  freed.chain = b.list.take_all(); // (ll-2) acquire, pairs with seal's (ll-1)
  freed.from = &b;                  // its count drops in free_chain(), as the chain is freed
  b.oldest_stamp.store(UINT64_MAX, std::memory_order_relaxed);
  b.since_ns.store(0, std::memory_order_relaxed);
  // (ep-A3) release: the scan above happens-before anyone who reads g+1 with
  // (ep-A4) and frees a slot stamped g-1 (EpochReclaimer).
  epoch_.store(g + 1, std::memory_order_seq_cst);
  advances_.fetch_add(1, std::memory_order_relaxed); // statistic
  return true;
}


inline EpochDomain::~EpochDomain() {
  // The layout the field comments promise (lines 1, 2, 3-5, then cold).
  ARENAKIT_LAYOUT_CHECK_BEGIN
  static_assert(alignof(EpochDomain) >= cache_line_size, "arenakit: an EpochDomain starts a cache line");
  static_assert(ARENAKIT_LINE_OF(EpochDomain, epoch_) != ARENAKIT_LINE_OF(EpochDomain, reserved_),
                "arenakit: the epoch (read by every guard entry) must not share the budget's line");
  static_assert(ARENAKIT_LINE_OF(EpochDomain, buckets_) > ARENAKIT_LINE_OF(EpochDomain, reserved_),
                "arenakit: the buckets follow the budget's line");
  static_assert(ARENAKIT_LINE_OF(EpochDomain, lock_) >=
                    ARENAKIT_LINE_OF(EpochDomain, buckets_) + 3 * sizeof(Bucket) / cache_line_size,
                "arenakit: the cold registry follows the three bucket lines");
  static_assert(alignof(Bucket) == cache_line_size, "arenakit: each bucket owns its line");
  ARENAKIT_LAYOUT_CHECK_END
  std::size_t registered;
  {
    detail::SpinLockGuard hold(lock_);
    registered = registered_;
  }
  if (registered != 0) {
    std::fprintf(stderr,
                 "arenakit: EpochDomain destroyed with %zu registered thread(s); "
                 "pending garbage is not freed\n",
                 registered);
    return;
  }
  for (Bucket& b : buckets_) free_chain(Freed{b.list.take_all(), &b});
}

inline RetireResult EpochDomain::retire(EpochHook* hook, void (*deleter)(EpochHook*) noexcept) noexcept {
  if (ARENAKIT_UNLIKELY(reserve(1) == 0)) {
    try_reclaim();
    if (reserve(1) == 0) {
      bool in_guard;
      {
        detail::SpinLockGuard hold(lock_);
        in_guard = caller_in_guard_locked();
      }
      if (on_bound(1, in_guard) == 0) return RetireResult::refused_bound;
    }
  }
  hook->deleter = deleter;
  seal(hook, hook, 1);
  return RetireResult::accepted;
}

inline std::size_t EpochDomain::try_reclaim() noexcept { return try_reclaim_by(nullptr); }

inline std::size_t EpochDomain::try_reclaim_by(const EpochThread* caller) noexcept {
  last_try_ns_.store(detail::epoch_now_ns(), std::memory_order_relaxed); // a trigger time
  if (!lock_.try_lock()) return 0;
  Freed freed;
  advance_locked(freed, caller);
  lock_.unlock();
  return free_chain(freed); // outside the lock: deleters may retire
}

inline bool EpochDomain::caller_in_guard_locked() const noexcept {
  const long me = detail::epoch_gettid();
  for (const EpochThread* t = threads_; t != nullptr; t = t->next_)
    if (t->tid_ == me && (t->state_.load(std::memory_order_relaxed) & 1u) != 0) return true;
  return false;
}

inline std::error_code EpochDomain::synchronize() noexcept {
  std::uint64_t target;
  {
    detail::SpinLockGuard hold(lock_);
    if (caller_in_guard_locked()) return std::make_error_code(std::errc::resource_deadlock_would_occur);
    target = epoch_.load(std::memory_order_relaxed) + 2;
  }
  for (unsigned attempt = 0;; ++attempt) {
    Freed freed;
    bool advanced;
    {
      detail::SpinLockGuard hold(lock_);
      advanced = advance_locked(freed);
    }
    free_chain(freed);
    if (epoch_.load(std::memory_order_acquire) >= target) return {}; // (ep-A4') as (ep-A4): pairs with (ep-A3)
    if (!advanced) detail::backoff_sleep(attempt); // a reader is still inside: give it the CPU, then sleep
  }
}

inline std::error_code EpochDomain::barrier() noexcept {
  if (std::error_code ec = synchronize(); ec) return ec;
  detail::SpinLockGuard hold(lock_);
  if (registered_ != 0) return {};
  // Teardown: no record, so no reader; every bucket is safe whatever its stamp.
  for (Bucket& b : buckets_) free_chain(Freed{b.list.take_all(), &b}); // (ll-2)
  return {};
}

inline std::size_t EpochDomain::on_bound(std::size_t want, bool caller_in_guard) noexcept {
  bound_hits_.fetch_add(1, std::memory_order_relaxed); // statistic
  switch (config_.on_bound) {
  case OnGarbageBound::refuse: break;
  case OnGarbageBound::wait:
    if (caller_in_guard) break; // waiting for ourselves would never end
    for (unsigned attempt = 0;; ++attempt) {
      try_reclaim();
      if (std::size_t got = reserve(want); got != 0) return got;
      detail::backoff_sleep(attempt);
    }
  case OnGarbageBound::callback: {
    EpochCounters r = counters();
    if (config_.bound_callback(config_.callback_context, r) == BoundDecision::admit) {
      admits_.fetch_add(1, std::memory_order_relaxed); // statistic
      force_reserve(1);
      return 1;
    }
    break;
  }
  }
  refused_.fetch_add(1, std::memory_order_relaxed); // statistic
  return 0;
}

inline EpochCounters EpochDomain::counters() const noexcept {
  EpochCounters r;
  detail::SpinLockGuard hold(lock_);
  r.epoch = epoch_.load(std::memory_order_relaxed);
  r.bound = config_.garbage_bound;
  r.reserved = reserved_.load(std::memory_order_relaxed);
  r.retired = retired_.load(std::memory_order_relaxed);
  r.reclaimed = reclaimed_.load(std::memory_order_relaxed);
  r.advances = advances_.load(std::memory_order_relaxed);
  r.fences_skipped = fences_skipped_.load(std::memory_order_relaxed);
  r.bound_hits = bound_hits_.load(std::memory_order_relaxed);
  r.refused = refused_.load(std::memory_order_relaxed);
  r.over_bound_admits = admits_.load(std::memory_order_relaxed);
  std::size_t sealed = 0;
  std::uint64_t oldest = UINT64_MAX;
  std::int64_t since = 0;
  for (const Bucket& b : buckets_) {
    sealed += b.count.load(std::memory_order_relaxed);
    std::uint64_t s = b.oldest_stamp.load(std::memory_order_relaxed);
    if (s < oldest) oldest = s;
    std::int64_t t = b.since_ns.load(std::memory_order_relaxed);
    if (t != 0 && (since == 0 || t < since)) since = t;
  }
  if (oldest != UINT64_MAX && oldest <= r.epoch) r.oldest_epoch_age = r.epoch - oldest;
  if (since != 0) r.oldest_age_ns = detail::epoch_now_ns() - since;
  std::size_t unsealed = 0;
  std::uint64_t holder = UINT64_MAX;
  for (const EpochThread* t = threads_; t != nullptr; t = t->next_) {
    ++r.registered;
    unsealed += t->batch_n_.load(std::memory_order_relaxed);
    std::uint64_t s = t->state_.load(std::memory_order_relaxed);
    if ((s & 1u) == 0) continue;
    ++r.active;
    if ((s >> 1) < holder) {
      holder = s >> 1;
      r.holder_label = t->label_;
      r.holder_tid = t->tid_;
      r.holder_epoch = holder;
    }
  }
  r.held_back = holder < r.epoch;
  r.unreclaimed = sealed + unsealed;
  return r;
}

} // namespace arenakit
