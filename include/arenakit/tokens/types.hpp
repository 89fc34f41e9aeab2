// SPDX-License-Identifier: MIT
/**
 * @file tokens/types.hpp
 * @brief The token tracker's vocabulary: the page-free hook, its configuration, the consumer handle, what
 *        each call reports (outcomes) and the counters. No behaviour: see
 *        tokens/token_tracker.hpp and docs/tokens.md.
 */
#pragma once

#include <arenakit/config.hpp>
#include <arenakit/tokens/format.hpp>

#include <array>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <type_traits>

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
 * A hook may also be told when a page is taken: `hook.taken(page) -> bool`
 * (noexcept), called by the deliverer when the page's tracker count goes
 * from 0 to 1, before the page is claimed; false refuses the delivery
 * (TokenRefusal::page_not_live) and changes nothing. Each taken() that
 * returned true is answered by exactly one hook(page): when the count falls
 * back to 0, or at once when the claim lost a race to another deliverer.
 * ReleaseToArena (tokens/arena_binding.hpp) retains the page's arena slot
 * there, so the tracker holds one arena reference while any consumer holds
 * the page. A hook without taken() takes every page.
 */
template <class H>
concept PageTakeHook = PageFreeHook<H> && requires(H& h, std::uint32_t page) {
  { h.taken(page) } noexcept -> std::same_as<bool>;
};

namespace detail {
/// take_page() - the hook's taken(), or true for a hook without one.
template <class H>
ARENAKIT_ALWAYS_INLINE bool take_page(H& hook, std::uint32_t page) noexcept {
  if constexpr (PageTakeHook<H>) {
    return hook.taken(page);
  } else {
    (void)page;
    return true;
  }
}
} // namespace detail

// Who may deliver and who may return is the tracker's page-reference policy
// (concepts/page_refs.hpp): AnyThreadRefs (the default), OneProducerRefs,
// SingleWriterRefs (tokens/refs/).

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
  deferred_to_return,   ///< SingleWriterRefs: a Returner call was in progress: it drains when it finishes
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

} // namespace arenakit
