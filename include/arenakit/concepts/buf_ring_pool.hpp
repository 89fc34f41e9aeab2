// SPDX-License-Identifier: MIT
/**
 * @file concepts/buf_ring_pool.hpp
 * @brief BufRingPool: what UringBufRing requires of the pool whose buffers
 *        it provides to the kernel.
 *
 * Requirements on P (each checked by check_buf_ring_pool<P>() with a message
 * that names what is missing):
 * - `p.take_for_post(std::uint16_t* out, std::uint32_t max) noexcept ->
 *   std::uint32_t`: free buffer ids, now posted.
 * - `p.return_unused(std::uint16_t bid) noexcept`: a posted buffer back to
 *   free, without a delivery.
 * - `p.data(std::uint16_t bid) const noexcept -> std::byte*`.
 * - `p.size() const noexcept`, `p.buffer_size() const noexcept` (convertible
 *   to std::uint32_t): buffer count and bytes per buffer.
 * - `p.error() const noexcept -> std::error_code` and `explicit operator bool`:
 *   whether the pool was built.
 * - `p.free_count() const noexcept`: free buffers (what the ring could take).
 * - `p.attach(const RecvPoolAttachment&) noexcept -> RecvStatus`,
 *   `p.detach(const void*) noexcept`: the link that tells the ring about
 *   freed buffers and about the pool going first (recv/attach.hpp).
 * - `p.deliver(ConnId, bid, bytes) noexcept -> RecvView`, `p.give_back(bid)
 *   noexcept`: complete() delivers receives and gives back sent buffers.
 * RecvPool<...> satisfies it.
 */
#pragma once

#include <arenakit/recv/attach.hpp>
#include <arenakit/recv/status.hpp>
#include <arenakit/recv/types.hpp>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <system_error>

namespace arenakit {

template <class P>
concept BufRingPool = requires(P& p, const P& cp, std::uint16_t* out, std::uint16_t bid, std::uint32_t n) {
  { p.take_for_post(out, n) } noexcept -> std::convertible_to<std::uint32_t>;
  { p.return_unused(bid) } noexcept;
  { cp.data(bid) } noexcept -> std::same_as<std::byte*>;
  { cp.size() } noexcept -> std::convertible_to<std::uint32_t>;
  { cp.buffer_size() } noexcept -> std::convertible_to<std::uint32_t>;
  { cp.error() } noexcept -> std::same_as<std::error_code>;
  static_cast<bool>(cp);
  { cp.free_count() } noexcept -> std::convertible_to<std::uint32_t>;
  { p.attach(RecvPoolAttachment{}) } noexcept -> std::same_as<RecvStatus>;
  { p.detach(static_cast<const void*>(nullptr)) } noexcept;
  { p.deliver(ConnId{}, bid, n) } noexcept -> std::same_as<RecvView>;
  { p.give_back(bid) } noexcept;
};

template <class P>
constexpr bool check_buf_ring_pool() {
  static_assert(requires(P& p, std::uint16_t* out, std::uint32_t n) {
                  { p.take_for_post(out, n) } noexcept -> std::convertible_to<std::uint32_t>;
                },
                "arenakit: UringBufRing's pool is missing `take_for_post(std::uint16_t*, "
                "std::uint32_t) noexcept -> std::uint32_t`");
  static_assert(requires(P& p, std::uint16_t bid) { { p.return_unused(bid) } noexcept; },
                "arenakit: UringBufRing's pool is missing `return_unused(std::uint16_t) noexcept`");
  static_assert(requires(const P& p, std::uint16_t bid) {
                  { p.data(bid) } noexcept -> std::same_as<std::byte*>;
                },
                "arenakit: UringBufRing's pool is missing `data(std::uint16_t) const noexcept -> "
                "std::byte*`");
  static_assert(requires(const P& p) {
                  { p.size() } noexcept -> std::convertible_to<std::uint32_t>;
                  { p.buffer_size() } noexcept -> std::convertible_to<std::uint32_t>;
                },
                "arenakit: UringBufRing's pool is missing `size()` or `buffer_size()` (const "
                "noexcept, buffer count and bytes per buffer)");
  static_assert(requires(const P& p) {
                  { p.error() } noexcept -> std::same_as<std::error_code>;
                  static_cast<bool>(p);
                },
                "arenakit: UringBufRing's pool is missing `error() const noexcept -> "
                "std::error_code` or `explicit operator bool`");
  static_assert(requires(const P& p) { { p.free_count() } noexcept -> std::convertible_to<std::uint32_t>; },
                "arenakit: UringBufRing's pool is missing `free_count() const noexcept`");
  static_assert(requires(P& p) {
                  { p.attach(RecvPoolAttachment{}) } noexcept -> std::same_as<RecvStatus>;
                  { p.detach(static_cast<const void*>(nullptr)) } noexcept;
                },
                "arenakit: UringBufRing's pool is missing `attach(const RecvPoolAttachment&) noexcept "
                "-> RecvStatus` or `detach(const void*) noexcept` (recv/attach.hpp)");
  static_assert(requires(P& p, std::uint16_t bid, std::uint32_t n) {
                  { p.deliver(ConnId{}, bid, n) } noexcept -> std::same_as<RecvView>;
                  { p.give_back(bid) } noexcept;
                },
                "arenakit: UringBufRing's pool is missing `deliver(ConnId, std::uint16_t, "
                "std::uint32_t) noexcept -> RecvView` or `give_back(std::uint16_t) noexcept`");
  return true;
}

} // namespace arenakit
