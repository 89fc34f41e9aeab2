// SPDX-License-Identifier: MIT
/**
 * @file tokens/token_tracker.hpp
 * @brief Devmem-style token tracking: a binding cut into pages, consumers
 *        that take and return page references, lookups that are an array
 *        index, per-consumer attribution at per-binding memory cost, and a
 *        close that gives back what a consumer held in O(what it held).
 *
 * ## Model
 * - A **binding** is a Region (an imported dma-buf — `data` may be null — or
 *   any arena region) cut into pages of `page_size` bytes (a power of two).
 *   A **token** names a page by index (tokens/format.hpp: 32-bit or
 *   64-bit, binding id in the high bits, reserved bits refused).
 * - A **consumer** (think socket) is opened on the binding. The producer
 *   (receive path) delivers pages to it: each delivery is one more reference
 *   held by that consumer. The consumer's application returns references in
 *   batches of ranges {start, count} (SO_DEVMEM_DONTNEED); each call does at
 *   most `max_tokens_per_call` units of work and says what it released.
 * - **close()** gives back every reference the consumer still holds — at a
 *   cost proportional to what it held, not to the binding.
 *
 * ## Memory (what the kernel thread could not have both ways)
 * - per binding: 8 bytes per page (the page word, detail/token_word.hpp):
 *   the total count plus, while one consumer holds the page, its owner id.
 * - per consumer: a slot (sizeof(detail::TokenConsumerSlot), 384 bytes on
 *   x86-64), a held-page log of 4-byte entries (capacity within a small
 *   factor of the pages it holds alone) and, only for pages it shares with
 *   other consumers, an 8-byte-per-entry table at load <= 3/4.
 * - tracking_bytes() is computed by the tracker from capacities, exactly.
 * A 2 GiB binding with 10,000 consumers holding 1,024 tokens each needs
 * 4 MiB + 10,000 x (384 B + 4 KiB) when pages are held alone, and at most
 * ~170 MiB when every page is shared by ~20 consumers; the per-socket array
 * design needs 20 GiB (tests/tokens/tokens_memory.cpp asserts both).
 *
 * ## Concurrency contract (TSan-tested, tests/tokens/tokens_stress.cpp)
 * - deliver(): one thread at a time per consumer (its receive context);
 *   different consumers in parallel. A second concurrent deliverer to the
 *   same consumer is refused (TokenRefusal::concurrent_delivery), not raced.
 * - return_tokens(): any threads, any number, concurrently with deliver()
 *   and close() of the same or other consumers.
 * - close(): any thread, concurrently with all of the above. It never waits
 *   for a delivery in progress: that delivery drains the consumer when it
 *   finishes (CloseStatus::deferred_to_delivery).
 * - open_consumer(), stats(), consumer_counters(), page_refs(), held_by():
 *   any thread. Destruction: no call in flight.
 *
 * ## Progress
 * - deliver/return on a page held by at most one consumer: lock-free (one
 *   CAS on the page word; a failed CAS means another thread progressed).
 * - pages shared by several consumers: blocking, on a per-page spin bit in
 *   the page word and then the consumer's spin lock (order page -> consumer,
 *   one of each at a time: no deadlock).
 * - close: lock-free towards delivery (hand-off), waits only on busy pages.
 * - consumer slots are recycled by whichever of close / the last returner /
 *   the last deliverer leaves last (a reference count in the slot's state),
 *   so a late return through a stale handle can never reach the references
 *   of the consumer that reuses the slot.
 *
 * ## Policies
 * - `Producers::one`: one receive thread feeds the binding; a free page is
 *   claimed with a plain store (a second producer is detected and refused).
 * - `Returners::one_per_consumer` (with Producers::one): the count of a page
 *   held by one consumer is split into two single-writer counters —
 *   `delivered` (+ owner, written by the producer) and `returned` (written
 *   by that consumer's one Returner) — so deliver and return take no locked
 *   instruction. Returns go through a move-only Returner claimed once per
 *   consumer; shared pages, close and bad input use the machinery above.
 *   16 more bytes per page; no page-free hook. See docs/tokens.md.
 *
 * ## Memory orders (each site carries its own comment)
 * - A return or close that drops a reference uses release; a delivery that
 *   takes one and page_refs() use acquire: what a holder did with a page
 *   happens-before whoever sees its count drop (and reuses the page).
 * - The slot state word hands the deliverer-private log from one delivery
 *   batch to the next and to the drainer (release at end of batch, acquire
 *   at begin / at close).
 */
#pragma once

#include <arenakit/config.hpp>
#include <arenakit/tokens/format.hpp>
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

/// The default page-free hook: nothing to do when a page's last reference
/// comes back (the producer polls page_refs()).
struct IgnorePageFree {
  void operator()(std::uint32_t /*page*/) const noexcept {}
};

/**
 * concept PageFreeHook - called as `hook(page)` (noexcept) by whichever
 * thread drops a page's last reference (a return or a close), right after
 * the page word says free: the producer's cue to recycle the page. Runs
 * concurrently from several threads; it must not close the consumer whose
 * call invoked it.
 */
template <class H>
concept PageFreeHook = std::is_nothrow_invocable_v<H&, std::uint32_t> && std::is_nothrow_move_constructible_v<H>;

/**
 * enum Producers - who may call deliver() at the same time.
 * @many: any number of threads, one per consumer at a time (devmem: each
 *        socket's recvmsg). Claiming a free page is a CAS.
 * @one:  one thread at a time for the whole binding (one receive queue per
 *        binding, as io_uring zcrx's area per interface queue). Then only that
 *        thread can write a free page word, and claiming a free page is a
 *        plain store: one locked instruction fewer per token. A second
 *        concurrent deliverer is detected and refused (concurrent_delivery),
 *        at the cost of one exchange per batch.
 */
enum class Producers : std::uint8_t { many, one };

/**
 * enum Returners - who may give references back for one consumer.
 * @any:              return_tokens(h, ...) from any threads, any number at
 *                    once. Each returned token is one CAS on the page word.
 * @one_per_consumer: each consumer has one Returner (claim_returner(), once
 *                    per consumer, move-only; the only way to return), used
 *                    by one thread at a time. Requires Producers::one and
 *                    no page-free hook. A page held by one consumer then
 *                    keeps two single-writer counters (detail::SwPage):
 *                    `delivered`, written by the producer, and `returned`,
 *                    written by the owner's Returner, so deliver and return
 *                    take no locked instruction per token. References of a
 *                    second consumer on the page, closes and bad input use
 *                    the locked machinery. A second concurrent call through
 *                    one Returner is refused (concurrent_return), not raced.
 */
enum class Returners : std::uint8_t { any, one_per_consumer };

/// Set-up of a TokenTracker; every field is checked by create().
struct TokenTrackerConfig {
  /// Bytes per page (a power of two); the region size must be a multiple.
  std::size_t page_size = 4096;
  TokenWidth token_width = TokenWidth::bits32;
  /// Bits of the page field; 0 = the fewest that index every page.
  unsigned page_bits = 0;
  /// Bits of the binding-id field (high bits of the token); 0 = none.
  unsigned binding_bits = 0;
  std::uint64_t binding_id = 0;
  /// Consumers that can be open at once (slots are allocated 64 at a time).
  std::uint32_t max_consumers = 1u << 16;
  /// Work cap of one return_tokens() call: tokens released or refused, each
  /// range counting at least 1. A single range with a larger count is a
  /// TokenRefusal::huge_count.
  std::uint32_t max_tokens_per_call = 4096;
};

/// Names an open consumer. Trivially copyable; generation 0 is "no consumer".
/// A handle whose consumer was closed is refused by every call (the slot's
/// generation moved on), however late it arrives.
struct ConsumerHandle {
  std::uint32_t index = 0;
  std::uint32_t generation = 0;
  constexpr explicit operator bool() const noexcept { return generation != 0; }
  friend constexpr bool operator==(ConsumerHandle, ConsumerHandle) noexcept = default;
};
static_assert(sizeof(ConsumerHandle) == 8, "ConsumerHandle must stay two 32-bit words");

/// What one deliver() did.
struct DeliverOutcome {
  std::size_t delivered = 0; ///< references now held by the consumer
  std::size_t refused = 0;   ///< pages not delivered (each counted under its reason)
  TokenRefusal last_refusal = TokenRefusal::out_of_range; ///< meaningful when refused != 0
};

/// What one return_tokens() did.
struct ReturnOutcome {
  std::uint64_t released = 0; ///< references really released
  std::uint64_t refused = 0;  ///< refusals: one per refused range, one per refused token in a valid range
  /// Ranges consumed (done or refused). Less than the number given only when
  /// the work cap stopped the call: resubmit ranges[ranges_done..].
  std::size_t ranges_done = 0;
  bool capped = false;
};

enum class CloseStatus : std::uint8_t {
  drained,              ///< every reference came back during this call
  deferred_to_delivery, ///< a delivery was in progress: it drains when it finishes
  deferred_to_return,   ///< Returners::one_per_consumer: a Returner call was in progress: it drains when it finishes
  refused,              ///< stale handle or already closed: nothing done
};

struct CloseOutcome {
  std::uint64_t released = 0; ///< references given back by this call
  CloseStatus status = CloseStatus::refused;
};

/// Counters of a consumer (since it was opened) or of a binding (since it
/// was created). Snapshots: exact when no call runs concurrently.
struct TokenCounters {
  std::uint64_t delivered = 0;      ///< references delivered
  std::uint64_t returned = 0;       ///< references released by return_tokens()
  std::uint64_t close_released = 0; ///< references released by close()
  std::uint64_t close_visits = 0;   ///< entries close() walked (work, machine-independent)
  std::uint64_t calls_capped = 0;   ///< return_tokens() calls stopped by the work cap
  std::array<std::uint64_t, token_refusal_count> refused{};

  /// References still out (tokens held by users). Never wraps: a snapshot
  /// taken while calls run can see a return before the delivery it answers
  /// (a batch counts its deliveries when it ends), which reads as 0 here.
  [[nodiscard]] std::uint64_t outstanding() const noexcept {
    const std::uint64_t back = returned + close_released;
    return delivered > back ? delivered - back : 0;
  }
  [[nodiscard]] std::uint64_t refused_for(TokenRefusal r) const noexcept {
    return refused[static_cast<std::size_t>(r)];
  }
  [[nodiscard]] std::uint64_t refused_total() const noexcept {
    std::uint64_t n = 0;
    for (auto v : refused) n += v;
    return n;
  }
};

struct ConsumerStats : TokenCounters {
  bool open = false;             ///< false once close() was called
  std::size_t held_log_capacity = 0; ///< entries (4 B each)
  std::size_t shared_pages = 0;  ///< pages held in shared mode
  std::size_t tracking_bytes = 0; ///< slot + log + shared table, from capacities
};

struct BindingStats : TokenCounters {
  std::uint64_t page_count = 0;
  std::size_t page_size = 0;
  std::uint32_t consumers_open = 0;
  std::size_t tracking_bytes = 0; ///< everything the tracker allocated, from capacities
};

namespace detail {

/// Counters of one consumer slot, cumulative over every consumer that used
/// the slot (per-consumer figures subtract a snapshot taken at open, so the
/// binding's totals never lose history and never double count). Relaxed
/// atomics: statistics, nothing is published through them.
struct TokenSlotCounters {
  std::atomic<std::uint64_t> delivered{0};
  std::atomic<std::uint64_t> returned{0};
  std::atomic<std::uint64_t> close_released{0};
  std::atomic<std::uint64_t> close_visits{0};
  std::atomic<std::uint64_t> calls_capped{0};
  std::array<std::atomic<std::uint64_t>, token_refusal_count> refused{};

  void add_to(TokenCounters& out, int sign = +1) const noexcept {
    auto f = [sign](std::uint64_t& dst, const std::atomic<std::uint64_t>& src) {
      // (tt-s1) acquire: pairs with the release writes (tt-s2)/(tt-s3); free
      // on x86, and what lets consumer_counters() detect a reused slot.
      const std::uint64_t v = src.load(std::memory_order_acquire);
      dst = sign > 0 ? dst + v : dst - v;
    };
    // What came back before what went out: a later delivery then only makes
    // outstanding() read high for a moment, never below zero.
    f(out.returned, returned);
    f(out.close_released, close_released);
    f(out.delivered, delivered);
    f(out.close_visits, close_visits);
    f(out.calls_capped, calls_capped);
    for (std::size_t i = 0; i < token_refusal_count; ++i) f(out.refused[i], refused[i]);
  }
  void copy_from(const TokenSlotCounters& o) noexcept {
    auto f = [](std::atomic<std::uint64_t>& dst, const std::atomic<std::uint64_t>& src) {
      dst.store(src.load(std::memory_order_relaxed), std::memory_order_release); // (tt-s2) pairs with (tt-s1)
    };
    f(delivered, o.delivered);
    f(returned, o.returned);
    f(close_released, o.close_released);
    f(close_visits, o.close_visits);
    f(calls_capped, o.calls_capped);
    for (std::size_t i = 0; i < token_refusal_count; ++i) f(refused[i], o.refused[i]);
  }
};

/**
 * struct TokenConsumerSlot - one consumer's state.
 *
 * `state` (64 bits): | generation:32 | pins:26 | claimed | returning | free | drained | delivering | closed |
 * - generation: bumped at every open; a handle carries the one it was given.
 * - pins: return_tokens() calls in flight (they keep the slot from reuse).
 * - returning / claimed (Returners::one_per_consumer only): a Returner call
 *   is in flight (it keeps the slot from reuse and defers a close, like
 *   delivering) / the consumer's Returner was handed out.
 * - delivering: a deliver() batch is in flight (it owns `log`).
 * - closed / drained: close() called / every reference given back.
 * - free: on the free list (not open).
 */
struct alignas(cache_line_size) TokenConsumerSlot {
  static constexpr std::uint64_t closed_bit = 1;
  static constexpr std::uint64_t delivering_bit = 2;
  static constexpr std::uint64_t drained_bit = 4;
  static constexpr std::uint64_t free_bit = 8;
  static constexpr std::uint64_t returning_bit = 16;
  static constexpr std::uint64_t claimed_bit = 32;
  static constexpr std::uint64_t pin_unit = 64;
  static constexpr std::uint64_t pins_mask = 0xFFFF'FFC0u;
  static constexpr unsigned generation_shift = 32;

  static constexpr std::uint32_t generation_of(std::uint64_t s) noexcept {
    return static_cast<std::uint32_t>(s >> generation_shift);
  }

  // --- line 0: lifecycle word and the deliverer-private log.
  std::atomic<std::uint64_t> state{free_bit};
  std::atomic<std::uint32_t> next_free{detail::TaggedIndexStack::none}; ///< free-list link (TaggedIndexStack)
  SpinLock shared_lock;                    ///< guards `shared`
  HeldLog log;                             ///< owned by the deliverer, then the drainer
  PageCountTable shared;                   ///< guarded by shared_lock
  // --- counters: cumulative (now) and the snapshot taken at open (base).
  TokenSlotCounters now;
  TokenSlotCounters base;
};
static_assert(offsetof(TokenConsumerSlot, state) == 0, "the state word leads the slot");
static_assert(sizeof(TokenConsumerSlot) % cache_line_size == 0, "slots must not share cache lines");
static_assert(sizeof(TokenConsumerSlot) <= 6 * cache_line_size, "a consumer slot must stay small: 10k consumers");

} // namespace detail

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
                                     OnPageFree hook = OnPageFree{}) noexcept {
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
    s->max_consumers = cfg.max_consumers;
    // calloc: the zero pages of a large binding cost nothing until touched.
    s->words = static_cast<std::uint64_t*>(std::calloc(static_cast<std::size_t>(pages), sizeof(std::uint64_t)));
    if (s->words == nullptr) return errc::out_of_memory;
    std::size_t sw_bytes = 0;
    if constexpr (single_writer) {
      // calloc: zeroed lazily, like the page words. {0, 0}: owner none, share 0.
      s->sw = static_cast<detail::token_word::SwPage*>(
          std::calloc(static_cast<std::size_t>(pages), sizeof(detail::token_word::SwPage)));
      if (s->sw == nullptr) return errc::out_of_memory;
      sw_bytes = static_cast<std::size_t>(pages) * sizeof(detail::token_word::SwPage);
    }
    s->chunk_count = (cfg.max_consumers + chunk_slots - 1) >> chunk_shift;
    s->chunks = new (std::nothrow) std::atomic<Slot*>[s->chunk_count]();
    if (s->chunks == nullptr) return errc::out_of_memory;
    s->bytes.store(sizeof(State) + static_cast<std::size_t>(pages) * sizeof(std::uint64_t) + sw_bytes +
                       s->chunk_count * sizeof(std::atomic<Slot*>),
                   std::memory_order_relaxed);
    TokenTracker t;
    t.state_ = std::move(s);
    return t;
  }

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
  Result<ConsumerHandle> open_consumer() noexcept {
    State& s = *state_;
    std::uint32_t index = 0;
    if (!pop_free(s, index)) {
      const std::error_code ec = grow(s, index);
      if (ec) return ec;
    }
    Slot& c = *s.slot(index);
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
  DeliverOutcome deliver(ConsumerHandle h, std::span<const std::uint32_t> pages) noexcept {
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
            prefetch_for_write(&s.sw[ahead]);
          } else {
            prefetch_for_write(&s.words[ahead]);
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
  CloseOutcome close(ConsumerHandle h) noexcept {
    State& s = *state_;
    CloseOutcome out;
    Slot* c = s.slot(h.index);
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
    // in flight or (one_per_consumer) the Returner call in flight leaves
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
  [[nodiscard]] std::uint32_t page_refs(std::uint32_t page) const noexcept {
    namespace tw = detail::token_word;
    if (page >= state_->page_count) return 0;
    const std::uint32_t shared = tw::count(
        // (tt-w6) pairs with (tt-w4), (tt-w5), (tt-w8).
        std::atomic_ref<std::uint64_t>(state_->words[page]).load(std::memory_order_acquire));
    if constexpr (single_writer) {
      // one_per_consumer: plus the single-writer share. `returned` first
      // (acquire: pairs with the Returner's / drain's release store), then
      // `held` (acquire: pairs with the producer's release store): whoever
      // wrote the `returned` we read had seen this `held` or an older one,
      // so delivered - returned does not go below zero. For the producer
      // (the only thread that adds references) a 0 is stable: it may reuse
      // the page; for other threads this is a snapshot. The sum saturates.
      detail::token_word::SwPage& e = state_->sw[page];
      // (tt-r1) pairs with (tt-r8), (tt-d1).
      const std::uint32_t r = std::atomic_ref<std::uint32_t>(e.returned).load(std::memory_order_acquire);
      // (tt-r2) pairs with (tt-r4), (tt-r5).
      const std::uint32_t d = tw::sw_delivered(std::atomic_ref<std::uint64_t>(e.held).load(std::memory_order_acquire));
      const std::uint64_t sum = std::uint64_t{shared} + static_cast<std::uint32_t>(d - r);
      return sum > tw::count_max ? tw::count_max : static_cast<std::uint32_t>(sum);
    }
    return shared;
  }

  /// held_by() - references the consumer @h holds on @page; 0 for a stale
  /// or closed handle, as every call through a closed handle is refused.
  /// That includes a close() deferred to a delivery or a Returner call still
  /// running: the consumer's references are on their way back, and none of
  /// them is its to use any more. Cold path: may take the page's spin bit.
  [[nodiscard]] std::uint32_t held_by(ConsumerHandle h, std::uint32_t page) const noexcept {
    namespace tw = detail::token_word;
    State& s = *state_;
    Slot* c = s.slot(h.index);
    if (c == nullptr || page >= s.page_count) return 0;
    // acquire: pairs with open_consumer()'s release of this generation.
    // (tt-g2) pairs with (tt-g1).
    const std::uint64_t st = c->state.load(std::memory_order_acquire);
    if (Slot::generation_of(st) != h.generation || (st & (Slot::closed_bit | Slot::free_bit)) != 0) return 0;
    ARENAKIT_TEST_PAUSE(token_handle_checked);
    const std::uint32_t n = refs_of(s, *c, h.index, page);
    // The slot may have been closed, recycled and reopened meanwhile, and the
    // owner field is the slot index in every generation: what we counted
    // may be the next consumer's. Read the state again.
    // (tt-s5) refs_of() read the page words (and the shared table, under
    // its lock) with acquire: a delivery to the new consumer that we counted
    // happens-before this reload, and so does the reopen before it.
    const std::uint64_t again = c->state.load(std::memory_order_relaxed);
    if (Slot::generation_of(again) != h.generation || (again & (Slot::closed_bit | Slot::free_bit)) != 0) return 0;
    return n;
  }

  /// tracking_bytes() - bytes of tracking memory, from capacities (O(1)).
  [[nodiscard]] std::size_t tracking_bytes() const noexcept {
    return state_->bytes.load(std::memory_order_relaxed); // statistic
  }

  /// stats() - the binding's counters: sums over every slot ever used, plus
  /// refusals no consumer can be charged with (stale handles). O(slots).
  [[nodiscard]] BindingStats counters() const noexcept {
    const State& s = *state_;
    BindingStats out;
    // (tt-k1) pairs with (tt-k5).
    const std::uint32_t used = s.chunks_used.load(std::memory_order_acquire); // pairs with grow()'s release
    for (std::uint32_t k = 0; k < used; ++k) {
      // (tt-k2) pairs with (tt-k4).
      const Slot* chunk = s.chunks[k].load(std::memory_order_acquire);
      for (std::uint32_t i = 0; i < chunk_slots; ++i) chunk[i].now.add_to(out);
    }
    for (std::size_t i = 0; i < token_refusal_count; ++i)
      out.refused[i] += s.stale_refused[i].load(std::memory_order_relaxed);
    out.page_count = s.page_count;
    out.page_size = s.page_size;
    out.consumers_open = s.consumers_open.load(std::memory_order_relaxed);
    out.tracking_bytes = tracking_bytes();
    return out;
  }

  /// consumer_counters() - counters of the consumer @h since it was opened;
  /// nullopt once its slot was recycled (closed and drained, no call left).
  [[nodiscard]] std::optional<ConsumerStats> consumer_counters(ConsumerHandle h) const noexcept {
    State& s = *state_;
    Slot* c = s.slot(h.index);
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

  static void prefetch_for_write(const void* p) noexcept {
#if defined(__GNUC__) || defined(__clang__)
    __builtin_prefetch(p, 1, 3);
#else
    (void)p;
#endif
  }

  // ------------------------------------------------------- slot lifecycle

  static void count(Slot& c, TokenRefusal r, std::uint64_t n) noexcept {
    if (n != 0) c.now.refused[static_cast<std::size_t>(r)].fetch_add(n, std::memory_order_release); // statistic; (tt-s3)
  }

  /// note_refusal() - charge a call-level refusal to the consumer when the
  /// handle still names it, else to the binding (a stale handle must not
  /// pollute the counters of the slot's next consumer).
  static void note_refusal(State& s, Slot* c, ConsumerHandle h, TokenRefusal r, std::uint64_t n) noexcept {
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
  ARENAKIT_ALWAYS_INLINE static bool begin_exclusive(Slot& c, std::uint32_t gen, std::uint64_t bit,
                                                     TokenRefusal busy, TokenRefusal& why) noexcept {
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
  ARENAKIT_ALWAYS_INLINE static void end_exclusive(State& s, Slot& c, std::uint32_t index,
                                                   std::uint64_t bit, std::uint64_t other) noexcept {
    const std::uint64_t st = c.state.fetch_and(~bit, std::memory_order_acq_rel); // (tt-x2)
    if (ARENAKIT_UNLIKELY((st & (Slot::closed_bit | other)) == Slot::closed_bit)) {
      (void)drain(s, c, index);
      finish_close(s, c, index);
    }
  }

  static bool begin_delivery(Slot& c, std::uint32_t gen, TokenRefusal& why) noexcept {
    return begin_exclusive(c, gen, Slot::delivering_bit, TokenRefusal::concurrent_delivery, why);
  }
  /// A Returner call still in flight (one_per_consumer) drains instead.
  static void end_delivery(State& s, Slot& c, std::uint32_t index) noexcept {
    end_exclusive(s, c, index, Slot::delivering_bit, Slot::returning_bit);
  }

  static bool begin_return(Slot& c, std::uint32_t gen) noexcept {
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

  static void end_return(State& s, Slot& c, std::uint32_t index) noexcept {
    // acq_rel: release orders our page and counter updates before a recycler
    // (pairs with try_recycle()'s acquire); acquire lets us recycle.
    // (tt-c2) pairs with (tt-c4), (tt-c5).
    const std::uint64_t st = c.state.fetch_sub(Slot::pin_unit, std::memory_order_acq_rel) - Slot::pin_unit;
    if (ARENAKIT_UNLIKELY((st & Slot::drained_bit) != 0 && (st & Slot::pins_mask) == 0)) try_recycle(s, c, index);
  }

  static void finish_close(State& s, Slot& c, std::uint32_t index) noexcept {
    // release: the drain happens-before the slot's reuse (pairs with
    // try_recycle()'s acquire, whoever runs it).
    // (tt-c3) pairs with (tt-c4), (tt-c5).
    c.state.fetch_or(Slot::drained_bit, std::memory_order_release);
    try_recycle(s, c, index);
  }

  /// try_recycle() - the last of close / returners / deliverer to leave puts
  /// the slot on the free list; the CAS that sets free_bit picks exactly one.
  static void try_recycle(State& s, Slot& c, std::uint32_t index) noexcept {
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
    push_free(s, index);
  }

  /// The free slot indexes (detail::TaggedIndexStack: tagged against ABA).
  /// push_free: release (ts-1), so the slot's link and its drained state are
  /// visible to whoever pops it; pop_free: acquire (ts-2), pairs with it.
  static void push_free(State& s, std::uint32_t index) noexcept { s.free.push(index, free_link(s)); }

  static bool pop_free(State& s, std::uint32_t& index) noexcept {
    const std::uint32_t top = s.free.pop(free_link(s));
    if (top == detail::TaggedIndexStack::none) return false;
    index = top;
    return true;
  }

  static auto free_link(State& s) noexcept {
    return [&s](std::uint32_t i) noexcept -> std::atomic<std::uint32_t>& { return s.slot(i)->next_free; };
  }

  /// grow() - allocate the next chunk of slots (set-up path, serialised).
  static std::error_code grow(State& s, std::uint32_t& index) noexcept {
    detail::SpinLockGuard g(s.grow_lock);
    if (pop_free(s, index)) return {};
    const std::uint32_t k = s.chunks_used.load(std::memory_order_relaxed);
    if (k == s.chunk_count) return make_error_code(errc::limit_reached);
    Slot* chunk = new (std::nothrow) Slot[chunk_slots];
    if (chunk == nullptr) return make_error_code(errc::out_of_memory);
    s.bytes.fetch_add(chunk_slots * sizeof(Slot), std::memory_order_relaxed); // statistic
    // release: pairs with the acquire in State::slot() and stats().
    // (tt-k4) pairs with (tt-k2), (tt-k3).
    s.chunks[k].store(chunk, std::memory_order_release);
    // (tt-k5) pairs with (tt-k1).
    s.chunks_used.store(k + 1, std::memory_order_release);
    const std::uint32_t first = k << chunk_shift;
    const std::uint32_t last = std::min<std::uint32_t>(first + chunk_slots, s.max_consumers);
    for (std::uint32_t i = last; i-- > first + 1;) push_free(s, i); // low indexes pop first
    index = first;
    return {};
  }

  // ------------------------------------------------------------ page words

  /// lock_page() - set the page's spin bit; returns the word as it was.
  /// A free word (0) is returned without locking it: free words are written
  /// only by claims (a plain store under Producers::one), so the caller must
  /// not unlock it. Blocking (the holder never waits while holding it).
  static std::uint64_t lock_page(std::atomic_ref<std::uint64_t> w) noexcept {
    namespace tw = detail::token_word;
    detail::SpinWait wait;
    std::uint64_t v = w.load(std::memory_order_relaxed);
    for (;;) {
      if (v == 0) return 0;
      if ((v & tw::busy_bit) != 0) {
        wait();
        v = w.load(std::memory_order_relaxed);
        continue;
      }
      // acquire: pairs with unlock_page()'s release and with the release of
      // fast-path returns: the tables the last holder changed are visible.
      // (tt-w7) pairs with (tt-w8), (tt-w4), (tt-w9).
      if (w.compare_exchange_weak(v, v | tw::busy_bit, std::memory_order_acquire, std::memory_order_relaxed))
        return v;
    }
  }

  /// unlock_page() - publish @v (busy bit clear). release: pairs with
  /// lock_page()'s acquire, the fast paths' and page_refs()' acquire.
  static void unlock_page(std::atomic_ref<std::uint64_t> w, std::uint64_t v) noexcept {
    // (tt-w8) pairs with (tt-w7), (tt-w6), (tt-w10), (tt-w11), (tt-w1).
    w.store(v & ~detail::token_word::busy_bit, std::memory_order_release);
  }

  /// make_room() - compact the consumer's log (deliverer context). A page
  /// stays listed while its word says "held by me alone".
  ARENAKIT_NOINLINE static bool make_room(State& s, Slot& c, std::uint64_t me) noexcept {
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
            if (p < s.page_count) prefetch_for_write(&s.sw[p]);
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
          if (p < s.page_count) prefetch_for_write(&s.words[p]);
        },
        s.bytes);
  }

  /// deliver_slow() - the page is busy, shared, or held by another consumer.
  ARENAKIT_NOINLINE Slow deliver_slow(State& s, Slot& c, std::uint32_t index, std::uint32_t p,
                                      TokenRefusal& why) noexcept {
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

  /// return_slow() - return one reference on a busy or shared page.
  ARENAKIT_NOINLINE static Slow return_slow(State& s, Slot& c, std::uint32_t index, std::uint32_t p,
                                     TokenRefusal& why) noexcept {
    namespace tw = detail::token_word;
    std::atomic_ref<std::uint64_t> w(s.words[p]);
    const std::uint64_t v = lock_page(w);
    if (v == 0) { // nobody holds it (not locked)
      why = TokenRefusal::underflow;
      return Slow::refused;
    }
    if (tw::sole_of(v, tw::owner_field(index))) {
      unlock_page(w, v);
      return Slow::retry;
    }
    if ((v & tw::shared_bit) == 0) {
      unlock_page(w, v);
      why = TokenRefusal::not_held;
      return Slow::refused;
    }
    std::uint32_t took;
    {
      detail::SpinLockGuard g(c.shared_lock);
      took = c.shared.take(p, 1, s.bytes);
    }
    if (took == 0) {
      unlock_page(w, v);
      // A close of this very consumer may have taken its table a moment ago.
      why = (c.state.load(std::memory_order_relaxed) & Slot::closed_bit) != 0 ? TokenRefusal::consumer_closed
                                                                               : TokenRefusal::not_held;
      return Slow::refused;
    }
    const bool last = tw::count(v) == 1;
    unlock_page(w, last ? 0 : v - 1);
    if (last) s.hook(p);
    return Slow::done;
  }

  // ---------------------------------------- Returners::one_per_consumer

  /// deliver_sw() - one page to consumer @index, on the one producer's
  /// thread. No locked instruction when the page's single-writer part is
  /// free or already this consumer's; a page another consumer holds there
  /// takes the shared path (deliver_shared_sw()).
  ARENAKIT_ALWAYS_INLINE static bool deliver_sw(State& s, Slot& c, std::uint32_t index, std::uint32_t p,
                                                TokenRefusal& why) noexcept {
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
  ARENAKIT_NOINLINE static bool deliver_shared_sw(State& s, Slot& c, std::uint32_t p, TokenRefusal& why) noexcept {
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

  /// What a Returner of consumer `me` (index + 1) sees on a page.
  struct SwView {
    std::uint32_t share = 0;    ///< references it holds there (0: none, or not its page)
    std::uint32_t returned = 0; ///< the `returned` value to extend
    bool other = false;         ///< another consumer holds the single-writer part
  };

  /// sw_view() - read a page's single-writer part as its owner's Returner.
  /// Order: `returned`, `held`, `returned` again.
  ARENAKIT_ALWAYS_INLINE static SwView sw_view(detail::token_word::SwPage& e, std::uint32_t me) noexcept {
    namespace tw = detail::token_word;
    std::atomic_ref<std::uint32_t> ret(e.returned);
    std::atomic_ref<std::uint64_t> held(e.held);
    SwView out;
    for (int attempt = 0; attempt < 2; ++attempt) {
      // acquire: pairs with the release store of whichever Returner wrote
      // `returned` last. If that was the page's next owner's, the producer
      // had stored that owner in `held` before, so the load below sees it
      // and a former owner never extends the next owner's count.
      // (tt-r6) pairs with (tt-r8), (tt-d1).
      const std::uint32_t r1 = ret.load(std::memory_order_acquire);
      ARENAKIT_TEST_PAUSE(token_sw_first_read);
      // acquire: pairs with the producer's release store of `held`: the
      // `returned` the producer saw when it gave us the page is visible to
      // the re-read below (so a new owner never starts from an older value).
      // (tt-r7) pairs with (tt-r4), (tt-r5).
      const std::uint64_t o = held.load(std::memory_order_acquire);
      // relaxed: ordered after the acquire above.
      const std::uint32_t r = ret.load(std::memory_order_relaxed);
      const std::uint32_t d = tw::sw_delivered(o);
      if (r != r1) continue; // someone else wrote it meanwhile: not (or not yet seen as) ours; look again
      out.returned = r;
      if (tw::sw_owner(o) == me) {
        out.share = static_cast<std::uint32_t>(d - r);
      } else {
        out.other = d != r;
      }
      return out;
    }
    out.other = true; // `returned` keeps moving under us: another consumer's Returner owns it
    return out;
  }

  /// sw_share() - references consumer @index holds on @p's single-writer part.
  static std::uint32_t sw_share(State& s, std::uint32_t index, std::uint32_t p) noexcept {
    return sw_view(s.sw[p], index + 1).share;
  }

  static bool begin_sw_return(Slot& c, std::uint32_t gen, TokenRefusal& why) noexcept {
    return begin_exclusive(c, gen, Slot::returning_bit, TokenRefusal::concurrent_return, why);
  }
  /// A delivery in flight drains instead.
  static void end_sw_return(State& s, Slot& c, std::uint32_t index) noexcept {
    end_exclusive(s, c, index, Slot::returning_bit, Slot::delivering_bit);
  }

  /// return_shared_sw() - the single-writer part is not ours: the reference
  /// may sit in our shared table. @other: another consumer holds the
  /// single-writer part (not_held rather than underflow).
  ARENAKIT_NOINLINE static bool return_shared_sw(State& s, Slot& c, std::uint32_t index, std::uint32_t p, bool other,
                                                 TokenRefusal& why) noexcept {
    namespace tw = detail::token_word;
    // relaxed: a hint; return_slow() decides under the page's spin bit.
    if (std::atomic_ref<std::uint64_t>(s.words[p]).load(std::memory_order_relaxed) != 0) {
      TokenRefusal r = TokenRefusal::not_held;
      const Slow res = return_slow(s, c, index, p, r);
      if (res == Slow::done) return true;
      // Our table is intact during our call (a close defers to it): any
      // refusal other than "nobody" means "not ours".
      if (res == Slow::retry || r != TokenRefusal::underflow) {
        why = TokenRefusal::not_held;
        return false;
      }
    }
    why = other ? TokenRefusal::not_held : TokenRefusal::underflow;
    return false;
  }

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
  /// What one page of a return did: a TokenRefusal, or released_step.
  using Step = std::uint8_t;
  static constexpr Step released_step = 0xFF;
  static_assert(token_refusal_count < released_step);
  static constexpr Step retry_step = 0xFE; ///< return_slow_step(): the page went back to the fast path
  static constexpr Step refused_step(TokenRefusal why) noexcept { return static_cast<Step>(why); }

  /// return_slow() as a Step. Not inlined: the refusal it writes through a
  /// reference would otherwise live in memory on the walk's hot path.
  ARENAKIT_NOINLINE static Step return_slow_step(State& s, Slot& c, std::uint32_t index, std::uint32_t p) noexcept {
    TokenRefusal why = TokenRefusal::not_held;
    const Slow res = return_slow(s, c, index, p, why);
    return res == Slow::done ? released_step : res == Slow::refused ? refused_step(why) : retry_step;
  }

  template <class Range, class PerPage>
  ARENAKIT_ALWAYS_INLINE static ReturnOutcome walk_ranges(State& s, Slot& c, std::span<const Range> ranges,
                                                          PerPage&& per_page) noexcept {
    ReturnOutcome out;
    std::array<std::uint64_t, token_refusal_count> refused_by{};
    std::uint64_t budget = s.max_tokens_per_call;
    std::uint64_t released = 0;
    std::size_t i = 0;
    for (; i < ranges.size(); ++i) {
      const CheckedRange r = s.format.check(ranges[i].start, ranges[i].count, s.max_tokens_per_call);
      const std::uint64_t cost = r.ok && r.count != 0 ? r.count : 1;
      if (cost > budget) {
        out.capped = true;
        break;
      }
      budget -= cost;
      if (ARENAKIT_UNLIKELY(!r.ok)) {
        ++refused_by[static_cast<std::size_t>(r.refusal)];
        continue;
      }
      const std::uint32_t end = r.first + r.count;
      for (std::uint32_t p = r.first; p != end; ++p) {
        const Step step = per_page(p);
        if (ARENAKIT_LIKELY(step == released_step)) {
          ++released;
        } else {
          ++refused_by[static_cast<std::size_t>(step)];
        }
      }
    }
    out.ranges_done = i;
    out.released = released;
    std::uint64_t refused = 0;
    for (std::size_t k = 0; k < token_refusal_count; ++k) {
      if (refused_by[k] == 0) continue;
      refused += refused_by[k];
      count(c, static_cast<TokenRefusal>(k), refused_by[k]);
    }
    out.refused = refused;
    if (out.capped) c.now.calls_capped.fetch_add(1, std::memory_order_release); // statistic; (tt-s3)
    return out;
  }

  /// refuse_call() - the outcome of a call refused whole (stale or closed
  /// handle, or a concurrent call through a Returner), counted once.
  static ReturnOutcome refuse_call(State& s, Slot* c, ConsumerHandle h, TokenRefusal why, std::size_t ranges) noexcept {
    ReturnOutcome out;
    out.refused = 1;
    out.ranges_done = ranges;
    note_refusal(s, c, h, why, 1);
    return out;
  }

  template <class Range>
  static ReturnOutcome sw_return_impl(State& s, ConsumerHandle h, std::span<const Range> ranges) noexcept {
    Slot* c = s.slot(h.index);
    TokenRefusal why = TokenRefusal::consumer_closed;
    if (ARENAKIT_UNLIKELY(c == nullptr || !begin_sw_return(*c, h.generation, why)))
      return refuse_call(s, c, h, why, ranges.size());
    const std::uint32_t me = h.index + 1;
    const ReturnOutcome out = walk_ranges(s, *c, ranges, [&](std::uint32_t p) noexcept -> Step {
      detail::token_word::SwPage& e = s.sw[p];
      const SwView v = sw_view(e, me);
      if (ARENAKIT_LIKELY(v.share != 0)) {
        // No RMW: only we write this page's `returned` while we hold a
        // share of it (the producer cannot give it away before
        // delivered == returned, and a close waits for our call to end).
        // release: pairs with the producer's acquire load of `returned`
        // (our use of the page happens-before its reuse), with the next
        // owner's acquire in sw_view() and with page_refs()' acquire.
        // (tt-r8) pairs with (tt-r3), (tt-r6), (tt-r1).
        std::atomic_ref<std::uint32_t>(e.returned).store(v.returned + 1, std::memory_order_release);
        return released_step;
      }
      TokenRefusal refusal = TokenRefusal::not_held;
      return return_shared_sw(s, *c, h.index, p, v.other, refusal) ? released_step : refused_step(refusal);
    });
    // relaxed, no RMW: a statistic that only this consumer's Returner writes
    // (earlier calls, and earlier consumers of the slot, happen-before us
    // through the state word).
    if (out.released != 0) detail::owner_add<std::memory_order_release>(c->now.returned, out.released); // (tt-s3)
    end_sw_return(s, *c, h.index);
    return out;
  }

  template <class Range>
  ReturnOutcome return_impl(ConsumerHandle h, std::span<const Range> ranges) noexcept {
    namespace tw = detail::token_word;
    State& s = *state_;
    Slot* c = s.slot(h.index);
    if (ARENAKIT_UNLIKELY(c == nullptr || !begin_return(*c, h.generation)))
      return refuse_call(s, c, h, TokenRefusal::consumer_closed, ranges.size());
    const std::uint64_t me = tw::owner_field(h.index);
    const ReturnOutcome out = walk_ranges(s, *c, ranges, [&](std::uint32_t p) noexcept -> Step {
      std::atomic_ref<std::uint64_t> w(s.words[p]);
      std::uint64_t v = w.load(std::memory_order_relaxed);
      for (;;) {
        if (tw::sole_of(v, me)) {
          const std::uint64_t nv = tw::count(v) == 1 ? 0 : v - 1;
          // release: pairs with the acquire of the page's next delivery
          // and of page_refs(): our use of the page happens-before reuse.
          // (tt-w4) pairs with (tt-w1), (tt-w2), (tt-w3), (tt-w6), (tt-w11).
          if (w.compare_exchange_weak(v, nv, std::memory_order_release, std::memory_order_relaxed)) {
            if (nv == 0) s.hook(p);
            return released_step;
          }
          continue;
        }
        if (v == 0) return refused_step(TokenRefusal::underflow);
        if ((v & (tw::busy_bit | tw::shared_bit)) == 0) return refused_step(TokenRefusal::not_held);
        const Step step = return_slow_step(s, *c, h.index, p);
        if (step != retry_step) return step;
        v = w.load(std::memory_order_relaxed);
      }
    });
    if (out.released != 0) c->now.returned.fetch_add(out.released, std::memory_order_release); // statistic (several returners); (tt-s3)
    end_return(s, *c, h.index);
    return out;
  }

  /**
   * drain() - give back everything the closed consumer holds. Runs once, by
   * close() or by the delivery close() deferred to; nobody appends to the log
   * any more. Walks the log first (after it, no page is held by this
   * consumer alone, so nothing can be added to its table), then the shared
   * table, which it takes whole under the consumer's lock.
   */
  static std::uint64_t drain(State& s, Slot& c, std::uint32_t index) noexcept {
    namespace tw = detail::token_word;
    const std::uint64_t me = tw::owner_field(index);
    std::uint64_t released = 0;
    std::uint64_t visits = 0;
    if constexpr (single_writer) {
      // The consumer's Returner is quiet for good (closed, its last call
      // ended before us: our state RMW acquired its release), and no delivery
      // to it runs: for a page it owns with a share left, nobody else writes
      // `returned`, and the producer cannot give the page away (it needs
      // delivered == returned), so `held` is stable too.
      const std::uint32_t owner = index + 1;
      for (const std::uint32_t p : c.log) {
        ++visits;
        // The entry may be stale: A gave every reference back, the producer
        // handed the page to B (`held` = {B, d + 1}) and B's Returner is
        // moving `returned` right now. So read as a Returner does
        // (sw_view(): `returned`, then `held`, then `returned` again, each
        // pairing explained there): a `held` naming us with a share left is
        // then stable, while `held` first and `returned` second could pair
        // our old count with B's newer returns and roll them back.
        const SwView v = sw_view(s.sw[p], owner);
        if (v.share == 0) continue; // stale entry (page free, or another consumer's), or listed twice
        // (tt-d1) release: pairs with the producer's acquire load of
        // `returned` (reuse, (tt-r3)) and page_refs()' acquire (tt-r1), as a
        // Returner's store (tt-r8) does.
        std::atomic_ref<std::uint32_t>(s.sw[p].returned).store(v.returned + v.share, std::memory_order_release);
        released += v.share;
      }
    } else {
    for (const std::uint32_t p : c.log) {
      ++visits;
      std::atomic_ref<std::uint64_t> w(s.words[p]);
      detail::SpinWait wait;
      std::uint64_t v = w.load(std::memory_order_relaxed);
      for (;;) {
        if ((v & tw::busy_bit) != 0) { // a transition to shared in progress: let it finish
          wait();
          v = w.load(std::memory_order_relaxed);
          continue;
        }
        if (!tw::sole_of(v, me)) break; // stale entry
        // release: pairs with the acquire of the page's next delivery and of
        // page_refs() (same as a return).
        // (tt-w5) pairs with (tt-w1), (tt-w2), (tt-w3), (tt-w6), (tt-w11).
        if (w.compare_exchange_weak(v, 0, std::memory_order_release, std::memory_order_relaxed)) {
          released += tw::count(v);
          s.hook(p);
          break;
        }
      }
    }
    } // single_writer
    c.log.reset(s.bytes);
    detail::PageCountTable mine;
    {
      detail::SpinLockGuard g(c.shared_lock);
      mine.swap(c.shared);
    }
    mine.for_each([&](std::uint32_t p, std::uint32_t k) noexcept {
      ++visits;
      std::atomic_ref<std::uint64_t> w(s.words[p]);
      const std::uint64_t v = lock_page(w);
      assert((v & tw::shared_bit) != 0 && tw::count(v) >= k);
      if (ARENAKIT_UNLIKELY(v == 0)) return; // cannot happen: our share keeps the page held
      const std::uint32_t left = tw::count(v) - k;
      unlock_page(w, left == 0 ? 0 : (tw::shared_bit | left));
      released += k;
      if (left == 0) s.hook(p);
    });
    mine.reset(s.bytes);
    c.now.close_released.fetch_add(released, std::memory_order_release); // statistic; (tt-s3)
    c.now.close_visits.fetch_add(visits, std::memory_order_release);     // statistic; (tt-s3)
    return released;
  }

  /// refs_of() - references slot @index (consumer @c) holds on @page now;
  /// the caller checks the handle before and after (see held_by()).
  static std::uint32_t refs_of(State& s, Slot& slot, std::uint32_t index, std::uint32_t page) noexcept {
    namespace tw = detail::token_word;
    Slot* c = &slot;
    std::atomic_ref<std::uint64_t> w(s.words[page]);
    if constexpr (single_writer) {
      // The single-writer share (read as a Returner reads it: see
      // sw_share()), plus what the shared table holds.
      std::uint32_t n = sw_share(s, index, page);
      // (tt-w10) pairs with (tt-w8).
      const std::uint64_t v = w.load(std::memory_order_acquire); // pairs with unlock_page's release
      if ((v & (tw::busy_bit | tw::shared_bit)) == 0) return n;
      const std::uint64_t locked = lock_page(w);
      if (locked == 0) return n; // freed meanwhile (and not locked)
      {
        detail::SpinLockGuard g(c->shared_lock);
        n += c->shared.get(page);
      }
      unlock_page(w, locked);
      return n;
    }
    const std::uint64_t me = tw::owner_field(index);
    // (tt-w11) pairs with (tt-w8), (tt-w4), (tt-w5).
    const std::uint64_t v = w.load(std::memory_order_acquire); // pairs with unlock_page / CAS releases
    if (tw::sole_of(v, me)) return tw::count(v);
    if ((v & (tw::busy_bit | tw::shared_bit)) == 0) return 0;
    const std::uint64_t locked = lock_page(w);
    if (locked == 0) return 0; // freed meanwhile (and not locked)
    std::uint32_t n = 0;
    if (tw::sole_of(locked, me)) {
      n = tw::count(locked);
    } else if ((locked & tw::shared_bit) != 0) {
      detail::SpinLockGuard g(c->shared_lock);
      n = c->shared.get(page);
    }
    unlock_page(w, locked);
    return n;
  }

  std::unique_ptr<State> state_;
};

} // namespace arenakit
