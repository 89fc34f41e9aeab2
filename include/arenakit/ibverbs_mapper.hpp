// SPDX-License-Identifier: MIT
/**
 * @file ibverbs_mapper.hpp
 * @brief IbvMapper: each shard becomes one RDMA memory region (MR).
 *        Optional: needs rdma-core's libibverbs (target arenakit::ibverbs).
 *
 * One ibv_reg_mr() per shard — 5 registrations for 72 receive buffers of
 * 4 KB in 64 KB shards, instead of 72 — and the MR lives as long as the
 * shard. A slot posts as {addr = arena.device_address(id), length, lkey =
 * buffer.mapping->lkey}. Regions that carry a dma-buf (Region::dmabuf_fd,
 * e.g. GPU memory exported by its driver) are registered with
 * ibv_reg_dmabuf_mr(); the device address is then the iova given.
 *
 * Errors come back as std::error_code in the system category with the errno
 * ibv_reg_mr set (ENOMEM when RLIMIT_MEMLOCK cannot pin the shard, EINVAL...);
 * a null protection domain is refused with errc::map_failed.
 */
#pragma once

#include "error.hpp"
#include "mapper.hpp"
#include "region.hpp"

#include <cerrno>
#include <cstdint>
#include <system_error>

#include <infiniband/verbs.h>

namespace arenakit {

/// What the device may do with a shard, by name rather than by bit mask.
enum class IbvAccess : int {
  local_write = IBV_ACCESS_LOCAL_WRITE,                                       ///< receive buffers
  remote_read = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_READ,              ///< RDMA Read targets
  remote_write = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE,            ///< RDMA Write targets
  remote_rw = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_WRITE,
};

struct IbvMapper {
  struct mapping_type {
    ibv_mr* mr = nullptr;
    std::uint64_t addr = 0; ///< device address of the region's first byte
    std::uint32_t lkey = 0;
    std::uint32_t rkey = 0;
  };

  ibv_pd* pd = nullptr;
  IbvAccess access = IbvAccess::local_write;

  Result<mapping_type> map(const Region& r) noexcept {
    if (pd == nullptr) return errc::map_failed;
    errno = 0;
    ibv_mr* mr = nullptr;
    std::uint64_t addr = 0;
    if (r.dmabuf_fd >= 0) {
      addr = r.dmabuf_offset; // iova = the offset: device addresses stay unique per dma-buf
      mr = ibv_reg_dmabuf_mr(pd, r.dmabuf_offset, r.size, addr, r.dmabuf_fd, static_cast<int>(access));
    } else {
      addr = reinterpret_cast<std::uint64_t>(r.data);
      mr = ibv_reg_mr(pd, r.data, r.size, static_cast<int>(access));
    }
    if (mr == nullptr) return std::error_code(errno != 0 ? errno : EINVAL, std::system_category());
    return mapping_type{mr, addr, mr->lkey, mr->rkey};
  }

  void unmap(mapping_type& m) noexcept {
    if (m.mr != nullptr) ibv_dereg_mr(m.mr);
    m.mr = nullptr;
  }

  std::uint64_t device_address(const mapping_type& m) const noexcept { return m.addr; }
};

static_assert(Mapper<IbvMapper>);

} // namespace arenakit
