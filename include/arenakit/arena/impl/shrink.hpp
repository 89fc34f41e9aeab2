// SPDX-License-Identifier: MIT
/**
 * @file arena/impl/shrink.hpp
 * @brief Arena::shrink(): idle shards (whole extents) given back, and their
 *        numbers mapped again by the next growth.
 *
 * Lifecycle of a shard: live -> sealed (every slot claimed by the arena
 * itself, no held flag) -> unmapped -> vacant (memory freed, record kept)
 * -> live again (growth maps the extent anew and unseals its slots).
 *
 * Why it is safe against concurrent claimers and releasers:
 * - A claim goes through the allocator: sealing takes every slot in one
 *   claim (BitmapSlots: one reservation of the free count, or one CAS on a
 *   single-word bitmap), so either a claimer got a slot first (the seal
 *   gets fewer, gives them back, the shard stays) or it finds the shard
 *   full and moves on (the partial lists drop it as they drop any full
 *   shard). Nothing reads a shard's memory but the holder of one of its
 *   slots, and once sealed there is none.
 * - A release of one of its ids is stale (nobody holds one): its held flag
 *   is clear (a seal sets none), so every release path refuses it as not
 *   held. This is why shrink() needs held flags.
 * - Slots parked in a cache or waiting in a deferred / epoch reclaimer are
 *   claimed in the allocator, so their shard is not idle.
 * - The Shard record is never freed while the arena lives, so a claimer or
 *   releaser still looking at it reads valid memory; only the region and
 *   the mapping go.
 * Memory orders: everything here runs under the growth mutex. Regrowth
 * writes the views and indexes, then unseals: each slot's release is a
 * release RMW on its bitmap word ((bm-3)/(bm-4) in slots/bitmap.hpp) that
 * a claimer's acquire ((bm-1)/(bm-2)) pairs with, so whoever claims a slot
 * of a reopened shard sees its new address.
 */
#pragma once

#include <arenakit/arena/arena.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <new>

namespace arenakit {

// Claim every slot of shard @k for the arena itself; false (nothing kept)
// when one is out.
template <class MapperT, class SlotsT, class ReclaimerT, class SourceT, class CheckT>
inline bool Arena<MapperT, SlotsT, ReclaimerT, SourceT, CheckT>::seal_locked(std::uint32_t k) noexcept {
  Shard* s = shards_[k];
  if (s->slots.free_count() != slots_per_shard_) return false;
  std::unique_ptr<std::uint32_t[]> index(new (std::nothrow) std::uint32_t[slots_per_shard_]);
  if (!index) return false;
  const std::uint32_t got = s->slots.claim(index.get(), slots_per_shard_);
  if (got == slots_per_shard_) return true;
  // A claimer was first: give back what we took (never handed to anyone).
  for (std::uint32_t i = 0; i < got; ++i)
    relist(k, *s, s->slots.release(index[i]));
  return false;
}

// Give a sealed shard's slots back to its allocator (it lists itself).
template <class MapperT, class SlotsT, class ReclaimerT, class SourceT, class CheckT>
inline void Arena<MapperT, SlotsT, ReclaimerT, SourceT, CheckT>::unseal_locked(std::uint32_t k) noexcept {
  Shard* s = shards_[k];
  // The first release finds the shard full (or unlisted) and lists it.
  for (std::uint32_t i = 0; i < slots_per_shard_; ++i) relist(k, *s, s->slots.release(i));
}

template <class MapperT, class SlotsT, class ReclaimerT, class SourceT, class CheckT>
inline ShrinkResult Arena<MapperT, SlotsT, ReclaimerT, SourceT, CheckT>::shrink(const ShrinkPolicy& policy) noexcept
  requires(CheckT::value != ReleaseCheck::range_only && !CountedSlotAllocator<SlotsT>)
{
  ShrinkResult r;
  if (error_) return r;
  std::lock_guard lock(growth_mutex_);
  const std::uint32_t shards = hot_.shard_count.load(std::memory_order_relaxed); // written under our lock
  const auto now = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
          .count());
  const auto min_idle = static_cast<std::uint64_t>(std::max<std::int64_t>(policy.min_idle.count(), 0));
  // The extent still being carved (shards not yet made) is not a candidate.
  const std::uint32_t open_first = extent_.used < extent_.count ? shards - extent_.used : shards;
  struct Candidate {
    std::uint32_t first, count;
  };
  // Idle long enough, ascending. Sized for every extent: no reallocation.
  std::unique_ptr<Candidate[]> ripe(new (std::nothrow) Candidate[shards / shards_per_extent_ + 1]);
  if (!ripe) return r;
  std::size_t n_ripe = 0;
  std::uint64_t idle_shards = 0;
  for (std::uint32_t first = 0; first < shards; first += shards_per_extent_) {
    const std::uint32_t count = std::min(shards_per_extent_, shards - first);
    // relaxed: `vacant` is written under the growth lock we hold; pairs with nothing.
    if (first == open_first || shards_[first]->vacant.load(std::memory_order_relaxed)) continue;
    bool idle = true, ripe_all = true;
    for (std::uint32_t k = first; k < first + count; ++k) {
      Shard* s = shards_[k];
      if (s->slots.free_count() != slots_per_shard_) {
        s->idle_since = 0;
        idle = false;
        ++r.shards_kept_busy;
        continue;
      }
      if (s->idle_since == 0) s->idle_since = now;
      if (now - s->idle_since < min_idle) ripe_all = false;
    }
    if (!idle) continue;
    idle_shards += count;
    if (ripe_all) ripe[n_ripe++] = Candidate{first, count};
  }
  // Newest first; keep at least keep_spare_shards idle shards mapped.
  for (std::size_t i = n_ripe; i-- > 0;) {
    const Candidate c = ripe[i];
    if (idle_shards < std::uint64_t{policy.keep_spare_shards} + c.count) break;
    std::uint32_t sealed = 0;
    while (sealed < c.count && seal_locked(c.first + sealed)) ++sealed;
    if (sealed != c.count) { // a claimer got there first: the extent stays
      for (std::uint32_t k = c.first; k < c.first + sealed; ++k) unseal_locked(k);
      continue;
    }
    Shard* owner = shards_[c.first];
    // Sealed: counters() and teardown stop counting its slots as out.
    for (std::uint32_t k = c.first; k < c.first + c.count; ++k)
      shards_[k]->vacant.store(true, std::memory_order_relaxed); // a statistic's filter; pairs with nothing
    if (detail::unmap_checked(mapper_, owner->mapping)) {
      for (std::uint32_t k = c.first; k < c.first + c.count; ++k) {
        shards_[k]->vacant.store(false, std::memory_order_relaxed); // as above
        unseal_locked(k);
      }
      ++r.unmap_failures;
      stats_.unmap_failures.fetch_add(1, std::memory_order_relaxed); // statistics only
      continue;
    }
    const std::uint64_t bytes = owner->extent.size;
    source_.deallocate(owner->extent);
    for (std::uint32_t k = c.first; k < c.first + c.count; ++k) {
      Shard* s = shards_[k];
      if (s->region.data != nullptr)
        cpu_index_.erase(reinterpret_cast<std::uint64_t>(s->region.data), shard_size_, k);
      dev_index_.erase(views_[k].dev, shard_size_, k); // our own write (under the growth lock)
      views_[k].set(nullptr, 0);
      s->region = Region{};
      s->extent = Region{};
      s->mapping = mapping_type{};
      s->idle_since = 0;
    }
    stats_.mappings.fetch_sub(1, std::memory_order_relaxed);                   // statistics only
    stats_.vacant_shards.fetch_add(c.count, std::memory_order_relaxed);        // read under our lock or as a statistic
    stats_.shards_given_back.fetch_add(c.count, std::memory_order_relaxed);    // statistics only
    stats_.bytes_given_back.fetch_add(bytes, std::memory_order_relaxed);       // statistics only
    stats_.mappings_removed.fetch_add(1, std::memory_order_relaxed);           // statistics only
    r.shards_given_back += c.count;
    r.bytes_given_back += bytes;
    ++r.mappings_removed;
    idle_shards -= c.count;
  }
  return r;
}

// Map the lowest vacant extent again and unseal its shards for @list.
template <class MapperT, class SlotsT, class ReclaimerT, class SourceT, class CheckT>
inline std::error_code Arena<MapperT, SlotsT, ReclaimerT, SourceT, CheckT>::reopen_vacant_locked(
    std::uint32_t list) noexcept {
  const std::uint32_t shards = hot_.shard_count.load(std::memory_order_relaxed); // written under our lock
  std::uint32_t first = 0;
  while (first < shards && !shards_[first]->vacant.load(std::memory_order_relaxed)) first += shards_per_extent_;
  if (first >= shards) return errc::invalid_config; // cannot happen: stats_.vacant_shards said one exists
  const std::uint32_t count = std::min(shards_per_extent_, shards - first);
  Region region;
  mapping_type mapping{};
  if (const std::error_code ec = map_extent_locked(count, region, mapping)) return ec;
  const std::uint64_t dev = mapper_.device_address(mapping);
  for (std::uint32_t k = first; k < first + count; ++k) {
    place_shard_locked(k, shards_[k], region, mapping, dev, std::size_t{k - first} * shard_size_, k == first, list);
    shards_[k]->vacant.store(false, std::memory_order_relaxed); // a statistic's filter; the unseal below publishes
  }
  stats_.vacant_shards.fetch_sub(count, std::memory_order_relaxed);   // read under our lock or as a statistic
  stats_.growths.fetch_add(count, std::memory_order_relaxed);         // statistics only
  // Last: each release publishes the views and indexes above to its claimer.
  for (std::uint32_t k = first; k < first + count; ++k) unseal_locked(k);
  return {};
}

} // namespace arenakit
