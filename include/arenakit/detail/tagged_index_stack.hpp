// SPDX-License-Identifier: MIT
/**
 * @file detail/tagged_index_stack.hpp
 * @brief A lock-free LIFO of 32-bit indexes (a Treiber stack over an array):
 *        the head packs an ABA tag with the top index in one 64-bit word,
 *        the `next` links live in the elements (one 32-bit atomic each).
 *
 *     head = | tag:32 | top index:32 |      top == none: empty
 *
 * Every successful head CAS bumps the tag, so a pop that read `top` and its
 * link before a pop/push/pop of the same index fails instead of installing a
 * stale link (ABA). Elements are never freed while the stack exists (they
 * are indexes into storage that only grows), so reading a link of an index
 * that has already left the stack is harmless: the tagged CAS rejects it.
 *
 * The caller owns the links: every operation that touches one takes a
 * `link_of(index)` callable returning that element's
 * `std::atomic<std::uint32_t>&`. Links are relaxed: the head's release CAS
 * (ts-1) publishes them, and the acquire of (ts-2)/(ts-3) reads them.
 *
 * Barriers:
 * - push():     release on success (ts-1): the element's link and everything
 *               the pusher wrote before are visible to whoever reads the new
 *               head with acquire (ts-2, ts-3, peek()).
 * - pop():      acquire (ts-2) on the head load and on every CAS result: the
 *               popped element's contents, written before its push, are
 *               visible. No release: a pop publishes nothing.
 * - pop_if():   acquire and release (ts-3): acquires the pushes it passes
 *               over, releases for the next popper (the arena's partial stack).
 * - peek():     acquire (ts-4), pairs with (ts-1).
 * - reset():    release (ts-5), pairs with (ts-4): for teardown only.
 *
 * Progress: push, pop and pop_if are lock-free (a CAS retries only when
 * another push or pop succeeded in between); peek and reset are wait-free.
 */
#pragma once

#include <atomic>
#include <cstdint>

namespace arenakit::detail {

class TaggedIndexStack {
public:
  /// The index that means "no element" (empty stack, end of a chain).
  static constexpr std::uint32_t none = 0xFFFF'FFFFu;

  static constexpr std::uint64_t pack(std::uint32_t tag, std::uint32_t index) noexcept {
    return (std::uint64_t{tag} << 32) | index;
  }
  /// The top index of a head word (none when empty).
  static constexpr std::uint32_t top_of(std::uint64_t head) noexcept {
    return static_cast<std::uint32_t>(head);
  }
  /// The head word that replaces @head with @index on top (tag bumped).
  static constexpr std::uint64_t next_head(std::uint64_t head, std::uint32_t index) noexcept {
    return pack(static_cast<std::uint32_t>(head >> 32) + 1, index);
  }

  TaggedIndexStack() noexcept = default;
  TaggedIndexStack(const TaggedIndexStack&) = delete;
  TaggedIndexStack& operator=(const TaggedIndexStack&) = delete;

  /**
   * push - put @index on top (lock-free)
   * @link_of: link_of(i) is element i's std::atomic<std::uint32_t>& link
   *
   * Provides release barrier semantics (ts-1): what the caller wrote before
   * is visible to whoever acquires this head.
   */
  template <class LinkOf>
  void push(std::uint32_t index, LinkOf&& link_of) noexcept {
    std::atomic<std::uint32_t>& link = link_of(index);
    std::uint64_t head = head_.load(std::memory_order_relaxed); // compared, then published by the CAS
    do {
      // Relaxed: published by the release CAS below.
      link.store(top_of(head), std::memory_order_relaxed);
      // (ts-1) release, pairs with (ts-2)/(ts-3)/(ts-4): the link and the
      // element's contents are visible to whoever acquires this head.
    } while (!head_.compare_exchange_weak(head, next_head(head, index), std::memory_order_release,
                                          std::memory_order_relaxed));
  }

  /**
   * pop - take the top index (lock-free)
   *
   * Returns the index, or none when the stack is empty. Provides acquire
   * barrier semantics if it succeeds (ts-2, pairs with (ts-1)).
   */
  template <class LinkOf>
  [[nodiscard]] std::uint32_t pop(LinkOf&& link_of) noexcept {
    // (ts-2) acquire, pairs with (ts-1): the top's link is the pusher's.
    std::uint64_t head = head_.load(std::memory_order_acquire);
    while (top_of(head) != none) {
      const std::uint32_t top = top_of(head);
      const std::uint32_t next = link_of(top).load(std::memory_order_relaxed); // ordered by (ts-2)
      // (ts-2) again on failure: the fresh head's top must be acquired too.
      if (head_.compare_exchange_weak(head, next_head(head, next), std::memory_order_acquire,
                                      std::memory_order_acquire))
        return top;
    }
    return none;
  }

  /**
   * pop_if - take the top off iff the head is still @seen (one strong CAS)
   * @seen: a head word read by peek()
   * @link_of: as for push
   *
   * For callers that look at the top element before deciding to pop it.
   * Returns false when the head moved (the caller re-reads and retries).
   * Provides acquire and release barrier semantics if it succeeds (ts-3):
   * acquires the pushes it passes over, releases for the next popper.
   */
  template <class LinkOf>
  bool pop_if(std::uint64_t seen, LinkOf&& link_of) noexcept {
    const std::uint32_t next = link_of(top_of(seen)).load(std::memory_order_relaxed); // ordered by (ts-4)
    // (ts-3) acq_rel on success; relaxed on failure (the caller re-reads with peek()).
    return head_.compare_exchange_strong(seen, next_head(seen, next), std::memory_order_acq_rel,
                                         std::memory_order_relaxed);
  }

  /// peek - the head word (wait-free); (ts-4) acquire, pairs with (ts-1).
  [[nodiscard]] std::uint64_t peek() const noexcept { return head_.load(std::memory_order_acquire); }

  /// Snapshot: true when no index is on the stack (relaxed; may be stale).
  [[nodiscard]] bool empty() const noexcept {
    return top_of(head_.load(std::memory_order_relaxed)) == none;
  }

  /**
   * reset - empty the stack (teardown only: no concurrent operation)
   *
   * The tag still advances, so a head word read before the reset never
   * matches after it. (ts-5) release, pairs with (ts-4).
   */
  void reset() noexcept {
    head_.store(next_head(head_.load(std::memory_order_relaxed), none), std::memory_order_release);
  }

private:
  std::atomic<std::uint64_t> head_{pack(0, none)};
};

static_assert(std::atomic<std::uint64_t>::is_always_lock_free,
              "the tagged head must be a lock-free 64-bit atomic");
static_assert(sizeof(TaggedIndexStack) == sizeof(std::uint64_t), "the stack is its head word");

} // namespace arenakit::detail
