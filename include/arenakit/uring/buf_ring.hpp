// SPDX-License-Identifier: MIT
/**
 * @file uring/buf_ring.hpp
 * @brief UringBufRing<Pool>: an io_uring provided-buffer ring
 *        (IORING_REGISTER_PBUF_RING) filled with a RecvPool's buffers, buffer
 *        id = the pool's buffer id. Optional: needs liburing (arenakit::uring).
 *
 * Why a provided-buffer ring: the kernel picks a buffer only when data
 * arrives, so a multishot receive needs no buffer per pending receive and one
 * ring serves every socket that names its group (the io_uring SRQ). The
 * application hands buffers back by writing ring entries and advancing the
 * tail: no system call per buffer.
 *
 * Contract
 * - Ring memory (BufRingConfig::memory): mapped here (RingMemory::user,
 *   anonymous, page-aligned), or allocated by the kernel and mapped from the
 *   ring fd (RingMemory::kernel, IOU_PBUF_RING_MMAP, kernel 6.4), or the
 *   kernel's where it is supported and ours otherwise (RingMemory::automatic;
 *   chosen() says which), or registered by someone else and adopted
 *   (AdoptedBufRing: liburing 2.4's io_uring_setup_buf_ring). `entries` is a power of two, 1..32768. A failure is
 *   reported by error() (the kernel's errno in the system category, positive
 *   as std::error_code values are; the CQE-facing fields are negative as in
 *   liburing); describe() adds the likely cause in words.
 * - bid in a CQE is the pool's buffer id.
 * - Re-providing (BufRingConfig::reprovide): every buffer that becomes free in
 *   the pool (give_back, a drain, return_unused) is noticed by the ring through
 *   the pool's attachment (recv/attach.hpp). Reprovide::immediate puts it back
 *   in the ring at once (one tail advance per buffer, as liburing's example
 *   does); Reprovide::batched waits until `batch_bound` buffers are waiting,
 *   then re-provides them all with one tail advance. provide() re-provides
 *   now (call it at the end of a CQE batch). counters().waiting says how
 *   many free buffers wait for a provide() (a bound too large, or provide()
 *   never called); a ring that runs dry while buffers free at the last
 *   provide() found no room in it is counted in counters().starved.
 * - complete(cqe) is the one call per CQE: it ignores CQEs that its prep_*
 *   helpers did not mark (RecvEventKind::foreign), delivers a receive to the
 *   pool (a view, or a refusal after which the buffer is already back), parses
 *   a recvmsg buffer (sender address, payload), gives back the buffer of a
 *   completed send. on_cqe() is the older low-level form (classify only).
 * - The ring may be smaller than the pool; it never holds more than `entries`.
 * - Incremental consumption (BufRingConfig::incremental, IOU_PBUF_RING_INC,
 *   kernel 6.12): the kernel fills one buffer in pieces, each completion's
 *   bytes right after the previous one's; IORING_CQE_F_BUF_MORE says it
 *   keeps the buffer. complete() delivers each piece (RecvEvent::piece, a
 *   handle; view at RecvEvent::offset) and give_back(event) ends it. The
 *   buffer is held in the pool from its first piece on (charged to that
 *   piece's connection, delivered over the whole buffer) and goes back to
 *   the pool, hence the ring, only once the kernel is done with it (a CQE
 *   without BUF_MORE) and every piece was given back. A kernel that refuses
 *   the flag (EINVAL) gets a whole-buffer ring; incremental() says which.
 *   See buf_ring_inc.hpp for what is not supported in this mode.
 *
 * Thread role: one owner thread (the thread that reaps the receive CQEs and
 * owns the RecvPool); nothing here is shared with another thread except the
 * ring memory with the kernel. Every call is wait-free (no loop on another
 * thread); close() makes two system calls.
 *
 * Teardown and order: close() (or the destructor) unregisters the group
 * through the ring's own duplicate of the io_uring fd, unmaps the ring and
 * returns the buffers still in it to the pool; counters() and teardown() stay
 * readable afterwards. Every destruction order is defined:
 * - the ring before io_uring_queue_exit() and before the pool: the intended
 *   order (cancel the receives and reap their CQEs first);
 * - io_uring_queue_exit() first: the duplicate fd still names the instance,
 *   so the unregister reaches it; teardown().io_uring_exited_first says so;
 * - the pool first: the pool's destructor closes the ring before it releases
 *   anything (teardown().pool_destroyed_first); the ring is inert afterwards.
 * The arena must outlive the pool (OwnedRecvPool makes that automatic).
 */
#pragma once

#include <arenakit/concepts/buf_ring_pool.hpp>
#include <arenakit/detail/piece_table.hpp>
#include <arenakit/error.hpp>
#include <arenakit/recv/attach.hpp>
#include <arenakit/recv/recv_pool.hpp>
#include <arenakit/uring/recv_event.hpp>
#include <arenakit/uring/uapi.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <system_error>

#include <liburing.h>
#include <sys/socket.h>
#include <sys/uio.h>

namespace arenakit {

/// When a buffer given back to the pool goes back into the ring.
enum class Reprovide : std::uint8_t {
  immediate, ///< at once, one tail advance per buffer (liburing's io_uring-udp does this)
  batched,   ///< once batch_bound buffers wait (or at provide()), one tail advance for all
};

/// Who allocates the ring memory.
enum class RingMemory : std::uint8_t {
  user,      ///< mmap here, register the address (kernel 5.19)
  kernel,    ///< IOU_PBUF_RING_MMAP: the kernel allocates, we mmap the ring fd (kernel 6.4)
  automatic, ///< kernel where the kernel supports it, else user; chosen() says which
};

struct BufRingConfig {
  /// Ring entries: a power of two, 1..32768; 0 = the pool's size rounded up.
  unsigned entries = 0;
  /// The buffer group receives name with IOSQE_BUFFER_SELECT (sqe->buf_group).
  std::uint16_t group_id = 0;
  Reprovide reprovide = Reprovide::batched;
  /// batched: re-provide once this many buffers wait; 0 = entries / 4 (at least 1).
  unsigned batch_bound = 0;
  RingMemory memory = RingMemory::user;
  /// Top byte of the user_data the prep_* helpers write (1..255; see recv_event.hpp).
  std::uint8_t cqe_tag = 0xA7;
  /// Bundles (IORING_RECVSEND_BUNDLE, kernel 6.10): one stream receive may
  /// fill several buffers. Used only where the kernel says it has them
  /// (IORING_FEAT_RECVSEND_BUNDLE); bundles() says whether they are on.
  bool bundles = false;
  /// Incremental consumption (IOU_PBUF_RING_INC, kernel 6.12): small
  /// messages share one buffer. Falls back to whole buffers where the kernel
  /// refuses it; incremental() says what was chosen. Not with bundles.
  bool incremental = false;
  /// Incremental: pieces held by the application at once, at most; 0 = 64
  /// per pool buffer. A piece past it is refused (counted in pieces_refused).
  std::uint32_t max_pieces = 0;
};

struct BufRingCounters {
  std::uint64_t entries = 0;
  std::uint64_t in_ring = 0;      ///< buffers the kernel may pick now
  std::uint64_t waiting = 0;      ///< free in the pool, room in the ring: not provided yet
  std::uint64_t provided = 0;     ///< buffers added to the ring, in total
  std::uint64_t batches = 0;      ///< tail advances (one per provide that added any)
  std::uint64_t policy_provides = 0; ///< of which the Reprovide policy triggered
  std::uint64_t consumed = 0;     ///< CQEs that carried a buffer
  std::uint64_t no_buffers = 0;   ///< -ENOBUFS completions
  std::uint64_t starved = 0;      ///< of which came while buffers free at the last provide() were still unposted
  std::uint64_t multishot_ends = 0; ///< receive CQEs without F_MORE
  std::uint64_t errors = 0;
  std::uint64_t bad_bids = 0;     ///< a CQE named a buffer not in the ring (never expected)
  std::uint64_t foreign_cqes = 0; ///< complete() on a CQE this ring did not prepare
  std::uint64_t truncated = 0;    ///< recvmsg name or payload cut short
  std::uint64_t sends = 0;        ///< ring-prepared sends whose buffer came back
  std::uint64_t send_errors = 0;
  std::uint64_t returned_at_teardown = 0; ///< buffers still in the ring at close(), back to the pool
  // Incremental consumption only.
  std::uint64_t pieces = 0;          ///< pieces delivered
  std::uint64_t piece_bytes = 0;     ///< their bytes
  std::uint64_t pieces_refused = 0;  ///< dropped: the pool refused the buffer, or max_pieces were held
  std::uint64_t bad_piece_give_backs = 0; ///< give-back of a piece not live (twice, stale, made up, or after close)
  std::uint64_t early_give_backs = 0; ///< buffers given back to the pool directly while the ring still had pieces or the kernel had it: parked, not re-provided
};

/// A ring registered by someone else (liburing 2.4's io_uring_setup_buf_ring,
/// or the application's own mmap + io_uring_register_buf_ring), empty, for
/// UringBufRing to fill from a pool. Its owner unregisters and unmaps it.
struct AdoptedBufRing {
  io_uring_buf_ring* ring = nullptr;
  unsigned entries = 0; ///< as registered: a power of two
  std::uint16_t group_id = 0;
  bool incremental = false; ///< registered with IOU_PBUF_RING_INC
};

/// What close() found (teardown()).
struct BufRingTeardown {
  bool closed = false;
  bool unregistered = false;          ///< the kernel accepted the unregister
  bool pool_destroyed_first = false;  ///< the pool's destructor closed the ring (wrong order, made safe)
  bool io_uring_exited_first = false; ///< io_uring_queue_exit() ran before close() (wrong order, made safe)
  bool adopted = false;               ///< an adopted ring: its owner unregisters it, its buffers stay posted
  int unregister_error = 0;           ///< negative errno of a refused unregister
  std::uint64_t returned = 0;         ///< buffers returned to the pool
  std::uint64_t left_posted = 0;      ///< kept posted because the kernel might still pick them
};

/**
 * UringBufRing - a provided-buffer ring over a RecvPool's buffers
 * @Pool: a BufRingPool, e.g. RecvPool<Arena, Sync>
 */
template <class Pool>
class UringBufRing {
  // Asserted rather than constrained, so a misfit says what is missing
  // (concepts/buf_ring_pool.hpp).
  static_assert(check_buf_ring_pool<Pool>());

public:
  static constexpr unsigned max_entries = 32768;

  /// Registers the ring on @ring, attaches to @pool and provides as many free
  /// buffers as fit. Blocking (system calls); never throws; see error().
  UringBufRing(io_uring& ring, Pool& pool, const BufRingConfig& config) noexcept
      : pool_(&pool), group_(config.group_id), tag_(config.cqe_tag), reprovide_(config.reprovide) {
    error_ = setup(ring, config);
    if (!error_) provide();
  }
  /// Adopts @adopt (already registered on @ring, empty): fills it from @pool.
  /// config.entries, group_id and memory are ignored. close() neither
  /// unregisters nor unmaps it and leaves the buffers in it posted
  /// (teardown().left_posted): after the owner unregistered it, call
  /// pool.reclaim_posted().
  UringBufRing(io_uring& ring, Pool& pool, const AdoptedBufRing& adopt, const BufRingConfig& config) noexcept
      : pool_(&pool), group_(adopt.group_id), tag_(config.cqe_tag), reprovide_(config.reprovide) {
    error_ = adopt_ring(ring, adopt, config);
    if (!error_) provide();
  }
  /// create - a registered ring on the heap, or the constructor's error()
  /// (invalid_config or the kernel's errno; nothing stays registered);
  /// errc::out_of_memory if the object cannot be allocated.
  static Result<std::unique_ptr<UringBufRing>> create(io_uring& ring, Pool& pool,
                                                      const BufRingConfig& config) noexcept {
    std::unique_ptr<UringBufRing> br(new (std::nothrow) UringBufRing(ring, pool, config));
    if (!br) return errc::out_of_memory;
    if (br->error_) return br->error_;
    return br;
  }
  UringBufRing(const UringBufRing&) = delete;
  UringBufRing& operator=(const UringBufRing&) = delete;
  ~UringBufRing() { (void)close(); }

  /// Set-up status: errc::invalid_config, a RecvStatus (ring_attached), or the kernel's errno.
  std::error_code error() const noexcept { return error_; }
  explicit operator bool() const noexcept { return !error_; }
  /// error() with the likely cause, for a log line.
  std::string describe() const;
  /// The ring memory in use: user or kernel (never automatic once set up).
  RingMemory chosen() const noexcept { return chosen_; }
  /// Whether prep_recv* ask for bundles (asked for, and the kernel has them).
  bool bundles() const noexcept { return bundles_; }
  /// Whether buffers are consumed incrementally (asked for, and the kernel took IOU_PBUF_RING_INC).
  bool incremental() const noexcept { return incremental_; }
  /// Incremental was asked for and the kernel refused the flag (EINVAL): whole buffers.
  bool incremental_refused() const noexcept { return incremental_refused_; }

  /// Gives back what @e delivered: its piece (incremental), else its buffer
  /// (pool.give_back). A piece not live (given back twice, stale) is refused
  /// with RecvStatus::not_held and counted (bad_piece_give_backs); nothing
  /// changes. Owner only; wait-free.
  GiveBack give_back(const RecvEvent& e) noexcept {
    if (e.piece != 0) return give_back_piece(e.piece);
    if (pool_ != nullptr) return pool_->give_back(e.bid);
    GiveBack r; // closed: the pool is no longer ours to touch
    r.status = RecvStatus::not_held;
    return r;
  }
  /// Ends the piece @piece (RecvEvent::piece); the buffer goes back to the
  /// pool when it was the last piece and the kernel is done with it.
  GiveBack give_back_piece(std::uint64_t piece) noexcept;

  /// Buffer @i (0 .. e.bundle - 1) of a delivered bundle @e: each is held
  /// (delivered to the pool) and given back on its own; i == 0 is e.view.
  /// Read from the ring's order table: valid until the next re-provide, so
  /// take every view of a bundle before giving any of its buffers back.
  RecvView bundle_view(const RecvEvent& e, unsigned i) const noexcept {
    RecvView v = e.view;
    if (i >= e.bundle || pool_ == nullptr) return RecvView{};
    v.bid = bid_at_[(pos_of_[e.bid] + i) & static_cast<unsigned>(mask_)];
    const std::uint32_t len = pool_->buffer_size();
    v.data = pool_->data(v.bid);
    if constexpr (requires { pool_->slot_of(v.bid); }) v.id = pool_->slot_of(v.bid);
    v.bytes = e.bundle_bytes - i * len < len ? e.bundle_bytes - i * len : len;
    return v;
  }

  /**
   * provide - re-provide free pool buffers in one batch
   * @max: at most this many (default: as many as fit)
   *
   * Takes buffers from the pool (posted from then on), writes one ring entry
   * each and advances the tail once. Returns how many were added.
   * Owner only; wait-free. The tail store is liburing's release
   * (io_uring_buf_ring_advance): the kernel sees the entries before the tail.
   */
  unsigned provide(unsigned max = max_entries) noexcept;

  /// One call per CQE: see the file comment and RecvEvent. Owner only; wait-free.
  RecvEvent complete(const io_uring_cqe& cqe) noexcept { return complete(cqe, ConnId{0}); }
  /// The same, delivering to @conn (per-connection and shared pools).
  RecvEvent complete(const io_uring_cqe& cqe, ConnId conn) noexcept;

  /// The low-level form: classify a receive CQE of this group (only receive
  /// CQEs); a CQE that consumed a buffer without data returns it to the pool.
  RecvCqe on_cqe(const io_uring_cqe& cqe) noexcept;

  // --- preparing SQEs (they mark user_data so that complete() knows them) ----------

  /// A multishot receive on @fd that picks buffers from this ring.
  void prep_recv_multishot(io_uring_sqe* sqe, int fd, std::uint32_t user) const noexcept {
    io_uring_prep_recv_multishot(sqe, fd, nullptr, 0, 0);
    select_buffer(sqe, CqeOp::recv, user);
    if (bundles_) sqe->ioprio |= IORING_RECVSEND_BUNDLE;
  }
  /// One single-shot receive on @fd (submit a batch of them) picking from this ring.
  void prep_recv(io_uring_sqe* sqe, int fd, std::uint32_t user) const noexcept {
    io_uring_prep_recv(sqe, fd, nullptr, pool_ ? pool_->buffer_size() : 0, 0);
    select_buffer(sqe, CqeOp::recv, user);
    if (bundles_) sqe->ioprio |= IORING_RECVSEND_BUNDLE;
  }
  /// A multishot recvmsg (datagrams: each buffer holds a header, the sender's
  /// address and the payload; complete() parses them). @namelen: room for the
  /// address (sizeof(sockaddr_storage) by default). One shape per ring.
  void prep_recvmsg_multishot(io_uring_sqe* sqe, int fd, std::uint32_t user,
                              socklen_t namelen = sizeof(sockaddr_storage)) noexcept {
    msg_.msg_namelen = namelen;
    io_uring_prep_recvmsg_multishot(sqe, fd, &msg_, MSG_TRUNC);
    select_buffer(sqe, CqeOp::recvmsg, user);
  }
  /// The single-shot form: the selected buffer receives the payload only (no
  /// header, no address: the kernel lays a buffer out that way for multishot
  /// only); complete() reports it like prep_recv.
  void prep_recvmsg(io_uring_sqe* sqe, int fd, std::uint32_t user) noexcept {
    io_uring_prep_recvmsg(sqe, fd, &single_msg_, 0);
    select_buffer(sqe, CqeOp::recv, user);
  }

  /// Sends @e's payload on the connected socket @fd straight from the pool
  /// buffer; complete() gives the buffer back when the send completes.
  void prep_send(io_uring_sqe* sqe, int fd, const RecvEvent& e, std::uint16_t user = 0) noexcept {
    // MSG_WAITALL: on a stream io_uring retries a short send, so "sent" means all of it.
    io_uring_prep_send(sqe, fd, e.payload.data(), e.payload.size(), MSG_NOSIGNAL | MSG_WAITALL);
    mark_send(sqe, CqeOp::send, e.bid, user);
  }
  /// The same with SEND_ZC: the buffer is given back on the notification.
  void prep_send_zc(io_uring_sqe* sqe, int fd, const RecvEvent& e, std::uint16_t user = 0) noexcept {
    io_uring_prep_send_zc(sqe, fd, e.payload.data(), e.payload.size(), MSG_NOSIGNAL | MSG_WAITALL, 0);
    mark_send(sqe, CqeOp::send_zc, e.bid, user);
  }
  /// A datagram reply: sendmsg of @e's payload to @e's sender, from the pool
  /// buffer (the msghdr lives in the ring, one per buffer, until completion).
  void prep_sendmsg_reply(io_uring_sqe* sqe, int fd, const RecvEvent& e, std::uint16_t user = 0) noexcept;

  // --- teardown --------------------------------------------------------------------

  /// Unregisters, unmaps, returns the buffers still in the ring; idempotent.
  /// Call after cancelling the receives of this group and reaping their CQEs.
  BufRingTeardown close() noexcept;
  BufRingTeardown teardown() const noexcept { return teardown_; }

  std::uint16_t group_id() const noexcept { return group_; }
  unsigned entries() const noexcept { return entries_; }
  unsigned in_ring() const noexcept { return in_ring_count_; }
  BufRingCounters counters() const noexcept {
    BufRingCounters c = counters_;
    c.entries = entries_;
    c.in_ring = in_ring_count_;
    c.waiting = waiting();
    return c;
  }

private:
  std::error_code setup(io_uring& ring, const BufRingConfig& config) noexcept;
  std::error_code adopt_ring(io_uring& ring, const AdoptedBufRing& adopt, const BufRingConfig& config) noexcept;
  std::error_code prepare(io_uring& ring, unsigned entries, const BufRingConfig& config) noexcept;
  std::error_code attach_pool(const BufRingConfig& config) noexcept;
  int map_ring(const BufRingConfig& config) noexcept;
  unsigned waiting() const noexcept {
    if (pool_ == nullptr || br_ == nullptr) return 0;
    const unsigned room = entries_ - in_ring_count_;
    const unsigned free = static_cast<unsigned>(pool_->free_count());
    return free < room ? free : room;
  }
  bool take_from_ring(std::uint16_t bid) noexcept;
  /// True if @bid is a pool buffer the ring holds now (the kernel may pick it).
  bool holds(std::uint16_t bid) const noexcept { return bid < pool_->size() && in_ring_[bid] != 0; }
  void count_no_buffers() noexcept {
    ++counters_.no_buffers;
    // Dry while the pool had buffers to give. Only buffers already free at
    // the last provide() count (it posted what the ring had room for, so
    // they found no room): one given back since (pending_) may have come
    // back after the kernel ran dry, while this CQE waited in the queue,
    // and counting it flagged every dry spell of a busy ring as starved.
    if (pool_->free_count() > pending_) ++counters_.starved;
  }
  RecvEvent finish_recvmsg(RecvEvent e) noexcept;
  RecvEvent finish_bundle(RecvEvent e, const io_uring_cqe& cqe, ConnId conn) noexcept;
  RecvEvent finish_send(RecvEvent e, const io_uring_cqe& cqe, CqeOp op) noexcept;
  // Incremental consumption (uring/impl/buf_ring_inc.hpp).
  int register_ring(detail::UringBufReg& reg) noexcept;
  std::error_code prepare_incremental(const BufRingConfig& config) noexcept;
  RecvEvent finish_piece(RecvEvent e, const io_uring_cqe& cqe, ConnId conn) noexcept;
  GiveBack settle(std::uint16_t bid) noexcept;
  bool park_if_busy(std::uint16_t bid) noexcept;
  void close_incremental(std::uint16_t bid) noexcept;

  static void on_freed(void* self) noexcept {
    auto* r = static_cast<UringBufRing*>(self);
    if (++r->pending_ < r->bound_) return;
    if (r->provide() != 0) ++r->counters_.policy_provides;
  }
  static void on_pool_closing(void* self) noexcept {
    auto* r = static_cast<UringBufRing*>(self);
    r->teardown_.pool_destroyed_first = !r->teardown_.closed;
    (void)r->close();
  }

  void select_buffer(io_uring_sqe* sqe, CqeOp op, std::uint32_t user) const noexcept {
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = group_;
    io_uring_sqe_set_data64(sqe, detail::cqe_user_data(tag_, op, group_, user));
  }
  void mark_send(io_uring_sqe* sqe, CqeOp op, std::uint16_t bid, std::uint16_t user) const noexcept {
    io_uring_sqe_set_data64(sqe, detail::cqe_user_data(tag_, op, group_, std::uint32_t{user} << 16 | bid));
  }

  struct SendSlot {
    msghdr msg{};
    iovec iov{};
  };
  /// Incremental: what the ring knows of one pool buffer.
  struct IncBuf {
    std::uint32_t off = 0;    // bytes the kernel filled so far: the next piece starts here
    std::uint32_t pieces = 0; // delivered, not given back
    bool held = false;        // delivered to the pool (from the first piece on)
    bool parked = false;      // given back to the pool directly while busy: posted, kept out of the ring
  };

  Pool* pool_;
  std::uint16_t group_;
  std::uint8_t tag_;
  Reprovide reprovide_;
  RingMemory chosen_ = RingMemory::user;
  std::error_code error_;
  int ring_fd_ = -1;  // the application's fd number (to tell whether it was closed first)
  int own_fd_ = -1;   // our duplicate: unregister and mmap go through it
  io_uring_buf_ring* br_ = nullptr;
  std::size_t map_bytes_ = 0;
  bool registered_ = false;
  bool adopted_ = false;
  bool bundles_ = false;
  bool want_incremental_ = false;
  bool incremental_ = false;
  bool incremental_refused_ = false;
  unsigned entries_ = 0;
  int mask_ = 0;
  unsigned bound_ = 1;
  unsigned pending_ = 0; // freed since the last provide (the batched policy's count)
  unsigned in_ring_count_ = 0;
  std::unique_ptr<std::uint8_t[]> in_ring_; // per pool buffer: 1 while the kernel may pick it
  std::unique_ptr<std::uint16_t[]> scratch_;
  // Ring order (a bundle takes consecutive entries): the bid at each ring
  // position, and each bid's position, written by provide().
  std::unique_ptr<std::uint16_t[]> bid_at_;
  std::unique_ptr<std::uint16_t[]> pos_of_;
  std::unique_ptr<SendSlot[]> sends_;
  std::unique_ptr<IncBuf[]> inc_;
  detail::PieceTable pieces_;
  msghdr msg_{}; // the multishot recvmsg shape the kernel reads (namelen, controllen)
  msghdr single_msg_{}; // single-shot recvmsg: no name, no control, the buffer is the iov
  BufRingCounters counters_;
  BufRingTeardown teardown_;
};

} // namespace arenakit

#include <arenakit/uring/impl/buf_ring.hpp>
#include <arenakit/uring/impl/buf_ring_inc.hpp>
