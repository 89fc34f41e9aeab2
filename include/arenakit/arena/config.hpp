// SPDX-License-Identifier: MIT
/**
 * @file arena/config.hpp
 * @brief What an Arena is configured with and reports: ArenaConfig, the
 *        release-check policies, ArenaCounters, TeardownReport, SlotBuffer.
 */
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>

namespace arenakit {

/// What a destructor found when slots were still out (see ArenaConfig).
struct TeardownReport {
  std::uint64_t slots_outstanding = 0;
  std::uint64_t shards_kept = 0; ///< left mapped and allocated: never freed under a user
  std::uint64_t bytes_kept = 0;
  bool caches_alive = false;     ///< an Arena::Cache outlived its arena (a bug in the caller)
  bool clean = false;            ///< true when everything was released and freed
};

/**
 * struct ShrinkPolicy - what Arena::shrink() gives back.
 * @keep_spare_shards: idle shards (every slot free) kept mapped for the next
 *                     burst; the lowest-numbered ones are kept.
 * @min_idle:          give back only shards found idle by every shrink()
 *                     call for at least this long (the first call that sees
 *                     a shard idle starts its clock; a busy sighting resets
 *                     it). 0: idle now is enough.
 * With extents, whole extents only: an extent goes when all its shards may.
 */
struct ShrinkPolicy {
  std::uint32_t keep_spare_shards = 1;
  std::chrono::nanoseconds min_idle{0};
};

/// What one Arena::shrink() did.
struct ShrinkResult {
  std::uint64_t shards_given_back = 0;
  std::uint64_t bytes_given_back = 0;
  std::uint64_t mappings_removed = 0;
  std::uint64_t unmap_failures = 0; ///< extents kept because the mapper failed to unmap them (retried next time)
  std::uint64_t shards_kept_busy = 0; ///< shards with a slot out (held, cached or waiting in the reclaimer)
};

/// How much a release checks before it takes a slot back.
enum class ReleaseCheck : std::uint8_t {
  /// Tag, range, and a per-slot "held" flag: a double release or a release of
  /// a slot never acquired is refused. The default.
  held_flags,
  /// Held flags as held_flags, read and cleared by a cache with a plain load
  /// and store instead of an exchange: no locked instruction on the cache
  /// path. Every double release is refused when the two releases are
  /// ordered (the same thread, or threads that synchronise: the usual bug
  /// of a completion handled twice); two releases of one id racing at the
  /// same instant, at least one of them through a cache, may both be
  /// accepted, as with range_only. Arena::release() still uses the exchange,
  /// and so does a cache over a deferred or epoch reclaimer (a slot accepted
  /// twice would be linked into the reclaimer's list twice: a cycle).
  held_flags_plain,
  /// Tag and range only, as rte_mempool (which checks nothing) but safer: a
  /// wild or foreign id is still refused, yet a double release is NOT caught
  /// at the call (it returns true) and, through a cache, would hand the slot
  /// out twice. One that reaches its shard while the slot is already free
  /// there is refused by the bitmap and counted in refused_not_held. Bulk
  /// paths become a vectorised check plus a copy, and a release takes no
  /// locked instruction. For callers whose ids come back from their own
  /// device completions, never from users. Immediate reclaimers only (a
  /// compile-time error otherwise): a deferred or epoch reclaimer links a
  /// released slot through the slot itself, and an uncaught double release
  /// would link it twice.
  range_only,
};

/// The release-check role, chosen at compile time so that a check an arena
/// skips costs nothing (`Arena<>::with<policy::release_check<RangeOnlyCheck>>`,
/// or the `presets::RangeCheckedArena`). The default is HeldFlagsCheck.
struct HeldFlagsCheck {
  static constexpr ReleaseCheck value = ReleaseCheck::held_flags;
};
/// See ReleaseCheck::held_flags_plain: detection without a locked instruction
/// on the cache path, exact unless two releases of one id race.
struct PlainHeldFlagsCheck {
  static constexpr ReleaseCheck value = ReleaseCheck::held_flags_plain;
};
/// See ReleaseCheck::range_only: no holder tracking, no double-release detection.
struct RangeOnlyCheck {
  static constexpr ReleaseCheck value = ReleaseCheck::range_only;
};

struct ArenaConfig {
  /// Bytes per slot (any size from 8 up to shard_size; with a deferred or
  /// epoch reclaimer, which keep their link in a released slot, at least
  /// the link's size and a multiple of 8, else errc::invalid_config).
  std::size_t slot_size = 4096;
  /// Bytes per shard: a power of two >= slot_size. One mapping each.
  std::size_t shard_size = 64 * 1024;
  /// Most shards the arena may hold; 0 = as many as a 32-bit SlotId can name.
  std::uint32_t max_shards = 0;
  /// Most bytes of shards the arena may hold; 0 = no byte limit.
  std::size_t max_bytes = 0;
  /// Shards created (and mapped) at construction.
  std::uint32_t initial_shards = 0;
  /// Shards reserved and mapped together, as one extent (a power of two; 1 =
  /// one mapping per shard). Allocation stays per shard (a slot id still
  /// names (shard, index), lookups stay O(1)); registration happens once per
  /// extent: 32 x 64 KiB shards = one 2 MiB MR / fixed buffer / mapping.
  /// The whole extent is taken from the source when its first shard is added.
  std::uint32_t shards_per_extent = 1;
  /// Most live mappings (extents) the arena may hold; 0 = no budget. Growth
  /// that would need one more is refused with errc::mapping_budget, counted
  /// in ArenaCounters::mapping_budget_hits, and takes nothing from the source.
  std::uint32_t max_mappings = 0;
  /// SlotId tag (1..255); 0 picks one that no live arena holds (see
  /// slot_id.hpp), so that another arena's id is refused as foreign.
  std::uint8_t tag = 0;
  /// Filled by the destructor; optional, must outlive the arena.
  TeardownReport* teardown_report = nullptr;
  // The release check is the arena's fifth policy (HeldFlagsCheck /
  // RangeOnlyCheck), no longer a field here: 0.1's `release_check` was a
  // run-time branch on every release.
};

struct ArenaCounters {
  std::uint64_t shards = 0;              ///< shards created and not freed
  std::uint64_t mappings = 0;            ///< live mappings (one per extent: per shard by default)
  std::uint64_t slots_per_shard = 0;
  std::uint64_t slots_in_use = 0;        ///< held by users (not counting caches)
  std::uint64_t slots_cached = 0;        ///< taken from shards, parked in owner caches
  /// Peak slots taken from shards (users + caches), sampled: the most seen
  /// by a counters() call or a growth. Exact peak tracking would put a shared
  /// RMW on every acquire; an arena grows only when full, so the growth
  /// samples catch every peak that made it grow.
  std::uint64_t high_water = 0;
  std::uint64_t fast_path_hits = 0;      ///< acquires served by an owner cache
  std::uint64_t slow_path_hits = 0;      ///< cache refills that went to the shards (direct
                                         ///< acquires are not counted one by one: that would
                                         ///< cost a shared RMW each; slots_in_use covers them)
  std::uint64_t growths = 0;             ///< shards added on demand
  std::uint64_t refused_releases = 0;    ///< sum of the three reasons below
  std::uint64_t refused_out_of_range = 0;
  std::uint64_t refused_foreign = 0;     ///< id minted by another arena
  std::uint64_t refused_not_held = 0;    ///< already free, or never acquired
  std::uint64_t refused_retains = 0;     ///< counted slots: retain() of a slot with no reference
  std::uint64_t huge_page_fallbacks = 0; ///< shards on normal pages though huge were asked
  std::uint64_t growth_failures = 0;     ///< source or mapper refused a new shard
  std::uint64_t limit_hits = 0;          ///< growth refused by the configured limit
  std::uint64_t mapping_budget_hits = 0; ///< growth refused by max_mappings (errc::mapping_budget)
  std::uint64_t shards_given_back = 0;   ///< by shrink(), since creation
  std::uint64_t bytes_given_back = 0;
  std::uint64_t mappings_removed = 0;    ///< by shrink()
  std::uint64_t unmap_failures = 0;      ///< shrink() kept an extent the mapper failed to unmap
  std::uint64_t vacant_shards = 0;       ///< given back, their numbers kept for regrowth (not in `shards`)
  std::uint64_t reclaim_pending = 0;     ///< released, waiting in the reclaimer
};

/// Where a slot is, for a device: ready to post as (address, length, key).
template <class Mapping>
struct SlotBuffer {
  std::byte* data = nullptr;
  std::uint64_t device_address = 0;
  std::uint32_t length = 0;
  const Mapping* mapping = nullptr; ///< the shard's mapping (lkey, rkey, buffer index...)
};

namespace detail {
/// How many live arenas hold each tag (index 0 unused). Every access is
/// relaxed (tag-1): a count decides only which tag a new arena takes, it
/// publishes nothing, so it pairs with nothing; atomicity alone keeps two
/// arenas created at once off one free tag.
inline std::atomic<std::uint32_t>* arena_tag_holders() noexcept {
  static std::atomic<std::uint32_t> holders[256] = {};
  return holders;
}

/**
 * take_arena_tag - a tag for a new arena: the first that no live arena holds,
 * looking from just past the last one given, so a tag given back is the last
 * to be taken again. Only when all 255 are live does a tag get a second
 * holder (the one the search started at); ids of those two arenas are then
 * not told apart. Lock-free; give it back with give_back_arena_tag().
 */
inline std::uint8_t take_arena_tag() noexcept {
  static std::atomic<std::uint32_t> cursor{0};
  std::atomic<std::uint32_t>* const holders = arena_tag_holders();
  const std::uint32_t start = cursor.fetch_add(1, std::memory_order_relaxed); // (tag-1)
  for (std::uint32_t k = 0; k < 255; ++k) {
    const std::uint32_t tag = (start + k) % 255u + 1u;
    std::uint32_t none = 0;
    if (holders[tag].compare_exchange_strong(none, 1, std::memory_order_relaxed)) { // (tag-1)
      if (k != 0) cursor.fetch_add(k, std::memory_order_relaxed); // the next search starts past it (tag-1)
      return static_cast<std::uint8_t>(tag);
    }
  }
  const std::uint32_t shared = start % 255u + 1u;
  holders[shared].fetch_add(1, std::memory_order_relaxed); // (tag-1)
  return static_cast<std::uint8_t>(shared);
}

/// Count one more holder of @tag (an explicit ArenaConfig::tag), so that
/// automatic tags avoid it.
inline void hold_arena_tag(std::uint8_t tag) noexcept {
  arena_tag_holders()[tag].fetch_add(1, std::memory_order_relaxed); // (tag-1)
}

/// An arena's tag back, at its destruction.
inline void give_back_arena_tag(std::uint8_t tag) noexcept {
  arena_tag_holders()[tag].fetch_sub(1, std::memory_order_relaxed); // (tag-1)
}
} // namespace detail

} // namespace arenakit
