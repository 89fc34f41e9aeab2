// SPDX-License-Identifier: MIT
/**
 * @file arena/impl/growth.hpp
 * @brief Arena's out-of-line members that change its shape, all under the
 *        growth mutex: configure(), growth (a shard carved from an open
 *        extent, an extent taken and mapped once, under the mapping budget),
 *        and teardown. Labels (ar-*) are shared with arena/arena.hpp and
 *        arena/impl/arena.hpp: one class, one set.
 */
#pragma once

#include <arenakit/arena/arena.hpp>
#include <arenakit/detail/sanitizer.hpp>

#include <algorithm>
#include <bit>
#include <cstdint>
#include <limits>
#include <mutex>
#include <new>
#include <system_error>

namespace arenakit {

// --- construction and teardown ---

template <class MapperT, class SlotsT, class ReclaimerT, class SourceT, class CheckT>
template <class... Policies>
  requires((detail::count_of<MapperT, Policies...> + detail::count_of<ReclaimerT, Policies...> +
            detail::count_of<SourceT, Policies...>) == sizeof...(Policies))
inline Arena<MapperT, SlotsT, ReclaimerT, SourceT, CheckT>::Arena(const ArenaConfig& config,
                                                                  Policies&&... policies) noexcept
    : source_(detail::take_policy<SourceT>(std::forward<Policies>(policies)...)),
      mapper_(detail::take_policy<MapperT>(std::forward<Policies>(policies)...)),
      reclaimer_(detail::take_policy<ReclaimerT>(std::forward<Policies>(policies)...)) {
  static_assert(detail::count_of<MapperT, Policies...> <= 1 && detail::count_of<ReclaimerT, Policies...> <= 1 &&
                    detail::count_of<SourceT, Policies...> <= 1,
                "arenakit: Arena given two instances of the same policy");
  error_ = configure(config);
  // Initial shards go on the constructing thread's partial list (the
  // thread that builds an arena is usually the one that uses it); threads
  // of other lists grow their own, or take these once the limit is reached.
  for (std::uint32_t i = 0; !error_ && i < config.initial_shards; ++i) {
    std::lock_guard lock(growth_mutex_);
    if (std::error_code ec = add_shard_locked(my_list()); ec) error_ = ec;
  }
}

template <class MapperT, class SlotsT, class ReclaimerT, class SourceT, class CheckT>
inline Arena<MapperT, SlotsT, ReclaimerT, SourceT, CheckT>::~Arena() {
  TeardownReport report;
  if (release_memory_impl(report)) {
    // Refused: the shards stay mapped and allocated, never pulled from under a user.
    const std::uint32_t shards = hot_.shard_count.load(std::memory_order_relaxed); // the owner's own count: pairs with nothing
    for (std::uint32_t i = 0; i < shards; ++i) detail::deliberately_leaked(shards_[i]);
  }
  if (teardown_report_ != nullptr) *teardown_report_ = report;
  if (tag_ != 0) detail::give_back_arena_tag(tag_); // last: the arena is live until here
}

template <class MapperT, class SlotsT, class ReclaimerT, class SourceT, class CheckT>
inline std::error_code Arena<MapperT, SlotsT, ReclaimerT, SourceT, CheckT>::configure(const ArenaConfig& c) noexcept {
  teardown_report_ = c.teardown_report;
  if (c.shard_size < 64 || !std::has_single_bit(c.shard_size) || c.slot_size < 8 ||
      c.slot_size > c.shard_size)
    return errc::invalid_config;
  // A deferred reclaimer keeps its link inside the released slot: the slot
  // must hold it, and every slot's first byte must be aligned for it (shards
  // start page-aligned, so the slot size decides).
  if constexpr (requires { ReclaimerT::min_slot_size; }) {
    if (c.slot_size < ReclaimerT::min_slot_size) return errc::invalid_config;
  }
  if constexpr (requires { ReclaimerT::slot_alignment; }) {
    if (c.slot_size % ReclaimerT::slot_alignment != 0) return errc::invalid_config;
  }
  // A slot's length travels as 32 bits (SlotBuffer::length, an ibverbs sge).
  if (c.slot_size > std::numeric_limits<std::uint32_t>::max()) return errc::size_overflow;
  // Slots per shard in 64 bits: truncating first would accept a shard of
  // 2^42 bytes with the wrong slot count. An id names (shard, index) in 24
  // bits, with at least one bit for the shard.
  const std::uint64_t per_shard = c.shard_size / c.slot_size;
  const auto index_bits = static_cast<unsigned>(std::bit_width(per_shard - 1u));
  if (index_bits >= slot_id_position_bits) return errc::id_space_exhausted;
  slot_size_ = c.slot_size;
  shard_size_ = c.shard_size;
  shard_shift_ = static_cast<unsigned>(std::countr_zero(c.shard_size));
  slots_per_shard_ = static_cast<std::uint32_t>(per_shard);
  index_bits_ = index_bits;
  index_mask_ = (std::uint32_t{1} << index_bits_) - 1u;
  const std::uint64_t id_limit = std::uint64_t{1} << (slot_id_position_bits - index_bits_);
  std::uint64_t limit = id_limit;
  if (c.max_shards != 0) {
    if (c.max_shards > id_limit) return errc::id_space_exhausted;
    limit = c.max_shards;
  }
  if (c.max_bytes != 0) {
    const std::uint64_t by_bytes = c.max_bytes / c.shard_size;
    if (by_bytes == 0) return errc::invalid_config;
    limit = std::min(limit, by_bytes);
  }
  // Offsets (shard << shard_shift) and byte totals (shards * shard_size)
  // are 64-bit, and cannot overflow now: shard_size < (slots + 1) *
  // slot_size <= (2^index_bits + 1) * 2^32 and shards <= 2^(24 -
  // index_bits), so every shard the limit allows ends below 2^57.
  if (c.initial_shards > limit) return errc::limit_reached;
  // An extent is a power of two of shards, so it is a power of two of bytes
  // and its shards' offsets are a shift: at most 2^24 shards (an id's reach).
  if (c.shards_per_extent == 0 || !std::has_single_bit(c.shards_per_extent) ||
      c.shards_per_extent > (std::uint32_t{1} << slot_id_position_bits))
    return errc::invalid_config;
  if (std::uint64_t{c.shards_per_extent} > std::numeric_limits<std::size_t>::max() / c.shard_size)
    return errc::size_overflow;
  // The initial shards must fit the mapping budget: refused here, before
  // any is made, rather than by the growth that would need one too many.
  if (c.max_mappings != 0 &&
      (std::uint64_t{c.initial_shards} + c.shards_per_extent - 1) / c.shards_per_extent > c.max_mappings)
    return errc::mapping_budget;
  shards_per_extent_ = c.shards_per_extent;
  max_mappings_ = c.max_mappings;
  if (c.tag != 0) {
    tag_ = c.tag;
    detail::hold_arena_tag(tag_);
  } else {
    tag_ = detail::take_arena_tag();
  }
  tag_base_ = std::uint32_t{tag_} << slot_id_position_bits;
  layout_ = Layout{nullptr, index_bits_, index_mask_, slots_per_shard_, tag_};
  layout_.word_shift = Layout::word_shift_for(index_bits_);
  layout_.word_pad = Layout::word_pad_for(index_bits_);
  const std::size_t words = ((static_cast<std::size_t>(limit) << index_bits_) >> layout_.word_shift) << layout_.word_pad;
  if (!shards_.allocate(limit) || !views_.allocate(limit) ||
      (track_held && !held_.allocate(static_cast<std::size_t>(limit) << index_bits_)) ||
      (track_held && !held_words_.allocate(words)) ||
      !cpu_index_.allocate(limit, shard_shift_) || !dev_index_.allocate(limit, shard_shift_))
    return errc::out_of_memory;
  layout_.held = held_.data();
  layout_.words = held_words_.data();
  // Last: until here the limit is 0, so a refused configuration (or tables
  // that could not be reserved) hands out nothing: growth stops at the limit.
  max_shards_ = static_cast<std::uint32_t>(limit);
  return {};
}

// Add a shard for @list unless one appeared on it; false at the limit or on failure.
template <class MapperT, class SlotsT, class ReclaimerT, class SourceT, class CheckT>
inline bool Arena<MapperT, SlotsT, ReclaimerT, SourceT, CheckT>::grow(std::uint32_t list) noexcept {
  std::lock_guard lock(growth_mutex_);
  // Another thread may have added (or a release re-listed) a shard on our
  // list while we waited: go back and claim from it.
  if (detail::TaggedIndexStack::top_of(hot_.lists[list].head.peek()) != none) return true; // acquire, pairs with (ar-9): a pushed shard is built
  const std::error_code ec = add_shard_locked(list);
  // The limit is not a failure: limit_hits counts it and acquire's empty id says it.
  if (ec && ec != make_error_code(errc::limit_reached)) last_growth_error_ = ec;
  return !ec;
}

template <class MapperT, class SlotsT, class ReclaimerT, class SourceT, class CheckT>
inline std::error_code Arena<MapperT, SlotsT, ReclaimerT, SourceT, CheckT>::add_shard_locked(std::uint32_t list) noexcept {
  const std::uint32_t shard = hot_.shard_count.load(std::memory_order_relaxed);
  // The arena grows when its shards are (nearly) full: a peak worth sampling.
  note_high_water(claimed_slots(shard));
  // Shards given back by shrink() are mapped again before new ones are made.
  if (stats_.vacant_shards.load(std::memory_order_relaxed) != 0) return reopen_vacant_locked(list); // written under our lock
  if (shard >= max_shards_) {
    stats_.limit_hits.fetch_add(1, std::memory_order_relaxed); // statistics only
    return errc::limit_reached;
  }
  // The shard is the next piece of the open extent; the first shard of an
  // extent takes it from the source and maps it, once.
  const bool first = extent_.used == extent_.count;
  if (first) {
    if (const std::error_code ec = open_extent_locked(shard)) return ec;
  }
  auto* s = new (std::nothrow) Shard(slots_per_shard_);
  if (s == nullptr || !s->slots.ready()) {
    delete s;
    if (first) { // nothing else is carved from it yet: give the whole extent back
      mapper_.unmap(extent_.mapping);
      source_.deallocate(extent_.region);
      stats_.mappings.fetch_sub(1, std::memory_order_relaxed); // statistics only
      extent_ = {};
    }
    stats_.growth_failures.fetch_add(1, std::memory_order_relaxed); // statistics only
    return errc::out_of_memory;
  }
  place_shard_locked(shard, s, extent_.region, extent_.mapping, extent_.dev, std::size_t{extent_.used} * shard_size_,
                     first, list);
  ++extent_.used;
  shards_[shard] = s;
  stats_.growths.fetch_add(1, std::memory_order_relaxed);  // statistics only
  // (ar-8) release pairs with (ar-7): the shard is built before it is counted.
  hot_.shard_count.store(shard + 1, std::memory_order_release);
  hot_.position_limit.store((shard + 1) << index_bits_, std::memory_order_release); // (ar-8') as (ar-8), pairs with (ar-7')
  s->listed.store(true, std::memory_order_relaxed); // published by (ar-9)
  push_partial(shard);
  return {};
}

// The budget, then the source, then the mapper, for an extent of @count
// shards; nothing kept on failure.
template <class MapperT, class SlotsT, class ReclaimerT, class SourceT, class CheckT>
inline std::error_code Arena<MapperT, SlotsT, ReclaimerT, SourceT, CheckT>::map_extent_locked(
    std::uint32_t count, Region& region, mapping_type& mapping) noexcept {
  // The budget is checked before anything is taken: a refusal leaks nothing.
  if (max_mappings_ != 0 && stats_.mappings.load(std::memory_order_relaxed) >= max_mappings_) { // written under our lock
    stats_.mapping_budget_hits.fetch_add(1, std::memory_order_relaxed); // statistics only
    return errc::mapping_budget;
  }
  const std::size_t bytes = std::size_t{count} * shard_size_;
  // Aligned to the whole extent when it is a power of two (huge pages, and
  // one IOMMU/MR entry per extent); a short last extent to its shard size.
  Result<Region> r = source_.allocate(bytes, std::has_single_bit(bytes) ? bytes : shard_size_);
  if (!r) {
    stats_.growth_failures.fetch_add(1, std::memory_order_relaxed); // statistics only
    return r.error();
  }
  Result<mapping_type> m = mapper_.map(*r);
  if (!m) {
    source_.deallocate(*r);
    stats_.growth_failures.fetch_add(1, std::memory_order_relaxed); // statistics only
    return m.error();
  }
  region = *r;
  mapping = *m;
  stats_.mappings.fetch_add(1, std::memory_order_relaxed); // statistics only
  if (region.huge_page_fallback) stats_.fallbacks.fetch_add(1, std::memory_order_relaxed);
  return {};
}

// Make shard @k the piece at @offset of an extent, homed on @list.
template <class MapperT, class SlotsT, class ReclaimerT, class SourceT, class CheckT>
inline void Arena<MapperT, SlotsT, ReclaimerT, SourceT, CheckT>::place_shard_locked(std::uint32_t k, Shard* s,
    const Region& whole, const mapping_type& mapping, std::uint64_t dev, std::size_t offset, bool owner,
    std::uint32_t list) noexcept {
  s->region = whole; // alignment, huge pages, NUMA node, dma-buf: the extent's
  s->region.data = whole.data == nullptr ? nullptr : whole.data + offset;
  s->region.size = shard_size_;
  s->region.dmabuf_offset = whole.dmabuf_offset + offset;
  s->mapping = mapping;
  s->owns_extent = owner;
  s->extent = owner ? whole : Region{};
  s->home = list;
  views_[k].set(s->region.data, dev + offset);
  // A device-only shard has no CPU address: from_pointer() must never find it.
  if (s->region.data != nullptr)
    cpu_index_.insert(reinterpret_cast<std::uint64_t>(s->region.data), shard_size_, k);
  dev_index_.insert(dev + offset, shard_size_, k);
}

// Take and map the next extent; errc::mapping_budget past max_mappings.
template <class MapperT, class SlotsT, class ReclaimerT, class SourceT, class CheckT>
inline std::error_code Arena<MapperT, SlotsT, ReclaimerT, SourceT, CheckT>::open_extent_locked(
    std::uint32_t first_shard) noexcept {
  // The last extent may be cut short by the shard limit.
  const std::uint32_t count = std::min(shards_per_extent_, max_shards_ - first_shard);
  if (const std::error_code ec = map_extent_locked(count, extent_.region, extent_.mapping)) return ec;
  extent_.dev = mapper_.device_address(extent_.mapping);
  extent_.used = 0;
  extent_.count = count;
  return {};
}

template <class MapperT, class SlotsT, class ReclaimerT, class SourceT, class CheckT>
inline std::error_code Arena<MapperT, SlotsT, ReclaimerT, SourceT, CheckT>::release_memory_impl(TeardownReport& report) noexcept {
  reclaim();
  const std::uint32_t shards = hot_.shard_count.load(std::memory_order_acquire); // (ar-7): pairs with (ar-8)
  bool caches_alive;
  {
    std::lock_guard lock(cache_mutex_);
    caches_alive = caches_ != nullptr;
  }
  // Decided from the bitmaps, the state every hand-out goes through, not
  // from a counter: a slot held by a user, parked in a cache or waiting in
  // the reclaimer is not free in its shard's allocator.
  const std::uint64_t out = claimed_slots(shards);
  report.slots_outstanding = out;
  report.caches_alive = caches_alive;
  if (out != 0 || caches_alive) {
    // Vacant shards (shrink() gave them back) are not kept: their memory is
    // gone already. As counters(): written under the growth lock, which a
    // concurrent shrink holds, so this is a statistic (relaxed).
    const std::uint32_t vacant = stats_.vacant_shards.load(std::memory_order_relaxed);
    report.shards_kept = shards - std::min(shards, vacant);
    report.bytes_kept = report.shards_kept * shard_size_;
    report.clean = false;
    return errc::slots_outstanding;
  }
  // Each extent's first shard gives the whole extent back, once.
  for (std::uint32_t i = 0; i < shards; ++i) {
    Shard* s = shards_[i];
    if (s->owns_extent && !s->vacant.load(std::memory_order_relaxed)) { // no concurrent callers
      mapper_.unmap(s->mapping);
      source_.deallocate(s->extent);
      stats_.mappings.fetch_sub(1, std::memory_order_relaxed); // statistics only
    }
    delete s;
    shards_[i] = nullptr;
  }
  extent_ = {}; // its region went with its first shard
  stats_.vacant_shards.store(0, std::memory_order_relaxed); // teardown, no concurrent callers
  // Start over with empty tables: ids of the old shards are now out of range.
  hot_.shard_count.store(0, std::memory_order_release); // teardown, no concurrent callers: pairs with (ar-7) for later growth
  hot_.position_limit.store(0, std::memory_order_release); // the same, pairs with (ar-7')
  for (auto& l : hot_.lists) l.head.reset(); // teardown, no concurrent callers; the tag still advances (ts-5), pairs with (ar-10)
  cpu_index_.clear();
  dev_index_.clear();
  report.clean = true;
  return {};
}

} // namespace arenakit
