// SPDX-License-Identifier: MIT
/**
 * @file page_pool/page_pool.hpp
 * @brief Bounded page recycling pool: producers (any thread) return pages
 *        singly or in bulk; consumers take them; what does not fit under the
 *        bound goes back to the page source at once.
 *
 *     auto src = MmapPageSource::create(4096, numa_node);          // set-up: error_code
 *     auto pool = PagePool<MmapPageSource>::create({.max_pages = 1024}, *src);
 *     auto rx = (*pool)->consumer();                            // receive thread
 *     std::byte* page = rx.get();          // cached, shared, or from the source
 *     rx.put(page);                    // same thread: no atomic operation
 *     (*pool)->put(page);                  // any other thread: one CAS + one push
 *
 * The bound is hard. A producer first reserves room with a CAS on `count_`
 * (it never adds past `max_pages`), and only then links the page; a consumer
 * gives room back only after it has unlinked a page. So at every point the
 * pages in the pool (shared list + consumer caches) <= count_ <= max_pages.
 * The check-then-add of a plain "if (count < max) { add; count++; }" is soft:
 * N producers can all pass the check and add N pages past the bound.
 *
 * Consumers: a Consumer handle is thread-confined and owns a private cache
 * (an array of `CacheSize` pointers for pages recycled on that thread, plus
 * a private chain taken from the shared list with one exchange). Consumers
 * never pop single nodes off the shared list (that is what would need the
 * single-consumer rule, see lists/llist.hpp): they take_all(), which is safe from
 * any number of threads, so several Consumers may exist at once - the
 * multi-consumer variant costs the single-consumer path nothing. A consumer
 * may hold back up to its cache and one taken batch while others find the
 * shared list empty (and fall back to the source); flush() gives them back.
 *
 * Counting: a consumer does not give room back on every get(). It keeps a
 * local `debt` (pages handed out whose room it still holds); put() on the
 * same thread spends that debt instead of reserving again, so a get+put
 * pair touches no shared cache line. Debt is settled (one fetch_sub) when the
 * consumer refills and whenever it reaches `CacheSize / 2` on the slow path.
 * Unsettled debt only makes producers overflow a little early; it never lets
 * the pool exceed its bound.
 *
 * NUMA: the pool takes pages from, and overflows pages to, its source; the
 * source binds what it allocates to its node (MmapPageSource is SourcePages
 * over MmapSource, the arena's source: one mbind path), and
 * numa_node() reports it. Producers must return pages that came from the same
 * source.
 *
 * Progress: put/put_bulk are lock-free (a CAS loop on the count that retries
 * only when another reservation or settlement succeeded, then an llist push);
 * get/put on a Consumer are wait-free on the cached path and lock-free
 * when they touch the shared list; source calls are the source's business.
 */
#pragma once

#include <arenakit/config.hpp>
#include <arenakit/concepts/page_source.hpp>
#include <arenakit/detail/bounded_count.hpp>
#include <arenakit/detail/layout.hpp>
#include <arenakit/error.hpp>
#include <arenakit/lists/llist.hpp>
#include <arenakit/sources/mmap_page.hpp> // the usual PageSource
#include <arenakit/sources/source_pages.hpp> // any MemorySource as a PageSource

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <new>

#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace arenakit {

struct PagePoolConfig {
  /// The hard bound: pages the pool may hold (>= 1).
  std::size_t max_pages = 1024;
};

/// What put() did with a page.
enum class PutResult : std::uint8_t {
  pooled,     ///< kept for reuse
  overflowed, ///< the pool was full: returned to the source
  refused,    ///< null page: nothing done
};

struct PagePoolCounters {
  std::size_t max_pages = 0;
  std::size_t reserved = 0;          ///< room held now: pooled pages + unsettled consumer debt
  std::size_t high_water = 0;        ///< largest `reserved` ever (never above max_pages)
  std::uint64_t overflowed = 0;      ///< pages sent back to the source by put (pool or consumer)
  std::uint64_t refused = 0;         ///< null pages refused
  std::uint64_t source_allocations = 0; ///< gets the pool could not serve
  std::uint64_t refills = 0;         ///< consumer take_all()s that found pages
  std::size_t consumers = 0;         ///< live Consumer handles
};

/// Per-consumer counters (plain: one thread writes and reads them).
struct PagePoolConsumerCounters {
  std::uint64_t cache_hits = 0;   ///< get() served from the private array
  std::uint64_t shared_hits = 0;  ///< get() served from a taken batch
  std::uint64_t source_allocations = 0;
  std::uint64_t recycled = 0;     ///< pages put()d on this thread
};

/**
 * PagePool - bounded recycling pool (see the file comment).
 * @Source: a PageSource
 * @CacheSize: pointers in each consumer's private array
 */
template <class Source, std::size_t CacheSize = 64>
class PagePool {
  // Asserted rather than constrained, so a misfit says what is missing
  // (concepts/page_source.hpp).
  static_assert(check_page_source<Source>());
  static_assert(CacheSize >= 2, "arenakit: PagePool needs a consumer cache of at least 2 pages");

public:
  /**
   * create - a pool, or why not
   *
   * Returns errc::invalid_config when max_pages is 0 or the source's pages
   * are too small to hold the link; errc::out_of_memory when the pool object
   * itself cannot be allocated.
   */
  static Result<std::unique_ptr<PagePool>> create(PagePoolConfig config, Source source) noexcept {
    if (config.max_pages == 0 || source.page_size() < 64) return errc::invalid_config;
    std::unique_ptr<PagePool> pool(new (std::nothrow) PagePool(config, static_cast<Source&&>(source)));
    if (!pool) return errc::out_of_memory;
    return pool;
  }

  PagePool(const PagePool&) = delete;
  PagePool& operator=(const PagePool&) = delete;

  /// Returns every pooled page to the source. Consumers must be gone first
  /// (a live one is reported: its cached pages would outlive the pool).
  ~PagePool() {
    // The layout the field comments promise (the class is complete here).
    ARENAKIT_LAYOUT_CHECK_BEGIN
    static_assert(alignof(PagePool) >= cache_line_size, "arenakit: a PagePool starts a cache line");
    static_assert(ARENAKIT_LINE_OF(PagePool, count_) != ARENAKIT_LINE_OF(PagePool, shared_),
                  "arenakit: the bound (every reservation) must not share the list head's line");
    static_assert(ARENAKIT_LINE_OF(PagePool, high_water_) == ARENAKIT_LINE_OF(PagePool, count_),
                  "arenakit: the high-water mark is written right after a reservation: the count's line");
    static_assert(ARENAKIT_LINE_OF(PagePool, max_) != ARENAKIT_LINE_OF(PagePool, count_),
                  "arenakit: cold configuration and counters must not share the bound's line");
    ARENAKIT_LAYOUT_CHECK_END
    // (pp-K2) acquire: pairs with each Consumer destructor's (pp-K1), so
    // their last flushes are in shared_ before we free it.
    std::size_t live = consumers_.load(std::memory_order_acquire);
    if (live != 0)
      std::fprintf(stderr, "arenakit: PagePool destroyed with %zu live consumer(s)\n", live);
    free_chain(shared_.take_all());
  }

  /**
   * put - return one page (any thread)
   *
   * Returns PutResult::pooled, or ::overflowed when the pool is full (the
   * page went back to the source), or ::refused for a null page.
   * Lock-free. Provides acquire barrier semantics on its reservation
   * (pp-B1: the page whose room it reuses was unlinked first) and release
   * on the push (ll-1): whoever gets the page sees what the caller wrote.
   */
  PutResult put(std::byte* page) noexcept {
    if (ARENAKIT_UNLIKELY(page == nullptr)) {
      refused_.fetch_add(1, std::memory_order_relaxed);
      return PutResult::refused;
    }
    if (ARENAKIT_UNLIKELY(reserve(1) == 0)) {
      overflow(page);
      return PutResult::overflowed;
    }
    shared_.push(*link(page));
    return PutResult::pooled;
  }

  /**
   * put_bulk - return @count pages with one reservation and one push
   *
   * Null entries are refused and skipped. Returns how many were pooled; the
   * rest went back to the source. Lock-free; barriers as put().
   */
  std::size_t put_bulk(std::byte* const* pages, std::size_t count) noexcept {
    std::size_t valid = 0;
    for (std::size_t i = 0; i < count; ++i) valid += pages[i] != nullptr ? 1u : 0u;
    if (valid != count) refused_.fetch_add(count - valid, std::memory_order_relaxed);
    std::size_t room = valid != 0 ? reserve(valid) : 0;
    LlistNode* first = nullptr;
    LlistNode* last = nullptr;
    std::size_t linked = 0;
    for (std::size_t i = 0; i < count; ++i) {
      if (pages[i] == nullptr) continue;
      if (linked == room) {
        overflow(pages[i]);
        continue;
      }
      LlistNode* node = link(pages[i]);
      node->next = first;
      first = node;
      if (last == nullptr) last = node;
      ++linked;
    }
    if (linked != 0) shared_.push_bulk(*first, *last);
    return linked;
  }

  class Consumer;
  /// A new consumer handle (any number may exist; each is thread-confined).
  [[nodiscard]] Consumer consumer() noexcept { return Consumer(this); }

  [[nodiscard]] int numa_node() const noexcept { return source_.numa_node(); }
  [[nodiscard]] std::size_t page_size() const noexcept { return source_.page_size(); }
  [[nodiscard]] std::size_t max_pages() const noexcept { return max_; }
  [[nodiscard]] Source& source() noexcept { return source_; }

  [[nodiscard]] PagePoolCounters counters() const noexcept {
    PagePoolCounters c;
    c.max_pages = max_;
    c.reserved = count_.load(std::memory_order_relaxed);
    c.high_water = high_water_.load(std::memory_order_relaxed);
    c.overflowed = overflowed_.load(std::memory_order_relaxed);
    c.refused = refused_.load(std::memory_order_relaxed);
    c.source_allocations = source_allocs_.load(std::memory_order_relaxed);
    c.refills = refills_.load(std::memory_order_relaxed);
    c.consumers = consumers_.load(std::memory_order_relaxed);
    return c;
  }

  /**
   * Consumer - takes pages; recycles pages on its own thread without atomics.
   * Move-only; use from one thread at a time. Destroying it (or flush())
   * gives its cached pages back to the shared list.
   */
  class Consumer {
  public:
    Consumer(Consumer&& other) noexcept
        : pool_(std::exchange(other.pool_, nullptr)), n_(std::exchange(other.n_, 0)),
          debt_(std::exchange(other.debt_, 0)), chain_(std::exchange(other.chain_, nullptr)),
          stats_(other.stats_) {
      std::copy(other.cache_, other.cache_ + n_, cache_);
    }
    Consumer& operator=(Consumer&&) = delete;
    Consumer(const Consumer&) = delete;
    Consumer& operator=(const Consumer&) = delete;
    ~Consumer() {
      if (pool_ == nullptr) return;
      flush();
      // (pp-K1) release: our last flush happens-before the pool's destructor
      // reads consumers_ (pp-K2).
      pool_->consumers_.fetch_sub(1, std::memory_order_release);
    }

    /**
     * get - one page: from the private cache, else a batch taken from the
     *       shared list, else the source. Null only if the source fails.
     *
     * Wait-free on the cached path (no atomic operation); lock-free when it
     * takes the shared list, which provides acquire barrier semantics
     * (ll-2): a page put by another thread is seen with the putter's writes.
     */
    [[nodiscard]] ARENAKIT_ALWAYS_INLINE std::byte* get() noexcept {
      if (ARENAKIT_LIKELY(n_ != 0)) {
        ++debt_;
        ++stats_.cache_hits;
        return cache_[--n_];
      }
      return get_slow();
    }

    /**
     * get_bulk - fill @out with @count pages
     *
     * Returns how many were filled: @count unless the source failed.
     * Progress and barriers as get().
     */
    ARENAKIT_ALWAYS_INLINE std::size_t get_bulk(std::byte** out, std::size_t count) noexcept {
      std::size_t from_cache = std::min(count, n_);
      n_ -= from_cache;
      copy_pages(out, cache_ + n_, from_cache); // the hot end of the cache
      debt_ += from_cache;
      stats_.cache_hits += from_cache;
      std::size_t filled = from_cache;
      if (ARENAKIT_UNLIKELY(filled < count)) filled = get_bulk_slow(out, filled, count);
      return filled;
    }

    /**
     * put - return a page on this consumer's thread (the direct path)
     *
     * Spends debt when it has some (no atomic operation); otherwise reserves
     * room like put(). Returns what happened to the page. Wait-free with
     * debt (no barrier: the page stays on this thread); else as put()'s
     * reservation (pp-B1).
     */
    ARENAKIT_ALWAYS_INLINE PutResult put(std::byte* page) noexcept {
      if (ARENAKIT_UNLIKELY(page == nullptr)) {
        pool_->refused_.fetch_add(1, std::memory_order_relaxed);
        return PutResult::refused;
      }
      if (ARENAKIT_LIKELY(debt_ != 0)) {
        --debt_;
      } else if (pool_->reserve(1) == 0) {
        pool_->overflow(page);
        return PutResult::overflowed;
      }
      ++stats_.recycled;
      stash(page);
      return PutResult::pooled;
    }

    /// put() for @count pages; one reservation at most. Returns pooled count.
    ARENAKIT_ALWAYS_INLINE std::size_t put_bulk(std::byte* const* pages, std::size_t count) noexcept {
      if (ARENAKIT_LIKELY(debt_ >= count && CacheSize - n_ >= count)) {
        // Fast path: room is already ours and the array has space. One
        // vectorizable pass looks for null pages, then one copy.
        bool any_null = false;
        for (std::size_t i = 0; i < count; ++i) any_null |= pages[i] == nullptr;
        if (ARENAKIT_LIKELY(!any_null)) {
          copy_pages(cache_ + n_, pages, count);
          n_ += count;
          debt_ -= count;
          stats_.recycled += count;
          return count;
        }
      }
      std::size_t valid = 0;
      for (std::size_t i = 0; i < count; ++i) valid += pages[i] != nullptr ? 1u : 0u;
      if (ARENAKIT_UNLIKELY(valid != count))
        pool_->refused_.fetch_add(count - valid, std::memory_order_relaxed);
      std::size_t room = std::min(valid, debt_);
      debt_ -= room;
      if (room < valid) room += pool_->reserve(valid - room);
      std::size_t pooled = 0;
      for (std::size_t i = 0; i < count; ++i) {
        if (pages[i] == nullptr) continue;
        if (pooled == room) {
          pool_->overflow(pages[i]);
          continue;
        }
        stash(pages[i]);
        ++pooled;
      }
      stats_.recycled += pooled;
      return pooled;
    }

    /// Gives cached pages back to the shared list and settles debt. Lock-free;
    /// release on the settlement (pp-B2) and on the push (ll-1).
    void flush() noexcept {
      settle();
      LlistNode* first = chain_;
      LlistNode* last = nullptr;
      for (LlistNode* n = chain_; n != nullptr; n = n->next) last = n;
      chain_ = nullptr;
      while (n_ != 0) {
        LlistNode* node = link(cache_[--n_]);
        node->next = first;
        first = node;
        if (last == nullptr) last = node;
      }
      // Already counted in count_: they were pool pages all along.
      if (first != nullptr) pool_->shared_.push_bulk(*first, *last);
    }

    [[nodiscard]] std::size_t cached() const noexcept { return n_ + llist_length(chain_); }
    [[nodiscard]] const PagePoolConsumerCounters& counters() const noexcept { return stats_; }

  private:
    friend class PagePool;
    explicit Consumer(PagePool* pool) noexcept : pool_(pool) {
      pool_->consumers_.fetch_add(1, std::memory_order_relaxed);
    }

    static ARENAKIT_ALWAYS_INLINE void copy_pages(std::byte** to, std::byte* const* from,
                                                  std::size_t n) noexcept {
      // Not memcpy, whose arguments must be valid pointers even for 0 bytes:
      // get_bulk(nullptr, 0) / put_bulk(nullptr, 0) are a no-op, not UB.
      // (A guarded memcpy made g++ 12 -O3 see a bound it cannot prove.)
      std::copy_n(from, n, to);
    }

    ARENAKIT_ALWAYS_INLINE void stash(std::byte* page) noexcept {
      if (ARENAKIT_LIKELY(n_ != CacheSize)) {
        cache_[n_++] = page;
        return;
      }
      LlistNode* node = link(page);
      node->next = chain_;
      chain_ = node;
    }

    void settle() noexcept {
      if (debt_ == 0) return;
      // (pp-B2) release: the pages behind this room were unlinked before; pairs
      // with the acquire of a producer's reservation (pp-B1).
      pool_->count_.template release<std::memory_order_release>(debt_);
      debt_ = 0;
    }

    ARENAKIT_NOINLINE std::size_t get_bulk_slow(std::byte** out, std::size_t filled,
                                                std::size_t count) noexcept {
      while (filled < count) {
        std::byte* page = get_slow();
        if (page == nullptr) break;
        out[filled++] = page;
      }
      return filled;
    }

    ARENAKIT_NOINLINE std::byte* get_slow() noexcept {
      if (chain_ == nullptr) {
        settle();
        chain_ = pool_->shared_.take_all();
        if (chain_ != nullptr) pool_->refills_.fetch_add(1, std::memory_order_relaxed);
      } else if (debt_ >= CacheSize / 2) {
        settle();
      }
      if (chain_ != nullptr) {
        LlistNode* node = chain_;
        chain_ = node->next;
        ++debt_;
        ++stats_.shared_hits;
        return reinterpret_cast<std::byte*>(node);
      }
      ++stats_.source_allocations;
      pool_->source_allocs_.fetch_add(1, std::memory_order_relaxed);
      return pool_->source_.allocate_page();
    }

    PagePool* pool_;
    std::size_t n_ = 0;
    std::size_t debt_ = 0;
    LlistNode* chain_ = nullptr;
    PagePoolConsumerCounters stats_{};
    std::byte* cache_[CacheSize];
  };

private:
  PagePool(PagePoolConfig config, Source&& source) noexcept
      : max_(config.max_pages), source_(static_cast<Source&&>(source)) {}

  static LlistNode* link(std::byte* page) noexcept {
    return ::new (static_cast<void*>(page)) LlistNode{};
  }

  /// Reserves up to @want units of room; returns how many (0 when full).
  std::size_t reserve(std::size_t want) noexcept {
    // (pp-B1) acquire on success: pairs with a consumer's (pp-B2), so the page
    // whose room we reuse was unlinked before we link ours. Never adds past
    // max_ (a CAS, detail/bounded_count.hpp): this is what makes the bound hard.
    const auto r = count_.reserve<std::memory_order_acquire>(want, max_);
    if (r.taken == 0) return 0;
    // A statistic: relaxed; written only when it grows (rarely once warm).
    detail::fetch_max(high_water_, r.now);
    return r.taken;
  }

  void overflow(std::byte* page) noexcept {
    overflowed_.fetch_add(1, std::memory_order_relaxed);
    source_.free_page(page);
  }

  void free_chain(LlistNode* chain) noexcept {
    llist_for_each(chain, [this](LlistNode* n) noexcept {
      source_.free_page(reinterpret_cast<std::byte*>(n));
    });
  }

  // Shared list head: its own line (Llist is line-aligned).
  Llist shared_;
  // The bound: written by every producer reservation and consumer settlement.
  alignas(cache_line_size) detail::BoundedCount<std::size_t> count_;
  std::atomic<std::size_t> high_water_{0};
  // Cold: configuration, source, slow-path counters.
  alignas(cache_line_size) std::size_t max_;
  Source source_;
  std::atomic<std::uint64_t> overflowed_{0};
  std::atomic<std::uint64_t> refused_{0};
  std::atomic<std::uint64_t> source_allocs_{0};
  std::atomic<std::uint64_t> refills_{0};
  std::atomic<std::size_t> consumers_{0};
};

} // namespace arenakit
