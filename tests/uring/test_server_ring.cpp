// SPDX-License-Identifier: MIT
// ServerRing (issue 13): an io_uring set up as a receiving server would, and
// its batch wait. Exits 77 (skipped) where io_uring is unavailable.
#include <arenakit/uring/server_ring.hpp>

#include <doctest/doctest.h>

#include "loopback.hpp" // TestRing: exits 77 where io_uring is unavailable

#include <chrono>
#include <cstdio>
#include <cstring>

#include <sys/utsname.h>

using namespace arenakit;

namespace {
bool kernel_at_least(int major, int minor) {
  utsname u{};
  if (uname(&u) != 0) return false;
  int ma = 0, mi = 0;
  if (std::sscanf(u.release, "%d.%d", &ma, &mi) != 2) return false;
  return ma > major || (ma == major && mi >= minor);
}
void require_uring() { arenakit_test::TestRing probe; }
} // namespace

TEST_CASE("a server ring asks for SINGLE_ISSUER | DEFER_TASKRUN and says what it got") {
  require_uring();
  auto made = ServerRing::create();
  REQUIRE(made);
  ServerRing& r = **made;
  if (kernel_at_least(6, 1)) CHECK(r.server_flags());
  CHECK(std::strlen(r.chosen()) > 0);
  auto plain = ServerRing::create({.single_issuer = false});
  REQUIRE(plain);
  CHECK_FALSE((*plain)->server_flags());
  CHECK(std::strstr((*plain)->chosen(), "not asked for") != nullptr);
}

TEST_CASE("bad configurations are refused before the kernel is asked") {
  CHECK(ServerRing::create({.sq_entries = 0}).error() == errc::invalid_config);
  CHECK(ServerRing::create({.sq_entries = 256, .cq_entries = 128}).error() == errc::invalid_config);
  CHECK(ServerRing::create({.wait_nr = 0}).error() == errc::invalid_config);
}

TEST_CASE("wait() is one entry per batch: it returns at wait_nr CQEs, or at the timeout with fewer") {
  require_uring();
  auto made = ServerRing::create({.wait_nr = 4, .wait_timeout_us = 2000});
  REQUIRE(made);
  ServerRing& r = **made;
  for (int i = 0; i < 4; ++i) io_uring_prep_nop(r.sqe());
  CHECK(r.wait() == 4);
  CHECK(r.enters() == 1);
  CHECK(io_uring_cq_ready(&r.ring()) == 4);
  io_uring_cq_advance(&r.ring(), 4);
  // Nothing pending: the timeout ends the wait (no hang), reported as 0.
  const auto t0 = std::chrono::steady_clock::now();
  CHECK(r.wait() == 0);
  CHECK(std::chrono::steady_clock::now() - t0 >= std::chrono::microseconds(1000));
  CHECK(r.enters() == 2);
}

TEST_CASE("wait() returns what it submitted, with a CQE already waiting or nothing to wait for") {
  // liburing's answer is the wait's outcome: 0 after submitting when a CQE
  // was already there, -EAGAIN for wait(0) with nothing ready. wait()
  // returned those, although its contract is the count submitted.
  require_uring();
  auto made = ServerRing::create({.wait_nr = 1, .wait_timeout_us = 200});
  REQUIRE(made);
  ServerRing& r = **made;
  CHECK(r.wait(0) == 0); // idle poll: nothing submitted, nothing ready, not an error
  io_uring_prep_nop(r.sqe());
  CHECK(r.wait() == 1);
  REQUIRE(io_uring_cq_ready(&r.ring()) == 1); // left unreaped
  for (int i = 0; i < 3; ++i) io_uring_prep_nop(r.sqe());
  CHECK(r.wait() == 3);
  CHECK(r.wait(0) == 0);
  io_uring_cq_advance(&r.ring(), io_uring_cq_ready(&r.ring()));
}

