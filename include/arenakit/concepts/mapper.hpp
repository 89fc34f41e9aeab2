// SPDX-License-Identifier: MIT
/**
 * @file concepts/mapper.hpp
 * @brief The Mapper concept: how a region becomes visible to a device.
 *
 * An arena maps each shard exactly once when the shard is created and unmaps
 * it when the shard is freed: one mapping per shard, never one per buffer.
 *
 * Requirements on M (each checked by check_mapper<M>() with a message that
 * names what is missing):
 * - `typename M::mapping_type`: what one mapping yields (device address,
 *   lkey/rkey, buffer index...). Default-constructible.
 * - `m.map(const Region&) noexcept -> Result<mapping_type>`: may fail with an
 *   error code (errc::map_failed or the device's own), never throws.
 * - `m.unmap(mapping_type&) noexcept`.
 * - `m.device_address(const mapping_type&) const noexcept -> std::uint64_t`:
 *   the device address of the region's first byte. Slot addresses are this
 *   plus the slot's offset, so a mapping must be contiguous on the device.
 * - move-constructible: an arena keeps its mapper by value.
 * - optional: `m.try_unmap(mapping_type&) noexcept -> std::error_code`, an
 *   unmap that can fail (a deregistration the device refuses). Arena::shrink()
 *   uses it when present and keeps the extent on failure (counted, retried);
 *   teardown and mappers without it use unmap().
 */
#pragma once

#include <arenakit/error.hpp>
#include <arenakit/region.hpp>

#include <concepts>
#include <cstdint>
#include <system_error>

namespace arenakit {

template <class M>
concept Mapper = std::move_constructible<M> && requires { typename M::mapping_type; } &&
                 requires(M& m, const M& cm, const Region& r, typename M::mapping_type& mp,
                          const typename M::mapping_type& cmp) {
                   { m.map(r) } noexcept -> std::same_as<Result<typename M::mapping_type>>;
                   { m.unmap(mp) } noexcept;
                   { cm.device_address(cmp) } noexcept -> std::same_as<std::uint64_t>;
                 };

namespace detail {
/// unmap_checked() - the mapper's try_unmap() when it has one, else unmap()
/// (which cannot fail).
template <class M, class Mapping>
std::error_code unmap_checked(M& m, Mapping& mapping) noexcept {
  if constexpr (requires { { m.try_unmap(mapping) } noexcept -> std::same_as<std::error_code>; }) {
    return m.try_unmap(mapping);
  } else {
    m.unmap(mapping);
    return {};
  }
}

template <class M>
struct mapping_of {
  struct missing {};
  using type = missing;
};
template <class M>
  requires requires { typename M::mapping_type; }
struct mapping_of<M> {
  using type = typename M::mapping_type;
};
} // namespace detail

template <class M>
constexpr bool check_mapper() {
  using mapping = typename detail::mapping_of<M>::type;
  static_assert(requires { typename M::mapping_type; },
                "arenakit: Mapper is missing the nested type `mapping_type` (what one "
                "mapping yields: device address, keys, buffer index)");
  static_assert(requires(M& m, const Region& r) {
                  { m.map(r) } noexcept -> std::same_as<Result<mapping>>;
                },
                "arenakit: Mapper is missing `map(const arenakit::Region&) noexcept -> "
                "arenakit::Result<mapping_type>`");
  static_assert(requires(M& m, mapping& mp) { { m.unmap(mp) } noexcept; },
                "arenakit: Mapper is missing `unmap(mapping_type&) noexcept`");
  static_assert(requires(const M& m, const mapping& mp) {
                  { m.device_address(mp) } noexcept -> std::same_as<std::uint64_t>;
                },
                "arenakit: Mapper is missing `device_address(const mapping_type&) const "
                "noexcept -> std::uint64_t`");
  static_assert(std::move_constructible<M>,
                "arenakit: Mapper must be move-constructible (the arena keeps it by value)");
  return true;
}

} // namespace arenakit
