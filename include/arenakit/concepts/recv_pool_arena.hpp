// SPDX-License-Identifier: MIT
/**
 * @file concepts/recv_pool_arena.hpp
 * @brief RecvPoolArena: what RecvPool requires of the arena it takes its
 *        buffers from.
 *
 * Requirements on A (each checked by check_recv_pool_arena<A>() with a
 * message that names what is missing):
 * - `a.acquire_bulk(SlotId* out, std::uint32_t n) noexcept -> std::uint32_t`:
 *   n slots or none (the pool takes all its buffers at once).
 * - `a.release_bulk(const SlotId*, std::uint32_t) noexcept`.
 * - `a.pointer(SlotId) const noexcept -> std::byte*`: the CPU address.
 * - `a.buffer(SlotId) const noexcept`: the slot's device view (returned by
 *   RecvPool::buffer(bid) as is).
 * - `a.slot_size() const noexcept -> std::size_t`: the buffer size.
 * Arena<...> satisfies it with any mapper.
 */
#pragma once

#include <arenakit/slot_id.hpp>

#include <concepts>
#include <cstddef>
#include <cstdint>

namespace arenakit {

template <class A>
concept RecvPoolArena = requires(A& a, const A& ca, SlotId* out, const SlotId* ids, SlotId id,
                                 std::uint32_t n) {
  { a.acquire_bulk(out, n) } noexcept -> std::convertible_to<std::uint32_t>;
  { a.release_bulk(ids, n) } noexcept;
  { ca.pointer(id) } noexcept -> std::same_as<std::byte*>;
  { ca.buffer(id) } noexcept;
  { ca.slot_size() } noexcept -> std::convertible_to<std::size_t>;
};

template <class A>
constexpr bool check_recv_pool_arena() {
  static_assert(requires(A& a, SlotId* out, std::uint32_t n) {
                  { a.acquire_bulk(out, n) } noexcept -> std::convertible_to<std::uint32_t>;
                },
                "arenakit: RecvPool's arena is missing `acquire_bulk(SlotId*, std::uint32_t) "
                "noexcept -> std::uint32_t`");
  static_assert(requires(A& a, const SlotId* ids, std::uint32_t n) {
                  { a.release_bulk(ids, n) } noexcept;
                },
                "arenakit: RecvPool's arena is missing `release_bulk(const SlotId*, std::uint32_t) "
                "noexcept`");
  static_assert(requires(const A& a, SlotId id) {
                  { a.pointer(id) } noexcept -> std::same_as<std::byte*>;
                },
                "arenakit: RecvPool's arena is missing `pointer(SlotId) const noexcept -> std::byte*`");
  static_assert(requires(const A& a, SlotId id) { { a.buffer(id) } noexcept; },
                "arenakit: RecvPool's arena is missing `buffer(SlotId) const noexcept`");
  static_assert(requires(const A& a) {
                  { a.slot_size() } noexcept -> std::convertible_to<std::size_t>;
                },
                "arenakit: RecvPool's arena is missing `slot_size() const noexcept -> std::size_t`");
  return true;
}

} // namespace arenakit
