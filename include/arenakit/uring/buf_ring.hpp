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
 * - The ring memory is mapped here (anonymous, page-aligned; liburing 2.3 has
 *   no io_uring_setup_buf_ring) for `entries` (a power of two, 1..32768)
 *   entries and registered with io_uring_register_buf_ring() under
 *   `group_id`. Construction then provides as many free pool buffers as fit.
 *   A failure is reported by error() (the kernel's errno in the system
 *   category: EINVAL on a kernel older than 5.19 or a bad ring, EEXIST for a
 *   group id already in use...); describe() adds the likely cause in words.
 * - bid in a CQE (cqe->flags >> IORING_CQE_BUFFER_SHIFT) is the pool's buffer
 *   id: deliver() it to the pool in O(1).
 * - provide() re-provides free pool buffers (those given back) in one batch:
 *   one io_uring_buf_ring_add per buffer, ONE tail advance for the batch.
 *   Call it once per batch of completions, not per buffer.
 * - on_cqe() reads a receive CQE (only receive CQEs of this group: a send CQE
 *   may carry other flags): data with a bid, end of stream, ENOBUFS (the ring
 *   ran dry: provide(), then re-arm) or an error; and whether a multishot
 *   receive is still armed (IORING_CQE_F_MORE) or must be re-armed. A CQE that
 *   consumed a buffer but carries no data gives the buffer back to the pool.
 * - The ring may be smaller than the pool (a tiny ring makes ENOBUFS easy to
 *   provoke); it never holds more than `entries` buffers.
 *
 * Thread role: one owner thread (the thread that reaps the receive CQEs and
 * owns the RecvPool); nothing here is shared with another thread except the
 * ring memory with the kernel.
 *
 * Teardown: destroy the ring before io_uring_queue_exit() and before the
 * pool, after the receives using its group are cancelled and their CQEs
 * reaped. The destructor unregisters the group, unmaps the ring and returns
 * the buffers still sitting in the ring to the pool.
 */
#pragma once

#include <arenakit/error.hpp>
#include <arenakit/concepts/buf_ring_pool.hpp>
#include <arenakit/recv/recv_pool.hpp>

#include <bit>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <string>
#include <system_error>

#include <liburing.h>
#include <sys/mman.h>
#include <unistd.h>

namespace arenakit {

struct BufRingConfig {
  /// Ring entries: a power of two, 1..32768; 0 = the pool's size rounded up.
  unsigned entries = 0;
  /// The buffer group receives name with IOSQE_BUFFER_SELECT (sqe->buf_group).
  std::uint16_t group_id = 0;
};

/// What a receive CQE says.
enum class RecvCqeKind : std::uint8_t {
  data,          ///< `bytes` bytes in pool buffer `bid`: deliver it
  end_of_stream, ///< res == 0: the peer closed
  no_buffers,    ///< -ENOBUFS: the ring ran dry; provide() and re-arm
  error,         ///< another negative res (in `error`)
};

/// Whether the multishot receive that produced the CQE is still armed.
enum class Multishot : std::uint8_t {
  armed,  ///< IORING_CQE_F_MORE: more CQEs will come
  ended,  ///< no F_MORE: re-arm to keep receiving (also true of every single-shot recv)
};

struct RecvCqe {
  RecvCqeKind kind = RecvCqeKind::error;
  std::uint16_t bid = 0;
  std::uint32_t bytes = 0;
  int error = 0; ///< positive errno for kind error / no_buffers
  Multishot multishot = Multishot::ended;
};

struct BufRingCounters {
  std::uint64_t entries = 0;
  std::uint64_t in_ring = 0;      ///< buffers the kernel may pick now
  std::uint64_t provided = 0;     ///< buffers added to the ring, in total
  std::uint64_t batches = 0;      ///< tail advances (one per provide() that added any)
  std::uint64_t consumed = 0;     ///< CQEs that carried a buffer
  std::uint64_t no_buffers = 0;   ///< -ENOBUFS completions
  std::uint64_t multishot_ends = 0; ///< CQEs without F_MORE
  std::uint64_t errors = 0;
  std::uint64_t bad_bids = 0;     ///< a CQE named a buffer not in the ring (never expected)
  std::uint64_t returned_at_teardown = 0;
};

/**
 * UringBufRing - a provided-buffer ring over a RecvPool's buffers
 * @Pool: a BufRingPool, e.g. RecvPool<Arena, Sync> (take_for_post, return_unused,
 *        data, size, buffer_size, error)
 */
template <class Pool>
class UringBufRing {
  // Asserted rather than constrained, so a misfit says what is missing
  // (concepts/buf_ring_pool.hpp).
  static_assert(check_buf_ring_pool<Pool>());

public:
  static constexpr unsigned max_entries = 32768;

  UringBufRing(io_uring& ring, Pool& pool, const BufRingConfig& config) noexcept
      : ring_(&ring), pool_(&pool), group_(config.group_id) {
    error_ = setup(config);
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

  ~UringBufRing() {
    if (registered_) io_uring_unregister_buf_ring(ring_, group_);
    if (br_ != nullptr) ::munmap(br_, map_bytes_);
    // The kernel can no longer pick these: they are free again.
    if (in_ring_) {
      for (std::uint32_t bid = 0; bid < pool_->size(); ++bid) {
        if (!in_ring_[bid]) continue;
        (void)pool_->return_unused(static_cast<std::uint16_t>(bid));
        ++counters_.returned_at_teardown;
      }
    }
  }

  /// Set-up status: errc::invalid_config, or the kernel's errno.
  std::error_code error() const noexcept { return error_; }
  explicit operator bool() const noexcept { return !error_; }

  /// error() with the likely cause, for a log line.
  std::string describe() const {
    if (!error_) return "provided-buffer ring registered";
    std::string s = "io_uring provided-buffer ring: " + error_.message();
    if (error_.category() == std::system_category()) {
      switch (error_.value()) {
      case EINVAL:
        s += " (a kernel older than 5.19 has no IORING_REGISTER_PBUF_RING; or the ring's "
             "address, entries or flags were refused)";
        break;
      case EEXIST: s += " (buffer group id already registered on this ring)"; break;
      case ENOMEM: s += " (could not map or pin the ring memory; check RLIMIT_MEMLOCK)"; break;
      case EFAULT: s += " (ring memory address not accessible)"; break;
      case EPERM:
      case ENOSYS: s += " (io_uring forbidden here: seccomp or io_uring_disabled sysctl)"; break;
      default: break;
      }
    }
    return s;
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
  unsigned provide(unsigned max = max_entries) noexcept {
    if (br_ == nullptr) return 0;
    const unsigned room = entries_ - in_ring_count_;
    const unsigned want = room < max ? room : max;
    const std::uint32_t n = pool_->take_for_post(scratch_.get(), want);
    const std::uint32_t len = pool_->buffer_size();
    for (std::uint32_t i = 0; i < n; ++i) {
      const std::uint16_t bid = scratch_[i];
      io_uring_buf_ring_add(br_, pool_->data(bid), len, bid, mask_, static_cast<int>(i));
      in_ring_[bid] = 1;
    }
    if (n != 0) {
      // One store-release of the tail per batch: the entries above are
      // visible to the kernel before it sees the new tail (it pairs with the
      // kernel's smp_load_acquire of the tail in io_ring_buffer_select()).
      io_uring_buf_ring_advance(br_, static_cast<int>(n));
      in_ring_count_ += n;
      counters_.provided += n;
      ++counters_.batches;
    }
    return n;
  }

  /**
   * on_cqe - read a receive CQE of this ring's group
   *
   * A CQE that consumed a buffer without data (end of stream or an error
   * after the pick) returns the buffer to the pool at once. Owner only;
   * wait-free; the CQE's data is ordered by the caller's CQ reap (liburing's
   * acquire of the CQ tail), this adds no barrier.
   */
  RecvCqe on_cqe(const io_uring_cqe& cqe) noexcept {
    RecvCqe r;
    r.multishot = (cqe.flags & IORING_CQE_F_MORE) != 0 ? Multishot::armed : Multishot::ended;
    if (r.multishot == Multishot::ended) ++counters_.multishot_ends;
    bool has_buffer = false;
    if ((cqe.flags & IORING_CQE_F_BUFFER) != 0) {
      r.bid = static_cast<std::uint16_t>(cqe.flags >> IORING_CQE_BUFFER_SHIFT);
      if (r.bid < pool_->size() && in_ring_[r.bid]) {
        in_ring_[r.bid] = 0;
        --in_ring_count_;
        ++counters_.consumed;
        has_buffer = true;
      } else {
        ++counters_.bad_bids;
      }
    }
    if (cqe.res > 0 && has_buffer) {
      r.kind = RecvCqeKind::data;
      r.bytes = static_cast<std::uint32_t>(cqe.res);
      return r;
    }
    if (has_buffer) (void)pool_->return_unused(r.bid); // picked, but nothing to deliver
    if (cqe.res == 0) {
      r.kind = RecvCqeKind::end_of_stream;
    } else if (cqe.res == -ENOBUFS) {
      r.kind = RecvCqeKind::no_buffers;
      r.error = ENOBUFS;
      ++counters_.no_buffers;
    } else {
      r.kind = RecvCqeKind::error;
      r.error = cqe.res < 0 ? -cqe.res : EINVAL; // res > 0 without a buffer: not ours
      ++counters_.errors;
    }
    return r;
  }

  /// A multishot receive on @fd that picks buffers from this ring.
  void prep_recv_multishot(io_uring_sqe* sqe, int fd, std::uint64_t user_data) const noexcept {
    io_uring_prep_recv_multishot(sqe, fd, nullptr, 0, 0);
    select_buffer(sqe, user_data);
  }
  /// One single-shot receive on @fd (submit a batch of them) picking from this ring.
  void prep_recv(io_uring_sqe* sqe, int fd, std::uint64_t user_data) const noexcept {
    io_uring_prep_recv(sqe, fd, nullptr, pool_->buffer_size(), 0);
    select_buffer(sqe, user_data);
  }

  std::uint16_t group_id() const noexcept { return group_; }
  unsigned entries() const noexcept { return entries_; }
  unsigned in_ring() const noexcept { return in_ring_count_; }
  BufRingCounters counters() const noexcept {
    BufRingCounters c = counters_;
    c.entries = entries_;
    c.in_ring = in_ring_count_;
    return c;
  }

private:
  std::error_code setup(const BufRingConfig& config) noexcept {
    if (!*pool_) return pool_->error();
    unsigned entries = config.entries;
    if (entries == 0) entries = std::bit_ceil(pool_->size());
    if (entries > max_entries || !std::has_single_bit(entries)) return errc::invalid_config;
    in_ring_.reset(new (std::nothrow) std::uint8_t[pool_->size()]());
    scratch_.reset(new (std::nothrow) std::uint16_t[entries]);
    if (!in_ring_ || !scratch_) return errc::out_of_memory;
    const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    const std::size_t bytes = std::size_t{entries} * sizeof(io_uring_buf);
    map_bytes_ = (bytes + page - 1) / page * page;
    void* mem = ::mmap(nullptr, map_bytes_, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (mem == MAP_FAILED) return {errno, std::system_category()};
    br_ = static_cast<io_uring_buf_ring*>(mem);
    io_uring_buf_ring_init(br_);
    io_uring_buf_reg reg{};
    reg.ring_addr = reinterpret_cast<std::uint64_t>(br_);
    reg.ring_entries = entries;
    reg.bgid = group_;
    const int rc = io_uring_register_buf_ring(ring_, &reg, 0);
    if (rc < 0) {
      ::munmap(br_, map_bytes_);
      br_ = nullptr;
      return {-rc, std::system_category()};
    }
    registered_ = true;
    entries_ = entries;
    mask_ = io_uring_buf_ring_mask(entries);
    return {};
  }

  void select_buffer(io_uring_sqe* sqe, std::uint64_t user_data) const noexcept {
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = group_;
    io_uring_sqe_set_data64(sqe, user_data);
  }

  io_uring* ring_;
  Pool* pool_;
  std::uint16_t group_;
  std::error_code error_;
  io_uring_buf_ring* br_ = nullptr;
  std::size_t map_bytes_ = 0;
  bool registered_ = false;
  unsigned entries_ = 0;
  int mask_ = 0;
  unsigned in_ring_count_ = 0;
  std::unique_ptr<std::uint8_t[]> in_ring_; // per pool buffer: 1 while the kernel may pick it
  std::unique_ptr<std::uint16_t[]> scratch_;
  BufRingCounters counters_;
};

} // namespace arenakit
