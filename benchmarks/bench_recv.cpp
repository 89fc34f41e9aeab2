// SPDX-License-Identifier: MIT
// Receive throughput over TCP loopback (127.0.0.1, TCP_NODELAY): a sender
// thread writes messages of 512 B, 4 KB or 64 KB back to back; the receive
// loop (io_uring, submit-and-wait, reap every CQE of the batch) takes them
// three ways:
//   arenakit_ring_multishot  one multishot recv picking RecvPool buffers from a
//                            provided-buffer ring; buffers given back and
//                            re-provided once per CQE batch (one tail advance)
//   arenakit_ring_single     the same ring, one single-shot recv at a time
//                            (isolates the buffer source from multishot)
//   malloc_per_recv          one plain recv SQE into a fresh malloc(size),
//                            free() after the completion
// Buffers are the message size in every case, so each recv returns at most
// one message worth of bytes. The table's ns/item is per message; the bytes
// rate is bytes_per_second. The loop reads the first and last byte of every
// receive (the same in every row). Two vCPUs: the sender competes with the
// receiver, so read the ratios, not the absolute numbers.
#include "support/table.hpp"

#include <arenakit/arena/arena.hpp>
#include <arenakit/recv/recv_pool.hpp>
#include <arenakit/uring/buf_ring.hpp>

#include <arpa/inet.h>
#include <atomic>
#include <chrono>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <optional>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace {

using namespace arenakit;
using BenchArena = Arena<NoopMapper>;
using Pool = RecvPool<BenchArena>;
using Ring = UringBufRing<Pool>;
constexpr std::uint32_t pool_buffers = 64;

/// A TCP loopback connection with a sender thread that writes @size-byte
/// messages until the receive side closes.
class Loopback {
public:
  explicit Loopback(std::uint32_t size) {
    int listener = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    ::bind(listener, reinterpret_cast<sockaddr*>(&addr), len);
    ::listen(listener, 1);
    ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len);
    client_ = ::socket(AF_INET, SOCK_STREAM, 0);
    ok_ = ::connect(client_, reinterpret_cast<sockaddr*>(&addr), len) == 0;
    server_ = ::accept(listener, nullptr, nullptr);
    ::close(listener);
    int one = 1;
    ::setsockopt(client_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    ok_ = ok_ && server_ >= 0;
    sender_ = std::thread([this, size] {
      std::vector<unsigned char> msg(size, 0xA5);
      while (::send(client_, msg.data(), size, MSG_NOSIGNAL) > 0) {
      }
    });
  }
  ~Loopback() {
    ::shutdown(server_, SHUT_RDWR); // the sender's next send fails: it exits
    ::shutdown(client_, SHUT_RDWR);
    sender_.join();
    ::close(client_);
    ::close(server_);
  }
  bool ok() const { return ok_; }
  int fd() const { return server_; }

private:
  int client_ = -1, server_ = -1;
  bool ok_ = false;
  std::thread sender_;
};

void consume(const std::byte* p, std::uint32_t n) {
  auto x = static_cast<unsigned>(p[0]) + static_cast<unsigned>(p[n - 1]);
  benchmark::DoNotOptimize(x);
}

using Clock = std::chrono::steady_clock;

void finish(benchmark::State& state, std::uint64_t bytes, std::uint32_t size, Clock::duration took) {
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
  state.SetItemsProcessed(static_cast<std::int64_t>(bytes / size)); // messages
  // The same rate as a plain counter, so the table prints it next to ns/message.
  const double secs = std::chrono::duration<double>(took).count();
  state.counters["MB_per_s"] = secs > 0 ? static_cast<double>(bytes) / secs / 1e6 : 0.0;
}

enum class Arm { multishot, single };

template <Arm mode>
void recv_pool_ring(benchmark::State& state) {
  const auto size = static_cast<std::uint32_t>(state.range(0));
  io_uring ring;
  if (io_uring_queue_init(64, &ring, 0) < 0) return state.SkipWithError("io_uring unavailable");
  std::size_t shard = std::max<std::size_t>(64 * 1024, std::size_t{size} * 16);
  BenchArena arena(ArenaConfig{.slot_size = size, .shard_size = shard, .max_shards = 64});
  std::optional<Pool> pool(std::in_place, arena, RecvPoolConfig{.buffers = pool_buffers});
  ConnId conn = *pool->add_connection(pool_buffers);
  std::optional<Ring> br(std::in_place, ring, *pool, BufRingConfig{.entries = pool_buffers, .group_id = 1});
  if (!*br) {
    io_uring_queue_exit(&ring);
    return state.SkipWithError(br->describe().c_str());
  }
  std::uint64_t bytes = 0, target = 0;
  Clock::duration took{};
  bool armed = false, failed = false;
  std::vector<std::uint16_t> done;
  {
    Loopback net(size);
    if (!net.ok()) failed = true;
    auto arm = [&] {
      if (mode == Arm::multishot) br->prep_recv_multishot(io_uring_get_sqe(&ring), net.fd(), 1);
      else br->prep_recv(io_uring_get_sqe(&ring), net.fd(), 1);
      armed = true;
    };
    const auto start = Clock::now();
    for (auto _ : state) {
      target += size;
      while (bytes < target && !failed) {
        if (!armed) arm();
        io_uring_submit_and_wait(&ring, 1);
        io_uring_cqe* cqe;
        unsigned head, seen = 0;
        io_uring_for_each_cqe(&ring, head, cqe) {
          ++seen;
          const RecvCqe r = br->on_cqe(*cqe);
          if (r.multishot == Multishot::ended) armed = false;
          if (r.kind == RecvCqeKind::data) {
            const RecvView v = pool->deliver(conn, r.bid, r.bytes);
            consume(v.data, v.bytes);
            bytes += v.bytes;
            done.push_back(r.bid);
          } else if (r.kind != RecvCqeKind::no_buffers) {
            failed = true;
          }
        }
        io_uring_cq_advance(&ring, seen);
        for (auto bid : done) pool->give_back(bid);
        done.clear();
        br->provide(); // the whole batch, one tail advance
      }
    }
    took = Clock::now() - start;
    // Close the stream; reap until the receive has ended so every buffer is accounted for.
    ::shutdown(net.fd(), SHUT_RDWR);
    while (armed) {
      io_uring_cqe* cqe;
      if (io_uring_wait_cqe(&ring, &cqe) != 0) break;
      const RecvCqe r = br->on_cqe(*cqe);
      if (r.kind == RecvCqeKind::data) pool->give_back(pool->deliver(conn, r.bid, r.bytes).bid);
      if (r.multishot == Multishot::ended) armed = false;
      io_uring_cqe_seen(&ring, cqe);
    }
  }
  if (failed) state.SkipWithError("receive failed");
  const BufRingCounters rc = br->counters();
  state.counters["bufs_per_advance"] =
      rc.batches != 0 ? static_cast<double>(rc.provided) / static_cast<double>(rc.batches) : 0.0;
  br.reset();
  pool.reset();
  io_uring_queue_exit(&ring);
  finish(state, bytes, size, took);
}

void recv_malloc(benchmark::State& state) {
  const auto size = static_cast<std::uint32_t>(state.range(0));
  io_uring ring;
  if (io_uring_queue_init(64, &ring, 0) < 0) return state.SkipWithError("io_uring unavailable");
  std::uint64_t bytes = 0, target = 0;
  Clock::duration took{};
  bool failed = false;
  {
    Loopback net(size);
    failed = !net.ok();
    const auto start = Clock::now();
    for (auto _ : state) {
      target += size;
      while (bytes < target && !failed) {
        void* buf = std::malloc(size); // a fresh buffer per receive
        io_uring_sqe* sqe = io_uring_get_sqe(&ring);
        io_uring_prep_recv(sqe, net.fd(), buf, size, 0);
        io_uring_submit_and_wait(&ring, 1);
        io_uring_cqe* cqe;
        unsigned head, seen = 0;
        io_uring_for_each_cqe(&ring, head, cqe) {
          ++seen;
          if (cqe->res <= 0) {
            failed = true;
            continue;
          }
          consume(static_cast<const std::byte*>(buf), static_cast<std::uint32_t>(cqe->res));
          bytes += static_cast<std::uint64_t>(cqe->res);
        }
        io_uring_cq_advance(&ring, seen);
        std::free(buf);
      }
    }
    took = Clock::now() - start;
  }
  if (failed) state.SkipWithError("receive failed");
  io_uring_queue_exit(&ring);
  finish(state, bytes, size, took);
}

void sizes(benchmark::internal::Benchmark* b) {
  b->Arg(512)->Arg(4096)->Arg(65536)->UseRealTime();
}

} // namespace

BENCHMARK(recv_pool_ring<Arm::multishot>)->Name("recv_tcp_loopback/arenakit_ring_multishot")->Apply(sizes);
BENCHMARK(recv_pool_ring<Arm::single>)->Name("recv_tcp_loopback/arenakit_ring_single")->Apply(sizes);
BENCHMARK(recv_malloc)->Name("recv_tcp_loopback/malloc_per_recv")->Apply(sizes);

ARENAKIT_BENCH_MAIN()
