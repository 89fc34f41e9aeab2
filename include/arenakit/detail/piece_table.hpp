// SPDX-License-Identifier: MIT
/**
 * @file detail/piece_table.hpp
 * @brief PieceTable: a fixed table of live pieces (a buffer id each) named
 *        by 64-bit handles that carry a generation, so a handle given back
 *        twice, or a stale handle whose record was reused, is told apart
 *        from a live one.
 *
 *     handle = | generation:32 | index + 1:32 |      0: no piece
 *
 * Why a table and not a count per buffer: pieces of one buffer are given
 * back in any order, and a count cannot tell the second give-back of one
 * piece from the first give-back of another. Why generations: a record is
 * reused as soon as it is freed; the generation moves on every free, so the
 * old handle no longer matches.
 *
 * Capacity is fixed at construction (no allocation afterwards); open() fails
 * (returns 0) when every record is live.
 *
 * Thread role: one owner thread; nothing is atomic. Every call is O(1),
 * wait-free.
 */
#pragma once

#include <cstdint>
#include <memory>
#include <new>

namespace arenakit::detail {

class PieceTable {
public:
  static constexpr std::uint32_t max_capacity = 1u << 24;

  /// Allocates @capacity records (1..max_capacity); false if it cannot.
  bool reset(std::uint32_t capacity) noexcept {
    if (capacity == 0 || capacity > max_capacity) return false;
    rec_.reset(new (std::nothrow) Record[capacity]);
    free_.reset(new (std::nothrow) std::uint32_t[capacity]);
    if (!rec_ || !free_) return false;
    capacity_ = capacity;
    free_top_ = capacity;
    for (std::uint32_t i = 0; i < capacity; ++i) free_[i] = capacity - 1 - i; // index 0 first
    return true;
  }

  /// A live piece of buffer @bid; its handle, or 0 when the table is full.
  std::uint64_t open(std::uint16_t bid) noexcept {
    if (free_top_ == 0) return 0;
    const std::uint32_t i = free_[--free_top_];
    rec_[i].bid = bid;
    rec_[i].live = true;
    return std::uint64_t{rec_[i].generation} << 32 | (i + 1);
  }

  /// Ends the piece @handle: its buffer id, or -1 if @handle is not live
  /// (never opened, already closed, or a stale generation).
  std::int32_t close(std::uint64_t handle) noexcept {
    const auto low = static_cast<std::uint32_t>(handle);
    if (low == 0 || low > capacity_) return -1;
    Record& r = rec_[low - 1];
    if (!r.live || r.generation != static_cast<std::uint32_t>(handle >> 32)) return -1;
    r.live = false;
    ++r.generation; // the old handle goes stale
    free_[free_top_++] = low - 1;
    return r.bid;
  }

  std::uint32_t capacity() const noexcept { return capacity_; }
  std::uint32_t live() const noexcept { return capacity_ - free_top_; }

private:
  struct Record {
    std::uint32_t generation = 0;
    std::uint16_t bid = 0;
    bool live = false;
  };
  std::unique_ptr<Record[]> rec_;
  std::unique_ptr<std::uint32_t[]> free_;
  std::uint32_t capacity_ = 0;
  std::uint32_t free_top_ = 0;
};

} // namespace arenakit::detail
