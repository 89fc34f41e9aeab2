// SPDX-License-Identifier: MIT
/**
 * @file epoch/domain.hpp
 * @brief EpochDomain: one epoch, its readers and its garbage (see
 *        epoch/epoch.hpp for the algorithm and the memory-order labels).
 *        Its members that walk the thread records are defined in
 *        epoch/thread.hpp, which this header includes at its end.
 */
#pragma once

#include <arenakit/config.hpp>
#include <arenakit/detail/bounded_count.hpp>
#include <arenakit/detail/spin_lock.hpp>
#include <arenakit/detail/test_hook.hpp>
#include <arenakit/epoch/types.hpp>
#include <arenakit/error.hpp>
#include <arenakit/lists/llist.hpp>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <system_error>
#include <type_traits>

#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace arenakit {

/**
 * EpochDomain - one epoch, its readers and its garbage. User-owned; create
 * as many as you like (there is no global domain).
 */
class EpochDomain {
public:
  /**
   * create - a domain, or why not
   *
   * Returns errc::invalid_config when batch_size or garbage_bound is 0, or
   * on_bound is callback without a callback; errc::out_of_memory when the
   * domain object cannot be allocated.
   */
  static Result<std::unique_ptr<EpochDomain>> create(EpochConfig config = {}) noexcept {
    if (config.batch_size == 0 || config.garbage_bound == 0) return errc::invalid_config;
    if (config.on_bound == OnGarbageBound::callback && config.bound_callback == nullptr)
      return errc::invalid_config;
    std::unique_ptr<EpochDomain> domain(new (std::nothrow) EpochDomain(config));
    if (!domain) return errc::out_of_memory;
    return domain;
  }

  EpochDomain(const EpochDomain&) = delete;
  EpochDomain& operator=(const EpochDomain&) = delete;

  /// Frees all pending garbage (no reader can exist once every EpochThread
  /// is gone). A domain destroyed with registered threads reports it and
  /// frees nothing: those threads may still be reading.
  inline ~EpochDomain();

  /**
   * retire - hand @hook to the domain from any thread (no record needed)
   * @hook: an object unlinked from every shared structure
   * @deleter: frees it after a grace period; must not call synchronize/barrier
   *
   * One reservation, one fence and one push per object; prefer
   * EpochThread::retire (batched) on hot paths. Lock-free except under
   * OnGarbageBound::wait. The stamp's full fence (ep-S1) orders the caller's
   * unlinks before the stamp; the push (ll-1) releases the object to the
   * advance that frees it.
   */
  inline RetireResult retire(EpochHook* hook, void (*deleter)(EpochHook*) noexcept) noexcept;

  /// retire() for an object of type T (derived from EpochHook) freed by delete.
  template <class T>
    requires std::is_base_of_v<EpochHook, T>
  RetireResult retire(T* object) noexcept {
    return retire(object, [](EpochHook* h) noexcept { delete static_cast<T*>(h); });
  }

  /**
   * try_reclaim - advance the epoch once if no reader holds it back, and free
   *               the garbage that became safe (non-blocking)
   *
   * Returns the number of objects freed (0 if another thread is advancing or
   * a reader holds the epoch back). Non-blocking (a try-lock). Provides
   * acquire barrier semantics on each reader's exit (ep-A2) before anything
   * is freed, and release (ep-A3) on the new epoch.
   */
  inline std::size_t try_reclaim() noexcept;

  /**
   * synchronize - wait until every reader active at the call has left, and
   *               free the garbage sealed before the call
   *
   * Returns std::errc::resource_deadlock_would_occur, without waiting, when
   * the calling thread is inside a guard of this domain. Blocking. On
   * success every read-side section active at the call happens-before the
   * return ((ep-A2), then (ep-A4') on the advanced epoch).
   */
  inline std::error_code synchronize() noexcept;

  /**
   * barrier - synchronize, then, when no EpochThread is registered any more
   *           (teardown), free every object still pending, whatever its epoch
   *
   * After the threads are gone and barrier() returns, every retired object's
   * deleter has run. Same error as synchronize(). Blocking; barriers as
   * synchronize(), plus acquire on each bucket it empties (ll-2).
   */
  inline std::error_code barrier() noexcept;

  /// Who holds the epoch back, how much is unreclaimed, how old (locks the registry).
  inline EpochCounters counters() const noexcept;
  [[deprecated("arenakit: EpochDomain::report() is now counters()")]] EpochCounters report() const noexcept {
    return counters();
  }

  [[nodiscard]] std::uint64_t epoch() const noexcept {
    return epoch_.load(std::memory_order_acquire); // (ep-A4) pairs with (ep-A3)
  }
  [[nodiscard]] ReaderFence reader_fence() const noexcept {
    return asymmetric_ ? ReaderFence::asymmetric : ReaderFence::symmetric;
  }
  [[nodiscard]] const EpochConfig& config() const noexcept { return config_; }

  /**
   * stamp - the epoch to stamp on something just unlinked
   *
   * Full fence first (ep-S1): the caller's unlinks are ordered before the read
   * of G, pairing with the advance's scan (ep-A1)/(ep-A2).
   */
  [[nodiscard]] std::uint64_t stamp() const noexcept {
    detail::epoch_full_fence();                   // (ep-S1)
    return epoch_.load(std::memory_order_seq_cst); // (ep-S2)
  }

private:
  friend class EpochThread;
  friend class EpochReclaimer;

  struct alignas(cache_line_size) Bucket {
    Llist list;                                      // sealed batches
    std::atomic<std::size_t> count{0};               // objects in `list`
    std::atomic<std::uint64_t> oldest_stamp{UINT64_MAX};
    std::atomic<std::int64_t> since_ns{0};           // when the first batch landed
  };

  /// A chain an advance took off a bucket, to free outside the lock.
  struct Freed {
    LlistNode* chain = nullptr;
    Bucket* from = nullptr;
  };

  explicit EpochDomain(const EpochConfig& config) noexcept : config_(config) {
    asymmetric_ = config.fence == ReaderFence::asymmetric && detail::epoch_membarrier_register();
  }

  void heavy_fence() const noexcept {
    if (asymmetric_) {
      // A full barrier on every running thread of this process: orders each
      // reader's relaxed announcement (ep-E1) against its later reads.
      if (syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0) return;
    }
    detail::epoch_full_fence();
  }

  /// Room a thread reserves at once for its next retires: a batch, but at
  /// most a quarter of the bound shared among the registered threads, so
  /// that credit one thread reserved and has not used yet cannot take the
  /// whole bound from the others (a bound of 128 with a batch of 128 let
  /// one retire by one thread refuse, or with OnGarbageBound::wait hang,
  /// every other thread).
  std::size_t credit_chunk() const noexcept {
    const std::size_t threads = std::max<std::size_t>(1, registered_hint_.load(std::memory_order_relaxed)); // (ep-C1)
    return std::min(config_.batch_size, std::max<std::size_t>(1, config_.garbage_bound / (4 * threads)));
  }

  /// Reserves up to @want units of room against the bound (hard: CAS).
  std::size_t reserve(std::size_t want) noexcept {
    // Relaxed: a budget, not a publication (objects travel through buckets).
    return reserved_.reserve<std::memory_order_relaxed>(want, config_.garbage_bound).taken;
  }
  void unreserve(std::size_t n) noexcept {
    if (n != 0) reserved_.release<std::memory_order_relaxed>(n); // a budget
  }
  void force_reserve(std::size_t n) noexcept {
    reserved_.add_over_bound(n); // admitted over the bound (relaxed: a budget)
  }

  /// Publishes the chain [first..last] of @n objects with the current stamp.
  void seal(EpochHook* first, EpochHook* last, std::size_t n) noexcept {
    const std::uint64_t e = stamp(); // (ep-S1)(ep-S2)
    Bucket& b = buckets_[e % 3];
    // Every statistic before the push (ll-1): once pushed, two advances on
    // other threads may free the batch and reset the bucket's age, and
    // bookkeeping done after that would count `reclaimed` above `retired`
    // and leave an age on an empty bucket that only more advances clear.
    // Done before, the worst is an age the reset wiped for a batch still
    // queued: read low until the bucket's next seal, never stale.
    b.count.fetch_add(n, std::memory_order_relaxed); // statistic; before the push so it never underflows
    retired_.fetch_add(n, std::memory_order_relaxed); // statistic
    detail::fetch_min(b.oldest_stamp, e); // statistic (relaxed)
    std::int64_t zero = 0;
    if (b.since_ns.load(std::memory_order_relaxed) == 0)
      b.since_ns.compare_exchange_strong(zero, detail::epoch_now_ns(), std::memory_order_relaxed);
    ARENAKIT_TEST_PAUSE(epoch_seal_before_push);
    b.list.push_bulk(*first, *last); // (ll-1) release, pairs with take_all in advance
  }

  /**
   * advance_locked - one advance attempt; the caller holds lock_
   * @freed: receives the chain that became safe and the bucket it came
   *         from (to free outside the lock with free_chain())
   *
   * Returns false when an active reader announced an older epoch.
   */
  inline bool advance_locked(Freed& freed, const EpochThread* caller = nullptr) noexcept;

  /// try_reclaim() by @caller's thread (a registered record).
  inline std::size_t try_reclaim_by(const EpochThread* caller) noexcept;

  /// Sealed objects not yet freed. Relaxed loads that pair with nothing:
  /// the sum only decides when to try an advance (advance_due()); the
  /// objects themselves travel through the buckets' lists (ll-1)/(ll-2).
  std::size_t sealed() const noexcept {
    return buckets_[0].count.load(std::memory_order_relaxed) + buckets_[1].count.load(std::memory_order_relaxed) +
           buckets_[2].count.load(std::memory_order_relaxed);
  }

  /// True when an EpochThread that just sealed a batch should try an
  /// advance (EpochConfig::reclaim_threshold / reclaim_interval_us).
  bool advance_due() const noexcept {
    if (sealed() >= config_.reclaim_threshold) return true;
    if (config_.reclaim_interval_us == 0) return false;
    const std::int64_t since = detail::epoch_now_ns() - last_try_ns_.load(std::memory_order_relaxed); // a time
    return since >= std::int64_t{config_.reclaim_interval_us} * 1000;
  }

  /// Frees @freed's chain, counting it as it goes (one pass over the
  /// objects, not a second one to count them), then takes the count off its
  /// bucket's: until then the bucket counts objects being freed, which are
  /// still allocated (never fewer than its list holds: seal() adds first).
  std::size_t free_chain(const Freed& freed) noexcept {
    if (freed.chain == nullptr) return 0;
    const std::size_t count = llist_for_each(freed.chain, [](LlistNode* n) noexcept {
      auto* hook = static_cast<EpochHook*>(n);
      hook->deleter(hook);
    });
    if (freed.from != nullptr) freed.from->count.fetch_sub(count, std::memory_order_relaxed); // statistic
    reclaimed_.fetch_add(count, std::memory_order_relaxed); // statistic
    unreserve(count);
    return count;
  }

  /// True when the calling OS thread has a record inside a guard.
  inline bool caller_in_guard_locked() const noexcept;

  /// The bound policy, after reserve() found no room. Returns units granted.
  inline std::size_t on_bound(std::size_t want, bool caller_in_guard) noexcept;

  // Line 1: read by every outermost guard entry; written once per advance.
  alignas(cache_line_size) std::atomic<std::uint64_t> epoch_{2};
  bool asymmetric_ = false;
  // Line 2: the bound budget (a CAS every batch).
  alignas(cache_line_size) detail::BoundedCount<std::size_t> reserved_;
  // Lines 3-5: the garbage buckets.
  Bucket buckets_[3];
  // Cold: registry, configuration, statistics.
  // The registry and the advance: a spin lock (detail/spin_lock.hpp), held
  // for a scan of the records, never across user code.
  alignas(cache_line_size) mutable detail::SpinLock lock_;
  EpochThread* threads_ = nullptr;
  std::size_t registered_ = 0;
  /// registered_, readable without the lock for credit_chunk() (ep-C1:
  /// relaxed, a sizing hint that pairs with nothing).
  std::atomic<std::size_t> registered_hint_{0};
  EpochConfig config_;
  std::atomic<std::uint64_t> retired_{0};
  std::atomic<std::uint64_t> reclaimed_{0};
  std::atomic<std::uint64_t> advances_{0};
  std::atomic<std::uint64_t> fences_skipped_{0};
  std::atomic<std::int64_t> last_try_ns_{0}; ///< when an advance was last tried (a trigger: relaxed)
  std::atomic<std::uint64_t> bound_hits_{0};
  std::atomic<std::uint64_t> refused_{0};
  std::atomic<std::uint64_t> admits_{0};
};

} // namespace arenakit

// EpochThread, and the EpochDomain members that need it complete.
#include <arenakit/epoch/thread.hpp>
