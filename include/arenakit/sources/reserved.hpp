// SPDX-License-Identifier: MIT
/**
 * @file sources/reserved.hpp
 * @brief ReservedSource: shards carved from one reserved address range, so
 *        that the process's mapping count (VMAs) does not grow with shards.
 *
 * Why: MmapSource maps each shard on its own (and trims it to alignment), so
 * 64 shards are 64 mappings in /proc/self/maps and in the kernel's VMA tree
 * (vm.max_map_count is 65530 by default). ReservedSource reserves one range
 * of address space up front (PROT_NONE, MAP_NORESERVE: no memory, no commit
 * charge) and makes each shard readable and writable in place with
 * mprotect(). Shards are handed out lowest address first, so the shards in
 * use form one contiguous read-write run: the kernel merges them into one
 * VMA, next to the one PROT_NONE VMA of the rest of the range
 * (tests/recv/test_recv_pool_sizing.cpp counts them). The extents work
 * builds on this range.
 *
 * Contract
 * - `reserve_bytes` (0 = 1 GiB of address space) is reserved on the first
 *   allocate(), aligned to that allocation's alignment. Every allocation is
 *   the same size (an arena's shards are): a different size, or an alignment
 *   larger than the first, is refused with errc::invalid_config; a full range
 *   with errc::limit_reached. Nothing is changed by a refusal.
 * - deallocate() gives the pages back (MADV_DONTNEED) and makes the shard
 *   PROT_NONE again; the address stays reserved for the next allocation.
 * - The destructor unmaps the range only when no shard is allocated: an
 *   arena that kept shards mapped for a user (its teardown report says so)
 *   keeps them mapped here too.
 * - Move-only (an arena keeps its source by value, moved in at construction).
 *
 * Thread role: the arena calls allocate/deallocate under its growth mutex;
 * nothing here is otherwise shared. Set-up path: a scan over the chunk map.
 */
#pragma once

#include <arenakit/concepts/memory_source.hpp>
#include <arenakit/detail/aligned_map.hpp>
#include <arenakit/error.hpp>
#include <arenakit/region.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <utility>

#include <sys/mman.h>

namespace arenakit {

class ReservedSource {
public:
  static constexpr std::size_t default_reserve = std::size_t{1} << 30;

  /// Address space to reserve (rounded down to whole shards); 0 = 1 GiB.
  std::size_t reserve_bytes = 0;

  ReservedSource() noexcept = default;
  explicit ReservedSource(std::size_t reserve) noexcept : reserve_bytes(reserve) {}
  ReservedSource(ReservedSource&& o) noexcept
      : reserve_bytes(o.reserve_bytes), base_(std::exchange(o.base_, nullptr)), range_(o.range_),
        chunk_(o.chunk_), align_(o.align_), chunks_(o.chunks_), in_use_(o.in_use_), used_(std::move(o.used_)) {}
  ReservedSource& operator=(ReservedSource&&) = delete;
  ReservedSource(const ReservedSource&) = delete;
  ~ReservedSource() {
    if (base_ != nullptr && in_use_ == 0) ::munmap(base_, range_);
  }

  Result<Region> allocate(std::size_t bytes, std::size_t alignment) noexcept {
    if (bytes == 0 || alignment == 0 || (alignment & (alignment - 1)) != 0) return errc::invalid_config;
    if (base_ == nullptr) {
      if (std::error_code ec = reserve(bytes, alignment)) return ec;
    } else if (bytes != chunk_ || alignment > align_) {
      return errc::invalid_config;
    }
    std::size_t i = 0;
    while (i < chunks_ && used_[i]) ++i; // lowest first: the used run stays contiguous
    if (i == chunks_) return errc::limit_reached;
    std::byte* p = base_ + i * chunk_;
    if (::mprotect(p, chunk_, PROT_READ | PROT_WRITE) != 0) return errc::out_of_memory;
    used_[i] = true;
    ++in_use_;
    Region r;
    r.data = p;
    r.size = chunk_;
    r.alignment = alignment;
    return r;
  }

  void deallocate(const Region& r) noexcept {
    if (base_ == nullptr || r.data < base_ || r.data >= base_ + range_) return;
    const auto i = static_cast<std::size_t>(r.data - base_) / chunk_;
    if (!used_[i]) return;
    ::madvise(r.data, chunk_, MADV_DONTNEED); // the pages go back now, the addresses stay ours
    ::mprotect(r.data, chunk_, PROT_NONE);
    used_[i] = false;
    --in_use_;
  }

  /// The reserved range (null before the first allocation).
  std::byte* base() const noexcept { return base_; }
  std::size_t range_bytes() const noexcept { return range_; }
  std::size_t shards_in_use() const noexcept { return in_use_; }

private:
  std::error_code reserve(std::size_t bytes, std::size_t alignment) noexcept {
    const std::size_t want = reserve_bytes != 0 ? reserve_bytes : default_reserve;
    const std::size_t n = want / bytes;
    if (n == 0) return errc::invalid_config;
    used_.reset(new (std::nothrow) bool[n]());
    if (!used_) return errc::out_of_memory;
    base_ = detail::map_aligned(n * bytes, alignment, PROT_NONE, MAP_NORESERVE);
    if (base_ == nullptr) {
      used_.reset();
      return errc::out_of_memory;
    }
    range_ = n * bytes;
    chunk_ = bytes;
    align_ = alignment;
    chunks_ = n;
    return {};
  }

  std::byte* base_ = nullptr;
  std::size_t range_ = 0;
  std::size_t chunk_ = 0;
  std::size_t align_ = 0;
  std::size_t chunks_ = 0;
  std::size_t in_use_ = 0;
  std::unique_ptr<bool[]> used_;
};

static_assert(MemorySource<ReservedSource>);

} // namespace arenakit
