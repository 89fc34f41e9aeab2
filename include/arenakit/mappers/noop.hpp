// SPDX-License-Identifier: MIT
/**
 * @file mappers/noop.hpp
 * @brief NoopMapper: the device sees CPU addresses (no IOMMU, no
 *        registration). For plain-memory pools, tests, and devices that DMA
 *        to process virtual addresses (e.g. ODP-style or software devices).
 */
#pragma once

#include <arenakit/error.hpp>
#include <arenakit/concepts/mapper.hpp>
#include <arenakit/region.hpp>

#include <cstdint>

namespace arenakit {

struct NoopMapper {
  struct mapping_type {
    std::uint64_t device_base = 0;
  };

  Result<mapping_type> map(const Region& r) noexcept {
    return mapping_type{reinterpret_cast<std::uint64_t>(r.data)};
  }
  void unmap(mapping_type& m) noexcept { m.device_base = 0; }
  std::uint64_t device_address(const mapping_type& m) const noexcept { return m.device_base; }
};

static_assert(Mapper<NoopMapper>);

} // namespace arenakit
