// SPDX-License-Identifier: MIT
/**
 * @file tokens/return_ring.hpp
 * @brief TokenReturnRing: a consumer's optional single-producer /
 *        single-consumer ring of returned token ranges (as io_uring zcrx's
 *        refill ring). The application writes entries and publishes them
 *        with one release store; the receive thread drains them in batches
 *        through the tracker's return_tokens(), so every entry gets exactly
 *        its validation, refusal counters and work cap.
 *
 * Contract (docs/tokens.md, "A return ring")
 * - Two sides, each one thread at a time, concurrently with each other:
 *   the writer (the application: try_push(), push(), publish()) and the
 *   drain side (the receive thread: drain(), close(), readable()).
 * - Entries are untrusted {start, count} ranges (TokenRange32 or
 *   TokenRange64), stored as written and checked only when drained, by the
 *   target's return_tokens(handle, ranges): a bad entry is refused by
 *   reason, counted in the tracker's counters and changes nothing.
 * - Written is not published: the drain side sees entries only after
 *   publish(), every entry written so far at once.
 * - A full ring takes what fits: try_push() says how many; the writer
 *   returns the rest itself with return_tokens() (so the target must allow
 *   returns from two threads: AnyThreadRefs / OneProducerRefs, or a BindingGroup).
 * - drain(): at most one return_tokens() call, on the published entries up
 *   to the end of the array, so one drain does at most the tracker's work
 *   cap. The head moves by the call's ranges_done, after the call: an entry
 *   the cap or the wrap left stays, in order, for the next drain; none is
 *   lost or applied twice.
 * - close(): drains every entry published before it began, then closes
 *   the consumer (which gives back what it still holds). An entry published
 *   later is refused by a later drain as consumer_closed (counted once per
 *   drain call, as any call through a closed handle) and taken off the
 *   ring, so the writer is never stuck full.
 * - A ring serves one consumer for life: entries name tokens, not
 *   consumers, so a re-opened consumer gets a new ring.
 * - Progress: try_push / push / publish / readable are wait-free (the
 *   writer loads the head only when its cached copy says full; drain()
 *   loads the tail only when its copy is used up). drain(): wait-free
 *   on the ring, plus one return_tokens() (its progress). close(): at most
 *   capacity() drains, then the target's close().
 * - Barriers: publish() stores the tail with release (rr-1), paired with
 *   the drain side's acquire load (rr-2): the entries happen-before their
 *   drain. A drain stores the head with release (rr-3), paired with the
 *   writer's acquire load (rr-4): the drain's reads of a slot happen-before
 *   the writer overwrites it. References come back on the drain thread,
 *   with the tracker's own release (tt-w4).
 * - Memory: capacity() x sizeof(Range) (8 or 16 bytes), cache-line
 *   aligned, plus five cache lines: one read-only, and per side one for
 *   the index the other side reads and one for its own copies.
 */
#pragma once

#include <arenakit/config.hpp>
#include <arenakit/detail/layout.hpp>
#include <arenakit/detail/test_hook.hpp>
#include <arenakit/error.hpp>
#include <arenakit/tokens/format.hpp>
#include <arenakit/tokens/types.hpp>

#include <algorithm>
#include <atomic>
#include <bit>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <span>
#include <type_traits>

namespace arenakit {

/// What one TokenReturnRing::drain() did (sums, for close()).
struct RingDrainOutcome {
  std::uint64_t released = 0; ///< references released (the tracker's ReturnOutcome::released)
  std::uint64_t refused = 0;  ///< refusals; the tracker counts each by reason
  std::size_t entries = 0;    ///< entries taken off the ring, applied or refused
  std::size_t left = 0;       ///< published entries still in the ring, as far as this drain saw
  bool capped = false;        ///< the tracker's work cap stopped a call
};

/// What TokenReturnRing::close() did: its last drains, then the close.
struct RingCloseOutcome {
  RingDrainOutcome drained;
  CloseOutcome closed;
};

/**
 * concept RingReturnTarget - what a ring drains into: `return_tokens(h,
 * ranges)` and `close(h)` with the tracker's outcomes. TokenTracker with
 * AnyThreadRefs / OneProducerRefs (handle: ConsumerHandle), BindingGroup (its Consumer,
 * TokenRange64). Not SingleWriterRefs: its one Returner cannot
 * take the writer's direct fallback from another thread.
 */
template <class Target, class Handle, class Range>
concept RingReturnTarget = requires(Target& t, const Handle& h, std::span<const Range> ranges) {
  { t.return_tokens(h, ranges) } -> std::same_as<ReturnOutcome>;
  { t.close(h) } -> std::same_as<CloseOutcome>;
};

/**
 * class TokenReturnRing - see the file comment.
 * @Range: TokenRange32 (the devmem ABI's struct dmabuf_token) or TokenRange64.
 *
 * Immovable (both sides point at it): create() returns a unique_ptr.
 */
template <class Range = TokenRange32>
class TokenReturnRing {
  static_assert(std::is_same_v<Range, TokenRange32> || std::is_same_v<Range, TokenRange64>,
                "arenakit::TokenReturnRing<Range>: Range is TokenRange32 or TokenRange64");

public:
  /// The largest capacity create() accepts (2^24 entries: 128 or 256 MiB);
  /// free-running 32-bit indexes stay unambiguous far beyond it.
  static constexpr std::uint32_t max_capacity = 1u << 24;

  /**
   * create() - a ring of @capacity entries.
   * Return: the ring; errc::invalid_config when @capacity is 0, not a power
   * of two or past max_capacity; errc::out_of_memory. Set-up path.
   */
  static Result<std::unique_ptr<TokenReturnRing>> create(std::uint32_t capacity) noexcept {
    if (capacity == 0 || !std::has_single_bit(capacity) || capacity > max_capacity) return errc::invalid_config;
    void* mem = ::operator new(std::size_t{capacity} * sizeof(Range), std::align_val_t{cache_line_size},
                               std::nothrow);
    if (mem == nullptr) return errc::out_of_memory;
    std::unique_ptr<TokenReturnRing> ring(new (std::nothrow) TokenReturnRing(static_cast<Range*>(mem), capacity));
    if (!ring) {
      ::operator delete(mem, std::align_val_t{cache_line_size});
      return errc::out_of_memory;
    }
    return ring;
  }

  TokenReturnRing(const TokenReturnRing&) = delete;
  TokenReturnRing& operator=(const TokenReturnRing&) = delete;

  ~TokenReturnRing() {
    // Rigtorp's layout: each index the other side polls alone on its line,
    // each side's private copies on a line of their own, and the read-only
    // fields apart from all of them.
    ARENAKIT_LAYOUT_CHECK_BEGIN
    static_assert(ARENAKIT_LINE_OF(TokenReturnRing, entries_) == 0 && ARENAKIT_LINE_OF(TokenReturnRing, mask_) == 0,
                  "read-only fields: line 0");
    static_assert(ARENAKIT_LINE_OF(TokenReturnRing, tail_) == 1, "the published tail alone on line 1");
    static_assert(ARENAKIT_LINE_OF(TokenReturnRing, write_) == 2 &&
                      ARENAKIT_LINE_OF(TokenReturnRing, head_cache_) == 2 &&
                      ARENAKIT_LINE_OF(TokenReturnRing, published_) == 2,
                  "the writer's own copies: line 2");
    static_assert(ARENAKIT_LINE_OF(TokenReturnRing, head_) == 3, "the drained head alone on line 3");
    static_assert(ARENAKIT_LINE_OF(TokenReturnRing, read_) == 4 && ARENAKIT_LINE_OF(TokenReturnRing, tail_cache_) == 4,
                  "the drain side's own copies: line 4");
    static_assert(sizeof(TokenReturnRing) == 5 * cache_line_size && alignof(TokenReturnRing) == cache_line_size,
                  "five whole lines: no neighbour shares them");
    ARENAKIT_LAYOUT_CHECK_END
    ::operator delete(entries_, std::align_val_t{cache_line_size});
  }

  [[nodiscard]] std::uint32_t capacity() const noexcept { return mask_ + 1; }

  // ------------------------------------------------------------ the writer

  /**
   * try_push() - write as many of @entries as fit, in order, unpublished.
   * Return: how many it took (fewer than given only when the ring is
   * full: return the rest with return_tokens()). Wait-free; acquires the
   * head (rr-4) only when the writer's copy says there is not room.
   */
  std::size_t try_push(std::span<const Range> entries) noexcept {
    const std::uint32_t room = room_for(entries.size());
    const std::uint32_t n = entries.size() < room ? static_cast<std::uint32_t>(entries.size()) : room;
    const std::uint32_t at = write_ & mask_;
    const std::uint32_t first = std::min(n, capacity() - at);
    std::copy_n(entries.data(), first, entries_ + at);
    std::copy_n(entries.data() + first, n - first, entries_);
    write_ += n;
    return n;
  }

  /// push() - write one entry, unpublished. Return: false when the ring is
  /// full. Wait-free; as try_push().
  bool push(const Range& entry) noexcept {
    if (room_for(1) == 0) return false;
    entries_[write_ & mask_] = entry;
    ++write_;
    return true;
  }

  /**
   * publish() - hand every entry written so far to the drain side: one
   * release store of the tail (rr-1), none when nothing new was written.
   * Wait-free.
   */
  void publish() noexcept {
    if (write_ == published_) return;
    published_ = write_;
    // release: the entries written before it happen-before a drain that
    // reads this tail. (rr-1) pairs with (rr-2).
    tail_.store(write_, std::memory_order_release);
  }

  /// Entries written and not yet published (the writer's own view).
  [[nodiscard]] std::uint32_t unpublished() const noexcept { return write_ - published_; }

  // -------------------------------------------------------- the drain side

  /// readable() - published entries not drained yet. Drain side; acquires
  /// the tail (rr-2). Wait-free.
  [[nodiscard]] std::size_t readable() noexcept {
    tail_cache_ = load_tail();
    return tail_cache_ - read_;
  }

  /**
   * drain() - give the published entries back through @target.
   * @target: a RingReturnTarget (the consumer's tracker or binding group).
   * @h:      the consumer the ring serves.
   *
   * One return_tokens() call on the published entries from the head to the
   * end of the array at most; the head moves by its ranges_done after it
   * returns. A tracker's refusals are counted by the tracker. `left`
   * non-zero: call again (the cap or the wrap stopped this one).
   * Progress: wait-free on the ring (acquires the tail (rr-2) only when its
   * copy is used up; releases the head (rr-3)), plus the call's progress.
   */
  template <class Target, class Handle>
  RingDrainOutcome drain(Target& target, const Handle& h) noexcept {
    static_assert(RingReturnTarget<Target, Handle, Range>,
                  "arenakit::TokenReturnRing::drain(): the target needs return_tokens(handle, ranges) and "
                  "close(handle) (a TokenTracker with AnyThreadRefs or OneProducerRefs, or a BindingGroup)");
    if (tail_cache_ == read_) tail_cache_ = load_tail();
    return drain_until(target, h, tail_cache_);
  }

  /**
   * close() - drain for the last time, then close the consumer.
   * Drains every entry published before the call (several drains when the
   * cap or the wrap stops one), then calls @target.close(@h), which gives
   * back every reference the consumer still holds. Later entries: see the
   * file comment. Drain side. Progress: at most capacity() drains, then the
   * target's close(); barriers: drain()'s and the close's.
   */
  template <class Target, class Handle>
  RingCloseOutcome close(Target& target, const Handle& h) noexcept {
    static_assert(RingReturnTarget<Target, Handle, Range>,
                  "arenakit::TokenReturnRing::close(): the target needs return_tokens(handle, ranges) and "
                  "close(handle) (a TokenTracker with AnyThreadRefs or OneProducerRefs, or a BindingGroup)");
    RingCloseOutcome out;
    const std::uint32_t end = load_tail(); // what was published before the close began
    tail_cache_ = end;
    while (read_ != end) {
      const RingDrainOutcome d = drain_until(target, h, end);
      out.drained.released += d.released;
      out.drained.refused += d.refused;
      out.drained.entries += d.entries;
      out.drained.capped |= d.capped;
      if (d.entries == 0) break; // a target that takes nothing would loop; trackers always take one
    }
    out.drained.left = end - read_;
    out.closed = target.close(h);
    return out;
  }

private:
  TokenReturnRing(Range* entries, std::uint32_t capacity) noexcept : entries_(entries), mask_(capacity - 1) {}

  /// Free slots, refreshing the writer's copy of the head only when it
  /// shows fewer than @want.
  std::uint32_t room_for(std::size_t want) noexcept {
    std::uint32_t room = capacity() - (write_ - head_cache_);
    if (room < want) {
      // acquire: pairs with the drain's release of the head: its reads of
      // the slots we are about to overwrite happened before.
      // (rr-4) pairs with (rr-3).
      head_cache_ = head_.load(std::memory_order_acquire);
      room = capacity() - (write_ - head_cache_);
    }
    return room;
  }

  std::uint32_t load_tail() noexcept {
    // acquire: pairs with publish(): the entries up to this tail are
    // written. (rr-2) pairs with (rr-1).
    return tail_.load(std::memory_order_acquire);
  }

  /// One return_tokens() call on the entries from the head towards @end,
  /// up to the end of the array.
  template <class Target, class Handle>
  RingDrainOutcome drain_until(Target& target, const Handle& h, std::uint32_t end) noexcept {
    RingDrainOutcome out;
    if (end != read_) {
      const std::uint32_t at = read_ & mask_;
      const std::uint32_t run = std::min(end - read_, capacity() - at);
      ARENAKIT_TEST_PAUSE(token_ring_drain_run);
      const ReturnOutcome r = target.return_tokens(h, std::span<const Range>(entries_ + at, run));
      const auto took = static_cast<std::uint32_t>(std::min<std::size_t>(r.ranges_done, run));
      read_ += took;
      // release: the call's reads of those slots happen-before the writer
      // refills them. (rr-3) pairs with (rr-4).
      head_.store(read_, std::memory_order_release);
      out.released = r.released;
      out.refused = r.refused;
      out.entries = took;
      out.capped = r.capped;
    }
    out.left = tail_cache_ - read_;
    return out;
  }

  // Line 0, read-only after create().
  alignas(cache_line_size) Range* entries_;
  std::uint32_t mask_;
  // Line 1: the tail, stored by publish(), polled by the drain side.
  alignas(cache_line_size) std::atomic<std::uint32_t> tail_{0};
  // Line 2: the writer's own.
  alignas(cache_line_size) std::uint32_t write_ = 0; ///< next slot to write
  std::uint32_t head_cache_ = 0;                     ///< the head as the writer last saw it
  std::uint32_t published_ = 0;                      ///< the tail it stored last
  // Line 3: the head, stored by drains, polled by the writer when full.
  alignas(cache_line_size) std::atomic<std::uint32_t> head_{0};
  // Line 4: the drain side's own.
  alignas(cache_line_size) std::uint32_t read_ = 0; ///< next slot to drain (the head's value)
  std::uint32_t tail_cache_ = 0;                    ///< the tail as the drain side last saw it
};

} // namespace arenakit
