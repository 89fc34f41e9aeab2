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
 * - Memory: 8 bytes per page per binding (+16 with Returners::one_per_consumer);
 *   per consumer a slot, a log of the pages it took while free and a table
 *   of pages it shares: never consumers x binding. tracking_bytes() is exact.
 * - Work: return_tokens() does at most max_tokens_per_call units (capped,
 *   ranges_done); close() costs O(entries it held), never O(binding).
 * - Threads: deliver() one thread per consumer at a time (Producers::one:
 *   per binding), a second is refused (concurrent_delivery); return_tokens()
 *   and close() any threads, concurrently with everything; close() never
 *   waits for a delivery or a Returner call in flight, the last to leave
 *   drains. Queries any thread; destruction with no call in flight.
 * - Progress: deliver/return on a page one consumer holds are lock-free (one
 *   CAS on the page word; with Returners::one_per_consumer no locked
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
#include <arenakit/tokens/impl/consumer_slot.hpp>
#include <arenakit/detail/token_held.hpp>
#include <arenakit/detail/owner_counter.hpp>
#include <arenakit/detail/spin_lock.hpp>
#include <arenakit/detail/tagged_index_stack.hpp>
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
 * @producers:  Producers::many (default) or Producers::one.
 *
 * A movable handle to heap state (create() builds it); a default-constructed
 * tracker is empty and must not be used.
 */
template <class OnPageFree = IgnorePageFree, Producers producers = Producers::many,
          Returners returners = Returners::any>
class TokenTracker {
  static_assert(PageFreeHook<OnPageFree>,
                "arenakit::TokenTracker<OnPageFree>: OnPageFree must be callable as hook(std::uint32_t page) "
                "noexcept and be nothrow-move-constructible");
  static constexpr bool single_writer = returners == Returners::one_per_consumer;
  static_assert(!single_writer || producers == Producers::one,
                "arenakit::TokenTracker: Returners::one_per_consumer needs Producers::one (the producer must be "
                "the only writer of `delivered`)");
  // A Returner's plain store cannot learn whether another consumer's shared
  // return dropped the page's other references at the same moment without a
  // StoreLoad barrier (a locked instruction, the cost this policy removes),
  // so nobody could call the hook exactly once. The one producer polls
  // page_refs(), which is exact for it (only it adds references).
  static_assert(!single_writer || std::is_same_v<OnPageFree, IgnorePageFree>,
                "arenakit::TokenTracker: Returners::one_per_consumer has no page-free hook; the producer polls "
                "page_refs()");
  using Slot = detail::TokenConsumerSlot;
  struct State;
  static constexpr unsigned chunk_shift = 6; // 64 slots per chunk
  static constexpr std::uint32_t chunk_slots = 1u << chunk_shift;

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
    requires(!single_writer) // one_per_consumer: only the consumer's Returner returns
  {
    return return_impl(h, ranges);
  }
  ReturnOutcome return_tokens(ConsumerHandle h, std::span<const TokenRange64> ranges) noexcept
    requires(!single_writer)
  {
    return return_impl(h, ranges);
  }

  /**
   * class Returner - Returners::one_per_consumer: the one object through
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
   * claim_returner() - Returners::one_per_consumer: hand out the consumer's
   * Returner. Once per consumer (the claim is a bit in the slot state, reset
   * only when the slot is reopened), so at most one Returner writes the
   * consumer's `returned` counters. Any thread.
   * Return: the Returner; nullopt for a stale or closed handle, or when it
   * was already claimed. Lock-free (a CAS on the slot state).
   */
  std::optional<Returner> claim_returner(ConsumerHandle h) noexcept
    requires(single_writer)
  {
    State& s = *state_;
    Slot* c = s.slot(h.index);
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
    ~State() {
      if (chunks != nullptr) {
        for (std::uint32_t k = 0; k < chunk_count; ++k) delete[] chunks[k].load(std::memory_order_relaxed);
        delete[] chunks;
      }
      std::free(words);
      std::free(sw);
    }

    /// slot() - the slot at @index, or null when that index was never
    /// allocated. acquire: pairs with grow()'s release of the chunk.
    Slot* slot(std::uint32_t index) const noexcept {
      if (index >= max_consumers) return nullptr;
      // (tt-k3) pairs with (tt-k4).
      Slot* chunk = chunks[index >> chunk_shift].load(std::memory_order_acquire);
      return chunk == nullptr ? nullptr : chunk + (index & (chunk_slots - 1));
    }

    // Read-mostly, first line: what every hot call reads.
    std::uint64_t* words = nullptr; ///< page words, accessed through std::atomic_ref
    detail::token_word::SwPage* sw = nullptr; ///< one_per_consumer only: single-writer counters
    std::uint64_t page_count = 0;
    std::uint32_t max_tokens_per_call = 0;
    std::uint32_t max_consumers = 0;
    std::atomic<Slot*>* chunks = nullptr;
    std::uint32_t chunk_count = 0;
    unsigned page_shift = 0;
    std::size_t page_size = 0;
    TokenFormat format;
    Region region;
    [[no_unique_address]] OnPageFree hook;
    // Written on set-up paths and by statistics.
    alignas(cache_line_size) detail::TaggedIndexStack free; ///< free slot indexes
    std::atomic<std::uint32_t> chunks_used{0};
    std::atomic<std::uint32_t> consumers_open{0};
    detail::SpinLock grow_lock;
    std::atomic<std::size_t> bytes{0};
    std::array<std::atomic<std::uint64_t>, token_refusal_count> stale_refused{};
    /// Producers::one: a deliver() batch is running (its own line: the
    /// producer keeps it in cache).
    alignas(cache_line_size) std::atomic<std::uint32_t> producer_busy{0};
  };

  enum class Slow : std::uint8_t { done, retry, refused };
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

  static bool begin_delivery(Slot& c, std::uint32_t gen, TokenRefusal& why) noexcept;
  static void end_delivery(State& s, Slot& c, std::uint32_t index) noexcept;

  static bool begin_return(Slot& c, std::uint32_t gen) noexcept;
  static void end_return(State& s, Slot& c, std::uint32_t index) noexcept;

  static void finish_close(State& s, Slot& c, std::uint32_t index) noexcept;
  static void try_recycle(State& s, Slot& c, std::uint32_t index) noexcept;

  /// The free slot indexes (detail::TaggedIndexStack: tagged against ABA).
  /// push_free: release (ts-1), so the slot's link and its drained state are
  /// visible to whoever pops it; pop_free: acquire (ts-2), pairs with it.
  static void push_free(State& s, std::uint32_t index) noexcept { s.free.push(index, free_link(s)); }

  static bool pop_free(State& s, std::uint32_t& index) noexcept;

  static auto free_link(State& s) noexcept {
    return [&s](std::uint32_t i) noexcept -> std::atomic<std::uint32_t>& { return s.slot(i)->next_free; };
  }

  static std::error_code grow(State& s, std::uint32_t& index) noexcept;

  // ------------------------- page words (tracker_pages, tracker_deliver)

  static std::uint64_t lock_page(std::atomic_ref<std::uint64_t> w) noexcept;

  static void unlock_page(std::atomic_ref<std::uint64_t> w, std::uint64_t v) noexcept;

  ARENAKIT_NOINLINE static bool make_room(State& s, Slot& c, std::uint64_t me) noexcept;

  ARENAKIT_NOINLINE Slow deliver_slow(State& s, Slot& c, std::uint32_t index, std::uint32_t p,
                                      TokenRefusal& why) noexcept;

  ARENAKIT_NOINLINE static Slow return_slow(State& s, Slot& c, std::uint32_t index, std::uint32_t p,
                                     TokenRefusal& why) noexcept;

  // ------- Returners::one_per_consumer (tracker_deliver, tracker_returns)

  ARENAKIT_ALWAYS_INLINE static bool deliver_sw(State& s, Slot& c, std::uint32_t index, std::uint32_t p,
                                                TokenRefusal& why) noexcept;

  ARENAKIT_NOINLINE static bool deliver_shared_sw(State& s, Slot& c, std::uint32_t p, TokenRefusal& why) noexcept;

  /// What a Returner of consumer `me` (index + 1) sees on a page.
  struct SwView {
    std::uint32_t share = 0;    ///< references it holds there (0: none, or not its page)
    std::uint32_t returned = 0; ///< the `returned` value to extend
    bool other = false;         ///< another consumer holds the single-writer part
  };

  ARENAKIT_ALWAYS_INLINE static SwView sw_view(detail::token_word::SwPage& e, std::uint32_t me) noexcept;

  static std::uint32_t sw_share(State& s, std::uint32_t index, std::uint32_t p) noexcept;

  static bool begin_sw_return(Slot& c, std::uint32_t gen, TokenRefusal& why) noexcept;
  static void end_sw_return(State& s, Slot& c, std::uint32_t index) noexcept;

  ARENAKIT_NOINLINE static bool return_shared_sw(State& s, Slot& c, std::uint32_t index, std::uint32_t p, bool other,
                                                 TokenRefusal& why) noexcept;

  /// What one page of a return did: a TokenRefusal, or released_step.
  using Step = std::uint8_t;
  static constexpr Step released_step = 0xFF;
  static_assert(token_refusal_count < released_step);
  static constexpr Step retry_step = 0xFE; ///< return_slow_step(): the page went back to the fast path
  static constexpr Step refused_step(TokenRefusal why) noexcept { return static_cast<Step>(why); }

  ARENAKIT_NOINLINE static Step return_slow_step(State& s, Slot& c, std::uint32_t index, std::uint32_t p) noexcept;

  /**
   * walk_ranges() - the work-capped walk both return paths share: checks
   * each range (tokens/format.hpp), charges its cost to the call's budget
   * (a valid range its count, any other range 1; a range that does not fit
   * stops the call), and hands each page of a valid range to @per_page,
   * which returns `released` or the refusal (a Step: one register, so the
   * hot path keeps no refusal in memory). Refusals are counted on @c by
   * reason, as is a capped call.
   * Always inlined: @per_page is the hot loop's body.
   */
  template <class Range, class PerPage>
  ARENAKIT_ALWAYS_INLINE static ReturnOutcome walk_ranges(State& s, Slot& c, std::span<const Range> ranges,
                                                          PerPage&& per_page) noexcept;

  static ReturnOutcome refuse_call(State& s, Slot* c, ConsumerHandle h, TokenRefusal why, std::size_t ranges) noexcept;

  template <class Range>
  static ReturnOutcome sw_return_impl(State& s, ConsumerHandle h, std::span<const Range> ranges) noexcept;

  template <class Range>
  ReturnOutcome return_impl(ConsumerHandle h, std::span<const Range> ranges) noexcept;

  static std::uint64_t drain(State& s, Slot& c, std::uint32_t index) noexcept;

  static std::uint32_t refs_of(State& s, Slot& slot, std::uint32_t index, std::uint32_t page) noexcept;

  std::unique_ptr<State> state_;
};

} // namespace arenakit

// Out-of-line members, one file per concern, included here so that
// <arenakit/tokens/token_tracker.hpp> gives all.
#include <arenakit/tokens/impl/tracker_consumers.hpp>
#include <arenakit/tokens/impl/tracker_deliver.hpp>
#include <arenakit/tokens/impl/tracker_returns.hpp>
#include <arenakit/tokens/impl/tracker_pages.hpp>
