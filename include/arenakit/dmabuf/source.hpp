// SPDX-License-Identifier: MIT
/**
 * @file dmabuf/source.hpp
 * @brief DmabufSource: a MemorySource that carves shards out of one imported
 *        dma-buf (GPU memory, a udmabuf, any exporter's buffer).
 *
 * Contract (see concepts/memory_source.hpp for the concept):
 * - allocate(bytes, alignment) returns a Region at an offset of the dma-buf
 *   that is a multiple of @alignment: `dmabuf_fd` = the import's fd,
 *   `dmabuf_offset` = that offset, `data` = the CPU address of the same byte
 *   (import.data() + offset) or nullptr when the import is device-only.
 *   Because DmabufImport places its CPU view on a cpu_alignment boundary, the
 *   CPU address is aligned to @alignment too; an alignment larger than the
 *   view's is refused with errc::invalid_config rather than quietly broken.
 * - First fit over a sorted list of free extents. When no extent can hold
 *   the request the buffer is exhausted: errc::out_of_memory, nothing changes.
 * - deallocate(region) gives the range back and merges it with free
 *   neighbours, so an arena that releases its shards (release_memory) can
 *   carve them again. Only a region handed out and still live, exactly as
 *   handed out (offset and size), is taken: one of another buffer, a double
 *   deallocate, a sub-range of a live region or a range across two is
 *   refused and counted, and changes nothing (a table of live regions,
 *   sorted by offset, decides).
 * - The free list never needs memory in deallocate: allocate keeps room for
 *   one extent more than there are live regions (free extents are separated
 *   by live ones, so that bound holds), and fails with errc::out_of_memory,
 *   changing nothing, if it cannot get that room.
 *
 * Thread roles: one caller at a time. An arena calls its source only under
 * its growth mutex and at teardown, which is exactly that.
 *
 * Lifetime: the source points at the DmabufImport (no reference count); the
 * import must outlive the source and every arena that holds it.
 *
 * Progress: allocate is O(free extents), deallocate O(log free extents +
 * extents moved); both are growth-path calls, never per buffer.
 */
#pragma once

#include <arenakit/dmabuf/error.hpp>
#include <arenakit/dmabuf/import.hpp>
#include <arenakit/error.hpp>
#include <arenakit/concepts/memory_source.hpp>
#include <arenakit/region.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <utility>

namespace arenakit {

struct DmabufSourceCounters {
  std::uint64_t regions = 0;               ///< live regions handed out
  std::uint64_t bytes_in_use = 0;          ///< their bytes
  std::uint64_t free_extents = 0;          ///< runs of free space (fragmentation)
  std::uint64_t exhausted = 0;             ///< allocations refused for lack of room
  std::uint64_t refused_deallocations = 0; ///< regions not of this buffer, or already free
};

class DmabufSource {
public:
  /// Carves @buf (which must outlive this source).
  explicit DmabufSource(const DmabufImport& buf) noexcept : buf_(&buf) {}

  DmabufSource(DmabufSource&& o) noexcept
      : buf_(std::exchange(o.buf_, nullptr)), free_(std::exchange(o.free_, {})), live_(std::exchange(o.live_, {})),
        started_(std::exchange(o.started_, false)), counters_(std::exchange(o.counters_, {})) {}
  DmabufSource& operator=(DmabufSource&&) = delete;
  DmabufSource(const DmabufSource&) = delete;
  DmabufSource& operator=(const DmabufSource&) = delete;

  Result<Region> allocate(std::size_t bytes, std::size_t alignment) noexcept {
    if (buf_ == nullptr || !*buf_) return std::error_code(dmabuf_errc::bad_fd);
    if (bytes == 0 || alignment == 0 || (alignment & (alignment - 1)) != 0) return errc::invalid_config;
    if (buf_->cpu_mapped() && alignment > buf_->cpu_alignment()) return errc::invalid_config;
    if (!started_) {
      if (!free_.reserve(2)) return errc::out_of_memory;
      free_.insert(0, Extent{0, buf_->size()});
      started_ = true;
    }
    // Room for the split below, for every later deallocate (see the file
    // comment), and for this region in the live table.
    const auto regions = static_cast<std::size_t>(counters_.regions);
    if (!free_.reserve(regions + 2) || !live_.reserve(regions + 1)) return errc::out_of_memory;
    for (std::size_t i = 0; i < free_.count; ++i) {
      const Extent e = free_.at[i];
      const std::uint64_t at = (e.offset + alignment - 1) & ~(std::uint64_t{alignment} - 1);
      if (at < e.offset || at - e.offset > e.size || e.size - (at - e.offset) < bytes) continue;
      const Extent head{e.offset, at - e.offset};
      const Extent tail{at + bytes, e.offset + e.size - (at + bytes)};
      // Replace e by its non-empty remainders, keeping the list sorted.
      if (head.size != 0 && tail.size != 0) {
        free_.insert(i + 1, tail);
        free_.at[i] = head;
      } else if (head.size != 0) {
        free_.at[i] = head;
      } else if (tail.size != 0) {
        free_.at[i] = tail;
      } else {
        free_.erase(i);
      }
      live_.insert(live_.upper(at), Extent{at, bytes});
      ++counters_.regions;
      counters_.bytes_in_use += bytes;
      Region r;
      r.data = buf_->data() != nullptr ? buf_->data() + at : nullptr;
      r.size = bytes;
      r.alignment = alignment;
      r.dmabuf_fd = buf_->fd();
      r.dmabuf_offset = at;
      return r;
    }
    ++counters_.exhausted;
    return errc::out_of_memory;
  }

  void deallocate(const Region& r) noexcept {
    if (buf_ == nullptr || !started_ || r.dmabuf_fd != buf_->fd() || r.size == 0 ||
        r.dmabuf_offset > buf_->size() || r.size > buf_->size() - r.dmabuf_offset ||
        counters_.regions == 0) {
      ++counters_.refused_deallocations;
      return;
    }
    const std::uint64_t off = r.dmabuf_offset;
    const std::uint64_t end = off + r.size;
    // Exactly a live region, or nothing: a sub-range of one, a range across
    // two, or one already free would corrupt the free list.
    const std::size_t live = live_.upper(off);
    if (live == 0 || live_.at[live - 1].offset != off || live_.at[live - 1].size != r.size) {
      ++counters_.refused_deallocations;
      return;
    }
    const std::size_t next = free_.upper(off); // first free extent after off
    const bool has_prev = next > 0;
    const bool has_next = next < free_.count;
    const bool join_prev = has_prev && free_.at[next - 1].offset + free_.at[next - 1].size == off;
    const bool join_next = has_next && free_.at[next].offset == end;
    if (!join_prev && !join_next && free_.count == free_.cap) { // cannot happen: allocate kept room
      ++counters_.refused_deallocations;
      return;
    }
    live_.erase(live - 1);
    if (join_prev && join_next) {
      free_.at[next - 1].size += r.size + free_.at[next].size;
      free_.erase(next);
    } else if (join_prev) {
      free_.at[next - 1].size += r.size;
    } else if (join_next) {
      free_.at[next].offset = off;
      free_.at[next].size += r.size;
    } else {
      free_.insert(next, Extent{off, r.size});
    }
    --counters_.regions;
    counters_.bytes_in_use -= r.size;
  }

  DmabufSourceCounters counters() const noexcept {
    DmabufSourceCounters c = counters_;
    c.free_extents = free_.count;
    return c;
  }

  const DmabufImport& buffer() const noexcept { return *buf_; }

private:
  struct Extent {
    std::uint64_t offset;
    std::uint64_t size;
  };

  /// A sorted array of extents whose room is reserved ahead, so that
  /// insert() never allocates (deallocate is noexcept and allocation-free).
  struct Extents {
    std::unique_ptr<Extent[]> at;
    std::size_t count = 0;
    std::size_t cap = 0;

    bool reserve(std::size_t need) noexcept {
      if (need <= cap) return true;
      std::size_t grown_cap = cap == 0 ? 8 : cap;
      while (grown_cap < need) grown_cap *= 2;
      std::unique_ptr<Extent[]> grown(new (std::nothrow) Extent[grown_cap]);
      if (!grown) return false;
      for (std::size_t i = 0; i < count; ++i) grown[i] = at[i];
      at = std::move(grown);
      cap = grown_cap;
      return true;
    }
    void insert(std::size_t i, Extent e) noexcept { // precondition: count < cap
      for (std::size_t j = count; j > i; --j) at[j] = at[j - 1];
      at[i] = e;
      ++count;
    }
    void erase(std::size_t i) noexcept {
      for (std::size_t j = i + 1; j < count; ++j) at[j - 1] = at[j];
      --count;
    }
    /// The index of the first extent that starts after @off (binary search).
    std::size_t upper(std::uint64_t off) const noexcept {
      std::size_t lo = 0;
      std::size_t hi = count;
      while (lo < hi) {
        const std::size_t mid = lo + (hi - lo) / 2;
        if (at[mid].offset <= off) lo = mid + 1;
        else hi = mid;
      }
      return lo;
    }
  };

  const DmabufImport* buf_ = nullptr;
  Extents free_; ///< free space, sorted by offset
  Extents live_; ///< regions handed out, sorted by offset: deallocate takes only these
  bool started_ = false;
  DmabufSourceCounters counters_{};
};

static_assert(check_memory_source<DmabufSource>());

} // namespace arenakit
