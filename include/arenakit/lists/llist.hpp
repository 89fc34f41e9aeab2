// SPDX-License-Identifier: MIT
/**
 * @file lists/llist.hpp
 * @brief Intrusive lock-free singly linked lists with the Linux llist
 *        contract (push says whether the list was empty; take-all is one
 *        exchange), written for C++20 atomics.
 *
 * Two types, so that the rule on pop_first() is carried by the type system
 * rather than by a comment:
 *
 * - `Llist`: any number of producers push, any number of consumers take_all().
 *   There is no pop_first() on it at all.
 * - `ScLlist`: any number of producers push; the consumer side (pop_first()
 *   and take_all()) exists only on a move-only `ScLlist::Consumer` handle, and
 *   `claim_consumer()` hands out at most one handle at a time.
 *
 * Why pop_first() must have a single consumer (the ABA problem): pop_first
 * reads `first = head`, then `next = first->next`, then CASes head from
 * `first` to `next`. If, between the read of `next` and the CAS, another
 * consumer removes `first` and `next` and pushes `first` back, head equals
 * `first` again, the CAS succeeds and installs `next` - a node that is no
 * longer on the list (and may already be reused). A second consumer could also
 * free `first` while we read `first->next` (use after free). With one consumer
 * nobody but the caller removes nodes, so `first` stays on the list and its
 * `next` stays valid until the caller's own CAS. take_all() has no such
 * problem (it never reads a node), so it is safe from any number of threads on
 * `Llist`, and on `ScLlist` it belongs to the same single consumer.
 *
 * Concurrency table (ok = may run at the same time without a lock):
 *
 * |              | push / push_bulk | take_all (Llist) | Consumer ops (ScLlist) |
 * | push / batch | ok                | ok               | ok                     |
 * | take_all     | ok                | ok               | n/a                    |
 * | Consumer ops | ok                | n/a              | one handle, one thread |
 *
 * Progress guarantees:
 * - push / push_bulk: lock-free. The CAS retries only when another push or a
 *   take succeeded in between, so some thread always makes progress; a push
 *   never waits for a stalled thread and never allocates.
 * - take_all: wait-free (one atomic exchange).
 * - pop_first: lock-free with respect to producers (it retries only when a
 *   push succeeded).
 * - claim_consumer: wait-free (one exchange); it fails rather than waits.
 *
 * Nodes: the caller's objects derive from (or contain) `LlistNode`. A node
 * must not be pushed while it is already on a list. A chain returned by
 * take_all() belongs to the caller: walk it with `llist_for_each()` (which
 * reads `next` before calling you, so you may free or re-push the node), and
 * `llist_reverse()` it when you want FIFO order (the list itself is LIFO).
 */
#pragma once

#include <arenakit/config.hpp>

#include <atomic>
#include <cstddef>
#include <optional>
#include <type_traits>
#include <utility>

namespace arenakit {

/// The intrusive link. `next` is a plain pointer: it is written by the pusher
/// before the node is published (release CAS) and read only by whoever
/// acquired the node through the head (acquire), or by the owner of a
/// detached chain.
struct LlistNode {
  LlistNode* next = nullptr;
};

/**
 * llist_reverse - reverse a detached chain in place
 * @chain: first node of a chain owned by the caller (may be null)
 *
 * Returns the new first node. take_all() returns newest-first; reversing
 * gives the order in which the pushes happened (FIFO per producer).
 */
[[nodiscard]] inline LlistNode* llist_reverse(LlistNode* chain) noexcept {
  LlistNode* reversed = nullptr;
  while (chain != nullptr) {
    LlistNode* next = chain->next;
    chain->next = reversed;
    reversed = chain;
    chain = next;
  }
  return reversed;
}

/**
 * llist_for_each - call @fn on every node of a detached chain
 * @chain: first node (may be null)
 * @fn: callable as fn(LlistNode*); may free, reuse or re-push the node
 *
 * Reads a node's `next` before calling @fn on it. Returns the node count.
 */
template <class Fn>
std::size_t llist_for_each(LlistNode* chain, Fn&& fn) noexcept(noexcept(fn(chain))) {
  std::size_t count = 0;
  while (chain != nullptr) {
    LlistNode* next = chain->next;
    fn(chain);
    chain = next;
    ++count;
  }
  return count;
}

/// Counts a detached chain (O(n); for tests and teardown reports).
inline std::size_t llist_length(const LlistNode* chain) noexcept {
  std::size_t count = 0;
  for (; chain != nullptr; chain = chain->next) ++count;
  return count;
}

/// container_of for the common case where T derives from LlistNode.
template <class T>
  requires std::is_base_of_v<LlistNode, T>
T* llist_entry(LlistNode* node) noexcept {
  return static_cast<T*>(node);
}

namespace detail {

/// The mark a closed ClosableLlist holds as its head (never a real node,
/// never dereferenced: compared only).
inline LlistNode llist_closed_mark{};

/**
 * llist_push_chain - link [first..last] in front of @head (the one llist push)
 * @Order: the success order of the CAS: release (every list), or seq_cst
 *         when the caller's next load must be ordered after the push
 *         (a store-load pairing, e.g. ReleaseList's watermark policy)
 * @Closable: refuse (link nothing) when the head is llist_closed_mark
 *
 * Returns the head the chain was linked in front of: null when the list was
 * empty before (the caller's cue to wake whoever drains it), or
 * &llist_closed_mark when the list is closed and nothing was linked.
 */
template <std::memory_order Order = std::memory_order_release, bool Closable = false>
ARENAKIT_ALWAYS_INLINE LlistNode* llist_push_chain(std::atomic<LlistNode*>& head, LlistNode* first,
                                                   LlistNode* last) noexcept {
  // The head is only compared, never dereferenced, so a relaxed load is
  // enough; the CAS below re-reads it on failure.
  LlistNode* old = head.load(std::memory_order_relaxed);
  do {
    if constexpr (Closable) {
      if (ARENAKIT_UNLIKELY(old == &llist_closed_mark)) return old;
    }
    last->next = old;
    // (ll-1) release (or seq_cst, see @Order): publishes the chain's contents
    // and `last->next`; pairs with the acquire in take_all (ll-2) and in
    // pop_first (ll-3). Failure is relaxed: on failure we only retry with
    // the fresh value.
  } while (!head.compare_exchange_weak(old, first, Order, std::memory_order_relaxed));
  return old;
}

/**
 * LlistHead - the push side every list shares: a head pointer, push and
 * push_bulk (lock-free; release barrier semantics (ll-1)), empty().
 */
class LlistHead {
public:
  LlistHead() noexcept = default;
  LlistHead(const LlistHead&) = delete;
  LlistHead& operator=(const LlistHead&) = delete;

  /**
   * push - add one node (lock-free, never allocates)
   * @node: a node not on any list
   *
   * Returns true when the list was empty before this push. Provides release
   * barrier semantics (ll-1): the node's contents are visible to whoever
   * takes it.
   */
  ARENAKIT_ALWAYS_INLINE bool push(LlistNode& node) noexcept {
    return llist_push_chain(head_, &node, &node) == nullptr;
  }

  /**
   * push_bulk - add a caller-built chain [first..last] with one CAS
   *
   * Returns true when the list was empty before. Release, as push.
   */
  ARENAKIT_ALWAYS_INLINE bool push_bulk(LlistNode& first, LlistNode& last) noexcept {
    return llist_push_chain(head_, &first, &last) == nullptr;
  }

  /// Snapshot: may be stale by the time the caller looks at it (relaxed).
  [[nodiscard]] bool empty() const noexcept {
    return head_.load(std::memory_order_relaxed) == nullptr;
  }

protected:
  ~LlistHead() = default;
  std::atomic<LlistNode*> head_{nullptr};
};

} // namespace detail

/**
 * Llist - multi-producer, multi-consumer intrusive list (push / take_all).
 *
 * The head sits alone on its cache line: producers hammer it, and nothing
 * else should share their misses.
 */
class alignas(cache_line_size) Llist : public detail::LlistHead {
public:
  Llist() noexcept = default;

  /**
   * take_all - detach every node (wait-free; safe with concurrent pushes and
   *            concurrent take_all calls)
   *
   * Returns the chain newest-first (null when empty); the caller owns it.
   * Provides acquire barrier semantics (ll-2).
   */
  [[nodiscard]] LlistNode* take_all() noexcept {
    // (ll-2) acquire: pairs with (ll-1) so every node of the chain, and its
    // `next`, is visible before we walk it.
    return head_.exchange(nullptr, std::memory_order_acquire);
  }
};

static_assert(sizeof(Llist) == cache_line_size, "Llist's head must own its cache line");

/**
 * ClosableLlist - an Llist whose single owner can close it: a push on a
 * closed list links nothing and says so. Not line-aligned: its owner places
 * it (ReleaseList keeps the fields producers read after the push on the
 * same line).
 *
 * Thread roles: push / push_bulk from any thread; take_all() and close()
 * from the owner only (one thread at a time: take_all checks for the mark
 * before its exchange, so a concurrent close could be undone).
 *
 * Progress: push is lock-free; take_all, close and the snapshots wait-free.
 */
class ClosableLlist {
public:
  ClosableLlist() noexcept = default;
  ClosableLlist(const ClosableLlist&) = delete;
  ClosableLlist& operator=(const ClosableLlist&) = delete;

  /// The head a closed list holds (compare push results against it).
  [[nodiscard]] static LlistNode* closed_mark() noexcept { return &detail::llist_closed_mark; }

  /**
   * push_bulk - add [first..last] with one CAS unless the list is closed
   * @Order: release (default) or seq_cst (see detail::llist_push_chain)
   *
   * Returns the previous head: null when the list was empty, closed_mark()
   * when it is closed (nothing linked; the caller still owns the chain).
   * Lock-free; provides release barrier semantics (ll-1) if it links.
   */
  template <std::memory_order Order = std::memory_order_release>
  ARENAKIT_ALWAYS_INLINE LlistNode* push_bulk(LlistNode& first, LlistNode& last) noexcept {
    return detail::llist_push_chain<Order, true>(head_, &first, &last);
  }

  /**
   * take_all - detach every node (owner only; wait-free)
   *
   * Returns null on an empty or closed list (a closed list stays closed).
   * Provides acquire barrier semantics (ll-2) when it takes nodes.
   */
  [[nodiscard]] LlistNode* take_all() noexcept {
    if (head_.load(std::memory_order_relaxed) == closed_mark()) return nullptr; // only the owner closes
    return head_.exchange(nullptr, std::memory_order_acquire); // (ll-2) pairs with (ll-1)
  }

  /**
   * close - detach every node and close the list (owner only; wait-free)
   *
   * Returns the chain (null when empty or already closed). Acquire (ll-2),
   * as take_all; it publishes nothing, it only swaps in the mark that
   * (ll-1)'s loop refuses.
   */
  [[nodiscard]] LlistNode* close() noexcept {
    LlistNode* chain = head_.exchange(closed_mark(), std::memory_order_acquire); // (ll-2)
    return chain == closed_mark() ? nullptr : chain;
  }

  /// The raw head with @order (null, closed_mark() or the newest node).
  [[nodiscard]] LlistNode* head(std::memory_order order) const noexcept { return head_.load(order); }
  /// Snapshot (relaxed unless told): closed.
  [[nodiscard]] bool closed(std::memory_order order = std::memory_order_relaxed) const noexcept {
    return head_.load(order) == closed_mark();
  }
  /// Snapshot (relaxed unless told): no node queued (empty or closed).
  [[nodiscard]] bool empty(std::memory_order order = std::memory_order_relaxed) const noexcept {
    LlistNode* h = head_.load(order);
    return h == nullptr || h == closed_mark();
  }

private:
  std::atomic<LlistNode*> head_{nullptr};
};

/**
 * ScLlist - multi-producer, single-consumer intrusive list.
 *
 * Producers push through the list; the only way to remove nodes is a
 * `Consumer` obtained from claim_consumer(), of which at most one exists at a
 * time (a second claim returns an empty optional). The handle is move-only;
 * keep it on one thread at a time.
 */
class alignas(cache_line_size) ScLlist : public detail::LlistHead {
public:
  ScLlist() noexcept = default;

  /// The one consumer. Destroying (or moving from) it gives the claim back.
  class Consumer {
  public:
    Consumer(Consumer&& other) noexcept : list_(std::exchange(other.list_, nullptr)) {}
    Consumer& operator=(Consumer&& other) noexcept {
      if (this != &other) {
        reset();
        list_ = std::exchange(other.list_, nullptr);
      }
      return *this;
    }
    Consumer(const Consumer&) = delete;
    Consumer& operator=(const Consumer&) = delete;
    ~Consumer() { reset(); }

    /**
     * pop_first - remove the newest node (lock-free against producers)
     *
     * Returns null when the list is empty. Safe because this handle is the
     * only remover (see the file comment on ABA). Provides acquire barrier
     * semantics if it succeeds (ll-3): the node's contents are the pusher's.
     */
    [[nodiscard]] LlistNode* pop_first() noexcept {
      // (ll-3) acquire: pairs with (ll-1) so `first->next` is the pusher's value.
      LlistNode* first = list_->head_.load(std::memory_order_acquire);
      while (first != nullptr) {
        // `first` cannot leave the list under us: only this handle removes.
        LlistNode* next = first->next;
        // (ll-3) again on failure: the fresh `first` must be acquired too.
        if (list_->head_.compare_exchange_weak(first, next, std::memory_order_acquire,
                                               std::memory_order_acquire))
          break;
      }
      return first;
    }

    /// take_all for the single consumer (see Llist::take_all).
    [[nodiscard]] LlistNode* take_all() noexcept {
      return list_->head_.exchange(nullptr, std::memory_order_acquire); // (ll-2)
    }

  private:
    friend class ScLlist;
    explicit Consumer(ScLlist* list) noexcept : list_(list) {}
    void reset() noexcept {
      // (ll-4) release: whatever this consumer did happens-before the next
      // claimant's (ll-5).
      if (list_ != nullptr) list_->claimed_.store(false, std::memory_order_release);
      list_ = nullptr;
    }
    ScLlist* list_;
  };

  /**
   * claim_consumer - become the list's single consumer
   *
   * Returns the handle, or an empty optional when another handle is alive
   * (the claim fails instead of letting two consumers race on pop_first).
   * Wait-free; provides acquire barrier semantics if it succeeds (ll-5):
   * the previous consumer's work happens-before ours (its release (ll-4)).
   */
  [[nodiscard]] std::optional<Consumer> claim_consumer() noexcept {
    // (ll-5) acquire: pairs with (ll-4) of the previous consumer.
    if (claimed_.exchange(true, std::memory_order_acquire)) return std::nullopt;
    return Consumer(this);
  }

private:
  // Touched only when a consumer is claimed or given back; sharing the head's
  // line costs producers nothing in steady state.
  std::atomic<bool> claimed_{false};
};

static_assert(sizeof(ScLlist) == cache_line_size, "ScLlist must stay one cache line");

} // namespace arenakit
