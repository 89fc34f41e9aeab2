// SPDX-License-Identifier: MIT
/**
 * @file recv/attach.hpp
 * @brief RecvPoolAttachment: how a provided-buffer ring (or any other
 *        front end that posts a RecvPool's buffers) hears about buffers that
 *        became free, and about the pool going away first.
 *
 * Why a link both ways: the ring keeps a pointer to the pool. Destroying the
 * pool first used to leave that pointer dangling (the ring's destructor then
 * read freed memory). With the attachment the pool knows its ring: its
 * destructor closes the ring first (unregistered from the kernel, buffers
 * back), so every destruction order is defined, and the wrong one is recorded
 * by the ring (BufRingTeardown::pool_destroyed_first).
 *
 * Both callbacks run on the pool's owner thread, from inside a pool call:
 * - `freed(owner)`: one buffer just became free (give_back, a drain,
 *   return_unused, reclaim_*). The ring decides whether to re-provide now
 *   (its Reprovide policy). It may call take_for_post on the pool.
 * - `pool_closing(owner)`: the pool's destructor, before it hands anything
 *   back to the arena. The attachment is already cleared when it runs.
 * Plain function pointers, not virtual: the pool is not templated on its ring.
 */
#pragma once

namespace arenakit {

struct RecvPoolAttachment {
  void* owner = nullptr;
  void (*freed)(void* owner) noexcept = nullptr;
  void (*pool_closing)(void* owner) noexcept = nullptr;
  explicit operator bool() const noexcept { return owner != nullptr; }
};

} // namespace arenakit
