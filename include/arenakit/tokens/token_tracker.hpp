// SPDX-License-Identifier: MIT
/**
 * @file tokens/token_tracker.hpp
 * @brief TokenTracker: devmem-style token tracking. A binding cut into
 *        pages; consumers (sockets) take references when the receive path
 *        delivers pages and give them back in batches of token ranges; a
 *        lookup is an array index; close() gives back what a consumer held.
 *
 * Contract (the design, the figures and the memory-order table: docs/tokens.md)
 * - Tokens name pages (tokens/format.hpp); every untrusted input (a range,
 *   a stale handle, a page past the binding) is refused whole, counted by
 *   reason (TokenRefusal) and changes nothing; another consumer's
 *   references are never touched.
 * - Composition: the tracker owns consumers (a registry of slots, their
 *   lifecycle and handles), the range walk, the work cap and the counters;
 *   a page-reference policy (concepts/page_refs.hpp: AnyThreadRefs, the
 *   default, OneProducerRefs, SingleWriterRefs) owns the per-page memory
 *   and protocol. The tracker has no branch per policy.
 * - Memory: 8 bytes per page per binding (+16 with SingleWriterRefs);
 *   per consumer a slot, a log of the pages it took while free and a table
 *   of pages it shares: never consumers x binding. tracking_bytes() is exact.
 * - Work: return_tokens() does at most max_tokens_per_call units (capped,
 *   ranges_done); close() costs O(entries it held), never O(binding).
 * - Threads: deliver() one thread per consumer at a time (one per binding
 *   with OneProducerRefs / SingleWriterRefs), a second is refused (concurrent_delivery); return_tokens()
 *   and close() any threads, concurrently with everything; close() never
 *   waits for a delivery or a Returner call in flight, the last to leave
 *   drains. Queries any thread; destruction with no call in flight.
 * - Progress: deliver/return on a page one consumer holds are lock-free (one
 *   CAS on the page word; with SingleWriterRefs no locked
 *   instruction per token); pages shared by several consumers block on a
 *   per-page spin bit, then the consumer's spin lock (in that order).
 * - Barriers: dropping a reference releases, taking one acquires: a holder's
 *   use of a page happens-before whoever sees its count reach 0 (page_refs(),
 *   the hook, the next delivery). Every site carries its (tt-*) label.
 * - The hook (PageFreeHook) runs on the thread that dropped a page's last
 *   reference; over an ArenaBinding it returns the page to its arena.
 */
#pragma once

#include <arenakit/config.hpp>
#include <arenakit/tokens/format.hpp>
#include <arenakit/tokens/types.hpp>
#include <arenakit/concepts/page_refs.hpp>
#include <arenakit/tokens/impl/consumer_registry.hpp>
#include <arenakit/tokens/impl/consumer_slot.hpp>
#include <arenakit/tokens/refs/page_words.hpp>
#include <arenakit/tokens/refs/single_writer.hpp>
#include <arenakit/tokens/refs/sole_or_shared.hpp>
#include <arenakit/detail/owner_counter.hpp>
#include <arenakit/detail/test_hook.hpp>
#include <arenakit/detail/token_word.hpp>
#include <arenakit/error.hpp>
#include <arenakit/region.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cassert>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>
#include <optional>
#include <span>
#include <type_traits>
#include <utility>

namespace arenakit {

/**
 * class TokenTracker - one binding's pages, its consumers, their references.
 * @OnPageFree: PageFreeHook called when a page's last reference comes back.
 * @Refs:       the page-reference policy (concepts/page_refs.hpp).
 *
 * A movable handle to heap state (create() builds it); a default-constructed
 * tracker is empty and must not be used.
 */
template <class OnPageFree = IgnorePageFree, class Refs = AnyThreadRefs>
class TokenTracker {
  static_assert(PageFreeHook<OnPageFree>,
                "arenakit::TokenTracker<OnPageFree>: OnPageFree must be callable as hook(std::uint32_t page) "
                "noexcept and be nothrow-move-constructible");
  static_assert(check_page_refs<Refs>());
  static_assert(Refs::calls_hook || std::is_same_v<OnPageFree, IgnorePageFree>,
                "arenakit::TokenTracker: this page-reference policy calls no page-free hook (SingleWriterRefs: "
                "the producer polls page_refs())");
  static constexpr bool one_returner = Refs::one_returner;
  using Slot = detail::TokenConsumerSlot;
  using Ctx = detail::PageCtx<OnPageFree>;
  struct State;

public:
  TokenTracker() noexcept = default;
  TokenTracker(TokenTracker&&) noexcept = default;
  TokenTracker& operator=(TokenTracker&&) noexcept = default;
  ~TokenTracker() = default;

  /**
   * create() - track the pages of @binding.
   * @binding: the region; its `data` may be null (device memory). Its size
   *           must be a non-zero multiple of cfg.page_size.
   * @cfg:     see TokenTrackerConfig.
   * @hook:    called when a page's last reference comes back.
   *
   * Allocates the page words (8 bytes per page, zeroed lazily by calloc) and
   * the consumer-chunk table. Return: the tracker, or errc::invalid_config,
   * errc::id_space_exhausted (token layout too small: use 64-bit tokens),
   * errc::out_of_memory.
   */
  static Result<TokenTracker> create(const Region& binding, const TokenTrackerConfig& cfg,
                                     OnPageFree hook = OnPageFree{}) noexcept;

  [[nodiscard]] explicit operator bool() const noexcept { return state_ != nullptr; }

  // ---------------------------------------------------------------- set-up

  /**
   * open_consumer() - open a consumer on this binding.
   * Reuses a recycled slot when one is free (lock-free pop), else allocates
   * a chunk of 64 slots (set-up path). Any thread.
   * Return: its handle, errc::limit_reached past max_consumers, or
   * errc::out_of_memory.
   * Progress: lock-free when a recycled slot is free, else blocking (the
   * grow lock). Provides release barrier semantics (tt-g1): whoever uses
   * the handle sees the reset slot.
   */
  Result<ConsumerHandle> open_consumer() noexcept;

  // ------------------------------------------------------------- hot paths

  /**
   * deliver() - the consumer takes one more reference on each page.
   * @h:     the consumer (one delivering thread at a time per consumer).
   * @pages: page indexes (the producer's own, still validated: a page past
   *         the binding is refused as out_of_range). A page may repeat.
   *
   * Per page: one load and one CAS on the page word when the page is free or
   * held by this consumer alone, plus a 4-byte log append when it was free.
   * A page held by another consumer turns shared (slow path, spin bit).
   * Return: delivered / refused counts. Lock-free on unshared pages.
   * Provides acquire barrier semantics on each page it takes (tt-w1..w3):
   * the use of the page by whoever returned it last happens-before this
   * delivery; the tokens themselves reach the application through the
   * caller's own hand-off.
   */
  DeliverOutcome deliver(ConsumerHandle h, std::span<const std::uint32_t> pages) noexcept;

  /// deliver() - one page. Return: true when delivered.
  bool deliver(ConsumerHandle h, std::uint32_t page) noexcept {
    return deliver(h, std::span<const std::uint32_t>(&page, 1)).delivered == 1;
  }

  /**
   * return_tokens() - give back references named by untrusted ranges.
   * @h:      the consumer (any thread; several at once are fine).
   * @ranges: each releases one reference on each of `count` consecutive
   *          tokens from `start`.
   *
   * A malformed range (reserved bits, wrong binding, huge count, overflow,
   * out of range) is refused whole; within a valid range each token this
   * consumer does not hold is refused on its own (not_held when another
   * consumer holds the page, underflow when nobody does). Nothing refused
   * changes anything; another consumer's references are never touched.
   * Work is capped at max_tokens_per_call (a range counts >= 1); a range
   * that does not fit in what is left stops the call (ranges_done, capped).
   * Return: released / refused / ranges_done. Lock-free on unshared pages.
   * Provides release barrier semantics on each reference it drops (tt-w4):
   * the caller's use of the page happens-before its next delivery.
   */
  ReturnOutcome return_tokens(ConsumerHandle h, std::span<const TokenRange32> ranges) noexcept
    requires(!one_returner) // SingleWriterRefs: only the consumer's Returner returns
  {
    return return_impl(h, ranges);
  }
  ReturnOutcome return_tokens(ConsumerHandle h, std::span<const TokenRange64> ranges) noexcept
    requires(!one_returner)
  {
    return return_impl(h, ranges);
  }

  /**
   * class Returner - SingleWriterRefs: the one object through
   * which a consumer gives references back (claim_returner()). Move-only;
   * one thread at a time (a second concurrent call is refused as
   * concurrent_return). Moving it to another thread needs the caller's own
   * hand-off (release/acquire), as for any object. It must not outlive the
   * tracker. A Returner of a closed consumer refuses every call
   * (consumer_closed), also after the slot is reused.
   */
  class Returner {
  public:
    Returner() noexcept = default;
    Returner(Returner&& o) noexcept : s_(std::exchange(o.s_, nullptr)), h_(o.h_) {}
    Returner& operator=(Returner&& o) noexcept {
      s_ = std::exchange(o.s_, nullptr);
      h_ = o.h_;
      return *this;
    }
    Returner(const Returner&) = delete;
    Returner& operator=(const Returner&) = delete;
    ~Returner() = default;

    [[nodiscard]] explicit operator bool() const noexcept { return s_ != nullptr; }
    [[nodiscard]] ConsumerHandle consumer() const noexcept { return h_; }

    /// return_tokens() - as TokenTracker::return_tokens() (same checks,
    /// refusals, work cap and outcome). No locked instruction per token on
    /// pages this consumer holds alone; two per call ((tt-x1)/(tt-x2)).
    /// Lock-free on unshared pages; provides release barrier semantics on
    /// each reference it gives back (tt-r8): the caller's use of the page
    /// happens-before the producer reuses it (tt-r3).
    ReturnOutcome return_tokens(std::span<const TokenRange32> ranges) noexcept { return call(ranges); }
    ReturnOutcome return_tokens(std::span<const TokenRange64> ranges) noexcept { return call(ranges); }

  private:
    friend class TokenTracker;
    Returner(State* s, ConsumerHandle h) noexcept : s_(s), h_(h) {}
    template <class Range>
    ReturnOutcome call(std::span<const Range> ranges) noexcept {
      if (s_ == nullptr) {
        ReturnOutcome out;
        out.refused = 1;
        out.ranges_done = ranges.size();
        return out;
      }
      return sw_return_impl(*s_, h_, ranges);
    }
    State* s_ = nullptr; // heap state: stable when the tracker object moves
    ConsumerHandle h_{};
  };

  /**
   * claim_returner() - SingleWriterRefs: hand out the consumer's
   * Returner. Once per consumer (the claim is a bit in the slot state, reset
   * only when the slot is reopened), so at most one Returner writes the
   * consumer's `returned` counters. Any thread.
   * Return: the Returner; nullopt for a stale or closed handle, or when it
   * was already claimed. Lock-free (a CAS on the slot state).
   */
  std::optional<Returner> claim_returner(ConsumerHandle h) noexcept
    requires(one_returner)
  {
    State& s = *state_;
    Slot* c = s.consumers.slot(h.index);
    if (c == nullptr) return std::nullopt;
    std::uint64_t st = c->state.load(std::memory_order_relaxed);
    for (;;) {
      if (Slot::generation_of(st) != h.generation ||
          (st & (Slot::closed_bit | Slot::free_bit | Slot::claimed_bit)) != 0)
        return std::nullopt;
      // relaxed: the claim publishes nothing; every Returner call begins with
      // its own acquire (begin_sw_return()).
      if (c->state.compare_exchange_weak(st, st | Slot::claimed_bit, std::memory_order_relaxed,
                                         std::memory_order_relaxed))
        return Returner(&s, h);
    }
  }

  /**
   * close() - close the consumer and give back every reference it holds.
   * Any thread; concurrent returns through the same handle are refused or
   * lose the race page by page (never a double release). Cost: O(entries in
   * its log + pages it shares) — nothing when it held nothing, never
   * O(binding). If a delivery is in flight, that delivery drains at its end.
   * Return: references released now, and how the close went.
   * Progress: lock-free towards deliveries (hand-off); waits only on busy
   * (shared) pages. Provides release barrier semantics on every reference
   * it drops (tt-w5) and on the slot's drain (tt-c3).
   */
  CloseOutcome close(ConsumerHandle h) noexcept;

  // --------------------------------------------------------------- queries

  /// token() - the token naming @page (precondition: page < page_count()).
  [[nodiscard]] std::uint64_t token(std::uint32_t page) const noexcept { return state_->format.encode(page); }
  /// token32() - same, for 32-bit formats (precondition).
  [[nodiscard]] std::uint32_t token32(std::uint32_t page) const noexcept {
    assert(state_->format.width() == TokenWidth::bits32);
    return static_cast<std::uint32_t>(state_->format.encode(page));
  }
  [[nodiscard]] const TokenFormat& format() const noexcept { return state_->format; }
  [[nodiscard]] std::uint64_t page_count() const noexcept { return state_->page_count; }
  [[nodiscard]] std::size_t page_size() const noexcept { return state_->page_size; }
  /// The work cap of one return_tokens() call (TokenTrackerConfig).
  [[nodiscard]] std::uint32_t max_tokens_per_call() const noexcept { return state_->max_tokens_per_call; }
  [[nodiscard]] const Region& region() const noexcept { return state_->region; }
  /// page_offset() - byte offset of @page in the binding (device address = base + this).
  [[nodiscard]] std::size_t page_offset(std::uint32_t page) const noexcept {
    return static_cast<std::size_t>(page) << state_->page_shift;
  }
  /// page_address() - CPU address of @page, or null for memory without one.
  [[nodiscard]] std::byte* page_address(std::uint32_t page) const noexcept {
    return state_->region.data == nullptr ? nullptr : state_->region.data + page_offset(page);
  }

  /**
   * page_refs() - references held on @page by all consumers (0: free).
   * acquire: pairs with the release of returns and closes, so a caller that
   * reads 0 may reuse the page: every holder's use of it happened before.
   */
  [[nodiscard]] std::uint32_t page_refs(std::uint32_t page) const noexcept;

  /// held_by() - references the consumer @h holds on @page; 0 for a stale
  /// or closed handle, as every call through a closed handle is refused.
  /// That includes a close() deferred to a delivery or a Returner call still
  /// running: the consumer's references are on their way back, and none of
  /// them is its to use any more. Cold path: may take the page's spin bit.
  [[nodiscard]] std::uint32_t held_by(ConsumerHandle h, std::uint32_t page) const noexcept;

  /// tracking_bytes() - bytes of tracking memory, from capacities (O(1)).
  [[nodiscard]] std::size_t tracking_bytes() const noexcept {
    return state_->bytes.load(std::memory_order_relaxed); // statistic
  }

  /// stats() - the binding's counters: sums over every slot ever used, plus
  /// refusals no consumer can be charged with (stale handles). O(slots).
  [[nodiscard]] BindingStats counters() const noexcept;

  /// consumer_counters() - counters of the consumer @h since it was opened;
  /// nullopt once its slot was recycled (closed and drained, no call left).
  [[nodiscard]] std::optional<ConsumerStats> consumer_counters(ConsumerHandle h) const noexcept;

private:
  struct State {
    explicit State(OnPageFree h) noexcept : hook(std::move(h)) {}
    State(const State&) = delete;
    State& operator=(const State&) = delete;
    ~State() = default;

    Ctx ctx(Slot& c, std::uint32_t index) noexcept { return Ctx{consumers, c, index, bytes, hook}; }

    // Read-mostly, first line: what every hot call reads.
    Refs refs; ///< the page-reference policy: per-page memory and protocol
    std::uint64_t page_count = 0;
    std::uint32_t max_tokens_per_call = 0;
    unsigned page_shift = 0;
    std::size_t page_size = 0;
    TokenFormat format;
    Region region;
    [[no_unique_address]] OnPageFree hook;
    detail::ConsumerRegistry consumers;
    // Written on set-up paths and by statistics.
    alignas(cache_line_size) std::atomic<std::uint32_t> consumers_open{0};
    std::atomic<std::size_t> bytes{0};
    std::array<std::atomic<std::uint64_t>, token_refusal_count> stale_refused{};
  };

  static constexpr std::size_t prefetch_distance = 8;

  // Private members are defined in tokens/impl/tracker_*.hpp, each with its
  // contract and its memory-order labels.

  // ------------------------------------- slot lifecycle (tracker_consumers)

  static void count(Slot& c, TokenRefusal r, std::uint64_t n) noexcept;

  static void note_refusal(State& s, Slot* c, ConsumerHandle h, TokenRefusal r, std::uint64_t n) noexcept;

  ARENAKIT_ALWAYS_INLINE static bool begin_exclusive(Slot& c, std::uint32_t gen, std::uint64_t bit,
                                                     TokenRefusal busy, TokenRefusal& why) noexcept;

  ARENAKIT_ALWAYS_INLINE static void end_exclusive(State& s, Slot& c, std::uint32_t index,
                                                   std::uint64_t bit, std::uint64_t other) noexcept;

  static bool begin_return(Slot& c, std::uint32_t gen) noexcept;
  static void end_return(State& s, Slot& c, std::uint32_t index) noexcept;

  static void finish_close(State& s, Slot& c, std::uint32_t index) noexcept;
  static void try_recycle(State& s, Slot& c, std::uint32_t index) noexcept;

  /// drain() - the policy's drain, then the close statistics.
  static std::uint64_t drain(State& s, Slot& c, std::uint32_t index) noexcept;

  // -------------------------------------------- returns (tracker_returns)

  /**
   * walk_ranges() - the work-capped walk every return path shares: checks
   * each range (tokens/format.hpp), charges its cost to the call's budget
   * (a valid range its count, any other range 1; a range that does not fit
   * stops the call), and gives back each page of a valid range through the
   * policy. Refusals are counted on @c by reason, as is a capped call.
   */
  template <class Range>
  ARENAKIT_ALWAYS_INLINE static ReturnOutcome walk_ranges(State& s, Slot& c, std::uint32_t index,
                                                          std::span<const Range> ranges) noexcept;

  static ReturnOutcome refuse_call(State& s, Slot* c, ConsumerHandle h, TokenRefusal why, std::size_t ranges) noexcept;

  template <class Range>
  static ReturnOutcome sw_return_impl(State& s, ConsumerHandle h, std::span<const Range> ranges) noexcept;

  template <class Range>
  ReturnOutcome return_impl(ConsumerHandle h, std::span<const Range> ranges) noexcept;

  std::unique_ptr<State> state_;
};

} // namespace arenakit

// Out-of-line members, one file per concern, included here so that
// <arenakit/tokens/token_tracker.hpp> gives all.
#include <arenakit/tokens/impl/tracker_consumers.hpp>
#include <arenakit/tokens/impl/tracker_deliver.hpp>
#include <arenakit/tokens/impl/tracker_returns.hpp>
