// SPDX-License-Identifier: MIT
/**
 * @file dmabuf/mapper.hpp
 * @brief DmabufMapper: the Mapper for dma-buf shards when no device API
 *        makes the mapping: a shard is named by (dma-buf fd, offset).
 *
 * Contract (see concepts/mapper.hpp for the concept):
 * - map(region) needs a region that carries a dma-buf (Region::dmabuf_fd >= 0,
 *   as DmabufSource's do); any other region is refused with
 *   dmabuf_errc::not_a_dmabuf. It makes no system call: the exporter already
 *   holds the memory, and whoever consumes the (fd, offset, size) — a
 *   driver's own import, a peer process given the fd, a later
 *   ibv_reg_dmabuf_mr — attaches it.
 * - device_address(mapping) is the region's dma-buf offset: the same iova
 *   convention as IbvMapper's ibv_reg_dmabuf_mr (iova = offset), so slot
 *   device addresses are "offset in the dma-buf" and stay unique per buffer.
 *   Arena::from_device_address() turns such an offset back into a slot.
 *
 * Thread roles: stateless; an arena calls it under its growth mutex.
 * Progress: wait-free, no system call.
 */
#pragma once

#include <arenakit/dmabuf/error.hpp>
#include <arenakit/error.hpp>
#include <arenakit/concepts/mapper.hpp>
#include <arenakit/region.hpp>

#include <cstdint>
#include <system_error>

namespace arenakit {

struct DmabufMapper {
  struct mapping_type {
    int fd = -1;              ///< the dma-buf the shard lives in (not owned)
    std::uint64_t offset = 0; ///< the shard's first byte in it (= its device address)
    std::uint64_t size = 0;
  };

  Result<mapping_type> map(const Region& r) noexcept {
    if (r.dmabuf_fd < 0) return std::error_code(dmabuf_errc::not_a_dmabuf);
    return mapping_type{r.dmabuf_fd, r.dmabuf_offset, r.size};
  }
  void unmap(mapping_type& m) noexcept { m = mapping_type{}; }
  std::uint64_t device_address(const mapping_type& m) const noexcept { return m.offset; }
};

static_assert(check_mapper<DmabufMapper>());

} // namespace arenakit
