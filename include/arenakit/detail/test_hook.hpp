// SPDX-License-Identifier: MIT
/**
 * @file detail/test_hook.hpp
 * @brief Pause points for tests that force one interleaving deterministically.
 *
 * `ARENAKIT_TEST_PAUSE(point)` marks a place in concurrent code where a race
 * window opens (between two loads that must be ordered against a concurrent
 * writer, between a check and its act). In a normal build it expands to
 * nothing: no code, no load, no branch. A test executable compiled with
 * `ARENAKIT_TEST_HOOKS` defined (the whole executable: the macro changes
 * inline functions, so every translation unit of that program must agree)
 * may install a function that runs at each point, typically one that blocks
 * until another thread has done the racing operation. That is how a
 * regression test makes a race happen on every run instead of once in a
 * thousand, without a sleep.
 */
#pragma once

#if defined(ARENAKIT_TEST_HOOKS)
#include <atomic>
#include <cstdint>

namespace arenakit::detail {

/// Names of the pause points: one per race window the tests force.
enum class TestPoint : std::uint8_t {
  token_sw_first_read,      ///< tokens: sw_view() (a Returner, or a close draining) read `returned` once
  token_deliver_before_end, ///< tokens: deliver() did its batch, before it ends the delivery
  token_handle_checked,     ///< tokens: consumer_counters() / held_by() checked the handle, before reading
  epoch_seal_before_push,   ///< epoch: seal() did its bookkeeping, before it publishes the batch
  recv_counters_held_read,  ///< recv pool: counters() read held_, before posted_
  arena_release_held_read,   ///< arena: a release read a slot's held flag
  arena_return_bitmap_done,  ///< arena: return_shared() gave slots back to a bitmap
  arena_claim_peeked,        ///< arena: a claimer read the top of a partial list, before it claims from that shard
  arena_unlisted_counted,    ///< arena: pop_full() took a full shard off its list and read its free count, before acting on it
  counted_retain_read,       ///< counted slots: retain() read the count, before its CAS
  counted_drop_read,         ///< counted slots: drop() / release() read the count, before its CAS
  token_ring_drain_run,      ///< tokens: a return ring's drain took its run of published entries, before the tracker call
  arena_lookup_matched,      ///< arena: a reverse lookup (from_pointer / from_device_address) matched a shard, before it made the id
};

using TestHookFn = void (*)(TestPoint) noexcept;

inline std::atomic<TestHookFn>& test_hook() noexcept {
  static std::atomic<TestHookFn> fn{nullptr};
  return fn;
}

inline void test_pause(TestPoint point) noexcept {
  // acquire: pairs with the release store in set_test_hook(): the hook's
  // state is built before any thread runs it.
  if (TestHookFn fn = test_hook().load(std::memory_order_acquire)) fn(point);
}

/// Install @fn (nullptr removes it). Test code only.
inline void set_test_hook(TestHookFn fn) noexcept {
  test_hook().store(fn, std::memory_order_release); // pairs with the acquire in test_pause()
}

} // namespace arenakit::detail

#define ARENAKIT_TEST_PAUSE(point) ::arenakit::detail::test_pause(::arenakit::detail::TestPoint::point)
#else
#define ARENAKIT_TEST_PAUSE(point) ((void)0)
#endif
