// SPDX-License-Identifier: MIT
// The real receive path over TCP loopback: a sender thread writes a known
// pattern in varied sizes; io_uring multishot (or batched single-shot)
// receives land in a RecvPool's buffers through a provided-buffer ring;
// every byte is checked, every buffer comes back, the counters agree. A tiny
// ring provokes ENOBUFS. An echo leg sends each buffer back with SEND_ZC and
// releases it through a ReleaseList when the zero-copy notification arrives.
// Exits 77 (skipped) when io_uring or provided-buffer rings are unavailable.
#include <arenakit/arena/arena.hpp>
#include <arenakit/recv/recv_pool.hpp>
#include <arenakit/lists/release_list.hpp>
#include <arenakit/uring/buf_ring.hpp>

#include <doctest/doctest.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "loopback.hpp"
#include "ring_fixture.hpp"

using namespace arenakit;

namespace {

using arenakit_test::Pool;
using arenakit_test::require_buf_rings;
using arenakit_test::Ring;
using arenakit_test::TestArena;
using arenakit_test::Uring;
using arenakit_test::pattern;
using arenakit_test::send_pattern;
using arenakit_test::TcpPair;


enum class RecvMode { multishot, single_shot_batch };

struct StreamResult {
  std::uint64_t bytes = 0;
  std::uint64_t mismatches = 0;
  std::uint64_t rearms = 0;
  bool eof = false;
};

/**
 * receive_stream - the receive loop under test
 * @hold: buffers the loop keeps before giving any back (provokes ENOBUFS
 *        with a tiny ring)
 */
StreamResult receive_stream(io_uring& ring, Pool& pool, Ring& br, ConnId conn, int fd, RecvMode mode,
                            unsigned hold = 0) {
  StreamResult out;
  constexpr unsigned batch = 8; // single-shot receives kept in flight
  unsigned in_flight = 0;
  auto arm = [&] {
    if (mode == RecvMode::multishot) {
      br.prep_recv_multishot(io_uring_get_sqe(&ring), fd, 1);
      in_flight = 1;
    } else {
      for (; in_flight < batch; ++in_flight) br.prep_recv(io_uring_get_sqe(&ring), fd, 1);
    }
    ++out.rearms;
  };
  std::vector<std::uint16_t> held;
  arm();
  while (!out.eof) {
    REQUIRE(io_uring_submit_and_wait(&ring, 1) >= 0);
    io_uring_cqe* cqe;
    unsigned head, seen = 0;
    bool rearm = false;
    io_uring_for_each_cqe(&ring, head, cqe) {
      ++seen;
      const RecvCqe r = br.on_cqe(*cqe);
      if (r.multishot == Multishot::ended) {
        --in_flight;
        rearm = true;
      }
      if (r.kind == RecvCqeKind::data) {
        const RecvView v = pool.deliver(conn, r.bid, r.bytes);
        REQUIRE(v);
        for (std::uint32_t i = 0; i < v.bytes; ++i)
          out.mismatches += static_cast<unsigned char>(v.data[i]) != pattern(out.bytes + i) ? 1u : 0u;
        out.bytes += v.bytes;
        held.push_back(r.bid);
      } else if (r.kind == RecvCqeKind::end_of_stream) {
        out.eof = true;
      } else if (r.kind == RecvCqeKind::no_buffers) {
        hold = 0; // the ring ran dry: stop hoarding, give everything back
      } else {
        FAIL("receive error: ", std::strerror(r.error));
      }
    }
    io_uring_cq_advance(&ring, seen);
    if (held.size() > hold) {
      for (auto bid : held) REQUIRE(pool.give_back(bid));
      held.clear();
    }
    br.provide(); // one batch, one tail advance
    // Re-arm only when nothing is in flight (a single-shot batch refills
    // once the batch is spent): stream order stays the order of the CQEs.
    if (rearm && in_flight == 0 && !out.eof) arm();
  }
  for (auto bid : held) REQUIRE(pool.give_back(bid));
  // Single-shot receives still in flight after EOF complete with 0 too.
  while (in_flight > 1 && mode == RecvMode::single_shot_batch) {
    io_uring_cqe* cqe;
    REQUIRE(io_uring_wait_cqe(&ring, &cqe) == 0);
    const RecvCqe r = br.on_cqe(*cqe);
    CHECK(r.kind == RecvCqeKind::end_of_stream);
    io_uring_cqe_seen(&ring, cqe);
    --in_flight;
  }
  return out;
}


} // namespace

TEST_CASE("the ring refuses bad geometry and a taken group id, readably, and loses no buffer") {
  require_buf_rings();
  Uring u;
  TestArena arena(ArenaConfig{.slot_size = 512, .shard_size = 64 * 1024, .max_shards = 1});
  Pool pool(arena, RecvPoolConfig{.buffers = 8});
  {
    Ring not_pow2(u.ring, pool, BufRingConfig{.entries = 6, .group_id = 1});
    CHECK(not_pow2.error() == errc::invalid_config);
    Ring too_big(u.ring, pool, BufRingConfig{.entries = 65536, .group_id = 1});
    CHECK(too_big.error() == errc::invalid_config);
    CHECK(pool.free_count() == 8);
  }
  Ring first(u.ring, pool, BufRingConfig{.entries = 4, .group_id = 7});
  REQUIRE(first);
  CHECK(first.in_ring() == 4);
  CHECK(pool.free_count() == 4);
  {
    Ring dup(u.ring, pool, BufRingConfig{.entries = 4, .group_id = 7});
    CHECK(dup.error() == std::error_code(EEXIST, std::system_category()));
    CHECK(dup.describe().find("already registered") != std::string::npos);
    CHECK(pool.free_count() == 4); // the refused ring took nothing
  }
  CHECK(first.provide() == 0); // full
  // create() says the same: a taken group id is the kernel's EEXIST, nothing taken.
  auto dup = Ring::create(u.ring, pool, BufRingConfig{.entries = 4, .group_id = 7});
  REQUIRE_FALSE(dup);
  CHECK(dup.error() == std::error_code(EEXIST, std::system_category()));
  CHECK(pool.free_count() == 4);
  // One ring per pool: a second one is refused by create() as by the constructor.
  auto second = Ring::create(u.ring, pool, BufRingConfig{.entries = 4, .group_id = 8});
  REQUIRE_FALSE(second);
  CHECK(second.error() == RecvStatus::ring_attached);
  CHECK(pool.free_count() == 4);
  TestArena arena2(ArenaConfig{.slot_size = 512, .shard_size = 64 * 1024, .max_shards = 1});
  Pool pool2(arena2, RecvPoolConfig{.buffers = 8});
  auto made = Ring::create(u.ring, pool2, BufRingConfig{.entries = 4, .group_id = 8});
  REQUIRE(made);
  CHECK((*made)->in_ring() == 4);
  CHECK(pool2.free_count() == 4);
}

TEST_CASE("loopback TCP: multishot receives into pool buffers, every byte checked, every buffer back") {
  require_buf_rings();
  for (RecvMode mode : {RecvMode::multishot, RecvMode::single_shot_batch}) {
    CAPTURE(static_cast<int>(mode));
    Uring u;
    TcpPair tcp;
    TestArena arena(ArenaConfig{.slot_size = 4096, .shard_size = 64 * 1024, .max_shards = 8});
    {
      Pool pool(arena, RecvPoolConfig{.buffers = 64});
      REQUIRE(pool);
      ConnId conn = *pool.add_connection(64);
      StreamResult got;
      {
        Ring br(u.ring, pool, BufRingConfig{.entries = 64, .group_id = 3});
        REQUIRE_MESSAGE(br, br.describe());
        CHECK(br.in_ring() == 64);
        constexpr std::uint64_t total = 3u << 20;
        std::thread sender(send_pattern, tcp.client, total, 20000u, 42u);
        got = receive_stream(u.ring, pool, br, conn, tcp.server, mode);
        sender.join();
        CHECK(got.eof);
        CHECK(got.bytes == total);
        CHECK(got.mismatches == 0);
        const auto rc = br.counters();
        CHECK(rc.consumed == pool.counters().delivered);
        CHECK(rc.provided == rc.consumed + rc.in_ring);
        CHECK(rc.batches < rc.provided); // re-provided in batches, not one advance per buffer
        CHECK(rc.bad_bids == 0);
        MESSAGE("mode ", static_cast<int>(mode), ": ", pool.counters().delivered, " receives, ",
                rc.provided, " buffers provided in ", rc.batches, " advances, ", got.rearms, " arms");
      }
      // The ring is gone: the buffers it still held are free again.
      const auto k = pool.counters();
      CHECK(k.delivered == k.given_back);
      CHECK(k.bytes_delivered == 3u << 20);
      CHECK(k.free == 64);
      CHECK(k.posted == 0);
      CHECK(k.held == 0);
      CHECK(k.refused == 0);
      CHECK(pool.connection_counters(conn).bytes == 3u << 20);
    }
    CHECK(arena.counters().slots_in_use == 0);
    CHECK(arena.counters().mappings == 4); // 64 x 4 KB in 64 KB shards: mapped once, four mappings
  }
}

TEST_CASE("a tiny ring runs dry: ENOBUFS ends the multishot, the loop re-provides and re-arms") {
  require_buf_rings();
  Uring u;
  TcpPair tcp;
  TestArena arena(ArenaConfig{.slot_size = 512, .shard_size = 64 * 1024, .max_shards = 1});
  Pool pool(arena, RecvPoolConfig{.buffers = 16});
  ConnId conn = *pool.add_connection(16);
  StreamResult got;
  BufRingCounters rc;
  {
    Ring br(u.ring, pool, BufRingConfig{.entries = 2, .group_id = 5});
    REQUIRE(br);
    constexpr std::uint64_t total = 256u << 10;
    // The whole stream is queued in the socket before the loop starts, so
    // the two ring buffers fill at once and the next pick finds none.
    std::thread sender(send_pattern, tcp.client, total, 4096u, 7u);
    got = receive_stream(u.ring, pool, br, conn, tcp.server, RecvMode::multishot, /*hold=*/8);
    sender.join();
    CHECK(got.bytes == total);
    rc = br.counters();
  }
  CHECK(got.mismatches == 0);
  CHECK(rc.no_buffers >= 1);
  CHECK(got.rearms >= 1 + rc.no_buffers);
  MESSAGE(rc.no_buffers, " ENOBUFS, ", got.rearms, " arms, ", rc.consumed, " receives");
  const auto k = pool.counters();
  CHECK(k.delivered == k.given_back);
  CHECK(k.free == 16);
}

TEST_CASE("echo with SEND_ZC: each notification releases its buffer through a ReleaseList drained in batch") {
  require_buf_rings();
  Uring u(128);
  TcpPair tcp;
  TestArena arena(ArenaConfig{.slot_size = 2048, .shard_size = 64 * 1024, .max_shards = 2});
  Pool pool(arena, RecvPoolConfig{.buffers = 32});
  ConnId conn = *pool.add_connection(32);
  ReleaseList<WakeNever> list; // the loop polls it after every CQE batch
  constexpr std::uint64_t total = 1u << 20;
  enum : std::uint64_t { recv_tag = 1, send_tag = 2 };
  std::uint64_t sends = 0, notifs = 0, drained = 0, echoed = 0;
  {
    Ring br(u.ring, pool, BufRingConfig{.entries = 32, .group_id = 9});
    REQUIRE(br);
    // The client sends the pattern and reads the echo back, checking it.
    std::uint64_t echo_mismatch = 0, echo_bytes = 0;
    std::thread client([&] {
      std::thread writer(send_pattern, tcp.client, total, 1500u, 11u);
      std::vector<unsigned char> buf(65536);
      while (echo_bytes < total) {
        const ssize_t n = ::recv(tcp.client, buf.data(), buf.size(), 0);
        if (n <= 0) break;
        for (ssize_t i = 0; i < n; ++i)
          echo_mismatch += buf[static_cast<std::size_t>(i)] != pattern(echo_bytes + static_cast<std::uint64_t>(i));
        echo_bytes += static_cast<std::uint64_t>(n);
      }
      writer.join();
    });

    bool eof = false;
    std::uint64_t in_flight_sends = 0;
    br.prep_recv_multishot(io_uring_get_sqe(&u.ring), tcp.server, recv_tag);
    while (!eof || in_flight_sends != 0) {
      REQUIRE(io_uring_submit_and_wait(&u.ring, 1) >= 0);
      io_uring_cqe* cqe;
      unsigned head, seen = 0;
      bool rearm = false;
      io_uring_for_each_cqe(&u.ring, head, cqe) {
        ++seen;
        const std::uint64_t ud = io_uring_cqe_get_data64(cqe);
        if ((ud >> 32) == send_tag) {
          const auto bid = static_cast<std::uint16_t>(ud & 0xFFFF);
          if ((cqe->flags & IORING_CQE_F_NOTIF) != 0) {
            // The kernel is done with the pages: release from completion
            // context; the buffer is freed at the next drain.
            ++notifs;
            REQUIRE(pool.queue_give_back(list, bid) == RecvStatus::ok);
            --in_flight_sends;
          } else {
            echoed += static_cast<std::uint64_t>(cqe->res > 0 ? cqe->res : 0);
            REQUIRE(cqe->res > 0);
            // F_MORE: a notification follows; without it the buffer would
            // have to be released here.
            REQUIRE((cqe->flags & IORING_CQE_F_MORE) != 0);
          }
          continue;
        }
        const RecvCqe r = br.on_cqe(*cqe);
        if (r.multishot == Multishot::ended) rearm = true;
        if (r.kind == RecvCqeKind::end_of_stream) {
          eof = true;
        } else if (r.kind == RecvCqeKind::data) {
          const RecvView v = pool.deliver(conn, r.bid, r.bytes);
          REQUIRE(v);
          io_uring_sqe* sqe = io_uring_get_sqe(&u.ring);
          if (sqe == nullptr) {
            io_uring_submit(&u.ring);
            sqe = io_uring_get_sqe(&u.ring);
          }
          REQUIRE(sqe != nullptr);
          // MSG_WAITALL: the kernel retries a short send; the echo is whole.
          io_uring_prep_send_zc(sqe, tcp.server, v.data, v.bytes, MSG_WAITALL, 0);
          io_uring_sqe_set_data64(sqe, (std::uint64_t{send_tag} << 32) | r.bid);
          ++sends;
          ++in_flight_sends;
        } else if (r.kind != RecvCqeKind::no_buffers) {
          FAIL("receive error: ", std::strerror(r.error));
        }
      }
      io_uring_cq_advance(&u.ring, seen);
      drained += pool.drain(list); // one batch per CQE batch
      br.provide();
      if (rearm && !eof) br.prep_recv_multishot(io_uring_get_sqe(&u.ring), tcp.server, recv_tag);
    }
    ::shutdown(tcp.server, SHUT_WR);
    client.join();
    CHECK(echo_bytes == total);
    CHECK(echo_mismatch == 0);
  }
  pool.close(list);
  const auto k = pool.counters();
  CHECK(echoed == total);
  CHECK(sends == k.delivered);
  CHECK(notifs == sends);
  CHECK(drained == sends);
  CHECK(k.given_back == k.delivered);
  CHECK(k.given_back_queued == k.delivered); // every buffer came back through the list
  CHECK(k.bytes_delivered == total);
  CHECK(k.free == 32);
  CHECK(list.counters().items_drained == sends);
  CHECK(list.counters().drains <= sends);
  MESSAGE(sends, " SEND_ZC, ", notifs, " notifications, drained in ",
          list.counters().drains, " batches (max ", list.counters().max_items_per_drain, ")");
}
