// SPDX-License-Identifier: MIT
/**
 * @file uring/server_ring.hpp
 * @brief ServerRing: an io_uring set up as a receiving server would, with
 *        the batch wait that goes with it.
 *
 * What a server wants from its ring, measured by bench_recv (issue 13): one
 * thread submits (IORING_SETUP_SINGLE_ISSUER), completions are run when that
 * thread waits rather than by task work interrupting it
 * (IORING_SETUP_DEFER_TASKRUN), a completion queue large enough for a burst
 * of multishot receives, and one kernel entry per batch of completions:
 * submit, then wait for `wait_nr` CQEs or a short timeout, whichever comes
 * first. On this machine's loopback TCP that cut the receiver's CPU per
 * message to 0.2-0.35x of recv() into a reused buffer.
 *
 * The flags need Linux 6.1. A kernel that refuses them gets a ring without
 * them; chosen() says which, so a server can log it. Errors are returned as
 * std::error_code from create() (positive errno, as every arenakit set-up
 * error); wait() returns liburing's convention (a negative errno).
 *
 * Thread safety: one thread owns the ring (the point of SINGLE_ISSUER).
 */
#pragma once

#include <arenakit/error.hpp>

#include <cerrno>
#include <cstdint>
#include <memory>
#include <new>
#include <system_error>

#include <liburing.h>

#ifndef IORING_SETUP_SINGLE_ISSUER
#define IORING_SETUP_SINGLE_ISSUER (1U << 12) // Linux 6.0
#endif
#ifndef IORING_SETUP_DEFER_TASKRUN
#define IORING_SETUP_DEFER_TASKRUN (1U << 13) // Linux 6.1
#endif

namespace arenakit {

struct ServerRingConfig {
  unsigned sq_entries = 256;
  /// At least sq_entries; room for a burst of multishot completions.
  unsigned cq_entries = 4096;
  /// Ask for SINGLE_ISSUER | DEFER_TASKRUN (falling back without them when
  /// the kernel refuses); false asks for neither.
  bool single_issuer = true;
  /// wait(): return once this many CQEs are ready...
  unsigned wait_nr = 16;
  /// ...or this long has passed with fewer (0 = wait for wait_nr).
  std::uint32_t wait_timeout_us = 200;
};

class ServerRing {
public:
  /**
   * create - a ring set up from @config, or why not
   *
   * Returns errc::invalid_config for 0 entries, cq_entries < sq_entries or
   * wait_nr 0; the kernel's errno when io_uring_queue_init_params fails
   * (after the fallback without the server flags, if those were refused).
   */
  static Result<std::unique_ptr<ServerRing>> create(const ServerRingConfig& config = {}) noexcept {
    if (config.sq_entries == 0 || config.cq_entries < config.sq_entries || config.wait_nr == 0)
      return errc::invalid_config;
    std::unique_ptr<ServerRing> r(new (std::nothrow) ServerRing(config));
    if (!r) return errc::out_of_memory;
    io_uring_params p{};
    p.flags = IORING_SETUP_CQSIZE;
    p.cq_entries = config.cq_entries;
    int rc = -EINVAL;
    if (config.single_issuer) {
      p.flags |= IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
      rc = io_uring_queue_init_params(config.sq_entries, &r->ring_, &p);
      r->server_flags_ = rc == 0;
      r->fell_back_ = rc == -EINVAL; // an older kernel: try without them
    }
    if (!config.single_issuer || r->fell_back_) {
      p = io_uring_params{};
      p.flags = IORING_SETUP_CQSIZE;
      p.cq_entries = config.cq_entries;
      rc = io_uring_queue_init_params(config.sq_entries, &r->ring_, &p);
    }
    if (rc < 0) return std::error_code(-rc, std::system_category());
    r->ready_ = true;
    return r;
  }

  ServerRing(const ServerRing&) = delete;
  ServerRing& operator=(const ServerRing&) = delete;
  ~ServerRing() {
    if (ready_) io_uring_queue_exit(&ring_);
  }

  io_uring& ring() noexcept { return ring_; }
  /// True when the ring runs with SINGLE_ISSUER | DEFER_TASKRUN.
  bool server_flags() const noexcept { return server_flags_; }
  /// What set-up chose, for a log line.
  const char* chosen() const noexcept {
    if (server_flags_) return "IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN";
    return fell_back_ ? "no server flags: the kernel refused SINGLE_ISSUER | DEFER_TASKRUN (Linux < 6.1)"
                      : "no server flags: not asked for";
  }

  /// A free SQE, submitting what is queued first when the queue is full
  /// (nullptr only if the kernel took none of it).
  io_uring_sqe* sqe() noexcept {
    io_uring_sqe* s = io_uring_get_sqe(&ring_);
    if (s != nullptr) return s;
    ++enters_;
    io_uring_submit(&ring_);
    return io_uring_get_sqe(&ring_);
  }

  /**
   * wait - one kernel entry: submit what is queued, then wait for wait_nr
   *        CQEs or the timeout, whichever comes first
   *
   * Returns the number of SQEs submitted (>= 0), also when the timeout
   * passed, a signal interrupted the wait, or (wait(0)) nothing was ready:
   * the CQEs that are ready are there to reap either way. A negative errno
   * only when the kernel refused the call. Owner thread only.
   */
  int wait() noexcept { return wait(config_.wait_nr); }
  /// wait() for @wait_nr CQEs instead of the configured number (e.g. 1 while
  /// draining at shutdown).
  int wait(unsigned wait_nr) noexcept {
    ++enters_;
    io_uring_cqe* cqe = nullptr;
    if (config_.wait_timeout_us == 0) return io_uring_submit_and_wait(&ring_, wait_nr);
    __kernel_timespec ts{static_cast<long long>(config_.wait_timeout_us / 1000000),
                         static_cast<long long>(config_.wait_timeout_us % 1000000) * 1000};
    // liburing answers with the wait's outcome, not the count submitted: 0
    // when a CQE was already there (after submitting), -EAGAIN for wait_nr 0
    // with nothing ready, -ETIME at the timeout. What it submits is what
    // was ready in the SQ; those outcomes all submitted it.
    const unsigned ready = io_uring_sq_ready(&ring_);
    const int rc = io_uring_submit_and_wait_timeout(&ring_, &cqe, wait_nr, &ts, nullptr);
    if (rc >= 0 || rc == -ETIME || rc == -EINTR || (rc == -EAGAIN && wait_nr == 0)) return static_cast<int>(ready);
    return rc;
  }

  /// Kernel entries made through sqe() and wait(): divide by messages for
  /// "enters per message".
  std::uint64_t enters() const noexcept { return enters_; }
  const ServerRingConfig& config() const noexcept { return config_; }

private:
  explicit ServerRing(const ServerRingConfig& config) noexcept : config_(config) {}

  io_uring ring_{};
  ServerRingConfig config_;
  std::uint64_t enters_ = 0;
  bool ready_ = false;
  bool server_flags_ = false;
  bool fell_back_ = false;
};

} // namespace arenakit
