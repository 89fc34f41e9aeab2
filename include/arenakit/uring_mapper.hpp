// SPDX-License-Identifier: MIT
/**
 * @file uring_mapper.hpp
 * @brief UringFixedBufferMapper: each shard becomes one io_uring registered
 *        ("fixed") buffer. Optional: needs liburing (target arenakit::uring).
 *
 * Registering a buffer pins its pages and maps them once, so fixed-buffer
 * reads and writes (IORING_OP_READ_FIXED / WRITE_FIXED, zero-copy send) skip
 * the per-I/O page pinning. One registration per shard, not per slot: a slot
 * is addressed by (its CPU address, the shard's buffer index).
 *
 * The ring's buffer table must be sparse and large enough for the arena's
 * shard limit: call UringFixedBufferMapper::prepare(ring, max_shards) once
 * (io_uring_register_buffers_sparse). map() fills a free table entry with
 * io_uring_register_buffers_update_tag(); unmap() empties it again. Errors
 * come back as std::error_code in the system category (the kernel's errno),
 * e.g. ENOMEM when RLIMIT_MEMLOCK is too small to pin the shard.
 *
 * Not thread-safe by itself: the arena calls map/unmap under its growth
 * mutex. The ring must outlive the arena.
 */
#pragma once

#include "error.hpp"
#include "mapper.hpp"
#include "region.hpp"

#include <cstdint>
#include <system_error>
#include <vector>

#include <liburing.h>
#include <sys/uio.h>

namespace arenakit {

class UringFixedBufferMapper {
public:
  struct mapping_type {
    std::uint64_t base = 0;        ///< the registered buffer's first byte
    std::uint16_t buf_index = 0;   ///< sqe->buf_index for fixed-buffer I/O
    bool registered = false;
  };

  /// Give @ring a sparse buffer table of @entries (at most 16384, the kernel's limit).
  static std::error_code prepare(io_uring& ring, unsigned entries) noexcept {
    const int rc = io_uring_register_buffers_sparse(&ring, entries);
    return rc < 0 ? std::error_code(-rc, std::system_category()) : std::error_code{};
  }

  /// @entries: the table size given to prepare().
  UringFixedBufferMapper(io_uring& ring, unsigned entries) : ring_(&ring), used_(entries, false) {}

  Result<mapping_type> map(const Region& r) noexcept {
    if (r.data == nullptr) return errc::map_failed; // fixed buffers need a CPU address
    unsigned index = 0;
    while (index < used_.size() && used_[index]) ++index;
    if (index == used_.size()) return errc::map_failed; // table full: size prepare() for max_shards
    iovec iov{r.data, r.size};
    __u64 tag = 0;
    const int rc = io_uring_register_buffers_update_tag(ring_, index, &iov, &tag, 1);
    if (rc < 0) return std::error_code(-rc, std::system_category());
    used_[index] = true;
    return mapping_type{reinterpret_cast<std::uint64_t>(r.data), static_cast<std::uint16_t>(index), true};
  }

  void unmap(mapping_type& m) noexcept {
    if (!m.registered) return;
    iovec empty{nullptr, 0};
    __u64 tag = 0;
    io_uring_register_buffers_update_tag(ring_, m.buf_index, &empty, &tag, 1);
    used_[m.buf_index] = false;
    m.registered = false;
  }

  std::uint64_t device_address(const mapping_type& m) const noexcept { return m.base; }

private:
  io_uring* ring_;
  std::vector<bool> used_;
};

static_assert(Mapper<UringFixedBufferMapper>);

} // namespace arenakit
