// SPDX-License-Identifier: MIT
/**
 * @file arena/impl/shard.hpp
 * @brief What an Arena keeps per shard and on its shared lines: the shard
 *        (region, mapping, slot allocator, partial-list link), its address
 *        view, and the hot lines (partial-list heads, shard count, refill
 *        count) with the layout their comments promise.
 */
#pragma once

#include <arenakit/config.hpp>
#include <arenakit/detail/tagged_index_stack.hpp>
#include <arenakit/region.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace arenakit::detail {

/// The CPU and device address of a shard's first byte (read by every lookup).
/// Written under the growth lock (a shard placed, or given back by shrink());
/// read without it, so every access is an atomic_ref. Relaxed, pairing with
/// nothing of its own: a held id's view cannot change while it is held (its
/// shard is never given back), and what a new shard's view says reaches a
/// reader with the shard itself ((ar-8) for ids, the shard index's
/// publication for addresses). A reverse lookup racing a give-back of its
/// shard (a stale address) reads the old view or the cleared one, both
/// whole values: its match decides by what it read.
struct ArenaShardView {
  std::byte* cpu;
  std::uint64_t dev;

  std::byte* cpu_relaxed() const noexcept {
    return std::atomic_ref<std::byte*>(const_cast<std::byte*&>(cpu)).load(std::memory_order_relaxed); // pairs with nothing (above)
  }
  std::uint64_t dev_relaxed() const noexcept {
    return std::atomic_ref<std::uint64_t>(const_cast<std::uint64_t&>(dev)).load(std::memory_order_relaxed); // pairs with nothing (above)
  }
  void set(std::byte* c, std::uint64_t d) noexcept {
    std::atomic_ref<std::byte*>(cpu).store(c, std::memory_order_relaxed);   // pairs with nothing (above)
    std::atomic_ref<std::uint64_t>(dev).store(d, std::memory_order_relaxed); // pairs with nothing (above)
  }
};

/// One shard: a region from the MemorySource, its mapping, its slots.
/// With extents (ArenaConfig::shards_per_extent > 1) the shard's region is a
/// piece of its extent and `mapping` a copy of the extent's; the extent's
/// first shard owns both (`extent` is the whole region it gives back).
template <class Mapping, class Slots>
struct ArenaShard {
  explicit ArenaShard(std::uint32_t count) noexcept : slots(count) {}
  Region region;
  Mapping mapping{};
  bool owns_extent = true; ///< unmap `mapping` and give `extent` back at teardown
  Region extent;           ///< owner only: the whole extent (== region without extents)
  /// Given back by Arena::shrink(): no memory, every slot sealed (claimed by
  /// the arena itself, no held flag), so nothing can claim or release one.
  /// Written under the growth mutex; read relaxed by counters().
  std::atomic<bool> vacant{false};
  std::uint64_t idle_since = 0; ///< shrink(): first seen idle (steady-clock ns), 0: busy; growth mutex
  // Partial-list link and membership; written by claimers and releasers.
  alignas(cache_line_size) std::atomic<std::uint32_t> next_partial{TaggedIndexStack::none};
  std::atomic<bool> listed{false};
  std::uint32_t home = 0; ///< the partial list it goes back to (the list of the thread that grew it)
  Slots slots;
};

/// The extent being carved into shards (under the arena's growth mutex):
/// its region, mapping and device address, and how many of its shards exist.
template <class Mapping>
struct ArenaOpenExtent {
  Region region{};
  Mapping mapping{};
  std::uint64_t dev = 0;
  std::uint32_t used = 0;  ///< shards carved so far
  std::uint32_t count = 0; ///< shards it holds (0: none open)
};

/// Written on the shared path, one line per writer population: the partial
/// lists' heads (claimers that find a shard full, releases that refill one;
/// a list per group of threads, so two threads do not claim from one top
/// shard), the shard count (growth only; read by every validation), the
/// refill count (cache refills only). No count is written per direct acquire
/// or release: Arena::counters() sums the shards.
template <std::uint32_t Lists>
struct ArenaHot {
  struct alignas(cache_line_size) PartialList {
    TaggedIndexStack head;
  };
  PartialList lists[Lists];
  alignas(cache_line_size) std::atomic<std::uint32_t> shard_count{0};
  /// shard_count << index bits, stored with it: a direct release checks an
  /// id's position against it in one compare (raw id - tag base < limit).
  std::atomic<std::uint32_t> position_limit{0};
  alignas(cache_line_size) std::atomic<std::uint64_t> slow_hits{0};

  static constexpr bool layout_holds() noexcept;
};

/// What an arena counts off the fast path (growth, refusals, shrink), read
/// by Arena::counters(). Every access is relaxed, statistics only, unless its
/// use says otherwise; a line of its own, away from the hot lines.
struct ArenaStats {
  alignas(cache_line_size) std::atomic<std::uint64_t> mappings{0};
  std::atomic<std::uint64_t> growths{0};
  std::atomic<std::uint64_t> refused_range{0};
  std::atomic<std::uint64_t> refused_foreign{0};
  std::atomic<std::uint64_t> refused_not_held{0};
  std::atomic<std::uint64_t> refused_retains{0};
  std::atomic<std::uint64_t> fallbacks{0};
  std::atomic<std::uint64_t> growth_failures{0};
  std::atomic<std::uint64_t> limit_hits{0};
  std::atomic<std::uint64_t> mapping_budget_hits{0};
  std::atomic<std::uint64_t> shards_given_back{0};
  std::atomic<std::uint64_t> bytes_given_back{0};
  std::atomic<std::uint64_t> mappings_removed{0};
  std::atomic<std::uint64_t> unmap_failures{0};
  std::atomic<std::uint32_t> vacant_shards{0}; ///< written under the growth mutex
  mutable std::atomic<std::uint64_t> high_water{0}; ///< sampled (see ArenaCounters::high_water)
  std::atomic<std::uint64_t> retired_fast_hits{0};   ///< hits of destroyed caches
};

template <std::uint32_t Lists>
constexpr bool ArenaHot<Lists>::layout_holds() noexcept {
  static_assert(std::is_standard_layout_v<ArenaHot> && sizeof(PartialList) == cache_line_size);
  static_assert(offsetof(ArenaHot, shard_count) - offsetof(ArenaHot, lists) >= Lists * cache_line_size &&
                    offsetof(ArenaHot, slow_hits) - offsetof(ArenaHot, shard_count) >= cache_line_size,
                "arenakit: Arena's list heads, shard count and refill count must sit on lines of their own");
  return true;
}

} // namespace arenakit::detail
