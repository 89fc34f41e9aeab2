// SPDX-License-Identifier: MIT
// Test fixtures shared by the io_uring tests: a ring that skips the test
// (exit 77, ctest "Skipped") only when this machine has no io_uring, and a
// connected TCP pair on 127.0.0.1, and a sender of a known byte pattern.
#pragma once

#include <doctest/doctest.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include <arpa/inet.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

namespace arenakit_test {

/// An io_uring instance. Only "this machine has no io_uring" skips; every
/// failure after set-up is a test failure.
struct TestRing {
  io_uring ring{};
  explicit TestRing(unsigned entries = 8) {
    const int rc = io_uring_queue_init(entries, &ring, 0);
    if (rc < 0) {
      std::printf("SKIP: io_uring_queue_init failed (%s): io_uring unavailable here\n", std::strerror(-rc));
      std::exit(77);
    }
  }
  ~TestRing() { io_uring_queue_exit(&ring); }
  TestRing(const TestRing&) = delete;
  TestRing& operator=(const TestRing&) = delete;
};

/// A connected TCP pair on 127.0.0.1 (ephemeral port), Nagle off on both ends.
struct TcpPair {
  int client = -1, server = -1;
  TcpPair() {
    const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(listener >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    REQUIRE(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(listener, 1) == 0);
    socklen_t len = sizeof addr;
    REQUIRE(::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    client = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(client >= 0);
    REQUIRE(::connect(client, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    server = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    REQUIRE(server >= 0);
    ::close(listener);
    int one = 1;
    ::setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    ::setsockopt(server, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  ~TcpPair() {
    if (client >= 0) ::close(client);
    if (server >= 0) ::close(server);
  }
  TcpPair(const TcpPair&) = delete;
  TcpPair& operator=(const TcpPair&) = delete;
};

/// The pattern byte at stream offset @off (not periodic in 256 or 4096).
inline unsigned char pattern(std::uint64_t off) { return static_cast<unsigned char>((off * 131 + off / 977) ^ 0x5A); }

/// Writes @total bytes of the pattern in sizes from 1 to @max_chunk, then
/// shuts the write side down.
inline void send_pattern(int fd, std::uint64_t total, std::uint32_t max_chunk, unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<unsigned char> buf(max_chunk);
  std::uint64_t off = 0;
  while (off < total) {
    std::uint64_t n = 1 + rng() % max_chunk;
    if (n > total - off) n = total - off;
    for (std::uint64_t i = 0; i < n; ++i) buf[i] = pattern(off + i);
    std::size_t done = 0;
    while (done < n) {
      const ssize_t w = ::send(fd, buf.data() + done, n - done, MSG_NOSIGNAL);
      if (w <= 0) {
        if (errno == EINTR) continue;
        return; // the receiver failed; its checks report it
      }
      done += static_cast<std::size_t>(w);
    }
    off += n;
  }
  ::shutdown(fd, SHUT_WR);
}

} // namespace arenakit_test
