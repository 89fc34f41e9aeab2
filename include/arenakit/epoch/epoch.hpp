// SPDX-License-Identifier: MIT
/**
 * @file epoch/epoch.hpp
 * @brief Epoch-based reclamation as an instance domain: registered threads,
 *        nesting RAII read guards, intrusive batched retire, try-reclaim,
 *        synchronize, a teardown-correct barrier, a bound on garbage with a
 *        chosen action, and a report of who holds the epoch back. Plus
 *        EpochReclaimer, the arena Reclaimer built on a domain.
 *
 *     auto domain = EpochDomain::create({.garbage_bound = 1 << 16});   // user-owned
 *     EpochThread me(**domain, "rx-worker-2");         // once per thread
 *     { EpochGuard g(me); Node* n = head.load(std::memory_order_acquire); use(n); }
 *     unlink(old);  me.retire(old);                    // freed after a grace period
 *
 * Algorithm: a global epoch G (64-bit, never wraps in practice). A reader
 * announces the G it saw in its record on entry and clears it on exit.
 * Retired objects collect in a per-thread batch; a full batch is stamped with
 * G (read after a full fence, so after the unlinks) and pushed on one of three
 * buckets, G mod 3. G advances from g to g+1 only when every active reader
 * announced g; at that advance the bucket of stamp g-1 is emptied and its
 * objects freed: any reader that could have seen them announced g-1 or older
 * and has left. The advance runs under the domain's lock (try-lock on the
 * retire path, so retirers never wait on each other).
 *
 * Reader fence (ReaderFence):
 * - asymmetric (default): entry is a relaxed store plus a compiler barrier;
 *   the advancing thread issues membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED),
 *   which executes a full barrier on every running thread of the process, so
 *   a reader's announcement is either visible to the scan or the reader's
 *   later loads see the unlinks. Falls back to symmetric when the kernel
 *   lacks the command (reader_fence() says which is in force).
 * - symmetric: entry is a store plus a full fence; the advance a full fence.
 *
 * Bounded garbage: `garbage_bound` counts retired objects not yet freed
 * (including objects waiting in a thread's unsealed batch). Room is reserved
 * with a CAS before an object is accepted, as in page_pool/page_pool.hpp, so the bound
 * is hard. At the bound the domain first tries to reclaim, then applies
 * `on_bound`: refuse (retire returns RetireResult::refused_bound and the
 * object stays with the caller - nothing is freed, nothing is lost), wait
 * (until a grace period frees room; refused instead when the caller itself is
 * inside a guard of this domain, which would wait forever), or callback (the
 * user's function sees the report and admits or refuses).
 *
 * Observability: report() gives the global epoch, unreclaimed count, the
 * oldest garbage's age in epochs and in nanoseconds, and the registered
 * thread (label and OS tid) whose announcement holds the epoch back.
 *
 * Progress: guard entry/exit are wait-free (a few plain instructions).
 * retire is lock-free (a CAS on the bound counter every `batch_size` retires,
 * an llist push per batch) except under OnGarbageBound::wait. try_reclaim is
 * non-blocking (it gives up if another thread is advancing). synchronize and
 * barrier block until readers leave.
 *
 * Threads: an EpochThread is registered for its lifetime (not movable); use
 * it (guards, retire) from one thread at a time. Domain-level retire() works
 * from any thread without a record (one reservation and one push per object).
 * Destroy every EpochThread before its domain.
 */
#pragma once

#include <arenakit/config.hpp>
#include <arenakit/detail/bounded_count.hpp>
#include <arenakit/detail/owner_counter.hpp>
#include <arenakit/detail/spin_lock.hpp>
#include <arenakit/detail/test_hook.hpp>
#include <arenakit/error.hpp>
#include <arenakit/lists/llist.hpp>
#include <arenakit/slot_id.hpp>

#include <algorithm>
#include <atomic>
#include <cassert>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <new>
#include <system_error>
#include <thread>
#include <type_traits>
#include <utility>

#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace arenakit {

/// How a reader's announcement is ordered before its reads.
enum class ReaderFence : std::uint8_t {
  asymmetric, ///< membarrier() on the reclaimer side; readers pay no fence
  symmetric,  ///< a full fence on every outermost guard entry
};

/// What a retire does when the garbage bound is reached and reclaiming
/// could not make room.
enum class OnGarbageBound : std::uint8_t {
  refuse,   ///< retire returns refused_bound; the caller keeps the object
  wait,     ///< retire waits for a grace period (refuses inside its own guard)
  callback, ///< the configured callback decides (admit or refuse)
};

/// What the bound callback decided.
enum class BoundDecision : std::uint8_t {
  refuse, ///< the caller keeps the object
  admit,  ///< accept it over the bound (counted in over_bound_admits)
};

enum class RetireResult : std::uint8_t {
  accepted,      ///< the domain owns the object; it will be freed after a grace period
  refused_bound, ///< the garbage bound is reached; the object is still the caller's
};

/// Link + deleter kept inside a retired object (intrusive: retire never allocates).
struct EpochHook : LlistNode {
  void (*deleter)(EpochHook*) noexcept = nullptr;
};

struct EpochReport {
  std::uint64_t epoch = 0;             ///< the global epoch
  std::size_t unreclaimed = 0;         ///< retired, not yet freed (sealed + unsealed)
  std::size_t reserved = 0;            ///< room held against the bound (>= unreclaimed)
  std::size_t bound = 0;
  std::uint64_t retired = 0;           ///< objects accepted by retire, ever
  std::uint64_t reclaimed = 0;         ///< objects freed, ever
  std::uint64_t oldest_epoch_age = 0;  ///< epoch - stamp of the oldest sealed garbage
  std::int64_t oldest_age_ns = 0;      ///< time since the oldest sealed garbage was sealed
  std::size_t registered = 0;          ///< EpochThreads alive
  std::size_t active = 0;              ///< of which inside a guard
  bool held_back = false;              ///< an active reader announced an epoch < `epoch`
  const char* holder_label = nullptr;  ///< that reader's label (the oldest one)
  long holder_tid = 0;                 ///< its OS thread id (at registration)
  std::uint64_t holder_epoch = 0;      ///< the epoch it announced
  std::uint64_t advances = 0;          ///< grace periods completed
  std::uint64_t bound_hits = 0;        ///< retires that found the bound reached
  std::uint64_t refused = 0;           ///< retires refused at the bound
  std::uint64_t over_bound_admits = 0; ///< admitted over the bound by the callback
};

using BoundCallback = BoundDecision (*)(void* context, const EpochReport& report) noexcept;

struct EpochConfig {
  /// Retires collected per thread before the batch is stamped and published.
  std::size_t batch_size = 128;
  /// Most retired-not-freed objects the domain holds (>= 1).
  std::size_t garbage_bound = std::size_t{1} << 20;
  OnGarbageBound on_bound = OnGarbageBound::refuse;
  BoundCallback bound_callback = nullptr; ///< required with OnGarbageBound::callback
  void* callback_context = nullptr;
  ReaderFence fence = ReaderFence::asymmetric;
};

class EpochDomain;
class EpochThread;

namespace detail {

/// A full fence. Under ThreadSanitizer a seq_cst RMW stands in for
/// atomic_thread_fence, which TSan does not model (and GCC warns about).
inline void epoch_full_fence() noexcept {
#if defined(__SANITIZE_THREAD__)
  static std::atomic<int> word{0};
  word.fetch_add(0, std::memory_order_seq_cst);
#else
  std::atomic_thread_fence(std::memory_order_seq_cst);
#endif
}

inline bool epoch_membarrier_register() noexcept {
  long query = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
  if (query < 0 || (query & MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0) return false;
  return syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
}

inline long epoch_gettid() noexcept { return static_cast<long>(syscall(SYS_gettid)); }

inline std::int64_t epoch_now_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

/// What an EpochReclaimer keeps in a retired slot.
struct EpochSlot : LlistNode {
  SlotId id;
  std::uint64_t stamp = 0;
};

} // namespace detail

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
   * EpochThread::retire (batched) on hot paths.
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
   * a reader holds the epoch back).
   */
  inline std::size_t try_reclaim() noexcept;

  /**
   * synchronize - wait until every reader active at the call has left, and
   *               free the garbage sealed before the call
   *
   * Returns std::errc::resource_deadlock_would_occur, without waiting, when
   * the calling thread is inside a guard of this domain.
   */
  inline std::error_code synchronize() noexcept;

  /**
   * barrier - synchronize, then, when no EpochThread is registered any more
   *           (teardown), free every object still pending, whatever its epoch
   *
   * After the threads are gone and barrier() returns, every retired object's
   * deleter has run. Same error as synchronize().
   */
  inline std::error_code barrier() noexcept;

  /// Who holds the epoch back, how much is unreclaimed, how old (locks the registry).
  inline EpochReport report() const noexcept;

  [[nodiscard]] std::uint64_t epoch() const noexcept {
    return epoch_.load(std::memory_order_acquire); // (A4) pairs with (A3)
  }
  [[nodiscard]] ReaderFence reader_fence() const noexcept {
    return asymmetric_ ? ReaderFence::asymmetric : ReaderFence::symmetric;
  }
  [[nodiscard]] const EpochConfig& config() const noexcept { return config_; }

  /**
   * stamp - the epoch to stamp on something just unlinked
   *
   * Full fence first (S1): the caller's unlinks are ordered before the read
   * of G, pairing with the advance's scan (A1)/(A2).
   */
  [[nodiscard]] std::uint64_t stamp() const noexcept {
    detail::epoch_full_fence();                   // (S1)
    return epoch_.load(std::memory_order_seq_cst); // (S2)
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

  explicit EpochDomain(const EpochConfig& config) noexcept : config_(config) {
    asymmetric_ = config.fence == ReaderFence::asymmetric && detail::epoch_membarrier_register();
  }

  void heavy_fence() const noexcept {
    if (asymmetric_) {
      // A full barrier on every running thread of this process: orders each
      // reader's relaxed announcement (E1) against its later reads.
      if (syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0) return;
    }
    detail::epoch_full_fence();
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
    const std::uint64_t e = stamp(); // (S1)(S2)
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
    b.list.push_batch(*first, *last); // (ll-1) release, pairs with take_all in advance
  }

  /**
   * advance_locked - one advance attempt; the caller holds lock_
   * @freed: receives the chain that became safe (to free outside the lock)
   *
   * Returns false when an active reader announced an older epoch.
   */
  inline bool advance_locked(LlistNode*& freed, std::size_t& freed_count) noexcept;

  std::size_t free_chain(LlistNode* chain, std::size_t count) noexcept {
    if (chain == nullptr) return 0;
    llist_for_each(chain, [](LlistNode* n) noexcept {
      auto* hook = static_cast<EpochHook*>(n);
      hook->deleter(hook);
    });
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
  EpochConfig config_;
  std::atomic<std::uint64_t> retired_{0};
  std::atomic<std::uint64_t> reclaimed_{0};
  std::atomic<std::uint64_t> advances_{0};
  std::atomic<std::uint64_t> bound_hits_{0};
  std::atomic<std::uint64_t> refused_{0};
  std::atomic<std::uint64_t> admits_{0};
};

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
  }

  EpochThread(const EpochThread&) = delete;
  EpochThread& operator=(const EpochThread&) = delete;

  /// Publishes the unsealed batch, returns unused room, unregisters.
  ~EpochThread() {
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
  }

  /**
   * enter - begin a read-side critical section (nests; wait-free)
   *
   * Prefer EpochGuard. Only the outermost enter announces the epoch.
   */
  ARENAKIT_ALWAYS_INLINE void enter() noexcept {
    if (nest_++ != 0) return;
    // (E0) seq_cst load (a plain load on x86): the epoch to announce.
    const std::uint64_t e = epoch_->load(std::memory_order_seq_cst);
    // (E1) relaxed: ordered before our reads by the reclaimer's membarrier (A1).
    state_.store((e << 1) | 1u, std::memory_order_relaxed);
    if (asymmetric_) {
      std::atomic_signal_fence(std::memory_order_seq_cst); // compiler barrier only
    } else {
      detail::epoch_full_fence(); // (E1') pairs with the fence in (A1)
    }
  }

  /// End the critical section begun by the matching enter().
  ARENAKIT_ALWAYS_INLINE void exit() noexcept {
    assert(nest_ != 0 && "EpochThread::exit without enter");
    if (--nest_ != 0) return;
    // (E2) release: our reads in the guard happen-before the scan's (A2).
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
   */
  RetireResult retire(EpochHook* hook, void (*deleter)(EpochHook*) noexcept) noexcept {
    if (ARENAKIT_UNLIKELY(credit_ == 0) && !refill_credit()) return RetireResult::refused_bound;
    --credit_;
    hook->deleter = deleter;
    hook->next = batch_first_;
    if (batch_first_ == nullptr) batch_last_ = hook;
    batch_first_ = hook;
    const std::size_t n = detail::owner_add(batch_n_, 1); // owner-written; report() reads it (relaxed)
    if (ARENAKIT_UNLIKELY(n >= domain_->config_.batch_size)) {
      flush();
      domain_->try_reclaim();
    }
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
    // concurrent report() never counts the batch twice.
    batch_n_.store(0, std::memory_order_relaxed);
    domain_->seal(first, last, n);
  }

  /// flush(), then EpochDomain::synchronize().
  std::error_code synchronize() noexcept {
    flush();
    return domain_->synchronize();
  }

  [[nodiscard]] EpochDomain& domain() const noexcept { return *domain_; }
  [[nodiscard]] const char* label() const noexcept { return label_; }
  [[nodiscard]] long tid() const noexcept { return tid_; }
  [[nodiscard]] std::size_t unsealed() const noexcept { return batch_n_.load(std::memory_order_relaxed); }

private:
  friend class EpochDomain;

  bool refill_credit() noexcept {
    const std::size_t want = domain_->config_.batch_size;
    credit_ = domain_->reserve(want);
    if (credit_ != 0) return true;
    // At the bound: make our own garbage reclaimable, try once, then the policy.
    flush();
    domain_->try_reclaim();
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

/// RAII read-side critical section; nests.
class EpochGuard {
public:
  explicit EpochGuard(EpochThread& thread) noexcept : thread_(thread) { thread_.enter(); }
  ~EpochGuard() { thread_.exit(); }
  EpochGuard(const EpochGuard&) = delete;
  EpochGuard& operator=(const EpochGuard&) = delete;

private:
  EpochThread& thread_;
};

// --- EpochDomain out-of-line members -------------------------------------

inline bool EpochDomain::advance_locked(LlistNode*& freed, std::size_t& freed_count) noexcept {
  const std::uint64_t g = epoch_.load(std::memory_order_relaxed); // written only under lock_
  heavy_fence(); // (A1) pairs with (E1) (membarrier) or (E1') (fence)
  for (const EpochThread* t = threads_; t != nullptr; t = t->next_) {
    // (A2) acquire: pairs with the reader's exit store (E2), so everything
    // a reader did in its guard happens-before we free what it could see.
    std::uint64_t s = t->state_.load(std::memory_order_acquire);
    if ((s & 1u) != 0 && (s >> 1) != g) return false;
  }
  Bucket& b = buckets_[(g + 2) % 3]; // stamp g-1: safe once every reader announced g
  freed = b.list.take_all();         // (ll-2) acquire, pairs with seal's (ll-1)
  freed_count = llist_length(freed);
  b.count.fetch_sub(freed_count, std::memory_order_relaxed);
  b.oldest_stamp.store(UINT64_MAX, std::memory_order_relaxed);
  b.since_ns.store(0, std::memory_order_relaxed);
  // (A3) release: the scan above happens-before anyone who reads g+1 with
  // (A4) and frees a slot stamped g-1 (EpochReclaimer).
  epoch_.store(g + 1, std::memory_order_seq_cst);
  advances_.fetch_add(1, std::memory_order_relaxed); // statistic
  return true;
}


inline EpochDomain::~EpochDomain() {
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
  for (Bucket& b : buckets_) {
    LlistNode* chain = b.list.take_all();
    free_chain(chain, llist_length(chain));
  }
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

inline std::size_t EpochDomain::try_reclaim() noexcept {
  if (!lock_.try_lock()) return 0;
  LlistNode* chain = nullptr;
  std::size_t count = 0;
  advance_locked(chain, count);
  lock_.unlock();
  return free_chain(chain, count); // outside the lock: deleters may retire
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
    LlistNode* chain = nullptr;
    std::size_t count = 0;
    bool advanced;
    {
      detail::SpinLockGuard hold(lock_);
      advanced = advance_locked(chain, count);
    }
    free_chain(chain, count);
    if (epoch_.load(std::memory_order_acquire) >= target) return {}; // (A4)
    if (!advanced) detail::backoff_sleep(attempt); // a reader is still inside: give it the CPU, then sleep
  }
}

inline std::error_code EpochDomain::barrier() noexcept {
  if (std::error_code ec = synchronize(); ec) return ec;
  detail::SpinLockGuard hold(lock_);
  if (registered_ != 0) return {};
  // Teardown: no record, so no reader; every bucket is safe whatever its stamp.
  for (Bucket& b : buckets_) {
    LlistNode* chain = b.list.take_all(); // (ll-2)
    std::size_t n = llist_length(chain);
    b.count.fetch_sub(n, std::memory_order_relaxed);
    free_chain(chain, n);
  }
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
    EpochReport r = report();
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

inline EpochReport EpochDomain::report() const noexcept {
  EpochReport r;
  detail::SpinLockGuard hold(lock_);
  r.epoch = epoch_.load(std::memory_order_relaxed);
  r.bound = config_.garbage_bound;
  r.reserved = reserved_.load(std::memory_order_relaxed);
  r.retired = retired_.load(std::memory_order_relaxed);
  r.reclaimed = reclaimed_.load(std::memory_order_relaxed);
  r.advances = advances_.load(std::memory_order_relaxed);
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
