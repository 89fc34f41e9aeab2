// SPDX-License-Identifier: MIT
/**
 * @file lists/release_list.hpp
 * @brief The deferred-release list (completion side pushes in O(1) without a
 *        lock; the owner drains everything in one batch) and the llist
 *        deferred Reclaimer built on it.
 *
 * The shape is the one of a send-completion release list in an RDMA server:
 *
 *     // completion handler, any thread, O(1), no lock, no allocation:
 *     list.release(ctx->node);
 *     // owner (the thread that serves the connection), between requests:
 *     list.drain([&](LlistNode* n) noexcept { teardown(llist_entry<Ctx>(n)); });
 *     // owner, before it sleeps (the idle-connection backstop):
 *     auto seen = bell.snapshot();
 *     if (list.park(teardown)) bell.wait(seen);
 *     // teardown, after the device is quiesced (no more completions):
 *     list.close(teardown);
 *
 * Teardown (unmap, page release, return to an arena) runs in the drainer's
 * context, in release order (FIFO).
 *
 * Who wakes the owner is a named policy (lists/wake_policy.hpp). With WakeOnEdge or
 * WakeAtWatermark the list must be given a Waker: a list that could strand a
 * release on an idle connection does not compile without one.
 *
 * Thread roles: release() from any thread; drain(), park(), close() and the
 * destructor from the owner only (one thread at a time); counters() and
 * pending() from any thread.
 *
 * Progress: release() is lock-free (see lists/llist.hpp) and calls the Waker at most
 * once; drain/park/close are wait-free apart from the teardown they run.
 */
#pragma once

#include <arenakit/config.hpp>
#include <arenakit/detail/layout.hpp>
#include <arenakit/detail/owner_counter.hpp>
#include <arenakit/lists/llist.hpp>
#include <arenakit/slot_id.hpp>
#include <arenakit/lists/wake_policy.hpp>

#include <atomic>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <new>
#include <type_traits>

namespace arenakit {

/// How exact the release count is. The hot path pays for what you pick.
enum class Counting : std::uint8_t {
  /// Releases are counted by the owner when it drains them: release() costs
  /// one CAS and nothing else. pending() is then 0 or 1 (empty / not empty).
  at_drain,
  /// One relaxed fetch_add per release on a producer cache line: pending()
  /// is exact at any time, and `releases` whenever no drain is running
  /// (while one runs it may read low by that drain's batch for a moment:
  /// the batch leaves `pending` before it reaches `items_drained`).
  /// WakeAtWatermark always counts.
  exact,
};

/// What release() did.
enum class ReleaseResult : std::uint8_t {
  queued,         ///< on the list; no wake was needed
  queued_woke,    ///< on the list, and this release woke the owner
  refused_closed, ///< the list is closed: not queued, the caller still owns the item
};

/// Snapshot of a ReleaseList's counters (each field read atomically).
struct ReleaseListCounters {
  std::uint64_t releases = 0;            ///< queued releases (exact with Counting::exact; else = items_drained)
  std::uint64_t drains = 0;              ///< drains that found at least one item
  std::uint64_t items_drained = 0;       ///< items handed to teardown by drain/park/close
  std::uint64_t max_items_per_drain = 0; ///< largest single batch
  std::uint64_t wakeups = 0;             ///< Waker calls issued by releases
  std::uint64_t refused_closed = 0;      ///< releases refused because the list was closed
  std::uint64_t leftover_at_destruction = 0;
  [[nodiscard]] double items_per_drain() const noexcept {
    return drains == 0 ? 0.0 : static_cast<double>(items_drained) / static_cast<double>(drains);
  }
  [[nodiscard]] double wakeups_per_item() const noexcept {
    return releases == 0 ? 0.0 : static_cast<double>(wakeups) / static_cast<double>(releases);
  }
};

/// Called when a list is destroyed with items on it: the chain (newest
/// first) and its length. The default prints one line on stderr. The hook
/// owns the chain; it may tear the items down.
using LeftoverHook = void (*)(void* context, LlistNode* chain, std::size_t count) noexcept;

inline void report_leftover_to_stderr(void* /*context*/, LlistNode* /*chain*/,
                                      std::size_t count) noexcept {
  std::fprintf(stderr,
               "arenakit: ReleaseList destroyed with %zu item(s) never drained; "
               "call close(teardown) after quiescing the producers\n",
               count);
}

/**
 * ReleaseList - deferred-release list with a named wake-up policy.
 * @Policy: WakeNever (default), WakeOnEdge or WakeAtWatermark
 * @W: the Waker (a nothrow void() callable); NoWaker (default) only with WakeNever
 * @Count: Counting::at_drain (default) or Counting::exact
 *
 * The defaults, `ReleaseList<>`, are a polled list: WakeNever needs no Waker
 * and has no park(), so nothing can sleep on it and no release is stranded.
 * An owner that sleeps names WakeOnEdge or WakeAtWatermark and a Waker.
 */
template <class Policy = WakeNever, class W = NoWaker, Counting Count = Counting::at_drain>
class ReleaseList {
  static_assert(check_wake_policy<Policy>());
  static_assert(check_waker<W>());

  static constexpr bool watermark_policy = std::is_same_v<Policy, WakeAtWatermark>;
  static constexpr bool never_policy = std::is_same_v<Policy, WakeNever>;
  static constexpr bool counted = Count == Counting::exact || watermark_policy;

  static_assert(never_policy || !std::is_same_v<W, NoWaker>,
                "arenakit: a WakeOnEdge or WakeAtWatermark ReleaseList needs a Waker "
                "(e.g. RingDoorbell{&bell}); without one a release that lands after the "
                "owner's last drain is stranded on an idle connection. Use WakeNever if the "
                "owner polls.");

public:
  explicit ReleaseList(W waker = W{}, Policy policy = Policy{}) noexcept
      : waker_(static_cast<W&&>(waker)), policy_(policy) {}
  ReleaseList(const ReleaseList&) = delete;
  ReleaseList& operator=(const ReleaseList&) = delete;

  /// Reports (never silently leaks) items still queued; see LeftoverHook.
  ~ReleaseList() {
    // The layout the field comments promise (checked here: the class is
    // complete and this body is always instantiated).
    ARENAKIT_LAYOUT_CHECK_BEGIN
    static_assert(alignof(ReleaseList) >= cache_line_size, "arenakit: a ReleaseList starts a cache line");
    static_assert(ARENAKIT_LINE_OF(ReleaseList, list_) == ARENAKIT_LINE_OF(ReleaseList, parked_),
                  "arenakit: a watermark release reads parked_ right after its CAS: same line as the head");
    static_assert(ARENAKIT_LINE_OF(ReleaseList, pending_) != ARENAKIT_LINE_OF(ReleaseList, list_),
                  "arenakit: producer counters must not share the head's line");
    static_assert(ARENAKIT_LINE_OF(ReleaseList, drains_) != ARENAKIT_LINE_OF(ReleaseList, list_) &&
                      ARENAKIT_LINE_OF(ReleaseList, drains_) != ARENAKIT_LINE_OF(ReleaseList, refused_closed_),
                  "arenakit: owner counters (line 3) must not share a producer line (1 or 2)");
    // An empty Waker takes no room ([[no_unique_address]]), so its alignas
    // does not open a line and the cold fields then share line 3 with the
    // owner counters: both are owner-only, so nothing is lost.
    static_assert(ARENAKIT_LINE_OF(ReleaseList, leftover_hook_) >= ARENAKIT_LINE_OF(ReleaseList, leftover_),
                  "arenakit: the cold configuration is on the owner's line or after it");
    ARENAKIT_LAYOUT_CHECK_END
    LlistNode* chain = list_.head(std::memory_order_acquire); // (rl-2) as in drain
    if (chain == nullptr || chain == ClosableLlist::closed_mark()) return;
    std::size_t count = llist_length(chain);
    leftover_.store(count, std::memory_order_relaxed);
    leftover_hook_(leftover_context_, chain, count);
  }

  /// Replace the report made when the list is destroyed non-empty.
  void set_leftover_hook(LeftoverHook hook, void* context) noexcept {
    leftover_hook_ = hook != nullptr ? hook : &report_leftover_to_stderr;
    leftover_context_ = context;
  }

  /**
   * release - queue @node for the owner's next drain (any thread)
   * @node: an item the caller gives up; not on any list
   *
   * O(1), lock-free, never allocates. Wakes the owner when the policy says
   * so. On a closed list the item is refused and still belongs to the caller.
   * Provides release barrier semantics if it queues (rl-1): the item's
   * contents are visible to the drain that tears it down (seq_cst under
   * WakeAtWatermark, so the parked check after it is ordered, (rl-3)).
   */
  ARENAKIT_ALWAYS_INLINE ReleaseResult release(LlistNode& node) noexcept {
    return release_bulk(node, node, 1);
  }

  /**
   * release_bulk - queue the caller-built chain [first..last] of @count
   *                 items with one CAS
   *
   * Lock-free; barriers as release() ((rl-1), (rl-3)).
   */
  ReleaseResult release_bulk(LlistNode& first, LlistNode& last, std::size_t count) noexcept {
    [[maybe_unused]] std::uint64_t before = 0;
    if constexpr (counted) {
      // Counted before the item is published, so the count never drops below
      // what is on the list: this fetch_add is sequenced before (rl-1), which
      // the drainer's (rl-2) reads, so the drainer's fetch_sub comes after it.
      before = pending_.fetch_add(count, std::memory_order_relaxed);
    }
    // (rl-1) the llist push (ClosableLlist, (ll-1)): release, publishes the
    // items to the drainer's (rl-2). With WakeAtWatermark it is seq_cst: it
    // must be ordered before the load of `parked_` below, pairing with
    // park()'s (rl-4)/(rl-5) (store-load, Dekker).
    LlistNode* const old = list_.template push_bulk<push_order>(first, last);
    if (ARENAKIT_UNLIKELY(old == ClosableLlist::closed_mark())) {
      if constexpr (counted) pending_.fetch_sub(count, std::memory_order_relaxed); // a count only
      refused_closed_.fetch_add(1, std::memory_order_relaxed); // statistic
      return ReleaseResult::refused_closed;
    }

    bool wake = false;
    if constexpr (std::is_same_v<Policy, WakeOnEdge>) {
      wake = old == nullptr;
    } else if constexpr (watermark_policy) {
      wake = before < policy_.watermark() && before + count >= policy_.watermark();
      // (rl-3) seq_cst load after (rl-1): either we see the owner parked, or
      // the owner's re-check (rl-5) sees our item.
      if (!wake && parked_.load(std::memory_order_seq_cst))
        wake = parked_.exchange(false, std::memory_order_relaxed); // one waker wins
    }
    if (wake) {
      wakeups_.fetch_add(1, std::memory_order_relaxed); // rare: edges only
      waker_();
      return ReleaseResult::queued_woke;
    }
    return ReleaseResult::queued;
  }

  /**
   * drain - tear down everything queued, oldest first (owner only)
   * @teardown: callable as teardown(LlistNode*) noexcept; owns the node
   *
   * Returns the number of items torn down. After it returns the list is
   * empty (or holds only releases that raced with it), so the next release
   * on an empty list is an edge. Wait-free apart from the teardown it runs;
   * provides acquire barrier semantics (rl-2): every release it takes
   * happens-before that item's teardown.
   */
  template <class Teardown>
  std::size_t drain(Teardown&& teardown) noexcept {
    // (rl-2) acquire (ClosableLlist::take_all, (ll-2)): pairs with (rl-1);
    // the items' contents are visible. A closed list gives nothing (only the
    // owner closes, so the check inside cannot race with a close).
    return run(list_.take_all(), teardown);
  }

  /**
   * park - drain, then tell whether the owner may sleep (owner only)
   *
   * Returns true when a later release is guaranteed to call the Waker:
   * with WakeOnEdge the list is now empty, so the next release is an edge;
   * with WakeAtWatermark the owner is marked parked and the next release
   * wakes it. Returns false when a release raced in: drain again instead of
   * sleeping. Take the Doorbell snapshot *before* calling park().
   * Not available with WakeNever (its owner must poll). Wait-free apart from
   * the teardown; acquire as drain (rl-2), and under WakeAtWatermark a
   * seq_cst store-load pair (rl-4)/(rl-5) against the releases' (rl-1)/(rl-3).
   */
  template <class Teardown>
    requires(!std::is_same_v<Policy, WakeNever>)
  [[nodiscard]] bool park(Teardown&& teardown) noexcept {
    drain(teardown);
    if constexpr (watermark_policy) {
      parked_.store(true, std::memory_order_seq_cst); // (rl-4) pairs with (rl-3)
      // (rl-5) seq_cst load: ordered after (rl-4); pairs with (rl-1).
      if (!list_.empty(std::memory_order_seq_cst)) {
        parked_.store(false, std::memory_order_relaxed);
        return false;
      }
    }
    return true;
  }

  /**
   * close - final drain after the producers are quiesced (owner only)
   *
   * Tears down everything queued and closes the list: a later release()
   * returns ReleaseResult::refused_closed and leaves the item with its
   * caller, so nothing is lost even if a straggler was not quiesced.
   * Returns the number of items torn down. Wait-free apart from the
   * teardown; provides acquire barrier semantics (rl-2), as drain.
   */
  template <class Teardown>
  std::size_t close(Teardown&& teardown) noexcept {
    // (rl-2) acquire as in drain (ClosableLlist::close); publishes nothing,
    // only swaps in the mark that (rl-1)'s push refuses.
    return run(list_.close(), teardown);
  }

  /// Snapshot (relaxed): close() has run.
  [[nodiscard]] bool closed_for_release() const noexcept { return list_.closed(); }
  /// Snapshot (relaxed): nothing queued.
  [[nodiscard]] bool empty() const noexcept { return list_.empty(); }

  /// Queued, not yet drained: exact when counted, else 0 or 1 (empty or not).
  [[nodiscard]] std::size_t pending() const noexcept {
    if constexpr (counted) {
      // Relaxed: a snapshot of a count; may briefly include items a drain
      // already took (it subtracts after the exchange).
      return static_cast<std::size_t>(pending_.load(std::memory_order_relaxed));
    } else {
      return empty() ? 0u : 1u;
    }
  }

  [[nodiscard]] ReleaseListCounters counters() const noexcept {
    ReleaseListCounters c;
    c.drains = drains_.load(std::memory_order_relaxed);
    c.items_drained = items_drained_.load(std::memory_order_relaxed);
    c.max_items_per_drain = max_per_drain_.load(std::memory_order_relaxed);
    c.wakeups = wakeups_.load(std::memory_order_relaxed);
    c.refused_closed = refused_closed_.load(std::memory_order_relaxed);
    c.leftover_at_destruction = leftover_.load(std::memory_order_relaxed);
    c.releases = c.items_drained;
    if constexpr (counted) c.releases += pending_.load(std::memory_order_relaxed);
    return c;
  }

  [[nodiscard]] const W& waker() const noexcept { return waker_; }
  [[nodiscard]] W& waker() noexcept { return waker_; }

private:
  static constexpr std::memory_order push_order =
      watermark_policy ? std::memory_order_seq_cst : std::memory_order_release;

  template <class Teardown>
  std::size_t run(LlistNode* chain, Teardown& teardown) noexcept {
    if (chain == nullptr) return 0;
    // Newest-first on the list; teardown runs in release order.
    std::size_t n = llist_for_each(llist_reverse(chain), teardown);
    if constexpr (counted) pending_.fetch_sub(n, std::memory_order_relaxed); // a count only
    // Owner-only fields: plain read-modify-write through relaxed atomics so
    // counters() may read them from any thread.
    detail::owner_add(drains_, 1);
    detail::owner_add(items_drained_, std::uint64_t{n});
    if (n > max_per_drain_.load(std::memory_order_relaxed))
      max_per_drain_.store(n, std::memory_order_relaxed);
    return n;
  }

  // Line 1: the head (every producer's CAS) and the parked flag producers of
  // a watermark list read right after that CAS.
  alignas(cache_line_size) ClosableLlist list_;
  std::atomic<bool> parked_{false};
  // Line 2: producer-written counters (per release only with counting).
  alignas(cache_line_size) std::atomic<std::uint64_t> pending_{0};
  std::atomic<std::uint64_t> wakeups_{0};
  std::atomic<std::uint64_t> refused_closed_{0};
  // Line 3: owner-written counters.
  alignas(cache_line_size) std::atomic<std::uint64_t> drains_{0};
  std::atomic<std::uint64_t> items_drained_{0};
  std::atomic<std::uint64_t> max_per_drain_{0};
  std::atomic<std::uint64_t> leftover_{0};
  // Cold: configuration.
  alignas(cache_line_size) [[no_unique_address]] W waker_;
  [[no_unique_address]] Policy policy_;
  LeftoverHook leftover_hook_ = &report_leftover_to_stderr;
  void* leftover_context_ = nullptr;
};

} // namespace arenakit
