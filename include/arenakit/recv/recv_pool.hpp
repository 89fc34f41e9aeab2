// SPDX-License-Identifier: MIT
/**
 * @file recv/recv_pool.hpp
 * @brief RecvPool<Arena, CpuSync>: a fixed set of equal receive buffers taken
 *        from an arena once, named by dense 16-bit buffer ids, charged to
 *        connections under a quota, synced for the CPU over only the bytes
 *        received.
 *
 * Contract
 * - At construction the pool takes N buffers (1..32768) from the arena with
 *   one all-or-nothing acquire_bulk and keeps them for its whole life: they
 *   are mapped once (one mapping per arena shard), never per post. Buffer id
 *   `bid` is dense 0..N-1 and fits the 16 bits of an io_uring buffer id or a
 *   small wr_id field; bid -> SlotId is an array index, SlotId -> bid an array
 *   index over the span of positions the pool holds (both O(1)).
 * - Each buffer is in one state: free (in the pool, ready to post), posted
 *   (given to a device or a provided-buffer ring), held (delivered to the
 *   application, CPU access begun), queued (its give-back is on a release
 *   list, waiting for the owner's drain).
 *       take_for_post: free -> posted       deliver:   posted -> held
 *       return_unused: posted -> free       give_back: held -> free
 *       queue_give_back: held -> queued     drain:     queued -> free
 * - deliver(conn, bid, bytes) begins CPU read access over exactly `bytes`
 *   bytes through SyncT (a no-op for host memory; DMA_BUF_IOCTL_SYNC for a
 *   dma-buf), charges the buffer to the connection and returns a view;
 *   give_back ends the CPU access over the same bytes and makes the buffer
 *   free for re-posting.
 * - Connections: PoolMode::per_connection has exactly one connection (quota
 *   up to N); PoolMode::shared (SRQ-like) has many, each with its own quota
 *   on the buffers it holds. The quota is on delivered, not-yet-given-back
 *   buffers: a device has already filled a buffer when it completes, so a
 *   delivery is never refused for quota; instead deliver() says
 *   Arming::stop when the connection reaches its quota (the caller stops
 *   re-arming that connection's receives) and give_back() says
 *   Arming::resume when it drops below it again.
 * - Bad input (a bid out of range, a buffer given back twice or never
 *   delivered, a delivery of a buffer that was not posted, a SlotId that is
 *   not the pool's, an unknown connection, a length past the buffer) is
 *   refused with a RecvStatus (an std::error_code enum with readable
 *   messages), counted by reason, and changes nothing.
 *
 * Thread roles
 * - The owner (the receive loop, one thread at a time): everything except
 *   the two calls below.
 * - Any thread: queue_give_back(list, bid) (the buffer's own intrusive node
 *   goes on a ReleaseList the owner drains with drain(list): e.g. a SEND_ZC
 *   notification or a worker thread done with the bytes) and counters().
 *   A buffer's state is an atomic byte; every transition out of `held` is a
 *   CAS, so two give-backs racing for the same buffer (owner and remote, or
 *   two remotes) see exactly one winner and a buffer is never linked twice.
 *
 * Progress: every call is wait-free (O(1), no loop that depends on another
 * thread) except queue_give_back, which is as lock-free as ReleaseList::release.
 * Nothing allocates after construction; nothing throws.
 *
 * Teardown: the destructor first closes an attached ring (recv/attach.hpp:
 * unregistered from the kernel, its buffers back; the ring records that the
 * pool went first), then hands the free buffers back to the arena. A buffer
 * still posted, held or queued stays acquired (the arena keeps its shard
 * mapped and says so in its own teardown report): memory is never handed back
 * while a device or a user may still write it. Call reclaim_posted() once the
 * device is quiesced (the ring is unregistered, receives reaped) and
 * reclaim_held() for the buffers the application still holds at shutdown.
 * The arena must outlive a pool that borrows it; OwnedRecvPool
 * (recv/owned_pool.hpp) holds both in the only order that works.
 */
#pragma once

#include <arenakit/config.hpp>
#include <arenakit/concepts/cpu_sync.hpp>
#include <arenakit/concepts/recv_pool_arena.hpp>
#include <arenakit/sync/host_memory.hpp>
#include <arenakit/detail/owner_counter.hpp>
#include <arenakit/detail/test_hook.hpp>
#include <arenakit/error.hpp>
#include <arenakit/lists/llist.hpp>
#include <arenakit/lists/release_list.hpp>
#include <arenakit/recv/attach.hpp>
#include <arenakit/recv/status.hpp>
#include <arenakit/recv/types.hpp>
#include <arenakit/slot_id.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <new>
#include <span>
#include <system_error>
#include <type_traits>

namespace arenakit {

/**
 * RecvPool - receive buffers for one receive loop.
 * @ArenaT: a RecvPoolArena (an Arena: acquire_bulk, release_bulk, pointer, buffer, slot_size)
 * @SyncT: a CpuSync (HostMemorySync for host memory; DmabufSync for a dma-buf)
 */
template <class ArenaT, class SyncT = HostMemorySync>
class RecvPool {
  // Asserted rather than constrained in the template head, so a misfit says
  // what is missing (concepts/recv_pool_arena.hpp, concepts/cpu_sync.hpp).
  static_assert(check_recv_pool_arena<ArenaT>());
  static_assert(check_cpu_sync<SyncT>());

public:
  using arena_type = ArenaT;
  using sync_type = SyncT;
  static constexpr std::uint32_t max_buffers = 32768;
  static constexpr std::uint16_t no_bid = 0xFFFF;

  RecvPool(ArenaT& arena, const RecvPoolConfig& config, SyncT sync = SyncT{}) noexcept
      : arena_(&arena), sync_(static_cast<SyncT&&>(sync)) {
    error_ = setup(config);
  }
  /// create - a pool on the heap, or the constructor's error() (nothing is
  /// taken from @arena on failure); errc::out_of_memory if the object cannot
  /// be allocated. The library's fallible-construction idiom.
  static Result<std::unique_ptr<RecvPool>> create(ArenaT& arena, const RecvPoolConfig& config,
                                                  SyncT sync = SyncT{}) noexcept;
  RecvPool(const RecvPool&) = delete;
  RecvPool& operator=(const RecvPool&) = delete;

  ~RecvPool() {
    if (attached_) { // the ring first: it hands its buffers back and forgets this pool
      const RecvPoolAttachment a = attached_;
      detach(a.owner);
      a.pool_closing(a.owner);
    }
    if (!entries_) return;
    // Only free buffers go back: posted, held or queued ones may still be
    // written by a device or read by a user (see the file comment).
    std::uint32_t n = 0;
    for (std::uint32_t i = 0; i < free_top_; ++i) scratch_[n++] = entries_[free_stack_[i]].id;
    if (n != 0) arena_->release_bulk(scratch_.get(), n);
  }

  /// Set-up status: invalid_config, or the arena's error if it could not
  /// supply every buffer (nothing is taken then).
  std::error_code error() const noexcept { return error_; }
  explicit operator bool() const noexcept { return !error_; }

  // --- connections (owner) ----------------------------------------------------

  /// A connection that may hold up to @quota delivered buffers at once.
  Result<ConnId> add_connection(std::uint32_t quota) noexcept;

  /// Removes @conn; refused (connection_busy) while it still holds buffers.
  std::error_code remove_connection(ConnId conn) noexcept;

  /// Whether the pool has no connections (PoolMode::connectionless).
  bool connectionless() const noexcept { return connectionless_; }

  // --- a ring's attachment (owner; recv/attach.hpp) -------------------------------

  /// Links @a (one at a time): refused with ring_attached while another is.
  /// Owner only; wait-free; no barrier (the callbacks run on the owner thread).
  RecvStatus attach(const RecvPoolAttachment& a) noexcept {
    if (attached_) return refuse(RecvStatus::ring_attached);
    attached_ = a;
    set(rings_attached_, 1); // counters() may read it from any thread
    return RecvStatus::ok;
  }
  /// Unlinks the attachment of @owner (nothing if it is not the attached one).
  void detach(const void* owner) noexcept {
    if (attached_.owner != owner) return;
    attached_ = {};
    set(rings_attached_, 0);
  }

  /// True while @conn is below its quota (its receives may be armed).
  bool may_arm(ConnId conn) const noexcept {
    const Conn* c = find(conn);
    return c != nullptr && get(c->held) < c->quota.load(std::memory_order_relaxed);
  }

  // --- posting (owner) ----------------------------------------------------------

  /// Takes up to @max free buffers for posting (LIFO: the warmest first);
  /// writes their ids to @out and returns how many. Owner only; wait-free;
  /// no barrier (the device is handed the buffers by the caller's post).
  std::uint32_t take_for_post(std::uint16_t* out, std::uint32_t max) noexcept {
    const std::uint32_t n = std::min(max, free_top_);
    for (std::uint32_t i = 0; i < n; ++i) {
      const std::uint16_t bid = free_stack_[--free_top_];
      // Relaxed: free and posted are owner-only states; no other thread acts on them.
      entries_[bid].state.store(posted_state, std::memory_order_relaxed);
      out[i] = bid;
    }
    detail::owner_add(posted_, n);
    detail::owner_add(posts_, n);
    return n;
  }

  /**
   * deliver - a completion filled buffer @bid with @bytes bytes for @conn
   *
   * Begins CPU read access over exactly those bytes, charges @conn, and
   * returns the view. A refusal changes nothing (the buffer stays posted).
   * Owner only; wait-free apart from SyncT. The device's writes are ordered
   * before the view by the completion the caller reaped and by SyncT's
   * begin_cpu_access; the pool adds no barrier (relaxed states, owner-only).
   */
  RecvView deliver(ConnId conn, std::uint16_t bid, std::uint32_t bytes) noexcept {
    RecvView v;
    v.bid = bid;
    v.conn = conn;
    if (bid >= count_) return refuse_view(v, RecvStatus::unknown_buffer);
    Conn* c = find(conn);
    if (c == nullptr) return refuse_view(v, RecvStatus::unknown_connection);
    Entry& e = entries_[bid];
    if (bytes > buffer_size_) return refuse_view(v, RecvStatus::bad_length);
    if (e.state.load(std::memory_order_relaxed) != posted_state)
      return refuse_view(v, RecvStatus::not_posted);
    if (sync_.begin_cpu_access(e.data, bytes, SyncAccess::read))
      return refuse_view(v, RecvStatus::sync_failed);
    e.bytes = bytes;
    e.conn = conn.value;
    // Relaxed: the owner publishes the view to other threads by its own means
    // (that hand-off orders these writes before a remote queue_give_back).
    e.state.store(held_state, std::memory_order_relaxed);
    detail::owner_sub(posted_, 1);
    detail::owner_add(held_, 1);
    detail::owner_add(delivered_, 1);
    detail::owner_add(bytes_, bytes);
    const std::uint64_t held = detail::owner_add(c->held, 1);
    detail::owner_add(c->delivered, 1);
    detail::owner_add(c->bytes, bytes);
    const std::uint64_t quota = c->quota.load(std::memory_order_relaxed);
    if (held == quota) {
      detail::owner_add(c->quota_hits, 1);
      detail::owner_add(quota_hits_, 1);
      v.arming = Arming::stop;
    } else if (held > quota) {
      detail::owner_add(c->over_quota, 1);
      detail::owner_add(over_quota_, 1);
      v.arming = Arming::stop;
    }
    v.id = e.id;
    v.data = e.data;
    v.bytes = bytes;
    return v;
  }

  /// Connectionless pools: deliver to the implicit connection.
  RecvView deliver(std::uint16_t bid, std::uint32_t bytes) noexcept { return deliver(ConnId{0}, bid, bytes); }

  /// A posted buffer comes back without a delivery (a completion with an
  /// error that still consumed a buffer, a cancelled receive).
  RecvStatus return_unused(std::uint16_t bid) noexcept {
    if (bid >= count_) return refuse(RecvStatus::unknown_buffer);
    Entry& e = entries_[bid];
    if (e.state.load(std::memory_order_relaxed) != posted_state) return refuse(RecvStatus::not_posted);
    take_back_posted(e, bid);
    return RecvStatus::ok;
  }

  /// Every posted buffer back to free, once the device is quiesced (ring
  /// unregistered or receives cancelled, completions reaped). Returns how
  /// many. Buffers that are free or held are skipped, not refused: this is
  /// no bad input, so no refusal counter moves.
  std::uint32_t reclaim_posted() noexcept;

  /// Shutdown: every held buffer (delivered, not given back, not queued)
  /// back to free, ending its CPU access: the buffers the application still
  /// holds when it stops. Returns how many (counted in reclaimed_held).
  /// Owner only; the caller promises nobody reads those bytes any more.
  /// O(N) scan, wait-free; each take-back is the held -> free CAS of
  /// give_back, so a racing queue_give_back of the same buffer has one winner.
  std::uint32_t reclaim_held() noexcept;

  // --- giving back -----------------------------------------------------------------

  /// Owner: ends CPU access over the delivered bytes and frees @bid for
  /// re-posting. Wait-free apart from SyncT; a relaxed CAS (held -> free) that
  /// makes racing give-backs of one buffer see exactly one winner.
  GiveBack give_back(std::uint16_t bid) noexcept {
    GiveBack r;
    if (bid >= count_) return refuse_give_back(r, RecvStatus::unknown_buffer);
    Entry& e = entries_[bid];
    std::uint8_t expected = held_state;
    // CAS, relaxed: one winner against a racing queue_give_back (which CASes
    // the same byte); the loser is refused and nothing is linked twice.
    if (!e.state.compare_exchange_strong(expected, free_state, std::memory_order_relaxed)) {
      return refuse_give_back(r, expected == queued_state ? RecvStatus::already_queued
                                                          : RecvStatus::not_held);
    }
    return finish_give_back(e, bid);
  }

  /// Owner: the same, named by SlotId (refused with foreign_slot if not ours).
  GiveBack give_back(SlotId id) noexcept {
    const std::uint16_t bid = bid_of(id);
    if (bid == no_bid) {
      GiveBack r;
      return refuse_give_back(r, RecvStatus::foreign_slot);
    }
    return give_back(bid);
  }

  /**
   * queue_give_back - any thread: give @bid back through @list
   * @list: a ReleaseList the owner drains with drain(list)
   *
   * Links the buffer's own node (no allocation). Returns the list's result
   * (queued / queued_woke) as RecvStatus::ok, or a refusal: not_held,
   * already_queued, list_closed (then the caller still holds the buffer).
   * Lock-free (ReleaseList::release); provides release barrier semantics
   * through the list's push (rl-1): the caller's use of the bytes
   * happens-before the owner's drain frees the buffer.
   */
  template <class List>
  RecvStatus queue_give_back(List& list, std::uint16_t bid) noexcept;

  /// Owner: drains @list (a list that carries only this pool's buffers) and
  /// frees every buffer on it, in release order. Returns how many. Wait-free
  /// apart from SyncT; acquire through the list's take (rl-2).
  template <class List>
  std::size_t drain(List& list) noexcept {
    return list.drain([this](LlistNode* n) noexcept { give_back_queued(n); });
  }
  /// The same at teardown: closes @list after the final drain.
  template <class List>
  std::size_t close(List& list) noexcept {
    return list.close([this](LlistNode* n) noexcept { give_back_queued(n); });
  }

  /// Owner: one node taken off a release list by the caller's own drain.
  GiveBack give_back_queued(LlistNode* node) noexcept;

  // --- lookups, O(1) -----------------------------------------------------------------

  std::uint32_t size() const noexcept { return count_; }
  std::uint32_t buffer_size() const noexcept { return buffer_size_; }
  std::uint32_t free_count() const noexcept { return free_top_; }
  /// The buffer's first byte (unchecked bid: check bid < size()).
  std::byte* data(std::uint16_t bid) const noexcept { return entries_[bid].data; }
  SlotId slot_of(std::uint16_t bid) const noexcept { return bid < count_ ? entries_[bid].id : SlotId{}; }
  /// (address, length, mapping) to post @bid to a device (lkey, buf_index...).
  auto buffer(std::uint16_t bid) const noexcept { return arena_->buffer(entries_[bid].id); }
  /// The buffer id of @id, or no_bid if @id is not one of this pool's slots.
  std::uint16_t bid_of(SlotId id) const noexcept {
    if (id.tag() != tag_) return no_bid;
    const std::uint32_t off = id.position() - min_position_; // wraps below min: out of range
    return off < span_ ? slot_to_bid_[off] : no_bid;
  }
  SyncT& sync() noexcept { return sync_; }
  ArenaT& arena() const noexcept { return *arena_; }
  /// Buffers not free (posted, held or queued).
  std::uint32_t outstanding() const noexcept { return count_ - free_top_; }

  RecvConnCounters connection_counters(ConnId conn) const noexcept;

  /// Any thread: each field is read atomically (the set is not a snapshot).
  RecvPoolCounters counters() const noexcept;

private:
  static constexpr std::uint8_t free_state = 0;
  static constexpr std::uint8_t posted_state = 1;
  static constexpr std::uint8_t held_state = 2;
  static constexpr std::uint8_t queued_state = 3;

  /// One per buffer; the node is what queue_give_back links.
  struct Entry : LlistNode {
    std::byte* data = nullptr;
    SlotId id;
    std::uint32_t bytes = 0; // delivered length: end_cpu_access covers the same bytes
    std::uint16_t conn = 0;
    std::atomic<std::uint8_t> state{free_state};
  };

  using Counter = std::atomic<std::uint64_t>;
  /// Owner-written counters: a plain load and store (no locked instruction,
  /// detail::owner_add), relaxed atomics so counters() may read them from any
  /// thread.
  static std::uint64_t get(const Counter& c) noexcept { return c.load(std::memory_order_relaxed); }
  static void set(Counter& c, std::uint64_t v) noexcept { c.store(v, std::memory_order_relaxed); }

  struct Conn {
    // 0: slot unused. Owner-written like the Counters, relaxed for the same
    // reason (counters() reads it from any thread); pairs with nothing.
    std::atomic<std::uint32_t> quota{0};
    Counter held{0}, delivered{0}, bytes{0}, given_back{0}, quota_hits{0}, over_quota{0};
    void reset() noexcept {
      for (Counter* c : {&held, &delivered, &bytes, &given_back, &quota_hits, &over_quota}) set(*c, 0);
    }
  };

  Conn* find(ConnId conn) const noexcept {
    if (conn.value >= max_conns_) return nullptr;
    Conn* c = &conns_[conn.value];
    return c->quota.load(std::memory_order_relaxed) == 0 ? nullptr : c;
  }

  std::error_code setup(const RecvPoolConfig& config) noexcept;

  GiveBack finish_give_back(Entry& e, std::uint16_t bid) noexcept {
    if (sync_.end_cpu_access(e.data, e.bytes, SyncAccess::read))
      detail::owner_add(sync_failures_, 1); // the buffer comes back anyway
    GiveBack r;
    r.conn = ConnId{e.conn};
    Conn& c = conns_[e.conn];
    const std::uint64_t held = detail::owner_sub(c.held, 1) + 1; // the count before
    detail::owner_add(c.given_back, 1);
    const std::uint64_t quota = c.quota.load(std::memory_order_relaxed);
    if (held >= quota && held - 1 < quota) r.arming = Arming::resume;
    free_stack_[free_top_++] = bid;
    detail::owner_sub(held_, 1);
    detail::owner_add(given_back_, 1);
    if (attached_) attached_.freed(attached_.owner); // last: the ring may take it at once
    return r;
  }

  /// A posted buffer @bid back to free (owner only).
  void take_back_posted(Entry& e, std::uint16_t bid) noexcept {
    e.state.store(free_state, std::memory_order_relaxed); // owner-only states
    free_stack_[free_top_++] = bid;
    detail::owner_sub(posted_, 1);
    detail::owner_add(returned_unused_, 1);
    if (attached_) attached_.freed(attached_.owner);
  }

  RecvStatus refuse(RecvStatus s) noexcept {
    // fetch_add: refusals may come from any thread (queue_give_back); rare.
    refused_[static_cast<std::size_t>(s)].fetch_add(1, std::memory_order_relaxed);
    return s;
  }
  std::error_code refuse_code(RecvStatus s) noexcept { return make_error_code(refuse(s)); }
  RecvView refuse_view(RecvView& v, RecvStatus s) noexcept {
    v.status = refuse(s);
    v.arming = Arming::unchanged;
    return v;
  }
  GiveBack refuse_give_back(GiveBack& r, RecvStatus s) noexcept {
    r.status = refuse(s);
    return r;
  }

  ArenaT* arena_;
  [[no_unique_address]] SyncT sync_;
  std::error_code error_;
  std::unique_ptr<Entry[]> entries_;
  std::unique_ptr<std::uint16_t[]> free_stack_;
  std::unique_ptr<SlotId[]> scratch_;
  std::unique_ptr<std::uint16_t[]> slot_to_bid_;
  std::unique_ptr<Conn[]> conns_;
  std::uint32_t count_ = 0;
  std::uint32_t buffer_size_ = 0;
  std::uint32_t free_top_ = 0;
  std::uint32_t max_conns_ = 0;
  std::uint32_t min_position_ = 0;
  std::uint32_t span_ = 0;
  std::uint8_t tag_ = 0;
  bool connectionless_ = false;
  RecvPoolAttachment attached_;

  // Owner-written statistics.
  alignas(cache_line_size) Counter connections_{0};
  Counter posts_{0}, posted_{0}, held_{0}, delivered_{0}, bytes_{0}, given_back_{0},
      given_back_queued_{0}, returned_unused_{0}, quota_hits_{0}, over_quota_{0}, sync_failures_{0},
      reclaimed_held_{0}, rings_attached_{0};
  // Written by any thread (queue_give_back): a line of their own.
  alignas(cache_line_size) Counter queued_total_{0};
  std::array<Counter, recv_status_count> refused_{};
};

} // namespace arenakit

// Set-up, the release-list give-backs and the cold paths (connections,
// counters), out of line.
#include <arenakit/recv/impl/recv_pool.hpp>
