// SPDX-License-Identifier: MIT
/**
 * @file uring/impl/buf_ring.hpp
 * @brief UringBufRing's out-of-line members: set-up and teardown (the cold
 *        paths), provide, and the CQE paths (complete, on_cqe).
 */
#pragma once

#include <arenakit/uring/buf_ring.hpp>

#include <bit>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <fcntl.h>
#include <linux/kcmp.h>
#include <new>
#include <string>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <system_error>
#include <unistd.h>

namespace arenakit {

/// The books and our own fd, common to both set-ups.
template <class Pool>
std::error_code UringBufRing<Pool>::prepare(io_uring& ring, unsigned entries, const BufRingConfig& config) noexcept {
  if (!*pool_) return pool_->error();
  if (entries == 0) entries = std::bit_ceil(static_cast<unsigned>(pool_->size()));
  if (entries > max_entries || !std::has_single_bit(entries) || config.cqe_tag == 0) return errc::invalid_config;
  if (config.incremental && config.bundles) return errc::invalid_config; // one buffer per CQE: see buf_ring_inc.hpp
  in_ring_.reset(new (std::nothrow) std::uint8_t[pool_->size()]());
  scratch_.reset(new (std::nothrow) std::uint16_t[entries]);
  sends_.reset(new (std::nothrow) SendSlot[pool_->size()]);
  bid_at_.reset(new (std::nothrow) std::uint16_t[entries]());
  pos_of_.reset(new (std::nothrow) std::uint16_t[pool_->size()]());
  if (!in_ring_ || !scratch_ || !sends_ || !bid_at_ || !pos_of_) return errc::out_of_memory;
  bundles_ = config.bundles && (ring.features & IORING_FEAT_RECVSEND_BUNDLE) != 0;
  if (std::error_code ec = prepare_incremental(config)) return ec;
  // Our own reference to the io_uring instance: teardown reaches it even after
  // the application's io_uring_queue_exit() closed (and maybe reused) its fd.
  own_fd_ = ::fcntl(ring.ring_fd, F_DUPFD_CLOEXEC, 0);
  if (own_fd_ < 0) return {errno, std::system_category()};
  ring_fd_ = ring.ring_fd;
  entries_ = entries;
  mask_ = io_uring_buf_ring_mask(entries);
  return {};
}

/// The Reprovide bound and the pool's attachment, the last step of both set-ups.
template <class Pool>
std::error_code UringBufRing<Pool>::attach_pool(const BufRingConfig& config) noexcept {
  bound_ = config.reprovide == Reprovide::immediate ? 1u
           : config.batch_bound != 0              ? config.batch_bound
           : entries_ >= 8                        ? entries_ / 4
                                                  : 1u;
  return pool_->attach(RecvPoolAttachment{this, &on_freed, &on_pool_closing});
}

template <class Pool>
std::error_code UringBufRing<Pool>::setup(io_uring& ring, const BufRingConfig& config) noexcept {
  if (std::error_code ec = prepare(ring, config.entries, config)) return ec;
  if (const int rc = map_ring(config); rc < 0) {
    ::close(own_fd_);
    own_fd_ = -1;
    entries_ = 0;
    return {-rc, std::system_category()};
  }
  registered_ = true;
  if (std::error_code ec = attach_pool(config)) {
    (void)detail::unregister_pbuf_ring(own_fd_, group_);
    registered_ = false;
    return ec;
  }
  return {};
}

template <class Pool>
std::error_code UringBufRing<Pool>::adopt_ring(io_uring& ring, const AdoptedBufRing& adopt,
                                               const BufRingConfig& config) noexcept {
  if (adopt.ring == nullptr || adopt.entries == 0) return errc::invalid_config;
  BufRingConfig c = config;
  c.incremental = adopt.incremental; // as its owner registered it
  if (std::error_code ec = prepare(ring, adopt.entries, c)) return ec;
  incremental_ = adopt.incremental;
  adopted_ = true;
  teardown_.adopted = true;
  if (std::error_code ec = attach_pool(config)) return ec;
  br_ = adopt.ring; // registered by its owner: we only write entries and the tail
  return {};
}

/// Registers the ring in the memory config.memory asks for; 0 or -errno.
template <class Pool>
int UringBufRing<Pool>::map_ring(const BufRingConfig& config) noexcept {
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  map_bytes_ = (std::size_t{entries_} * sizeof(io_uring_buf) + page - 1) / page * page;
  detail::UringBufReg reg;
  reg.ring_entries = entries_;
  reg.bgid = group_;
  if (config.memory != RingMemory::user) {
    reg.flags = IOU_PBUF_RING_MMAP;
    int rc = register_ring(reg);
    if (rc == 0) {
      const auto off = static_cast<off_t>(IORING_OFF_PBUF_RING | (std::uint64_t{group_} << IORING_OFF_PBUF_SHIFT));
      void* mem = ::mmap(nullptr, map_bytes_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, own_fd_, off);
      if (mem != MAP_FAILED) {
        br_ = static_cast<io_uring_buf_ring*>(mem); // the kernel zeroed it: tail 0
        chosen_ = RingMemory::kernel;
        return 0;
      }
      rc = -errno;
      (void)detail::unregister_pbuf_ring(own_fd_, group_);
    }
    // EINVAL: a kernel before 6.4 does not know the flag. Anything else
    // (EEXIST...) is not about the flag: report it.
    if (config.memory == RingMemory::kernel || rc != -EINVAL) return rc;
    reg.flags = 0;
  }
  void* mem = ::mmap(nullptr, map_bytes_, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  if (mem == MAP_FAILED) return -errno;
  br_ = static_cast<io_uring_buf_ring*>(mem);
  io_uring_buf_ring_init(br_);
  reg.ring_addr = reinterpret_cast<std::uint64_t>(br_);
  if (const int rc = register_ring(reg); rc < 0) {
    ::munmap(br_, map_bytes_);
    br_ = nullptr;
    return rc;
  }
  chosen_ = RingMemory::user;
  return 0;
}

template <class Pool>
BufRingTeardown UringBufRing<Pool>::close() noexcept {
  if (teardown_.closed) return teardown_;
  teardown_.closed = true;
  if (pool_ != nullptr) pool_->detach(this); // no more re-provides from the pool's give-backs
  if (own_fd_ >= 0) {
    // Was the application's fd closed first (io_uring_queue_exit before us)?
    // kcmp says whether the number still names our instance; without kcmp
    // (seccomp) a closed number is still caught by fcntl.
    const long same = ::syscall(SYS_kcmp, ::getpid(), ::getpid(), KCMP_FILE, ring_fd_, own_fd_);
    teardown_.io_uring_exited_first = same != 0 && (same > 0 || errno == EBADF || ::fcntl(ring_fd_, F_GETFD) < 0);
  }
  if (registered_) {
    const int rc = detail::unregister_pbuf_ring(own_fd_, group_);
    teardown_.unregistered = rc == 0;
    teardown_.unregister_error = rc;
    registered_ = false;
  }
  if (br_ != nullptr && !adopted_) ::munmap(br_, map_bytes_);
  br_ = nullptr;
  if (in_ring_ && pool_ != nullptr) {
    for (std::uint32_t bid = 0; bid < pool_->size(); ++bid) {
      if (incremental_ && teardown_.unregistered) close_incremental(static_cast<std::uint16_t>(bid));
      if (!in_ring_[bid]) continue;
      // Unregistered: the kernel can no longer pick these, they are free again.
      // Refused: it still might, so they stay posted (never handed back under a device).
      if (teardown_.unregistered) {
        in_ring_[bid] = 0;
        (void)pool_->return_unused(static_cast<std::uint16_t>(bid));
        ++teardown_.returned;
      } else {
        ++teardown_.left_posted;
      }
    }
  }
  in_ring_count_ = 0;
  counters_.returned_at_teardown = teardown_.returned;
  if (own_fd_ >= 0) ::close(own_fd_);
  own_fd_ = -1;
  pool_ = nullptr;
  return teardown_;
}

template <class Pool>
std::string UringBufRing<Pool>::describe() const {
  if (!error_) {
    std::string s = chosen_ == RingMemory::kernel ? "provided-buffer ring registered (kernel-mapped memory"
                                                  : "provided-buffer ring registered (user memory";
    if (incremental_) s += ", incremental consumption";
    if (incremental_refused_) s += ", whole buffers: the kernel refused IOU_PBUF_RING_INC (before 6.12)";
    return s + ")";
  }
  std::string s = "io_uring provided-buffer ring: " + error_.message();
  if (error_.category() == std::system_category()) {
    switch (error_.value()) {
    case EINVAL:
      s += " (a kernel older than 5.19 has no IORING_REGISTER_PBUF_RING, one older than 6.4 no "
           "IOU_PBUF_RING_MMAP; or the ring's address, entries or flags were refused)";
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

template <class Pool>
unsigned UringBufRing<Pool>::provide(unsigned max) noexcept {
  if (br_ == nullptr || pool_ == nullptr) return 0;
  pending_ = 0;
  const unsigned room = entries_ - in_ring_count_;
  const unsigned want = room < max ? room : max;
  const std::uint32_t n = pool_->take_for_post(scratch_.get(), want);
  const std::uint32_t len = pool_->buffer_size();
  const unsigned tail = br_->tail; // only we write it; the kernel reads it (br-1)
  std::uint32_t k = 0; // added
  for (std::uint32_t j = 0; j < n; ++j) {
    const std::uint16_t bid = scratch_[j];
    if (incremental_ && park_if_busy(bid)) continue; // the kernel or a piece still has it
    const std::uint32_t i = k++;
    io_uring_buf_ring_add(br_, pool_->data(bid), len, bid, mask_, static_cast<int>(i));
    const auto pos = static_cast<std::uint16_t>((tail + i) & static_cast<unsigned>(mask_));
    bid_at_[pos] = bid;
    pos_of_[bid] = pos;
    in_ring_[bid] = 1;
  }
  if (k != 0) {
    // (br-1) One store-release of the tail per batch: the entries above are
    // visible to the kernel before it sees the new tail; pairs with the
    // kernel's smp_load_acquire of the tail in io_ring_buffer_select().
    io_uring_buf_ring_advance(br_, static_cast<int>(k));
    in_ring_count_ += k;
    counters_.provided += k;
    ++counters_.batches;
  }
  return k;
}

/// Takes @bid out of the ring's books; false (counted) if the ring did not hold it.
template <class Pool>
bool UringBufRing<Pool>::take_from_ring(std::uint16_t bid) noexcept {
  if (!holds(bid)) {
    ++counters_.bad_bids;
    return false;
  }
  in_ring_[bid] = 0;
  --in_ring_count_;
  ++counters_.consumed;
  return true;
}

template <class Pool>
RecvCqe UringBufRing<Pool>::on_cqe(const io_uring_cqe& cqe) noexcept {
  RecvCqe r;
  r.multishot = (cqe.flags & IORING_CQE_F_MORE) != 0 ? Multishot::armed : Multishot::ended;
  if (pool_ == nullptr) return r; // closed: error, nothing touched
  if (incremental_) { // pieces need complete(): nothing touched
    r.error = EOPNOTSUPP;
    ++counters_.errors;
    return r;
  }
  if (r.multishot == Multishot::ended) ++counters_.multishot_ends;
  bool has_buffer = false;
  if ((cqe.flags & IORING_CQE_F_BUFFER) != 0) {
    r.bid = static_cast<std::uint16_t>(cqe.flags >> IORING_CQE_BUFFER_SHIFT);
    has_buffer = take_from_ring(r.bid);
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
    count_no_buffers();
  } else {
    r.kind = RecvCqeKind::error;
    r.error = cqe.res < 0 ? -cqe.res : EINVAL; // res > 0 without a buffer: not ours
    ++counters_.errors;
  }
  return r;
}

template <class Pool>
RecvEvent UringBufRing<Pool>::complete(const io_uring_cqe& cqe, ConnId conn) noexcept {
  RecvEvent e;
  e.op = detail::cqe_op(cqe.user_data, tag_, group_);
  if (e.op == CqeOp::none) {
    ++counters_.foreign_cqes;
    return e;
  }
  if (pool_ == nullptr) {
    e.kind = RecvEventKind::closed;
    return e;
  }
  if (e.op == CqeOp::send || e.op == CqeOp::send_zc) return finish_send(e, cqe, e.op);
  e.user = static_cast<std::uint32_t>(cqe.user_data);
  if (incremental_) return finish_piece(e, cqe, conn);
  if (bundles_ && e.op == CqeOp::recv && cqe.res > static_cast<std::int32_t>(pool_->buffer_size()) &&
      (cqe.flags & IORING_CQE_F_BUFFER) != 0)
    return finish_bundle(e, cqe, conn);
  const RecvCqe r = on_cqe(cqe);
  e.rearm = r.multishot == Multishot::ended;
  e.bid = r.bid;
  switch (r.kind) {
  case RecvCqeKind::end_of_stream: e.kind = RecvEventKind::end_of_stream; return e;
  case RecvCqeKind::no_buffers: e.kind = RecvEventKind::no_buffers; e.error = -ENOBUFS; return e;
  case RecvCqeKind::error: e.kind = RecvEventKind::error; e.error = -r.error; return e;
  case RecvCqeKind::data: break;
  }
  e.view = pool_->deliver(conn, r.bid, r.bytes);
  if (!e.view) {
    e.kind = RecvEventKind::refused;
    (void)pool_->return_unused(r.bid); // still posted after a refusal: back, never lost
    return e;
  }
  e.kind = RecvEventKind::data;
  e.payload = e.view.span();
  e.bundle_bytes = e.view.bytes;
  return e.op == CqeOp::recvmsg ? finish_recvmsg(e) : e;
}

/// A bundle: the CQE's bytes fill consecutive ring entries from its bid on,
/// every buffer full but the last. Each is delivered; a refusal of any gives
/// them all back (none was delivered then: the first refusal stops).
template <class Pool>
RecvEvent UringBufRing<Pool>::finish_bundle(RecvEvent e, const io_uring_cqe& cqe, ConnId conn) noexcept {
  const std::uint32_t len = pool_->buffer_size();
  const auto total = static_cast<std::uint32_t>(cqe.res);
  e.rearm = (cqe.flags & IORING_CQE_F_MORE) == 0;
  if (e.rearm) ++counters_.multishot_ends;
  e.bid = static_cast<std::uint16_t>(cqe.flags >> IORING_CQE_BUFFER_SHIFT);
  if (!holds(e.bid)) {
    // A first buffer the ring does not hold: its order-table position is
    // meaningless, and the buffers it would name may still be the
    // kernel's. Refused as the single-buffer path refuses it (counted in
    // bad_bids), nothing taken.
    ++counters_.bad_bids;
    ++counters_.errors;
    e.kind = RecvEventKind::error;
    e.error = -EINVAL;
    return e;
  }
  e.bundle = static_cast<std::uint16_t>((total + len - 1) / len);
  e.bundle_bytes = total;
  const unsigned first = pos_of_[e.bid];
  unsigned delivered = 0;
  for (unsigned i = 0; i < e.bundle; ++i) {
    const RecvView part = bundle_view(e, i);
    // Each buffer must be the one the ring holds at that position (a stale
    // order-table entry names a buffer re-provided elsewhere).
    if (pos_of_[part.bid] != ((first + i) & static_cast<unsigned>(mask_))) {
      ++counters_.bad_bids;
      break;
    }
    if (!take_from_ring(part.bid)) break; // counted there
    const RecvView v = pool_->deliver(conn, part.bid, part.bytes);
    if (i == 0) e.view = v;
    if (!v) {
      (void)pool_->return_unused(part.bid);
      break;
    }
    ++delivered;
  }
  if (delivered != e.bundle) { // a refusal: nothing half-delivered
    for (unsigned i = 0; i < delivered; ++i) (void)pool_->give_back(bundle_view(e, i).bid);
    e.kind = RecvEventKind::refused;
    return e;
  }
  e.kind = RecvEventKind::data;
  e.payload = e.view.span();
  return e;
}

/// A multishot recvmsg buffer: io_uring_recvmsg_out, the name, the payload.
template <class Pool>
RecvEvent UringBufRing<Pool>::finish_recvmsg(RecvEvent e) noexcept {
  const int len = static_cast<int>(e.view.bytes);
  io_uring_recvmsg_out* o = io_uring_recvmsg_validate(e.view.data, len, &msg_);
  if (o == nullptr || o->namelen > msg_.msg_namelen || (o->flags & MSG_TRUNC) != 0) {
    ++counters_.truncated;
    e.kind = RecvEventKind::truncated;
    e.payload = {};
    (void)give_back(e); // the piece, or the whole buffer
    return e;
  }
  e.name = static_cast<const sockaddr*>(io_uring_recvmsg_name(o));
  e.namelen = o->namelen;
  e.payload = {static_cast<const std::byte*>(io_uring_recvmsg_payload(o, &msg_)),
               io_uring_recvmsg_payload_length(o, len, &msg_)};
  return e;
}

template <class Pool>
void UringBufRing<Pool>::prep_sendmsg_reply(io_uring_sqe* sqe, int fd, const RecvEvent& e,
                                            std::uint16_t user) noexcept {
  SendSlot& s = sends_[e.bid];
  s.iov.iov_base = const_cast<std::byte*>(e.payload.data()); // sendmsg only reads it
  s.iov.iov_len = e.payload.size();
  s.msg = msghdr{};
  s.msg.msg_name = const_cast<sockaddr*>(e.name);
  s.msg.msg_namelen = e.namelen;
  s.msg.msg_iov = &s.iov;
  s.msg.msg_iovlen = 1;
  io_uring_prep_sendmsg(sqe, fd, &s.msg, MSG_NOSIGNAL);
  mark_send(sqe, CqeOp::send, e.bid, user);
}

template <class Pool>
RecvEvent UringBufRing<Pool>::finish_send(RecvEvent e, const io_uring_cqe& cqe, CqeOp op) noexcept {
  e.bid = static_cast<std::uint16_t>(cqe.user_data);
  e.user = static_cast<std::uint32_t>(cqe.user_data >> 16) & 0xFFFF;
  const bool notif = (cqe.flags & IORING_CQE_F_NOTIF) != 0;
  if (!notif && cqe.res < 0) {
    e.error = cqe.res;
    ++counters_.send_errors;
  }
  // SEND_ZC: the first CQE (F_MORE) says the send is done, the notification
  // that the kernel no longer reads the pages: the buffer comes back then.
  if (op == CqeOp::send_zc && !notif && (cqe.flags & IORING_CQE_F_MORE) != 0) {
    e.kind = RecvEventKind::send_pending;
    return e;
  }
  e.kind = RecvEventKind::sent;
  // Incremental: the send carried a piece, which the caller gives back (give_back(event)).
  if (incremental_ || pool_->give_back(e.bid)) ++counters_.sends;
  return e;
}

} // namespace arenakit
