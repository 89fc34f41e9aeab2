// SPDX-License-Identifier: MIT
// Receiving over TCP loopback, measured as the receiver's CPU cost.
//
// What is measured, and why this way
// - The sender is a separate process (fork) pinned to another CPU than the
//   receiving thread (sched_setaffinity: receiver on the first allowed CPU,
//   sender on the second). On loopback the TCP receive processing runs in the
//   sender's context, so the receiver's own cost is what is left: the system
//   calls, io_uring's completion work (task work runs in the receiving thread,
//   also with DEFER_TASKRUN) and the copy. With one allowed CPU both share it;
//   the rows still run and say so (counter cpus_apart = 0).
// - The per-item figure (ns/item in the table, median_ns in the report) is the
//   receiving thread's CPU time (user + sys) per message, read once per
//   iteration of 64 messages with clock_gettime(CLOCK_THREAD_CPUTIME_ID) and
//   fed to Google Benchmark as manual time. That is the total
//   getrusage(RUSAGE_THREAD) reports, but exact at the call; getrusage reads it
//   as of the thread's last tick or context switch (milliseconds stale on a
//   busy thread), so it is reported over the whole run as the cross-check
//   counter rusage_ns_per_msg. Ratios between rows therefore compare CPU cost,
//   not who won the race for a core.
// - Counters: cpu_ns_per_byte; wall_ns_per_msg (steady clock, for reference);
//   enters_per_msg (kernel entries: calls to io_uring_submit_and_wait_timeout
//   or io_uring_submit, each one io_uring_enter on a kernel with
//   IORING_FEAT_EXT_ARG; for the epoll row epoll_wait + recv calls);
//   cqes_per_enter (the epoll row has events_per_wait instead: ready fds per
//   epoll_wait); msgs (messages timed: divide the next two by it); enobufs (-ENOBUFS
//   completions: the provided-buffer ring ran dry); rearms (multishot receives
//   re-armed after they ended); server_flags (1 when the ring got
//   IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN, 0 when the kernel
//   refused them and the ring fell back to flags 0: see stderr); cpus_apart.
// - Messages of 512 B and 4 KB, over 1, 64 and 1,024 connections. The sender
//   is a pipelined client: 16 messages per send() (blocking), connections
//   round robin, so it outruns the receiver and the receiver's cost per
//   message is measured saturated; when it does wait, its wake-ups are part of
//   its CPU time, as they would be in a server. Every buffer is exactly one
//   message long in every row, so one receive returns at most one message.
//   Socket buffers (SO_SNDBUF / SO_RCVBUF, the same in every row) are 8 MB
//   shared out over the connections, 64 KB to 4 MB each, so 1,024 connections
//   stay bounded. 1,024 connections need 2,048 fds: the soft RLIMIT_NOFILE is
//   raised to the hard limit, or the row is skipped with the reason.
// - Each run first receives 2,048 messages untimed (first touch, and the
//   copy-on-write faults the fork leaves in the receiver), then times whole
//   iterations; per-message figures divide by the bytes really received.
// - The io_uring rows set the ring up as a server would: 256 SQ entries, a
//   4,096-entry CQ, SINGLE_ISSUER | DEFER_TASKRUN when accepted, and one
//   io_uring_submit_and_wait_timeout(wait_nr = 16, 200 us) per loop turn
//   (wait_nr = min(16, receives in flight) for the plain-recv rows, which have
//   one receive per connection).
//
// Rows (scenario recv_tcp_loopback/bytes:B/conns:N):
//   arenakit_ring_multishot     one multishot recv per connection picking from
//                               ONE provided-buffer ring shared by all of them
//                               (UringBufRing over a shared-mode RecvPool of
//                               64 message-size buffers); buffers given back
//                               and re-provided once per CQE batch; ENOBUFS ->
//                               re-provide, re-arm.
//   arenakit_ring_multishot_256_buffers  the same with 256 buffers: fewer
//                               ENOBUFS and re-arms with many busy
//                               connections, 4x the pinned memory.
//   arenakit_ring_bundles       the 64-buffer ring with bundle receives
//                               (IORING_RECVSEND_BUNDLE, kernel >= 6.10,
//                               skipped with the reason before): one CQE takes
//                               several consecutive one-message buffers, so a
//                               saturated connection costs one completion per
//                               run of buffers instead of one per message;
//                               these rows wait for one CQE per turn.
//   arenakit_ring_bundles_256_buffers  the same with 256 buffers.
//   epoll_recv_reused_buffer    the classic server: level-triggered epoll,
//                               nonblocking recv() into the connection's own
//                               buffer (reused), up to 64 receives per ready
//                               fd per wake or until EAGAIN.
//   uring_recv_reused_buffer    io_uring plain recv, one in flight per
//                               connection, into its own reused buffer.
//   uring_recv_malloc_per_recv  the same with a fresh malloc(size) per receive,
//                               free() after its completion.
// Scenario recv_idle_pinned_bytes/bytes:B/conns:1024: the buffer memory an
// idle server keeps posted for 1,024 connections, in BYTES (shown in the
// ns/item column; computed, nothing is timed): one buffer per connection for
// plain recv, against the shared ring's pool (64 buffers, the ring every
// arenakit row above ran with, its ENOBUFS and re-arms included in their CPU
// figures) plus the ring's own pages. A 256-buffer ring is shown beside it.
//
// The test bed (connections, the sender process, pinning, the CPU clocks, the
// fd limit) is support/recv_loopback.hpp.
//
// Goals (targets, printed as met/MISS): the ring at most 0.5x the reused-buffer
// recv() receiver CPU per message at 512 B and 4 KB on one connection; pinned
// buffer memory at 1,024 idle connections at least 10x lower.
#include "support/recv_loopback.hpp"
#include "support/table.hpp"

#include <arenakit/arena/arena.hpp>
#include <arenakit/recv/recv_pool.hpp>
#include <arenakit/uring/buf_ring.hpp>
#include <arenakit/uring/server_ring.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <liburing.h>
#include <memory>
#include <optional>
#include <string>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>


namespace {

using namespace arenakit;
using namespace arenakit::bench::recv_loopback;
using BenchArena = Arena<NoopMapper>;
using Pool = RecvPool<BenchArena>;
using Ring = UringBufRing<Pool>;
using Clock = std::chrono::steady_clock;

constexpr unsigned sq_entries = 256;
constexpr unsigned cq_entries = 4096;
constexpr std::uint32_t ring_buffers = 64;
constexpr unsigned wait_batch = 16;
constexpr std::uint32_t wait_timeout_us = 200;
constexpr std::int64_t msgs_per_iteration = 64;
constexpr std::uint32_t warmup_msgs = 2048;
constexpr int recvs_per_wake = 64;
constexpr std::uint64_t cancel_tag = ~std::uint64_t{0};

// --- Measuring -----------------------------------------------------------------

void consume(const std::byte* p, std::uint32_t n) {
  auto x = static_cast<unsigned>(p[0]) + static_cast<unsigned>(p[n - 1]);
  benchmark::DoNotOptimize(x);
}

/// One run's receiver CPU clock and event counts.
struct Meter {
  explicit Meter(benchmark::State& s) : state(s) {}
  void start() {
    wall0 = Clock::now();
    rusage0 = thread_rusage_ns();
    cpu0 = last = thread_cpu_ns();
  }
  /// End of an iteration: its CPU time is the manual time.
  void lap() {
    const double now = thread_cpu_ns();
    state.SetIterationTime((now - last) * 1e-9);
    last = now;
  }
  void finish(std::uint32_t size, std::uint64_t received, std::uint64_t enters, bool uring, bool flags,
              bool apart) {
    const double wall = std::chrono::duration<double, std::nano>(Clock::now() - wall0).count();
    const double rusage = thread_rusage_ns() - rusage0;
    const auto items = static_cast<std::int64_t>(received / size);
    const auto msgs = static_cast<double>(items);
    state.SetItemsProcessed(items);
    state.SetBytesProcessed(static_cast<std::int64_t>(received));
    if (msgs == 0) return;
    const double cpu = last - cpu0;
    state.counters["cpu_ns_per_byte"] = cpu / static_cast<double>(received);
    state.counters["wall_ns_per_msg"] = wall / msgs;
    state.counters["rusage_ns_per_msg"] = rusage / msgs;
    state.counters["enters_per_msg"] = static_cast<double>(enters) / msgs;
    state.counters[uring ? "cqes_per_enter" : "events_per_wait"] =
        waits != 0 ? static_cast<double>(completions) / static_cast<double>(waits) : 0.0;
    state.counters["msgs"] = msgs;
    state.counters["enobufs"] = static_cast<double>(enobufs);
    state.counters["rearms"] = static_cast<double>(rearms);
    if (uring) state.counters["server_flags"] = flags ? 1 : 0;
    state.counters["cpus_apart"] = apart ? 1 : 0;
  }

  benchmark::State& state;
  Clock::time_point wall0{};
  double cpu0 = 0, last = 0, rusage0 = 0;
  std::uint64_t waits = 0, completions = 0, enobufs = 0, rearms = 0;
};

// --- The server-style ring -----------------------------------------------------

// The library's ServerRing (uring/server_ring.hpp) with this benchmark's
// counting and its shutdown: 256 SQ entries, a 4,096-entry CQ, SINGLE_ISSUER
// | DEFER_TASKRUN when the kernel accepts them, one submit-and-wait for
// wait_nr = 16 CQEs or 200 us per loop turn.
class BenchRing {
public:
  BenchRing() {
    auto made = ServerRing::create({.sq_entries = sq_entries, .cq_entries = cq_entries, .wait_nr = wait_batch,
                                    .wait_timeout_us = wait_timeout_us});
    if (!made) {
      error_ = "io_uring unavailable: " + made.error().message();
      return;
    }
    sr_ = std::move(*made);
    static bool said = false;
    if (!sr_->server_flags() && !said)
      std::fprintf(stderr, "bench_recv: %s (server_flags=0)\n", sr_->chosen());
    said = true;
  }
  BenchRing(const BenchRing&) = delete;
  BenchRing& operator=(const BenchRing&) = delete;

  io_uring& ring() { return sr_->ring(); }
  const std::string& error() const { return error_; }
  /// False (and the row skipped with the reason) when the ring is not up.
  bool ok(benchmark::State& state) const {
    if (!error_.empty()) state.SkipWithError(error_.c_str());
    return error_.empty();
  }
  bool server_flags() const { return sr_ && sr_->server_flags(); }

  /// A free SQE, submitting the queue first when it is full.
  io_uring_sqe* sqe() {
    const std::uint64_t before = sr_->enters();
    io_uring_sqe* s = sr_->sqe();
    enters += sr_->enters() - before;
    return s;
  }
  /// Submit what is queued and wait for @wait_nr CQEs or the short timeout.
  int wait(unsigned wait_nr) {
    ++enters;
    return sr_->wait(wait_nr);
  }
  /// One loop turn's kernel part: submit, wait for @wait_nr CQEs (or the
  /// timeout), hand each receive CQE to @on_cqe (the cancel's own CQE is
  /// noted, not passed on), mark the batch seen. False on a wait error.
  template <class OnCqe>
  bool reap(unsigned wait_nr, Meter& m, OnCqe&& on_cqe) {
    const bool waited = wait(wait_nr) >= 0;
    ++m.waits;
    io_uring_cqe* cqe;
    unsigned head, seen = 0;
    io_uring_for_each_cqe(&ring(), head, cqe) {
      ++seen;
      if (cqe->user_data == cancel_tag) cancel_seen_ = true;
      else on_cqe(*cqe);
    }
    io_uring_cq_advance(&ring(), seen);
    m.completions += seen;
    return waited;
  }
  /// After the run (sender stopped, nothing re-armed any more): cancels every
  /// receive and turns the loop until @live, the receives still armed, is 0.
  template <class Turn>
  bool quiesce(const unsigned& live, Turn&& turn) {
    io_uring_sqe* s = sqe();
    io_uring_prep_cancel64(s, 0, static_cast<int>(IORING_ASYNC_CANCEL_ALL | IORING_ASYNC_CANCEL_ANY));
    io_uring_sqe_set_data64(s, cancel_tag);
    for (int spins = 0; (live != 0 || !cancel_seen_) && spins < 100000; ++spins) turn(1U);
    return live == 0;
  }

  std::uint64_t enters = 0;

private:
  std::unique_ptr<ServerRing> sr_;
  std::string error_;
  bool cancel_seen_ = false;
};

/// Warm up (first touch, the copy-on-write faults fork left behind, socket
/// buffers filled), then time: each iteration receives 64 messages' bytes;
/// its receiver CPU time is the iteration's manual time. @turn is one loop
/// turn of the receiver; @enters is zeroed with the counts after warm-up.
template <class Turn>
std::uint64_t measure(benchmark::State& state, Meter& m, std::uint32_t size, const std::uint64_t& bytes,
                      const bool& failed, std::uint64_t& enters, Turn&& turn) {
  const std::uint64_t warm = bytes + std::uint64_t{warmup_msgs} * size;
  while (bytes < warm && !failed) turn();
  enters = 0;
  m.waits = m.completions = m.enobufs = m.rearms = 0;
  const std::uint64_t first = bytes;
  std::uint64_t target = bytes;
  m.start();
  for (auto _ : state) {
    target += static_cast<std::uint64_t>(msgs_per_iteration) * size;
    while (bytes < target && !failed) turn();
    m.lap();
  }
  // A batch may overshoot the last target: count what was received.
  return bytes - first;
}

struct Shape {
  std::uint32_t size;
  std::uint32_t conns;
};
Shape shape(const benchmark::State& state) {
  return {static_cast<std::uint32_t>(state.range(0)), static_cast<std::uint32_t>(state.range(1))};
}

/// What every receive row starts with: its shape, the receiving thread
/// pinned, the connections open and the sender running.
struct Run {
  explicit Run(const benchmark::State& state)
      : sh(shape(state)), where(placement()), pin(where.receiver), net(sh.conns, sh.size, where.sender) {}
  /// False (and the row skipped with the reason) when the connections failed.
  bool ok(benchmark::State& state) const {
    if (!net.error().empty()) state.SkipWithError(net.error().c_str());
    return net.error().empty();
  }
  Shape sh;
  Placement where;
  PinnedReceiver pin;
  Connections net;
};

/// A shared-mode RecvPool of @buffers message-size buffers for @conns
/// connections and its provided-buffer ring (group 1) on @ring. Members are
/// destroyed ring first, then pool, then arena, as buf_ring.hpp asks.
struct SharedRingPool {
  SharedRingPool(io_uring& ring, std::uint32_t size, std::uint32_t buffers, std::uint32_t conns,
                 bool bundles = false)
      : arena(ArenaConfig{.slot_size = size,
                          .shard_size = std::max<std::size_t>(64 * 1024, std::size_t{size} * 16),
                          .max_shards = 256}) {
    pool.emplace(arena, RecvPoolConfig{.buffers = buffers, .mode = PoolMode::shared, .max_connections = conns});
    if (!*pool) {
      error = pool->error().message();
      return;
    }
    br.emplace(ring, *pool, BufRingConfig{.entries = buffers, .group_id = 1, .bundles = bundles});
    if (!*br) error = br->describe();
  }
  BenchArena arena;
  std::optional<Pool> pool;
  std::optional<Ring> br;
  std::string error;
};

// --- arenakit_ring_multishot ---------------------------------------------------------

template <std::uint32_t Buffers, bool Bundles = false>
void ring_multishot(benchmark::State& state) {
  Run run(state);
  BenchRing sr;
  if (!run.ok(state) || !sr.ok(state)) return;
  const Shape sh = run.sh;
  Connections& net = run.net;
  SharedRingPool rp(sr.ring(), sh.size, Buffers, sh.conns, Bundles);
  if (!rp.error.empty()) return state.SkipWithError(rp.error.c_str());
  Pool* pool = &*rp.pool;
  Ring* br = &*rp.br;
  if (Bundles && !br->bundles()) return state.SkipWithError("no IORING_FEAT_RECVSEND_BUNDLE (kernel < 6.10)");
  std::vector<ConnId> ids;
  for (std::uint32_t c = 0; c < sh.conns; ++c) {
    Result<ConnId> id = pool->add_connection(Buffers);
    if (!id) return state.SkipWithError(id.error().message().c_str());
    ids.push_back(*id);
  }

  Meter m(state);
  std::vector<std::uint32_t> to_arm;
  for (std::uint32_t c = 0; c < sh.conns; ++c) to_arm.push_back(c);
  std::vector<std::uint16_t> done;
  std::uint64_t bytes = 0;
  bool failed = false, stopping = false;
  unsigned live = 0;

  // One loop turn: arm, submit and wait, reap the batch, give back, re-provide.
  auto turn = [&](unsigned wait_nr) {
    for (std::uint32_t c : to_arm) {
      br->prep_recv_multishot(sr.sqe(), net.fds()[c], c);
      ++live;
    }
    to_arm.clear();
    const bool ok = sr.reap(wait_nr, m, [&](const io_uring_cqe& cqe) {
      const auto c = static_cast<std::uint32_t>(cqe.user_data);
      // The connection's multishot receive ended: re-arm it unless stopping.
      const auto ended = [&] {
        --live;
        if (!stopping) {
          to_arm.push_back(c);
          ++m.rearms;
        }
      };
      // A delivered buffer: read, counted, given back after the batch.
      const auto take = [&](const RecvView& v) {
        consume(v.data, v.bytes);
        bytes += v.bytes;
        done.push_back(v.bid);
      };
      // No data: the ring ran dry (ENOBUFS), or end of stream or an error,
      // which fails the row unless the run is stopping.
      const auto no_data = [&](bool no_buffers) {
        if (no_buffers) ++m.enobufs;
        else if (!stopping) failed = true;
      };
      if constexpr (Bundles) {
        // complete(): one CQE, e.bundle consecutive buffers, each delivered
        // to the connection and given back on its own after every view is
        // taken (a give-back may re-provide ring entries).
        const RecvEvent e = br->complete(cqe, ids[c]);
        if (e.rearm) ended();
        if (e) {
          for (unsigned i = 0; i < e.bundle; ++i) take(br->bundle_view(e, i));
        } else {
          no_data(e.kind == RecvEventKind::no_buffers);
        }
        return;
      }
      const RecvCqe r = br->on_cqe(cqe);
      if (r.multishot == Multishot::ended) ended();
      if (r.kind == RecvCqeKind::data) {
        const RecvView v = pool->deliver(ids[c], r.bid, r.bytes);
        if (!v) {
          failed = true;
          return;
        }
        take(v);
      } else {
        no_data(r.kind == RecvCqeKind::no_buffers);
      }
    });
    failed = failed || !ok;
    for (std::uint16_t bid : done) pool->give_back(bid);
    done.clear();
    br->provide(); // the whole batch, one tail advance
  };

  // A bundle CQE carries up to a ring's worth of messages: wait for one.
  const unsigned wait_nr = Bundles ? 1U : wait_batch;
  const std::uint64_t received = measure(state, m, sh.size, bytes, failed, sr.enters, [&] { turn(wait_nr); });
  m.finish(sh.size, received, sr.enters, true, sr.server_flags(), run.pin.pinned());
  // Quiesce: no sender, every receive cancelled and reaped, every buffer back.
  net.stop_sender();
  stopping = true;
  to_arm.clear();
  if (!sr.quiesce(live, turn)) failed = true;
  if (failed) state.SkipWithError("receive failed (or the receives could not be cancelled)");
}

// --- uring_recv_reused_buffer / uring_recv_malloc_per_recv ---------------------------

enum class Buffers { reused, malloc_each };

template <Buffers kind>
void uring_plain(benchmark::State& state) {
  Run run(state);
  BenchRing sr;
  if (!run.ok(state) || !sr.ok(state)) return;
  const Shape sh = run.sh;
  Connections& net = run.net;
  std::vector<std::byte*> bufs(sh.conns, nullptr);
  if (kind == Buffers::reused)
    for (auto& b : bufs) b = static_cast<std::byte*>(std::malloc(sh.size)); // once, reused
  Meter m(state);
  std::vector<std::uint32_t> to_post;
  for (std::uint32_t c = 0; c < sh.conns; ++c) to_post.push_back(c);
  std::uint64_t bytes = 0;
  bool failed = false, stopping = false;
  unsigned live = 0;

  auto turn = [&](unsigned wait_nr) {
    for (std::uint32_t c : to_post) {
      if (kind == Buffers::malloc_each) bufs[c] = static_cast<std::byte*>(std::malloc(sh.size));
      io_uring_sqe* s = sr.sqe();
      io_uring_prep_recv(s, net.fds()[c], bufs[c], sh.size, 0);
      io_uring_sqe_set_data64(s, c);
      ++live;
    }
    to_post.clear();
    const bool ok = sr.reap(std::max(1U, std::min(wait_nr, live)), m, [&](const io_uring_cqe& cqe) {
      const auto c = static_cast<std::uint32_t>(cqe.user_data);
      --live;
      if (cqe.res > 0) {
        consume(bufs[c], static_cast<std::uint32_t>(cqe.res));
        bytes += static_cast<std::uint64_t>(cqe.res);
      } else if (!stopping) {
        failed = true;
      }
      if (kind == Buffers::malloc_each) {
        std::free(bufs[c]);
        bufs[c] = nullptr;
      }
      if (!stopping) to_post.push_back(c);
    });
    failed = failed || !ok;
  };

  const std::uint64_t received = measure(state, m, sh.size, bytes, failed, sr.enters, [&] { turn(wait_batch); });
  m.finish(sh.size, received, sr.enters, true, sr.server_flags(), run.pin.pinned());
  net.stop_sender();
  stopping = true;
  to_post.clear();
  if (!sr.quiesce(live, turn)) failed = true; // their buffers are leaked, not freed under the kernel
  else
    for (std::byte* b : bufs) std::free(b);
  if (failed) state.SkipWithError("receive failed (or the receives could not be cancelled)");
}

// --- epoll_recv_reused_buffer --------------------------------------------------------

void epoll_reused(benchmark::State& state) {
  Run run(state);
  if (!run.ok(state)) return;
  const Shape sh = run.sh;
  Connections& net = run.net;
  const int ep = ::epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) return state.SkipWithError("epoll_create1 failed");
  bool failed = false;
  for (std::uint32_t c = 0; c < sh.conns; ++c) {
    const int fd = net.fds()[c];
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    epoll_event ev{};
    ev.events = EPOLLIN; // level-triggered
    ev.data.u32 = c;
    if (::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) failed = true;
  }
  std::vector<std::unique_ptr<std::byte[]>> bufs(sh.conns);
  for (auto& b : bufs) b = std::make_unique<std::byte[]>(sh.size); // once, reused
  std::vector<epoll_event> events(256);
  Meter m(state);
  std::uint64_t bytes = 0, calls = 0;
  auto turn = [&] {
    ++calls;
    ++m.waits;
    const int n = ::epoll_wait(ep, events.data(), static_cast<int>(events.size()), 1000);
    if (n <= 0) {
      failed = n == 0 || errno != EINTR; // a second without data: the sender is gone
      return;
    }
    m.completions += static_cast<std::uint64_t>(n);
    for (int i = 0; i < n; ++i) {
      const std::uint32_t c = events[static_cast<std::size_t>(i)].data.u32;
      for (int k = 0; k < recvs_per_wake; ++k) {
        ++calls;
        const ssize_t r = ::recv(net.fds()[c], bufs[c].get(), sh.size, 0);
        if (r > 0) {
          consume(bufs[c].get(), static_cast<std::uint32_t>(r));
          bytes += static_cast<std::uint64_t>(r);
          continue;
        }
        if (r < 0 && (errno == EAGAIN || errno == EINTR)) break;
        failed = true;
        break;
      }
    }
  };
  const std::uint64_t received = measure(state, m, sh.size, bytes, failed, calls, turn);
  m.finish(sh.size, received, calls, false, false, run.pin.pinned());
  ::close(ep);
  if (failed) state.SkipWithError("receive failed");
}

// --- recv_idle_pinned_bytes ------------------------------------------------------------

/// Reports @bytes as the "time" of one item (the table's one number per row).
void report_bytes(benchmark::State& state, double bytes, double buffers) {
  for (auto _ : state) state.SetIterationTime(bytes * 1e-9);
  state.SetItemsProcessed(state.iterations());
  state.counters["pinned_KiB"] = bytes / 1024;
  state.counters["buffers"] = buffers;
}

/// The shared ring: every buffer its pool holds (posted to the ring or not)
/// plus the ring's own pages, read from a really registered ring.
template <std::uint32_t Count>
void idle_ring(benchmark::State& state) {
  const Shape sh = shape(state);
  BenchRing sr;
  if (!sr.ok(state)) return;
  SharedRingPool rp(sr.ring(), sh.size, Count, sh.conns);
  if (!rp.error.empty()) return state.SkipWithError(rp.error.c_str());
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  const std::size_t ring_pages = (std::size_t{rp.br->entries()} * sizeof(io_uring_buf) + page - 1) / page * page;
  const double bytes = static_cast<double>(std::size_t{rp.pool->size()} * rp.pool->buffer_size() + ring_pages);
  report_bytes(state, bytes, Count);
}

/// Plain recv: one posted buffer per idle connection.
void idle_per_connection(benchmark::State& state) {
  const Shape sh = shape(state);
  report_bytes(state, static_cast<double>(std::size_t{sh.size} * sh.conns), sh.conns);
}

void shapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"bytes", "conns"});
  for (std::int64_t size : {512, 4096})
    for (std::int64_t conns : {1, 64, 1024}) b->Args({size, conns});
  b->UseManualTime();
}

void idle_shapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"bytes", "conns"})->Args({512, 1024})->Args({4096, 1024})->UseManualTime();
}

} // namespace

BENCHMARK(ring_multishot<ring_buffers>)->Name("recv_tcp_loopback/arenakit_ring_multishot")->Apply(shapes);
BENCHMARK(ring_multishot<256>)->Name("recv_tcp_loopback/arenakit_ring_multishot_256_buffers")->Apply(shapes);
BENCHMARK(ring_multishot<ring_buffers, true>)->Name("recv_tcp_loopback/arenakit_ring_bundles")->Apply(shapes);
BENCHMARK(ring_multishot<256, true>)->Name("recv_tcp_loopback/arenakit_ring_bundles_256_buffers")->Apply(shapes);
BENCHMARK(epoll_reused)->Name("recv_tcp_loopback/epoll_recv_reused_buffer")->Apply(shapes);
BENCHMARK(uring_plain<Buffers::reused>)->Name("recv_tcp_loopback/uring_recv_reused_buffer")->Apply(shapes);
BENCHMARK(uring_plain<Buffers::malloc_each>)->Name("recv_tcp_loopback/uring_recv_malloc_per_recv")->Apply(shapes);
BENCHMARK(idle_ring<ring_buffers>)->Name("recv_idle_pinned_bytes/arenakit_ring_64_buffers")->Apply(idle_shapes);
BENCHMARK(idle_ring<256>)->Name("recv_idle_pinned_bytes/arenakit_ring_256_buffers")->Apply(idle_shapes);
BENCHMARK(idle_per_connection)->Name("recv_idle_pinned_bytes/recv_buffer_per_connection")->Apply(idle_shapes);

namespace {
[[maybe_unused]] const int targets = [] {
  for (const char* size : {"512", "4096"}) {
    const std::string s = size;
    const std::string one = "recv_tcp_loopback/bytes:" + s + "/conns:1";
    bench::target(one, "arenakit_ring_multishot", one, "epoll_recv_reused_buffer", 0.5,
                  "receiver CPU/msg, " + s + " B, 1 conn: ring <= 0.5x reused-buffer recv()");
    bench::target(one, "arenakit_ring_bundles", one, "epoll_recv_reused_buffer", 0.5,
                  "receiver CPU/msg, " + s + " B, 1 conn: bundle ring (several one-message buffers per CQE) <= 0.5x reused-buffer recv()");
    const std::string idle = "recv_idle_pinned_bytes/bytes:" + s + "/conns:1024";
    bench::target(idle, "arenakit_ring_64_buffers", idle, "recv_buffer_per_connection", 0.1,
                  "pinned buffer bytes, " + s + " B, 1,024 idle conns: ring <= 0.1x per-conn");
  }
  return 0;
}();
} // namespace

ARENAKIT_BENCH_MAIN()
