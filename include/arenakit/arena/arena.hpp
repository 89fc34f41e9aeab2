// SPDX-License-Identifier: MIT
/**
 * @file arena/arena.hpp
 * @brief Arena<Mapper, SlotAllocator, Reclaimer, MemorySource>: equal-size
 *        slots carved from mapped shards, one mapping per shard.
 *
 * Shape
 * - A shard is one region from the MemorySource plus one mapping from the
 *   Mapper, cut into `shard_size / slot_size` slots tracked by one
 *   SlotAllocator. The arena grows by one shard when no shard has a free slot,
 *   up to a limit in shards or bytes; it never walks its shards to find room.
 * - A slot is named by a 32-bit SlotId (see slot_id.hpp) that converts to and
 *   from pointer, arena offset and device address in O(1).
 *
 * Finding a free slot in O(1)
 * Shards with free slots sit on a lock-free LIFO ("partial stack"; head tagged
 * against ABA). Claims go to the top shard. A claimer that finds the top shard
 * full pops it; a release that takes a shard from full to non-full pushes it
 * back. A per-shard `listed` flag keeps a shard on the stack at most once, and
 * the popper re-checks the free count after clearing the flag so that a
 * release racing with the pop is never stranded (the Dekker pair (5)/(6)).
 * Every push is paid for by a full->non-full release, so the amortised cost
 * of finding a shard is O(1) however many shards there are.
 *
 * Paths
 * - `Arena::Cache` (owner-thread cache, like a DPDK per-lcore cache): acquire
 *   and release are a few plain loads and stores; the cache refills and
 *   flushes in batches against the shards. The fast path.
 * - `Arena::acquire()` / `release()` and the bulk forms work from any thread
 *   directly against the shards: lock-free, a few atomic RMWs each.
 * - Growth (new region + mapping) takes a mutex: it is the slow path and it
 *   calls the source and the mapper, which may sleep anyway.
 *
 * Bad input
 * A release of an id that is out of range, minted by another arena, or not
 * currently held by a user (double release, never acquired) is refused: it
 * returns false, is counted by reason, and changes nothing. The "held" flag is
 * one byte per slot, cleared by one atomic exchange: detection is exact even
 * when two threads race to release the same id (a use-after-free in the
 * caller): exactly one is accepted, so a slot is never parked twice or
 * handed out twice. That exchange is the one locked instruction of a cache
 * release; deciding a single winner between two unsynchronised threads needs
 * a read-modify-write (or a store-load fence, which costs the same), so
 * ReleaseCheck::range_only, which tracks no holder, is the way to skip it.
 *
 * Teardown
 * Destroying an arena with slots still held never unmaps or frees memory
 * under a user: the shards stay mapped (and leak), and the destructor says so
 * in ArenaConfig::teardown_report. `release_memory()` is the explicit form.
 * Caches must be destroyed before their arena.
 */
#pragma once

#include <arenakit/slots/bitmap.hpp>
#include <arenakit/config.hpp>
#include <arenakit/detail/sanitizer.hpp>
#include <arenakit/detail/shard_index.hpp>
#include <arenakit/detail/test_hook.hpp>
#include <arenakit/detail/virtual_array.hpp>
#include <arenakit/error.hpp>
#include <arenakit/concepts/mapper.hpp>
#include <arenakit/concepts/memory_source.hpp>
#include <arenakit/sources/mmap.hpp>
#include <arenakit/mappers/noop.hpp>
#include <arenakit/concepts/reclaimer.hpp>
#include <arenakit/reclaimers/immediate.hpp>
#include <arenakit/region.hpp>
#include <arenakit/concepts/slot_allocator.hpp>
#include <arenakit/slot_id.hpp>

#include <algorithm>
#include <atomic>
#include <bit>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <mutex>
#include <new>
#include <system_error>
#include <utility>

namespace arenakit {

/// What a destructor found when slots were still out (see ArenaConfig).
struct TeardownReport {
  std::uint64_t slots_outstanding = 0;
  std::uint64_t shards_kept = 0; ///< left mapped and allocated: never freed under a user
  std::uint64_t bytes_kept = 0;
  bool caches_alive = false;     ///< an Arena::Cache outlived its arena (a bug in the caller)
  bool clean = false;            ///< true when everything was released and freed
};

/// How much a release checks before it takes a slot back.
enum class ReleaseCheck : std::uint8_t {
  /// Tag, range, and a per-slot "held" flag: a double release or a release of
  /// a slot never acquired is refused. The default.
  held_flags,
  /// Tag and range only, as rte_mempool (which checks nothing) but safer: a
  /// wild or foreign id is still refused, yet a double release is NOT caught
  /// at the call (it returns true) and, through a cache, would hand the slot
  /// out twice. One that reaches its shard while the slot is already free
  /// there is refused by the bitmap and counted in refused_not_held. Bulk
  /// paths become a vectorised check plus a copy, and a release takes no
  /// locked instruction. For callers whose ids come back from their own
  /// device completions, never from users.
  range_only,
};

struct ArenaConfig {
  /// Bytes per slot (any size from 8 up to shard_size).
  std::size_t slot_size = 4096;
  /// Bytes per shard: a power of two >= slot_size. One mapping each.
  std::size_t shard_size = 64 * 1024;
  /// Most shards the arena may hold; 0 = as many as a 32-bit SlotId can name.
  std::uint32_t max_shards = 0;
  /// Most bytes of shards the arena may hold; 0 = no byte limit.
  std::size_t max_bytes = 0;
  /// Shards created (and mapped) at construction.
  std::uint32_t initial_shards = 0;
  /// SlotId tag (1..255); 0 picks the next one from a process-wide counter.
  std::uint8_t tag = 0;
  /// Filled by the destructor; optional, must outlive the arena.
  TeardownReport* teardown_report = nullptr;
  ReleaseCheck release_check = ReleaseCheck::held_flags;
};

struct ArenaCounters {
  std::uint64_t shards = 0;              ///< shards created and not freed
  std::uint64_t mappings = 0;            ///< live mappings (one per shard)
  std::uint64_t slots_per_shard = 0;
  std::uint64_t slots_in_use = 0;        ///< held by users (not counting caches)
  std::uint64_t slots_cached = 0;        ///< taken from shards, parked in owner caches
  std::uint64_t high_water = 0;          ///< peak slots taken from shards (users + caches)
  std::uint64_t fast_path_hits = 0;      ///< acquires served by an owner cache
  std::uint64_t slow_path_hits = 0;      ///< cache refills that went to the shards (direct
                                         ///< acquires are not counted one by one: that would
                                         ///< cost a shared RMW each; slots_in_use covers them)
  std::uint64_t growths = 0;             ///< shards added on demand
  std::uint64_t refused_releases = 0;    ///< sum of the three reasons below
  std::uint64_t refused_out_of_range = 0;
  std::uint64_t refused_foreign = 0;     ///< id minted by another arena
  std::uint64_t refused_not_held = 0;    ///< already free, or never acquired
  std::uint64_t huge_page_fallbacks = 0; ///< shards on normal pages though huge were asked
  std::uint64_t growth_failures = 0;     ///< source or mapper refused a new shard
  std::uint64_t limit_hits = 0;          ///< growth refused by the configured limit
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
inline std::uint8_t next_arena_tag() noexcept {
  static std::atomic<std::uint32_t> counter{0};
  // Relaxed: tags only need to differ, not to order anything.
  return static_cast<std::uint8_t>(counter.fetch_add(1, std::memory_order_relaxed) % 255u + 1u);
}
} // namespace detail

template <class MapperT = NoopMapper, class SlotsT = BitmapSlots,
          class ReclaimerT = ImmediateReclaimer, class SourceT = MmapSource>
class Arena {
  static_assert(check_mapper<MapperT>());
  static_assert(check_slot_allocator<SlotsT>());
  static_assert(check_reclaimer<ReclaimerT>());
  static_assert(check_memory_source<SourceT>());
  struct Sink; // where a reclaimer hands slots back (defined below)

public:
  using mapper_type = MapperT;
  using slots_type = SlotsT;
  using reclaimer_type = ReclaimerT;
  using source_type = SourceT;
  using mapping_type = typename MapperT::mapping_type;
  class Cache;

  explicit Arena(const ArenaConfig& config, SourceT source = {}, MapperT mapper = {},
                 ReclaimerT reclaimer = {}) noexcept
      : source_(std::move(source)), mapper_(std::move(mapper)), reclaimer_(std::move(reclaimer)) {
    error_ = configure(config);
    for (std::uint32_t i = 0; !error_ && i < config.initial_shards; ++i) {
      std::lock_guard lock(growth_mutex_);
      if (std::error_code ec = add_shard_locked(); ec) error_ = ec;
    }
  }

  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  ~Arena() {
    TeardownReport report;
    if (release_memory_impl(report)) {
      // Refused: the shards stay mapped and allocated, never pulled from under a user.
      const std::uint32_t shards = shard_count_.load(std::memory_order_relaxed);
      for (std::uint32_t i = 0; i < shards; ++i) detail::deliberately_leaked(shards_[i]);
    }
    if (teardown_report_ != nullptr) *teardown_report_ = report;
  }

  /// Set-up status: empty if the configuration was valid and every initial
  /// shard was created. An invalid configuration hands out nothing; if only an
  /// initial shard failed (the source or mapper refused), the shards made
  /// before it stay usable and are counted, and growth is tried again on demand.
  std::error_code error() const noexcept { return error_; }
  /// Why the most recent on-demand growth failed (the source's or the
  /// mapper's error, e.g. ENOMEM from a registration at the memlock limit),
  /// or empty if none has failed. Acquire reports failure as an empty id; this
  /// says why. Takes the growth mutex: not for a hot path.
  std::error_code last_growth_error() const noexcept {
    std::lock_guard lock(growth_mutex_);
    return last_growth_error_;
  }
  explicit operator bool() const noexcept { return !error_; }

  // --- acquire / release from any thread, directly against the shards -----

  /// One slot, or the empty id when the limit is reached or growth failed.
  SlotId acquire() noexcept {
    SlotId id;
    if (claim_shared(&id, 1, 1) == 0) return {};
    mark_held(id);
    return id;
  }

  /**
   * acquire_bulk - exactly @n slots or none.
   * Return: @n, or 0 (nothing taken) if the arena cannot supply @n.
   */
  std::uint32_t acquire_bulk(SlotId* out, std::uint32_t n) noexcept {
    if (n == 0) return 0;
    const std::uint32_t got = claim_shared(out, n, n);
    if (got < n) {
      return_shared(out, got);
      return 0;
    }
    const Layout layout = layout_;
    for (std::uint32_t i = 0; i < n; ++i) layout.mark_held(out[i]);
    return n;
  }

  /// Returns @id. False (and nothing changes) for an id that is out of range,
  /// of another arena, or not held.
  bool release(SlotId id) noexcept {
    if (!take_held(id)) return false;
    retire(id);
    return true;
  }

  /// Releases each id; returns how many were accepted (refusals are counted
  /// and skipped: one bad id does not lose the good ones).
  std::uint32_t release_bulk(const SlotId* ids, std::uint32_t n) noexcept {
    std::uint32_t accepted = 0;
    for (std::uint32_t i = 0; i < n; ++i) {
      if (!take_held(ids[i])) continue;
      if constexpr (ReclaimerT::immediate) {
        return_shared(&ids[i], 1);
      } else {
        retire(ids[i]);
      }
      ++accepted;
    }
    return accepted;
  }

  /// Makes deferred releases reusable now (a no-op for ImmediateReclaimer).
  std::size_t reclaim() noexcept {
    Sink sink{this};
    return reclaimer_.reclaim(sink);
  }

  /**
   * park - reclaim, then tell whether the owner may sleep (owner only).
   *
   * For a reclaimer that can park its owner (DeferredReclaimer over a
   * ReleaseList with WakeOnEdge or WakeAtWatermark): every queued slot goes
   * back to the arena, then true when a later release is guaranteed to call
   * the list's Waker, false when one raced in (reclaim again instead of
   * sleeping). Same contract and barriers as ReleaseList::park(); take the
   * Doorbell snapshot before calling it.
   */
  [[nodiscard]] bool park() noexcept
    requires requires(ReclaimerT& r, Sink& s) { { r.park(s) } -> std::same_as<bool>; }
  {
    Sink sink{this};
    return reclaimer_.park(sink);
  }

  // --- conversions, O(1) ----------------------------------------------------

  /// CPU address of a valid id (unchecked: see checked_pointer()); nullptr
  /// for a shard with no CPU address (device-only memory, e.g. a dma-buf the
  /// exporter would not map).
  std::byte* pointer(SlotId id) const noexcept {
    const std::uint32_t pos = id.position();
    std::byte* base = views_[pos >> index_bits_].cpu;
    return base == nullptr ? nullptr : base + std::size_t{pos & index_mask_} * slot_size_;
  }
  /// CPU address, or nullptr if @id does not name a slot of this arena.
  std::byte* checked_pointer(SlotId id) const noexcept { return owns(id) ? pointer(id) : nullptr; }

  std::uint64_t device_address(SlotId id) const noexcept {
    const std::uint32_t pos = id.position();
    return views_[pos >> index_bits_].dev + std::uint64_t{pos & index_mask_} * slot_size_;
  }

  /// Offset of the slot in the arena's logical address space
  /// (shard * shard_size + index * slot_size).
  std::uint64_t offset(SlotId id) const noexcept {
    const std::uint32_t pos = id.position();
    return (std::uint64_t{pos >> index_bits_} << shard_shift_) +
           std::uint64_t{pos & index_mask_} * slot_size_;
  }

  SlotId from_offset(std::uint64_t off) const noexcept {
    const std::uint64_t shard = off >> shard_shift_;
    if (shard >= shard_count_.load(std::memory_order_acquire)) return {}; // (7): pairs with (8)
    const std::uint64_t index = (off & (shard_size_ - 1)) / slot_size_;
    if (index >= slots_per_shard_) return {};
    return make_id(static_cast<std::uint32_t>(shard), static_cast<std::uint32_t>(index));
  }

  /// The slot containing @p (interior pointers map to their slot), or empty.
  SlotId from_pointer(const void* p) const noexcept {
    const auto a = reinterpret_cast<std::uint64_t>(p);
    return locate(cpu_index_, a, [this](std::uint32_t s) {
      return reinterpret_cast<std::uint64_t>(views_[s].cpu);
    });
  }

  /// The slot containing device address @a, or empty.
  SlotId from_device_address(std::uint64_t a) const noexcept {
    return locate(dev_index_, a, [this](std::uint32_t s) { return views_[s].dev; });
  }

  /// (address, length, mapping) for posting @id to a device.
  SlotBuffer<mapping_type> buffer(SlotId id) const noexcept {
    const std::uint32_t shard = id.position() >> index_bits_;
    return {pointer(id), device_address(id), static_cast<std::uint32_t>(slot_size_),
            &shards_[shard]->mapping};
  }

  /// True if @id names a slot of this arena (held or not).
  bool owns(SlotId id) const noexcept { return classify(id) == Validity::valid; }
  /// True if @id names a slot of this arena that a user holds (with
  /// ReleaseCheck::range_only nothing tracks holders: same as owns()).
  bool is_held(SlotId id) const noexcept {
    if (!layout_.track_held) return owns(id);
    return owns(id) && layout_.flag(id.position()).load(std::memory_order_relaxed) != 0;
  }

  // --- geometry and counters --------------------------------------------------

  std::size_t slot_size() const noexcept { return slot_size_; }
  std::size_t shard_size() const noexcept { return shard_size_; }
  std::uint32_t slots_per_shard() const noexcept { return slots_per_shard_; }
  std::uint32_t max_shards() const noexcept { return max_shards_; }
  std::uint8_t tag() const noexcept { return tag_; }
  ReclaimerT& reclaimer() noexcept { return reclaimer_; }
  const MapperT& mapper() const noexcept { return mapper_; }

  ArenaCounters counters() const noexcept {
    ArenaCounters c;
    const std::uint32_t shards = shard_count_.load(std::memory_order_acquire); // (7): pairs with (8)
    c.shards = shards;
    c.mappings = mappings_.load(std::memory_order_relaxed);
    c.slots_per_shard = slots_per_shard_;
    std::uint64_t cached = 0;
    std::uint64_t fast = 0;
    {
      std::lock_guard lock(cache_mutex_);
      // Under the lock: ~Cache() moves its hits here under the same lock, so
      // each cache's hits are counted once, live or retired.
      fast = retired_fast_hits_.load(std::memory_order_relaxed);
      for (const Cache* cache = caches_; cache != nullptr; cache = cache->next_) {
        cached += cache->count_.load(std::memory_order_relaxed);
        fast += cache->fast_hits_.load(std::memory_order_relaxed);
      }
    }
    // Never report the impossible: a double release that range_only lets
    // reach a bitmap takes the count below zero for the moment between
    // (ar-c1) and its correction, and caches are read one by one.
    const auto claimed_now = static_cast<std::int64_t>(claimed_.load(std::memory_order_relaxed));
    const std::uint64_t capacity = std::uint64_t{shards} * slots_per_shard_;
    const std::uint64_t claimed =
        claimed_now < 0 ? 0 : std::min(static_cast<std::uint64_t>(claimed_now), capacity);
    c.slots_cached = std::min(cached, claimed);
    c.slots_in_use = claimed - c.slots_cached;
    c.high_water = high_water_.load(std::memory_order_relaxed);
    c.fast_path_hits = fast;
    c.slow_path_hits = slow_hits_.load(std::memory_order_relaxed);
    c.growths = growths_.load(std::memory_order_relaxed);
    c.refused_out_of_range = refused_range_.load(std::memory_order_relaxed);
    c.refused_foreign = refused_foreign_.load(std::memory_order_relaxed);
    c.refused_not_held = refused_not_held_.load(std::memory_order_relaxed);
    c.refused_releases = c.refused_out_of_range + c.refused_foreign + c.refused_not_held;
    c.huge_page_fallbacks = fallbacks_.load(std::memory_order_relaxed);
    c.growth_failures = growth_failures_.load(std::memory_order_relaxed);
    c.limit_hits = limit_hits_.load(std::memory_order_relaxed);
    c.reclaim_pending = reclaimer_.pending();
    return c;
  }

  /**
   * release_memory - unmap and free every shard, if no slot is out.
   *
   * Runs the reclaimer first. Refuses with errc::slots_outstanding, changing
   * nothing, while any slot is held by a user or any cache is alive. Must not
   * run concurrently with other calls on this arena. The arena can grow again
   * afterwards.
   */
  std::error_code release_memory() noexcept {
    TeardownReport report;
    return release_memory_impl(report);
  }

private:
  enum class Validity : std::uint8_t { valid, foreign, out_of_range };

  /// Everything id validation and the held flags need, fixed at
  /// configuration. Hot loops copy it into locals: the flag stores are byte
  /// stores, which may alias anything, so fields read through `this` would be
  /// reloaded after every one of them.
  struct Layout {
    std::uint8_t* held = nullptr;
    unsigned index_bits = 0;
    unsigned held_shift = 6;
    std::uint32_t index_mask = 0;
    std::uint32_t slots_per_shard = 0;
    std::uint8_t tag = 0;
    bool track_held = true;

    Validity classify(SlotId id, std::uint32_t shards) const noexcept {
      if (id.tag() != tag) return Validity::foreign;
      const std::uint32_t pos = id.position();
      if ((pos >> index_bits) >= shards || (pos & index_mask) >= slots_per_shard)
        return Validity::out_of_range;
      return Validity::valid;
    }

    // Each shard's flags start on a cache line of their own, so threads whose
    // caches draw from different shards never share a line.
    std::atomic_ref<std::uint8_t> flag(std::uint32_t pos) const noexcept {
      const std::size_t at = (std::size_t{pos >> index_bits} << held_shift) | (pos & index_mask);
      return std::atomic_ref<std::uint8_t>(held[at]);
    }

    // (ar-h1) The held flag is set only by the slot's new owner (the
    // acquirer, who took it from a bitmap or a cache no one else reads), so
    // a plain store. Ownership itself moves through the bitmap's
    // acquire/release pair (BitmapSlots (2)/(3)) or the user's own
    // synchronisation, so relaxed is enough.
    void mark_held(SlotId id) const noexcept {
      if (track_held) flag(id.position()).store(1, std::memory_order_relaxed);
    }

    /// Clear @id's held flag; false if it was not held. Exactly one of two
    /// threads racing to release the same id (a use-after-free in the caller)
    /// gets true: the transition is one exchange. A load then a store let
    /// both see "held", and the slot was then handed out twice.
    /// Barrier: none beyond the RMW's atomicity (relaxed, see (ar-h1)); a
    /// flag already clear is refused by a plain load, without the RMW.
    bool clear_held(SlotId id) const noexcept {
      if (!track_held) return true;
      auto f = flag(id.position());
      if (ARENAKIT_UNLIKELY(f.load(std::memory_order_relaxed) == 0)) return false;
      // (ar-h2) relaxed exchange: the winner is decided by the RMW's
      // atomicity alone; what the releaser wrote to the slot reaches the
      // next owner through the bitmap release (BitmapSlots (3)) after it.
      const std::uint8_t was = f.exchange(0, std::memory_order_relaxed);
      ARENAKIT_TEST_PAUSE(arena_release_held_read);
      return was != 0;
    }
  };

  struct ShardView {
    std::byte* cpu;
    std::uint64_t dev;
  };

  struct Shard {
    explicit Shard(std::uint32_t count) noexcept : slots(count) {}
    Region region;
    mapping_type mapping{};
    // Partial-stack link and membership; written by claimers and releasers.
    alignas(cache_line_size) std::atomic<std::uint32_t> next_partial{none};
    std::atomic<bool> listed{false};
    SlotsT slots;
  };

  struct Sink {
    Arena* arena;
    void operator()(SlotId id) const noexcept { arena->return_shared(&id, 1); }
  };

  static constexpr std::uint32_t none = 0xFFFF'FFFFu;
  static constexpr std::uint32_t claim_chunk = 64;

  // --- configuration ----------------------------------------------------------

  std::error_code configure(const ArenaConfig& c) noexcept {
    teardown_report_ = c.teardown_report;
    if (c.shard_size < 64 || !std::has_single_bit(c.shard_size) || c.slot_size < 8 ||
        c.slot_size > c.shard_size)
      return errc::invalid_config;
    // A deferred reclaimer keeps its link inside the released slot.
    if constexpr (requires { ReclaimerT::min_slot_size; }) {
      if (c.slot_size < ReclaimerT::min_slot_size) return errc::invalid_config;
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
    held_shift_ = std::max(index_bits_, 6u); // at least one 64-byte line per shard
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
    max_shards_ = static_cast<std::uint32_t>(limit);
    tag_ = c.tag != 0 ? c.tag : detail::next_arena_tag();
    layout_ = Layout{nullptr, index_bits_, held_shift_, index_mask_, slots_per_shard_, tag_,
                     c.release_check == ReleaseCheck::held_flags};
    if (!shards_.allocate(limit) || !views_.allocate(limit) ||
        !held_.allocate(static_cast<std::size_t>(limit) << held_shift_) ||
        !cpu_index_.allocate(limit, shard_shift_) || !dev_index_.allocate(limit, shard_shift_))
      return errc::out_of_memory;
    layout_.held = held_.data();
    return {};
  }

  // --- ids and validation ---------------------------------------------------------

  SlotId make_id(std::uint32_t shard, std::uint32_t index) const noexcept {
    return SlotId{(std::uint32_t{tag_} << slot_id_position_bits) | (shard << index_bits_) | index};
  }

  Validity classify(SlotId id) const noexcept {
    // (7) acquire pairs with (8) in add_shard_locked(): a shard we count is
    // fully built.
    return layout_.classify(id, shard_count_.load(std::memory_order_acquire));
  }

  void mark_held(SlotId id) noexcept { layout_.mark_held(id); }

  bool take_held(SlotId id) noexcept {
    return take_held(layout_, id, shard_count_.load(std::memory_order_acquire)); // (7): pairs with (8)
  }

  /// Validate @id against @shards (a shard_count_ the caller loaded) and clear
  /// its held flag; count and refuse anything else.
  bool take_held(const Layout& layout, SlotId id, std::uint32_t shards) noexcept {
    switch (layout.classify(id, shards)) {
    case Validity::foreign:
      refused_foreign_.fetch_add(1, std::memory_order_relaxed); // statistics only
      return false;
    case Validity::out_of_range:
      refused_range_.fetch_add(1, std::memory_order_relaxed); // statistics only
      return false;
    case Validity::valid: break;
    }
    if (ARENAKIT_UNLIKELY(!layout.clear_held(id))) {
      refused_not_held_.fetch_add(1, std::memory_order_relaxed); // statistics only
      return false;
    }
    return true;
  }

  template <class Base>
  SlotId locate(const detail::ShardIndex& index, std::uint64_t a, Base base) const noexcept {
    const std::uint32_t shard = index.find(a, [&](std::uint32_t s) {
      const std::uint64_t b = base(s);
      return a >= b && a - b < slots_per_shard_ * slot_size_;
    });
    if (shard == detail::ShardIndex::none) return {};
    return make_id(shard, static_cast<std::uint32_t>((a - base(shard)) / slot_size_));
  }

  // --- the partial stack ------------------------------------------------------------

  static std::uint64_t pack(std::uint32_t tag, std::uint32_t shard) noexcept {
    return (std::uint64_t{tag} << 32) | shard;
  }

  void push_partial(std::uint32_t shard) noexcept {
    Shard* s = shards_[shard];
    std::uint64_t head = head_.load(std::memory_order_relaxed);
    do {
      s->next_partial.store(static_cast<std::uint32_t>(head), std::memory_order_relaxed);
      // (9) release pairs with (10): a claimer that sees this head sees the
      // shard's link and everything add_shard_locked() built.
    } while (!head_.compare_exchange_weak(head, pack(static_cast<std::uint32_t>(head >> 32) + 1, shard),
                                          std::memory_order_release, std::memory_order_relaxed));
  }

  /// Make @shard findable unless it already is.
  void list_shard(std::uint32_t shard) noexcept {
    // (6) seq_cst: with (5) in pop_full(), either this exchange sees the
    // popper's `false` or the popper sees our free-count increment.
    if (!shards_[shard]->listed.exchange(true, std::memory_order_seq_cst)) push_partial(shard);
  }

  /// The top shard @shard was found full: take it off the stack.
  void pop_full(std::uint64_t head, std::uint32_t shard) noexcept {
    Shard* s = shards_[shard];
    const std::uint32_t next = s->next_partial.load(std::memory_order_relaxed);
    // acq_rel: acquire the pushes we pass over, release for the next popper.
    if (!head_.compare_exchange_strong(head, pack(static_cast<std::uint32_t>(head >> 32) + 1, next),
                                       std::memory_order_acq_rel, std::memory_order_relaxed))
      return; // someone else moved the head: the caller retries
    // (5) seq_cst store, then the seq_cst load inside free_count(): pairs
    // with (6) and with the seq_cst increment in SlotAllocator::release().
    s->listed.store(false, std::memory_order_seq_cst);
    if (s->slots.free_count() != 0) list_shard(shard);
  }

  /**
   * claim_shared - take between @min and @max slots from the shards.
   * Grows (one shard at a time) only while fewer than @min were found.
   * Return: how many ids were written to @out (less than @min only at the
   * limit or when growth failed).
   */
  std::uint32_t claim_shared(SlotId* out, std::uint32_t min, std::uint32_t max) noexcept {
    std::uint32_t got = 0;
    std::uint32_t index[claim_chunk];
    while (got < max) {
      // (10) acquire pairs with (9).
      const std::uint64_t head = head_.load(std::memory_order_acquire);
      const auto top = static_cast<std::uint32_t>(head);
      if (top == none) {
        if (got >= min || !grow()) break;
        continue;
      }
      Shard* s = shards_[top];
      const std::uint32_t want = std::min(max - got, claim_chunk);
      const std::uint32_t k = s->slots.claim(index, want);
      if (k == 0) {
        pop_full(head, top);
        continue;
      }
      for (std::uint32_t i = 0; i < k; ++i) out[got + i] = make_id(top, index[i]);
      got += k;
    }
    if (got != 0) note_claimed(got);
    return got;
  }

  void note_claimed(std::uint32_t n) noexcept {
    // (ar-c2) After the bitmap claim (acquire, BitmapSlots (2)), so it is
    // ordered after the decrement (ar-c1) of whoever freed the slots.
    // Relaxed: a count; the peak below is a max over these values.
    const std::uint64_t now = claimed_.fetch_add(n, std::memory_order_relaxed) + n;
    std::uint64_t peak = high_water_.load(std::memory_order_relaxed);
    while (now > peak &&
           !high_water_.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
    }
  }

  /// Give slots (not held by users) back to their shards.
  void return_shared(const SlotId* ids, std::uint32_t n) noexcept {
    if (n == 0) return;
    // (ar-c1) Off the count first, then into the bitmaps. The bitmap release
    // below is a release RMW (BitmapSlots (3)/(3')), so this decrement
    // happens-before the claim that takes the slot again and its increment
    // (ar-c2): claimed_ never counts a slot twice, and the high-water mark
    // built from it never passes the slots that exist. Relaxed: a count.
    claimed_.fetch_sub(n, std::memory_order_relaxed);
    std::uint32_t refused = 0;
    for (std::uint32_t i = 0; i < n; ++i) {
      const std::uint32_t pos = ids[i].position();
      const std::uint32_t shard = pos >> index_bits_;
      const SlotRelease r = shards_[shard]->slots.release(pos & index_mask_);
      if (r == SlotRelease::was_full) list_shard(shard);
      refused += r == SlotRelease::refused ? 1u : 0u;
    }
    ARENAKIT_TEST_PAUSE(arena_return_bitmap_done);
    if (ARENAKIT_UNLIKELY(refused != 0)) {
      // Only ReleaseCheck::range_only lets a double release reach a bitmap
      // (held flags refuse it first): the bitmap refuses it and changes
      // nothing, so the count goes back up by what it did not take.
      claimed_.fetch_add(refused, std::memory_order_relaxed);         // a count, as (ar-c1)
      refused_not_held_.fetch_add(refused, std::memory_order_relaxed); // statistics only
    }
  }

  void retire(SlotId id) noexcept {
    Sink sink{this};
    reclaimer_.retire(id, pointer(id), sink);
  }

  // --- growth (slow path, under growth_mutex_) -----------------------------------

  bool grow() noexcept {
    std::lock_guard lock(growth_mutex_);
    // Another thread may have added (or a release re-listed) a shard while
    // we waited: go back and claim from it.
    if (static_cast<std::uint32_t>(head_.load(std::memory_order_acquire)) != none) return true; // pairs with (9): a pushed shard is built
    const std::error_code ec = add_shard_locked();
    // The limit is not a failure: limit_hits counts it and acquire's empty id says it.
    if (ec && ec != make_error_code(errc::limit_reached)) last_growth_error_ = ec;
    return !ec;
  }

  std::error_code add_shard_locked() noexcept {
    const std::uint32_t shard = shard_count_.load(std::memory_order_relaxed);
    if (shard >= max_shards_) {
      limit_hits_.fetch_add(1, std::memory_order_relaxed); // statistics only
      return errc::limit_reached;
    }
    Result<Region> region = source_.allocate(shard_size_, shard_size_);
    if (!region) {
      growth_failures_.fetch_add(1, std::memory_order_relaxed); // statistics only
      return region.error();
    }
    Result<mapping_type> mapping = mapper_.map(*region);
    if (!mapping) {
      source_.deallocate(*region);
      growth_failures_.fetch_add(1, std::memory_order_relaxed); // statistics only
      return mapping.error();
    }
    auto* s = new (std::nothrow) Shard(slots_per_shard_);
    if (s == nullptr || !s->slots.ready()) {
      delete s;
      mapper_.unmap(*mapping);
      source_.deallocate(*region);
      growth_failures_.fetch_add(1, std::memory_order_relaxed); // statistics only
      return errc::out_of_memory;
    }
    s->region = *region;
    s->mapping = *mapping;
    const std::uint64_t dev = mapper_.device_address(s->mapping);
    views_[shard] = ShardView{region->data, dev};
    shards_[shard] = s;
    // A device-only shard has no CPU address: from_pointer() must never find it.
    if (region->data != nullptr)
      cpu_index_.insert(reinterpret_cast<std::uint64_t>(region->data), shard_size_, shard);
    dev_index_.insert(dev, shard_size_, shard);
    mappings_.fetch_add(1, std::memory_order_relaxed); // statistics only
    growths_.fetch_add(1, std::memory_order_relaxed);  // statistics only
    if (region->huge_page_fallback) fallbacks_.fetch_add(1, std::memory_order_relaxed);
    // (8) release pairs with (7): the shard is built before it is counted.
    shard_count_.store(shard + 1, std::memory_order_release);
    s->listed.store(true, std::memory_order_relaxed); // published by (9)
    push_partial(shard);
    return {};
  }

  std::error_code release_memory_impl(TeardownReport& report) noexcept {
    reclaim();
    const std::uint32_t shards = shard_count_.load(std::memory_order_acquire); // (7): pairs with (8)
    bool caches_alive;
    {
      std::lock_guard lock(cache_mutex_);
      caches_alive = caches_ != nullptr;
    }
    // Decided from the bitmaps, the state every hand-out goes through, not
    // from a counter: a slot held by a user, parked in a cache or waiting in
    // the reclaimer is not free in its shard's allocator.
    std::uint64_t out = 0;
    for (std::uint32_t i = 0; i < shards; ++i) out += slots_per_shard_ - shards_[i]->slots.free_count();
    report.slots_outstanding = out;
    report.caches_alive = caches_alive;
    if (out != 0 || caches_alive) {
      report.shards_kept = shards;
      report.bytes_kept = std::uint64_t{shards} * shard_size_;
      report.clean = false;
      return errc::slots_outstanding;
    }
    for (std::uint32_t i = 0; i < shards; ++i) {
      Shard* s = shards_[i];
      mapper_.unmap(s->mapping);
      source_.deallocate(s->region);
      delete s;
      shards_[i] = nullptr;
      mappings_.fetch_sub(1, std::memory_order_relaxed); // statistics only
    }
    // Start over with empty tables: ids of the old shards are now out of range.
    shard_count_.store(0, std::memory_order_release); // teardown, no concurrent callers: pairs with (7) for later growth
    head_.store(pack(static_cast<std::uint32_t>(head_.load(std::memory_order_relaxed) >> 32) + 1, none),
                std::memory_order_release); // pairs with (10)
    cpu_index_.clear();
    dev_index_.clear();
    report.clean = true;
    return {};
  }

  // Read-mostly geometry.
  SourceT source_;
  MapperT mapper_;
  ReclaimerT reclaimer_;
  std::error_code error_;
  TeardownReport* teardown_report_ = nullptr;
  std::size_t slot_size_ = 0;
  std::size_t shard_size_ = 0;
  unsigned shard_shift_ = 0;
  unsigned index_bits_ = 0;
  unsigned held_shift_ = 6;
  std::uint32_t index_mask_ = 0;
  std::uint32_t slots_per_shard_ = 0;
  std::uint32_t max_shards_ = 0;
  std::uint8_t tag_ = 0;
  detail::VirtualArray<Shard*> shards_;
  detail::VirtualArray<ShardView> views_;
  detail::VirtualArray<std::uint8_t> held_;
  Layout layout_;
  detail::ShardIndex cpu_index_;
  detail::ShardIndex dev_index_;

  // Written on the shared path.
  alignas(cache_line_size) std::atomic<std::uint64_t> head_{pack(0, none)};
  alignas(cache_line_size) std::atomic<std::uint32_t> shard_count_{0};
  alignas(cache_line_size) std::atomic<std::uint64_t> claimed_{0};
  std::atomic<std::uint64_t> high_water_{0};
  std::atomic<std::uint64_t> slow_hits_{0};

  // Statistics written off the fast path.
  alignas(cache_line_size) std::atomic<std::uint64_t> mappings_{0};
  std::atomic<std::uint64_t> growths_{0};
  std::atomic<std::uint64_t> refused_range_{0};
  std::atomic<std::uint64_t> refused_foreign_{0};
  std::atomic<std::uint64_t> refused_not_held_{0};
  std::atomic<std::uint64_t> fallbacks_{0};
  std::atomic<std::uint64_t> growth_failures_{0};
  std::atomic<std::uint64_t> limit_hits_{0};
  std::atomic<std::uint64_t> retired_fast_hits_{0};

  mutable std::mutex growth_mutex_;
  std::error_code last_growth_error_; // guarded by growth_mutex_
  mutable std::mutex cache_mutex_;
  Cache* caches_ = nullptr;

  friend class Cache;
};

/**
 * Arena::Cache - an owner-thread cache of free slots.
 *
 * One thread owns a cache: acquire() and release() on it are plain loads and
 * stores (no atomic RMW); the cache refills `batch` slots from the shards when
 * empty and flushes `batch` back when full. Any thread may release into any
 * cache it owns: a slot acquired through one cache can be released through
 * another, or through Arena::release(). Destroy caches before their arena;
 * destruction flushes everything back.
 *
 * Counters stay exact: the cache's count and hits are relaxed atomics written
 * only by the owner (plain stores on x86), read by Arena::counters().
 */
template <class MapperT, class SlotsT, class ReclaimerT, class SourceT>
class Arena<MapperT, SlotsT, ReclaimerT, SourceT>::Cache {
public:
  static constexpr std::uint32_t capacity = 64;
  static constexpr std::uint32_t default_batch = 32;

  explicit Cache(Arena& arena, std::uint32_t batch = default_batch) noexcept
      : arena_(&arena), batch_(std::clamp<std::uint32_t>(batch, 1, capacity / 2)) {
    std::lock_guard lock(arena_->cache_mutex_);
    next_ = arena_->caches_;
    if (next_ != nullptr) next_->prev_ = this;
    arena_->caches_ = this;
  }
  Cache(const Cache&) = delete;
  Cache& operator=(const Cache&) = delete;

  ~Cache() {
    flush();
    std::lock_guard lock(arena_->cache_mutex_);
    if (prev_ != nullptr) prev_->next_ = next_;
    else arena_->caches_ = next_;
    if (next_ != nullptr) next_->prev_ = prev_;
    arena_->retired_fast_hits_.fetch_add(fast_hits_.load(std::memory_order_relaxed),
                                         std::memory_order_relaxed);
  }

  /// One slot, or the empty id at the arena's limit.
  ARENAKIT_ALWAYS_INLINE SlotId acquire() noexcept {
    std::uint32_t n = count_.load(std::memory_order_relaxed);
    if (ARENAKIT_UNLIKELY(n == 0)) {
      n = refill(1);
      if (n == 0) return {};
    } else {
      bump_fast_hits(1);
    }
    const SlotId id = ids_[--n];
    count_.store(n, std::memory_order_relaxed);
    arena_->mark_held(id);
    return id;
  }

  /// Same contract as Arena::release().
  ARENAKIT_ALWAYS_INLINE bool release(SlotId id) noexcept {
    if (!arena_->take_held(id)) return false;
    if constexpr (!ReclaimerT::immediate) {
      arena_->retire(id);
    } else {
      std::uint32_t n = count_.load(std::memory_order_relaxed);
      if (ARENAKIT_UNLIKELY(n == capacity)) n = flush_some(batch_);
      ids_[n] = id;
      count_.store(n + 1, std::memory_order_relaxed);
    }
    return true;
  }

  /// Exactly @n slots or none (@n at most capacity); returns @n or 0.
  std::uint32_t acquire_bulk(SlotId* out, std::uint32_t n) noexcept {
    if (n > capacity) return arena_->acquire_bulk(out, n);
    std::uint32_t have = count_.load(std::memory_order_relaxed);
    if (have < n) {
      have = refill(n - have);
      if (have < n) return 0;
    } else {
      bump_fast_hits(n);
    }
    have -= n;
    const Layout layout = arena_->layout_;
    if (layout.track_held) {
      for (std::uint32_t i = 0; i < n; ++i) {
        out[i] = ids_[have + i];
        layout.mark_held(out[i]);
      }
    } else {
      // A plain loop, not memcpy: the compiler vectorises it inline, where
      // a call would cost more than the copy for a batch of 32.
      for (std::uint32_t i = 0; i < n; ++i) out[i] = ids_[have + i];
    }
    count_.store(have, std::memory_order_relaxed);
    return n;
  }

  /// Same contract as Arena::release_bulk().
  std::uint32_t release_bulk(const SlotId* ids, std::uint32_t n) noexcept {
    if constexpr (!ReclaimerT::immediate) {
      std::uint32_t accepted = 0;
      for (std::uint32_t i = 0; i < n; ++i) accepted += release(ids[i]) ? 1u : 0u;
      return accepted;
    } else {
      // (7) once per batch: ids of shards counted now stay valid.
      const std::uint32_t shards = arena_->shard_count_.load(std::memory_order_acquire); // (7): pairs with (8)
      const Layout layout = arena_->layout_;
      std::uint32_t accepted = 0;
      if (!layout.track_held && all_in_range(layout, ids, n, shards)) {
        // Every id is ours and in range: a copy (the common case).
        while (n != 0) {
          const std::uint32_t chunk = std::min(n, capacity);
          std::uint32_t have = count_.load(std::memory_order_relaxed);
          if (have + chunk > capacity) have = flush_some(have + chunk - capacity);
          for (std::uint32_t i = 0; i < chunk; ++i) ids_[have + i] = ids[i];
          count_.store(have + chunk, std::memory_order_relaxed);
          accepted += chunk;
          ids += chunk;
          n -= chunk;
        }
        return accepted;
      }
      while (n != 0) {
        const std::uint32_t chunk = std::min(n, capacity);
        std::uint32_t have = count_.load(std::memory_order_relaxed);
        if (have + chunk > capacity) have = flush_some(have + chunk - capacity);
        std::uint32_t kept = have;
        for (std::uint32_t i = 0; i < chunk; ++i) {
          ids_[kept] = ids[i];
          kept += arena_->take_held(layout, ids[i], shards) ? 1u : 0u;
        }
        count_.store(kept, std::memory_order_relaxed);
        accepted += kept - have;
        ids += chunk;
        n -= chunk;
      }
      return accepted;
    }
  }

  /// Give every cached slot back to the shards.
  void flush() noexcept { flush_some(count_.load(std::memory_order_relaxed)); }

  std::uint32_t cached() const noexcept { return count_.load(std::memory_order_relaxed); }
  Arena& arena() const noexcept { return *arena_; }

private:
  /// Branch-free over the batch so the compiler can vectorise it.
  static bool all_in_range(const Layout& layout, const SlotId* ids, std::uint32_t n,
                           std::uint32_t shards) noexcept {
    const std::uint32_t tag_bits = std::uint32_t{layout.tag} << slot_id_position_bits;
    const std::uint32_t limit = shards << layout.index_bits;
    const bool dense = layout.slots_per_shard == layout.index_mask + 1;
    std::uint32_t bad = 0;
    for (std::uint32_t i = 0; i < n; ++i) {
      const std::uint32_t raw = ids[i].raw;
      bad |= ((raw & 0xFF00'0000u) ^ tag_bits) | static_cast<std::uint32_t>((raw & 0x00FF'FFFFu) >= limit);
    }
    return bad == 0 && dense; // sparse index spaces take the per-id path
  }

  void bump_fast_hits(std::uint32_t n) noexcept {
    fast_hits_.store(fast_hits_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }

  /// Top up to at least @need (and up to batch beyond what is held); grows
  /// the arena only if the shards have fewer than @need free.
  ARENAKIT_NOINLINE std::uint32_t refill(std::uint32_t need) noexcept {
    const std::uint32_t have = count_.load(std::memory_order_relaxed);
    const std::uint32_t room = capacity - have;
    const std::uint32_t want = std::min(room, std::max(need, batch_));
    const std::uint32_t got = arena_->claim_shared(ids_ + have, need, want);
    arena_->slow_hits_.fetch_add(1, std::memory_order_relaxed); // statistics only
    count_.store(have + got, std::memory_order_relaxed);
    return have + got;
  }

  ARENAKIT_NOINLINE std::uint32_t flush_some(std::uint32_t k) noexcept {
    const std::uint32_t n = count_.load(std::memory_order_relaxed);
    k = std::min(k, n);
    arena_->return_shared(ids_ + (n - k), k);
    count_.store(n - k, std::memory_order_relaxed);
    return n - k;
  }

  Arena* arena_;
  std::uint32_t batch_;
  std::atomic<std::uint32_t> count_{0};
  std::atomic<std::uint64_t> fast_hits_{0};
  Cache* next_ = nullptr;
  Cache* prev_ = nullptr;
  SlotId ids_[capacity];

  friend class Arena;
};

} // namespace arenakit
