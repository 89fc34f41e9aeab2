// SPDX-License-Identifier: MIT
/**
 * @file arena/arena.hpp
 * @brief Arena<Mapper, SlotAllocator, Reclaimer, MemorySource, ReleaseCheck>:
 *        equal-size slots carved from mapped shards, one mapping per shard.
 *
 * Contract (the design, with the algorithms, is in docs/arena.md)
 * - A shard is one region from the MemorySource plus one mapping from the
 *   Mapper, cut into `shard_size / slot_size` slots tracked by one
 *   SlotAllocator. A 32-bit SlotId names a slot and converts to and from
 *   pointer, offset and device address in O(1).
 * - Arena::Cache (one owner thread) is the fast path: plain loads and stores,
 *   batched refills and flushes. Arena::acquire / release and the bulk forms
 *   serve any thread: lock-free, blocking only to grow (a mutex around the
 *   source and the mapper).
 * - Finding a free slot is O(1) however many shards there are: shards with
 *   room sit on lock-free partial lists, one per group of threads.
 * - A release of an id out of range, of another arena, or not held is
 *   refused, counted by reason, and changes nothing; with HeldFlagsCheck (the
 *   default) exactly one of two racing releases of one id is accepted.
 *   PlainHeldFlagsCheck and RangeOnlyCheck trade that for fewer locked
 *   instructions (see ReleaseCheck).
 * - Destroying an arena with slots still held never unmaps memory under a
 *   user: the shards stay, and ArenaConfig::teardown_report says so. Caches
 *   must be destroyed before their arena.
 */
#pragma once

#include <arenakit/arena/config.hpp>
#include <arenakit/arena/impl/layout.hpp>
#include <arenakit/arena/impl/shard.hpp>
#include <arenakit/arena/policy.hpp>
#include <arenakit/detail/tagged_index_stack.hpp>
#include <arenakit/detail/thread_number.hpp>
#include <arenakit/slots/bitmap.hpp>
#include <arenakit/config.hpp>
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
#include <arenakit/concepts/counted_slot_allocator.hpp>
#include <arenakit/slot_id.hpp>

#include <algorithm>
#include <atomic>
#include <bit>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <new>
#include <system_error>
#include <type_traits>
#include <utility>

namespace arenakit {

template <class MapperT = NoopMapper, class SlotsT = BitmapSlots,
          class ReclaimerT = ImmediateReclaimer, class SourceT = MmapSource,
          class CheckT = HeldFlagsCheck>
class Arena {
  static_assert(std::is_same_v<CheckT, HeldFlagsCheck> || std::is_same_v<CheckT, PlainHeldFlagsCheck> ||
                    std::is_same_v<CheckT, RangeOnlyCheck>,
                "arenakit: an Arena's release check is HeldFlagsCheck, PlainHeldFlagsCheck or RangeOnlyCheck");
  static_assert(check_mapper<MapperT>());
  static_assert(check_slot_allocator<SlotsT>());
  static_assert(check_reclaimer<ReclaimerT>());
  static_assert(check_memory_source<SourceT>());
  static_assert(CheckT::value != ReleaseCheck::range_only || ReclaimerT::immediate,
                "arenakit: RangeOnlyCheck needs an immediate reclaimer: a double release, which it does not catch, "
                "would link the slot into a deferred or epoch reclaimer's list twice (see ReleaseCheck::range_only)");
  struct Sink; // where a reclaimer hands slots back (defined below)

public:
  using mapper_type = MapperT;
  using slots_type = SlotsT;
  using reclaimer_type = ReclaimerT;
  using source_type = SourceT;
  using check_type = CheckT;
  /// What a release verifies (see ReleaseCheck); fixed by the type.
  static constexpr ReleaseCheck release_check = CheckT::value;
  using mapping_type = typename MapperT::mapping_type;
  class Cache;

  /// The same arena with some roles changed, named (see arena/policy.hpp):
  /// `Arena<>::with<policy::reclaimer<EpochReclaimer>>`.
  template <class... Policies>
  using with = Arena<detail::pick_policy_t<policy::mapper, MapperT, Policies...>,
                     detail::pick_policy_t<policy::slots, SlotsT, Policies...>,
                     detail::pick_policy_t<policy::reclaimer, ReclaimerT, Policies...>,
                     detail::pick_policy_t<policy::source, SourceT, Policies...>,
                     detail::pick_policy_t<policy::release_check, CheckT, Policies...>>;

  /**
   * Arena - configure, and create `config.initial_shards` shards.
   * @config:   geometry and limits; an invalid one is reported by error()
   * @policies: instances of the mapper, reclaimer and memory source, matched
   *            by type, in any order, each at most once; a role not passed is
   *            default-constructed (a policy without a default must be passed).
   *
   * Blocking: calls the source and the mapper for the initial shards.
   */
  template <class... Policies>
    requires((detail::count_of<MapperT, Policies...> + detail::count_of<ReclaimerT, Policies...> +
              detail::count_of<SourceT, Policies...>) == sizeof...(Policies))
  explicit Arena(const ArenaConfig& config, Policies&&... policies) noexcept;

  /**
   * create - an arena on the heap, or why set-up failed: the library's
   * fallible-construction idiom (docs/vocabulary.md). Same arguments as the
   * constructor, which stays for placing an arena in place (a member, a
   * static) and reports through error().
   * Return: errc::out_of_memory if the object cannot be allocated, else the
   * constructor's error(); on failure nothing is left allocated or mapped.
   */
  template <class... Policies>
    requires std::is_constructible_v<Arena, const ArenaConfig&, Policies&&...>
  static Result<std::unique_ptr<Arena>> create(const ArenaConfig& config, Policies&&... policies) noexcept {
    std::unique_ptr<Arena> arena(new (std::nothrow) Arena(config, std::forward<Policies>(policies)...));
    if (!arena) return errc::out_of_memory;
    if (arena->error()) return arena->error();
    return arena;
  }

  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  /// Gives every shard back, unless a slot is still out: the shards then
  /// stay, never pulled from under a user (ArenaConfig::teardown_report).
  ~Arena();

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

  /**
   * acquire - one slot, from any thread.
   * Return: its id, or the empty id when the limit is reached or growth failed
   * (last_growth_error() says why).
   * Progress: lock-free while a shard has room; blocks (the growth mutex, the
   * source, the mapper) only to add a shard.
   * Ordering: acquire on success: the previous holder's writes to the slot
   * happen-before ours (the bitmap claim pairs with the release that freed it).
   */
  ARENAKIT_ALWAYS_INLINE SlotId acquire() noexcept {
    return claim_one(); // marks the held flag (ar-h1) of the slot it claims
  }

  /**
   * acquire_bulk - exactly @n slots or none, from any thread.
   * Return: @n, or 0 (nothing taken) if the arena cannot supply @n.
   * Progress and ordering: as acquire(), for each slot.
   */
  std::uint32_t acquire_bulk(SlotId* out, std::uint32_t n) noexcept;

  /**
   * release - give @id back, from any thread.
   * Return: false (counted by reason; nothing changes) for an id that is out
   * of range, of another arena, or not held; of two threads releasing the
   * same id at once, exactly one gets true.
   * Progress: lock-free. A slot from Arena::acquire() on an arena with
   * ImmediateReclaimer: one bitmap RMW, which is also the held check (see
   * release_direct()). Otherwise one exchange on the held flag, then the
   * reclaimer: a bitmap RMW for ImmediateReclaimer, a list push for a
   * deferred one.
   * Ordering: release: our writes to the slot happen-before its next
   * acquirer's use of it.
   */
  ARENAKIT_ALWAYS_INLINE bool release(SlotId id) noexcept
    requires(!CountedSlotAllocator<SlotsT>) {
    if constexpr (direct_release) {
      return release_direct(id);
    } else {
      if (!take_held(id)) return false;
      retire(id);
      return true;
    }
  }

  /// Releases each id, as release(); returns how many were accepted
  /// (refusals are counted and skipped: one bad id does not lose the good
  /// ones). Progress and ordering: as release(), for each id.
  std::uint32_t release_bulk(const SlotId* ids, std::uint32_t n) noexcept
    requires(!CountedSlotAllocator<SlotsT>);

  // --- references, when the slot allocator is counted (arena/impl/counted.hpp)

  /// Drops one reference to @id; the last one retires the slot through the
  /// reclaimer. False (counted by reason; nothing changes) for an id out of
  /// range, of another arena, or holding no reference. Lock-free.
  bool release(SlotId id) noexcept
    requires CountedSlotAllocator<SlotsT>;
  /// release() of each id; returns how many were accepted.
  std::uint32_t release_bulk(const SlotId* ids, std::uint32_t n) noexcept
    requires CountedSlotAllocator<SlotsT>;
  /// Adds a reference to a slot that holds one; false (counted) otherwise.
  bool retain(SlotId id) noexcept
    requires CountedSlotAllocator<SlotsT>;
  /// References @id holds now (0 when free, draining, or not of this arena).
  std::uint32_t refs(SlotId id) const noexcept
    requires CountedSlotAllocator<SlotsT>;

  /// Makes deferred releases reusable now (a no-op for ImmediateReclaimer);
  /// returns how many. The reclaimer's owner only (see its header); progress
  /// is the reclaimer's (a ReleaseList drain is wait-free but for the
  /// returns it makes).
  std::size_t reclaim() noexcept {
    Sink sink{this};
    return reclaimer_.reclaim(sink);
  }

  /// park - reclaim, then say whether the owner may sleep (owner only):
  /// true when a later release is sure to call the list's Waker, false when
  /// one raced in. Same contract and barriers as ReleaseList::park() (for a
  /// DeferredReclaimer over a list that wakes); take the Doorbell snapshot first.
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
  std::byte* pointer(SlotId id) const noexcept;
  /// CPU address, or nullptr if @id does not name a slot of this arena.
  std::byte* checked_pointer(SlotId id) const noexcept { return owns(id) ? pointer(id) : nullptr; }

  std::uint64_t device_address(SlotId id) const noexcept;

  /// Offset of the slot in the arena's logical address space
  /// (shard * shard_size + index * slot_size).
  std::uint64_t offset(SlotId id) const noexcept;

  SlotId from_offset(std::uint64_t off) const noexcept;

  /// The slot containing @p (interior pointers map to their slot), or empty.
  SlotId from_pointer(const void* p) const noexcept;

  /// The slot containing device address @a, or empty.
  SlotId from_device_address(std::uint64_t a) const noexcept;

  /// (address, length, mapping) for posting @id to a device.
  SlotBuffer<mapping_type> buffer(SlotId id) const noexcept;

  /// True if @id names a slot of this arena (held or not).
  bool owns(SlotId id) const noexcept { return classify(id) == Validity::valid; }
  /// True if @id names a slot of this arena that a user holds (with
  /// ReleaseCheck::range_only nothing tracks holders: same as owns()).
  bool is_held(SlotId id) const noexcept {
    if constexpr (!track_held) return owns(id);
    // Relaxed: a snapshot for the caller's own checks; it orders nothing and
    // pairs with nothing (a concurrent release may clear it right after).
    return owns(id) && (layout_.flag(id.position()).load(std::memory_order_relaxed) != detail::HeldFlag::free ||
                        layout_.bit_held(id.position()));
  }

  // --- geometry and counters --------------------------------------------------

  std::size_t slot_size() const noexcept { return slot_size_; }
  std::size_t shard_size() const noexcept { return shard_size_; }
  std::uint32_t slots_per_shard() const noexcept { return slots_per_shard_; }
  std::uint32_t max_shards() const noexcept { return max_shards_; }
  std::uint8_t tag() const noexcept { return tag_; }
  ReclaimerT& reclaimer() noexcept { return reclaimer_; }
  const MapperT& mapper() const noexcept { return mapper_; }

  ArenaCounters counters() const noexcept;

  /// release_memory - unmap and free every shard, if no slot is out. Runs
  /// the reclaimer first; refuses with errc::slots_outstanding, changing
  /// nothing, while a user holds a slot or a cache is alive. Not concurrently
  /// with other calls on this arena; the arena can grow again afterwards.
  std::error_code release_memory() noexcept {
    TeardownReport report;
    return release_memory_impl(report);
  }

  /// shrink - give idle shards (whole extents) back per @policy: unmap, then
  /// free. A shard goes only when no slot is held, cached or waiting in the
  /// reclaimer; why that is safe: arena/impl/shrink.hpp. Never on the acquire
  /// / release paths. Blocking: the growth lock, O(shards). Any thread.
  /// Needs held flags and an uncounted allocator.
  ShrinkResult shrink(const ShrinkPolicy& policy = {}) noexcept
    requires(CheckT::value != ReleaseCheck::range_only && !CountedSlotAllocator<SlotsT>);

private:
  using Validity = detail::SlotValidity;
  using Layout = detail::SlotLayout;
  static constexpr bool track_held = CheckT::value != ReleaseCheck::range_only;
  /// A cache clears a held flag with a plain load and store (no RMW); not
  /// over a non-immediate reclaimer (ReleaseCheck::held_flags_plain).
  static constexpr bool plain_held = CheckT::value == ReleaseCheck::held_flags_plain && ReclaimerT::immediate;
  /// Arena::acquire() marks `held_direct` and Arena::release() of such a
  /// slot lets the bitmap decide (see release_direct()): needs held flags,
  /// releases that go straight to the bitmap, and an uncounted allocator
  /// (a counted release drops a reference first: arena/impl/counted.hpp).
  static constexpr bool direct_release =
      track_held && ReclaimerT::immediate && !CountedSlotAllocator<SlotsT>;

  using ShardView = detail::ArenaShardView;
  using Shard = detail::ArenaShard<mapping_type, SlotsT>;

  struct Sink {
    Arena* arena;
    void operator()(SlotId id) const noexcept { arena->return_shared(&id, 1); }
  };

  static constexpr std::uint32_t none = detail::TaggedIndexStack::none;
  static constexpr std::uint32_t claim_chunk = 64;
  /// Partial lists (a power of two): threads take their list round-robin at
  /// their first claim (detail::thread_number()).
  static constexpr std::uint32_t partial_lists = 4;

  // --- configuration ----------------------------------------------------------

  std::error_code configure(const ArenaConfig& c) noexcept;

  // --- ids and validation ---------------------------------------------------------

  SlotId make_id(std::uint32_t shard, std::uint32_t index) const noexcept {
    return SlotId{tag_base_ | (shard << index_bits_) | index};
  }

  Validity classify(SlotId id) const noexcept {
    // (ar-7) acquire pairs with (ar-8) in add_shard_locked(): a shard we count is
    // fully built.
    return layout_.classify(id, hot_.shard_count.load(std::memory_order_acquire));
  }

  bool take_held(SlotId id) noexcept {
    return take_held(layout_, id, hot_.shard_count.load(std::memory_order_acquire)); // (ar-7): pairs with (ar-8)
  }

  /// Validate @id against @shards (a hot_.shard_count the caller loaded) and clear
  /// its held flag; count and refuse anything else.
  bool take_held(const Layout& layout, SlotId id, std::uint32_t shards) noexcept;

  // release() when direct_release, its slow halves, and the bitmap release
  // that decides a `held_direct` slot (arena/impl/arena.hpp says how).
  ARENAKIT_ALWAYS_INLINE bool release_direct(SlotId id) noexcept;
  bool release_held(SlotId id) noexcept;
  bool release_refused(SlotId id) noexcept;
  ARENAKIT_ALWAYS_INLINE bool release_to_shard(std::uint32_t pos) noexcept;
  /// After a release that returned a slot (@r from @s's allocator): list
  /// shard @shard again if it was full.
  ARENAKIT_ALWAYS_INLINE void relist(std::uint32_t shard, const Shard& s, SlotRelease r) noexcept;

  /// Count a refused release by reason (`valid` = of ours but not held);
  /// returns false, the refusal.
  bool count_refusal(Validity v) noexcept;
  /// Count the refusal of @id, whose held flag was found clear.
  void count_refusal(SlotId id) noexcept;
  /// Validate @id against @shards; count and refuse a foreign or
  /// out-of-range one (the counted paths: arena/impl/counted.hpp).
  bool admit(SlotId id, std::uint32_t shards) noexcept;

  template <class Base>
  SlotId locate(const detail::ShardIndex& index, std::uint64_t a, Base base) const noexcept;

  // --- the partial stack ------------------------------------------------------------

  /// The partial stack's links: each shard's `next_partial`.
  auto link_of() noexcept {
    return [this](std::uint32_t shard) noexcept -> std::atomic<std::uint32_t>& { return shards_[shard]->next_partial; };
  }

  void push_partial(std::uint32_t shard) noexcept;

  // Listing and claiming (arena/impl/arena.hpp says what each does).
  void list_shard(std::uint32_t shard) noexcept;
  void pop_full(detail::TaggedIndexStack& list, std::uint64_t head, std::uint32_t shard) noexcept;
  template <class Take>
  bool claim_from(detail::TaggedIndexStack& list, Take&& take) noexcept;
  template <class Take>
  bool claim_any(Take&& take, bool may_grow) noexcept;

  /// Between @min and @max slots into @out, growing only while fewer than
  /// @min were found; returns how many. @Draining: see the definition.
  template <bool Draining = false>
  std::uint32_t claim_shared(SlotId* out, std::uint32_t min, std::uint32_t max) noexcept;

  /// claim_shared() of one slot, without the batch machinery: one claim on
  /// a top shard, its held flag marked as Arena::acquire() hands it out.
  /// Empty at the limit or when growth failed.
  ARENAKIT_ALWAYS_INLINE SlotId claim_one() noexcept;
  SlotId claim_one_slow() noexcept;
  /// One slot of @shard into @id; false if the shard is full.
  ARENAKIT_ALWAYS_INLINE bool claim_one_from(std::uint32_t shard, SlotId& id) noexcept;

  /// The calling thread's partial list.
  static std::uint32_t my_list() noexcept { return detail::thread_number() & (partial_lists - 1); }

  /// Slots taken from the first @shards shards (users + caches), summed
  /// from their allocators (see counters()).
  std::uint64_t claimed_slots(std::uint32_t shards) const noexcept;

  /// Raise the sampled high-water mark to @claimed; returns the mark.
  std::uint64_t note_high_water(std::uint64_t claimed) const noexcept;

  /// Give slots (not held by users) back to their shards.
  void return_shared(const SlotId* ids, std::uint32_t n) noexcept;

  void retire(SlotId id) noexcept {
    Sink sink{this};
    reclaimer_.retire(id, pointer(id), sink);
  }

  // --- growth and shrink (slow paths under growth_mutex_: arena/impl/growth.hpp,
  // arena/impl/shrink.hpp, where each says what it does) -------------------------

  bool grow(std::uint32_t list) noexcept;
  std::error_code add_shard_locked(std::uint32_t list) noexcept;
  std::error_code open_extent_locked(std::uint32_t first_shard) noexcept;
  std::error_code map_extent_locked(std::uint32_t count, Region& region, mapping_type& mapping) noexcept;
  void place_shard_locked(std::uint32_t k, Shard* s, const Region& whole, const mapping_type& mapping,
                          std::uint64_t dev, std::size_t offset, bool owner, std::uint32_t list) noexcept;
  bool seal_locked(std::uint32_t k) noexcept;
  void unseal_locked(std::uint32_t k) noexcept;
  std::error_code reopen_vacant_locked(std::uint32_t list) noexcept;
  std::error_code release_memory_impl(TeardownReport& report) noexcept;

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
  std::uint32_t index_mask_ = 0;
  std::uint32_t slots_per_shard_ = 0;
  std::uint32_t max_shards_ = 0;
  std::uint32_t shards_per_extent_ = 1;
  std::uint32_t max_mappings_ = 0; ///< 0: no budget
  std::uint8_t tag_ = 0;
  std::uint32_t tag_base_ = 0; ///< tag_ << slot_id_position_bits: raw id - tag_base_ is the position
  detail::VirtualArray<Shard*> shards_;
  detail::VirtualArray<ShardView> views_;
  detail::VirtualArray<detail::HeldFlag> held_;
  detail::VirtualArray<std::uint64_t> held_words_; ///< the bulk paths' held bitmap (SlotLayout::words)
  Layout layout_;
  detail::ShardIndex cpu_index_;
  detail::ShardIndex dev_index_;

  // The hot lines (arena/impl/shard.hpp).
  using Hot = detail::ArenaHot<partial_lists>;
  static_assert(Hot::layout_holds());
  Hot hot_;

  // Statistics written off the fast path (arena/impl/shard.hpp).
  detail::ArenaStats stats_;

  mutable std::mutex growth_mutex_;
  std::error_code last_growth_error_; // guarded by growth_mutex_
  detail::ArenaOpenExtent<mapping_type> extent_; // guarded by growth_mutex_
  mutable std::mutex cache_mutex_;
  Cache* caches_ = nullptr;

  friend class Cache;
};

} // namespace arenakit

// Out-of-line slow paths and the owner-thread cache: separate headers, one
// concept each, included here so that <arenakit/arena/arena.hpp> gives all.
#include <arenakit/arena/impl/arena.hpp>
#include <arenakit/arena/impl/growth.hpp>
#include <arenakit/arena/impl/counted.hpp>
#include <arenakit/arena/impl/shrink.hpp>
#include <arenakit/arena/cache.hpp>
