// SPDX-License-Identifier: MIT
// Fixtures of the io_uring receive-pool tests (test_recv_pool_uring,
// test_recv_pool_ring): the pool and ring types, a ring that skips the whole
// binary (exit 77) only where io_uring or provided-buffer rings are missing,
// a loopback UDP pair, and a whole UDP server (ring + pool + sockets).
#pragma once

#include <arenakit/arena/arena.hpp>
#include <arenakit/recv/recv_pool.hpp>
#include <arenakit/uring/buf_ring.hpp>

#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <vector>

#include <arpa/inet.h>
#include <liburing.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace arenakit_test {

using TestArena = arenakit::Arena<arenakit::NoopMapper>;
using Pool = arenakit::RecvPool<TestArena>;
using Ring = arenakit::UringBufRing<Pool>;

[[noreturn]] inline void skip(const char* why, int err) {
  std::printf("SKIP: %s (%s)\n", why, std::strerror(err));
  std::fflush(stdout);
  std::_Exit(77);
}

struct Uring {
  io_uring ring{};
  bool exited = false;
  explicit Uring(unsigned entries = 64) {
    const int rc = io_uring_queue_init(entries, &ring, 0);
    if (rc < 0) skip("io_uring_queue_init failed", -rc);
  }
  void exit() {
    if (!exited) io_uring_queue_exit(&ring);
    exited = true;
  }
  ~Uring() { exit(); }
  Uring(const Uring&) = delete;
  Uring& operator=(const Uring&) = delete;
};

/// Probes for provided-buffer rings once; skips the whole binary without them.
inline void require_buf_rings() {
  Uring u;
  TestArena arena(arenakit::ArenaConfig{.slot_size = 512, .shard_size = 64 * 1024, .max_shards = 1});
  Pool pool(arena, arenakit::RecvPoolConfig{.buffers = 4});
  Ring br(u.ring, pool, arenakit::BufRingConfig{.entries = 4, .group_id = 99});
  if (br.error() && br.error().category() == std::system_category())
    skip(br.describe().c_str(), br.error().value());
  REQUIRE(br);
}

/// Two UDP sockets on 127.0.0.1: `server` bound, `client` connected to it.
struct UdpPair {
  int server = -1, client = -1;
  sockaddr_in client_addr{};
  UdpPair() {
    server = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    client = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    REQUIRE((server >= 0 && client >= 0));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    REQUIRE(::bind(server, reinterpret_cast<sockaddr*>(&a), len) == 0);
    REQUIRE(::getsockname(server, reinterpret_cast<sockaddr*>(&a), &len) == 0);
    REQUIRE(::connect(client, reinterpret_cast<sockaddr*>(&a), len) == 0);
    len = sizeof client_addr;
    REQUIRE(::getsockname(client, reinterpret_cast<sockaddr*>(&client_addr), &len) == 0);
  }
  ~UdpPair() {
    ::close(server);
    ::close(client);
  }
  UdpPair(const UdpPair&) = delete;
  UdpPair& operator=(const UdpPair&) = delete;
  /// A datagram of @n bytes: seed + 7i.
  void send(std::uint32_t n, unsigned char seed) const {
    std::vector<unsigned char> b(n);
    for (std::uint32_t i = 0; i < n; ++i) b[i] = static_cast<unsigned char>(seed + i * 7);
    REQUIRE(::send(client, b.data(), n, 0) == static_cast<ssize_t>(n));
  }
};

/// Whether @p is the datagram UdpPair::send(n, seed) sent.
inline bool payload_ok(std::span<const std::byte> p, std::uint32_t n, unsigned char seed) {
  if (p.size() != n) return false;
  for (std::uint32_t i = 0; i < n; ++i)
    if (static_cast<unsigned char>(p[i]) != static_cast<unsigned char>(seed + i * 7)) return false;
  return true;
}

/// A connectionless UDP server: io_uring, sockets, arena, pool, ring.
struct UdpServer {
  Uring u;
  UdpPair udp;
  TestArena arena;
  Pool pool;
  Ring br;
  UdpServer(std::uint32_t slot_size, std::uint32_t buffers, const arenakit::BufRingConfig& config)
      : arena(arenakit::ArenaConfig{.slot_size = slot_size, .shard_size = 64 * 1024, .max_shards = 1}),
        pool(arena, arenakit::RecvPoolConfig{.buffers = buffers, .mode = arenakit::PoolMode::connectionless}),
        br(u.ring, pool, config) {
    REQUIRE_MESSAGE(br, br.describe());
  }
  void arm_recvmsg(std::uint32_t user = 0) { br.prep_recvmsg_multishot(io_uring_get_sqe(&u.ring), udp.server, user); }
};

/// Submits and reaps CQEs, calling @on for each, until it returns false or
/// nothing arrives for two seconds.
template <class F>
void reap(io_uring& ring, F&& on) {
  io_uring_cqe* cqe;
  __kernel_timespec ts{.tv_sec = 2, .tv_nsec = 0};
  while (io_uring_submit_and_wait_timeout(&ring, &cqe, 1, &ts, nullptr) >= 0) {
    unsigned head, seen = 0;
    bool more = true;
    io_uring_for_each_cqe(&ring, head, cqe) {
      ++seen;
      more = on(*cqe) && more;
    }
    io_uring_cq_advance(&ring, seen);
    if (!more) return;
  }
}

} // namespace arenakit_test
