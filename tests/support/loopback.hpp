// SPDX-License-Identifier: MIT
// Test fixtures shared by the io_uring tests: a ring that skips the test
// (exit 77, ctest "Skipped") only when this machine has no io_uring, and a
// connected TCP pair on 127.0.0.1.
#pragma once

#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

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

} // namespace arenakit_test
