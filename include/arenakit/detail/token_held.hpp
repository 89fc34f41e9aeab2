// SPDX-License-Identifier: MIT
/**
 * @file detail/token_held.hpp
 * @brief What one consumer holds, in memory proportional to what it holds:
 *        a held-page log for pages it holds alone, and a page -> count table
 *        for pages it shares with other consumers.
 *
 * Neither type is thread-safe on its own; tokens/token_tracker.hpp states who may
 * touch which (the log: the consumer's deliverer, then its drainer; the
 * table: whoever holds the consumer's SpinLock). Memory is malloc'd
 * (no exceptions) and every capacity change is added to a byte counter the
 * caller owns, so the tracker reports its tracking memory exactly.
 */
#pragma once

#include <algorithm>
#include <bit>
#include <atomic>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <utility>

namespace arenakit::detail {

/// Adds a (possibly negative) capacity change to a byte counter. Relaxed: the
/// counter is a statistic, read on its own; nothing is published through it.
inline void account_bytes(std::atomic<std::size_t>& bytes, std::size_t add, std::size_t sub) noexcept {
  if (add >= sub) {
    bytes.fetch_add(add - sub, std::memory_order_relaxed);
  } else {
    bytes.fetch_sub(sub - add, std::memory_order_relaxed);
  }
}

/**
 * class HeldLog - pages a consumer took while they were free (sole mode).
 *
 * Append-only between compactions; a page's entry goes stale when the page
 * is released or becomes shared, and is dropped at the next compaction, which
 * runs only when the log is full. Compaction keeps entries still held in sole
 * mode (the caller's predicate), de-duplicates them when needed, and resizes:
 * grow x2 when more than half stays, shrink /2 when less than an eighth does.
 * So capacity stays within a small factor of the pages held, and each append
 * costs O(1) amortised (one relaxed load per stale entry).
 */
class HeldLog {
public:
  static constexpr std::size_t min_capacity = 16;

  HeldLog() = default;
  HeldLog(const HeldLog&) = delete;
  HeldLog& operator=(const HeldLog&) = delete;
  ~HeldLog() { std::free(data_); }

  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] std::size_t capacity() const noexcept { return cap_; }
  /// Capacity readable from any thread (statistics). Relaxed: a statistic.
  [[nodiscard]] std::size_t published_capacity() const noexcept {
    return published_cap_.load(std::memory_order_relaxed);
  }
  [[nodiscard]] bool has_room() const noexcept { return size_ != cap_; }
  [[nodiscard]] const std::uint32_t* begin() const noexcept { return data_; }
  [[nodiscard]] const std::uint32_t* end() const noexcept { return data_ + size_; }

  /// push() - append @page. Precondition: has_room().
  void push(std::uint32_t page) noexcept {
    assert(size_ < cap_);
    data_[size_++] = page;
  }

  /**
   * make_room() - compact and/or resize so that one push fits.
   * @still_held: predicate page -> bool, true while the page is still held
   *              by this consumer in sole mode. Must never answer false for
   *              such a page (answering true for a stale one is harmless).
   * @prefetch:   page -> void, a hint that still_held(page) comes soon.
   * @bytes:      the tracker's tracking-memory counter.
   *
   * Return: true when has_room() afterwards; false only when the log is full
   * of held pages and could not grow (out of memory).
   */
  template <class StillHeld, class Prefetch>
  bool make_room(StillHeld&& still_held, Prefetch&& prefetch, std::atomic<std::size_t>& bytes) noexcept {
    if (cap_ == 0) return resize(min_capacity, bytes);
    constexpr std::size_t ahead = 16; // entries whose page words are fetched ahead of the test
    // Locals: the buffer is ours alone, and still_held() reads atomics,
    // which would otherwise reload size_ and data_ at every entry. Two
    // loops, so that the prefetch costs no bounds test (3 instructions of
    // about 12 per entry; this scan is most of a delivery's log cost).
    std::uint32_t* const d = data_;
    const std::size_t n = size_;
    std::size_t kept = 0;
    std::size_t i = 0;
    for (; i + ahead < n; ++i) {
      prefetch(d[i + ahead]);
      if (still_held(d[i])) d[kept++] = d[i];
    }
    for (; i < n; ++i)
      if (still_held(d[i])) d[kept++] = d[i];
    size_ = kept;
    if (kept > cap_ / 2) {
      // A page freed and taken again between compactions is listed twice;
      // only bother to de-duplicate when it could spare a growth.
      std::sort(data_, data_ + kept);
      size_ = kept = static_cast<std::size_t>(std::unique(data_, data_ + kept) - data_);
    }
    if (kept > cap_ / 4) {
      if (!resize(cap_ * 2, bytes)) return has_room();
    } else if (kept < cap_ / 16 && cap_ > min_capacity) {
      (void)resize(cap_ / 2, bytes); // shrinking is an optimisation: failure keeps the old buffer
    }
    ++compactions_;
    return has_room();
  }

  /// reset() - forget every entry and free the buffer (close: costs nothing
  /// when the consumer held nothing).
  void reset(std::atomic<std::size_t>& bytes) noexcept {
    if (data_ != nullptr) {
      account_bytes(bytes, 0, cap_ * sizeof(std::uint32_t));
      std::free(data_);
    }
    data_ = nullptr;
    size_ = cap_ = 0;
    published_cap_.store(0, std::memory_order_relaxed);
  }

  [[nodiscard]] std::uint64_t compactions() const noexcept { return compactions_; }

private:
  bool resize(std::size_t new_cap, std::atomic<std::size_t>& bytes) noexcept {
    assert(new_cap >= size_);
    auto* fresh = static_cast<std::uint32_t*>(std::malloc(new_cap * sizeof(std::uint32_t)));
    if (fresh == nullptr) return false;
    if (size_ != 0) std::memcpy(fresh, data_, size_ * sizeof(std::uint32_t));
    std::free(data_);
    account_bytes(bytes, new_cap * sizeof(std::uint32_t), cap_ * sizeof(std::uint32_t));
    data_ = fresh;
    cap_ = new_cap;
    published_cap_.store(new_cap, std::memory_order_relaxed);
    return true;
  }

  std::uint32_t* data_ = nullptr;
  std::size_t size_ = 0;
  std::size_t cap_ = 0;
  std::atomic<std::size_t> published_cap_{0};
  std::uint64_t compactions_ = 0;
};

/**
 * class PageCountTable - page -> references held, for the pages a consumer
 * shares with others. Open addressing, linear probing, backward-shift
 * deletion (no tombstones), load <= 3/4, 8 bytes per slot:
 * `page << 32 | count`, count >= 1 for a live slot, 0 for an empty one.
 * Empty tables own no memory.
 */
class PageCountTable {
public:
  PageCountTable() = default;
  PageCountTable(const PageCountTable&) = delete;
  PageCountTable& operator=(const PageCountTable&) = delete;
  PageCountTable(PageCountTable&& o) noexcept { swap(o); }
  PageCountTable& operator=(PageCountTable&& o) noexcept {
    swap(o);
    return *this;
  }
  ~PageCountTable() { std::free(slots_); }

  void swap(PageCountTable& o) noexcept {
    std::swap(slots_, o.slots_);
    std::swap(size_, o.size_);
    std::swap(cap_, o.cap_);
    std::swap(shift_, o.shift_);
  }

  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] std::size_t capacity() const noexcept { return cap_; }

  /// get() - references held on @page (0 when absent).
  [[nodiscard]] std::uint32_t get(std::uint32_t page) const noexcept {
    if (cap_ == 0) return 0;
    for (std::size_t i = home(page);; i = (i + 1) & (cap_ - 1)) {
      const std::uint64_t e = slots_[i];
      if (e == 0) return 0;
      if (key(e) == page) return count(e);
    }
  }

  /**
   * add() - hold @n more references on @page (inserting it if absent).
   * Precondition: n >= 1 and the sum fits 32 bits (the caller checks the
   * page's total, which bounds every holder's share).
   * Return: false when the table had to grow and could not (nothing changed).
   */
  bool add(std::uint32_t page, std::uint32_t n, std::atomic<std::size_t>& bytes) noexcept {
    assert(n >= 1);
    if ((size_ + 1) * 4 > cap_ * 3 && !rehash(cap_ == 0 ? 8 : cap_ * 2, bytes)) {
      // Growing failed; an existing entry can still be bumped in place.
      if (cap_ == 0 || get(page) == 0) return false;
    }
    for (std::size_t i = home(page);; i = (i + 1) & (cap_ - 1)) {
      const std::uint64_t e = slots_[i];
      if (e == 0) {
        slots_[i] = (std::uint64_t{page} << 32) | n;
        ++size_;
        return true;
      }
      if (key(e) == page) {
        assert(std::uint64_t{count(e)} + n <= 0xFFFF'FFFFu);
        slots_[i] = e + n;
        return true;
      }
    }
  }

  /**
   * take() - give back up to @n references on @page.
   * Return: how many were really taken (0 when @page is absent). An entry
   * that reaches 0 is erased; an emptied table frees its memory.
   */
  std::uint32_t take(std::uint32_t page, std::uint32_t n, std::atomic<std::size_t>& bytes) noexcept {
    if (cap_ == 0) return 0;
    std::size_t i = home(page);
    for (;; i = (i + 1) & (cap_ - 1)) {
      const std::uint64_t e = slots_[i];
      if (e == 0) return 0;
      if (key(e) == page) break;
    }
    const std::uint32_t held = count(slots_[i]);
    if (n < held) {
      slots_[i] -= n;
      return n;
    }
    erase_at(i);
    if (size_ == 0) {
      reset(bytes);
    } else if (size_ * 8 < cap_ && cap_ > 8) {
      (void)rehash(cap_ / 2, bytes); // optional shrink: failure keeps the old table
    }
    return held;
  }

  /// for_each() - call f(page, count) for every entry.
  template <class F>
  void for_each(F&& f) const noexcept {
    for (std::size_t i = 0; i < cap_; ++i)
      if (slots_[i] != 0) f(key(slots_[i]), count(slots_[i]));
  }

  void reset(std::atomic<std::size_t>& bytes) noexcept {
    if (slots_ != nullptr) {
      account_bytes(bytes, 0, cap_ * sizeof(std::uint64_t));
      std::free(slots_);
    }
    slots_ = nullptr;
    size_ = cap_ = 0;
    shift_ = 64;
  }

private:
  static constexpr std::uint32_t key(std::uint64_t e) noexcept { return static_cast<std::uint32_t>(e >> 32); }
  static constexpr std::uint32_t count(std::uint64_t e) noexcept { return static_cast<std::uint32_t>(e); }
  /// Fibonacci hashing: consecutive pages spread over the whole table.
  [[nodiscard]] std::size_t home(std::uint32_t page) const noexcept {
    return static_cast<std::size_t>((page * 0x9E37'79B9'7F4A'7C15ull) >> shift_);
  }

  void erase_at(std::size_t i) noexcept {
    const std::size_t mask = cap_ - 1;
    std::size_t j = i;
    for (;;) {
      j = (j + 1) & mask;
      const std::uint64_t e = slots_[j];
      if (e == 0) break;
      const std::size_t k = home(key(e));
      // The entry at j may move to the hole at i unless its home lies
      // cyclically in (i, j].
      const bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
      if (stays) continue;
      slots_[i] = e;
      i = j;
    }
    slots_[i] = 0;
    --size_;
  }

  bool rehash(std::size_t new_cap, std::atomic<std::size_t>& bytes) noexcept {
    auto* fresh = static_cast<std::uint64_t*>(std::calloc(new_cap, sizeof(std::uint64_t)));
    if (fresh == nullptr) return false;
    const unsigned new_shift = 64u - static_cast<unsigned>(std::countr_zero(new_cap));
    for (std::size_t i = 0; i < cap_; ++i) {
      const std::uint64_t e = slots_[i];
      if (e == 0) continue;
      std::size_t j = static_cast<std::size_t>((key(e) * 0x9E37'79B9'7F4A'7C15ull) >> new_shift);
      while (fresh[j] != 0) j = (j + 1) & (new_cap - 1);
      fresh[j] = e;
    }
    std::free(slots_);
    account_bytes(bytes, new_cap * sizeof(std::uint64_t), cap_ * sizeof(std::uint64_t));
    slots_ = fresh;
    cap_ = new_cap;
    shift_ = new_shift;
    return true;
  }

  std::uint64_t* slots_ = nullptr;
  std::size_t size_ = 0;
  std::size_t cap_ = 0;
  unsigned shift_ = 64;
};

} // namespace arenakit::detail
