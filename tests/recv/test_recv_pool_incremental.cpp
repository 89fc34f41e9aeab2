// SPDX-License-Identifier: MIT
// Incremental consumption (IOU_PBUF_RING_INC, kernel 6.12) through
// UringBufRing + RecvPool (issue 16, item 3): small datagrams share one big
// buffer at growing offsets; the buffer goes back to the pool (and the ring)
// only once the kernel is done with it and every piece was given back; a
// piece given back twice is refused and counted; the whole-buffer path when
// the option is off. Real io_uring on loopback UDP; exits 77 (skipped)
// without io_uring, provided-buffer rings or IOU_PBUF_RING_INC.
#include <arenakit/arena/arena.hpp>
#include <arenakit/recv/recv_pool.hpp>
#include <arenakit/uring/buf_ring.hpp>

#include <doctest/doctest.h>

#include "loopback.hpp"
#include "ring_fixture.hpp"

#include <cerrno>
#include <cstdint>
#include <deque>
#include <thread>
#include <vector>

#include <liburing.h>
#include <netinet/in.h>
#include <sys/socket.h>

using namespace arenakit;
using namespace arenakit_test;

namespace {

constexpr std::uint32_t big = 4096;  // one buffer
constexpr std::uint32_t small = 512; // one datagram: 8 fit in a buffer

/// Sends one datagram of @n bytes (seed @seed) and completes the one CQE it makes.
RecvEvent one(UdpServer& s, std::uint32_t n, unsigned char seed) {
  s.udp.send(n, seed);
  RecvEvent got;
  reap(s.u.ring, [&](const io_uring_cqe& cqe) {
    got = s.br.complete(cqe);
    return false;
  });
  return got;
}

BufRingConfig inc_config(bool incremental, unsigned entries = 4, std::uint32_t max_pieces = 0) {
  return BufRingConfig{.entries = entries, .group_id = 21, .reprovide = Reprovide::immediate,
                       .incremental = incremental, .max_pieces = max_pieces};
}

/// A UDP server on an incremental ring of 4 x 4 KB with a multishot receive
/// armed; skips the binary (77) where the kernel refuses IOU_PBUF_RING_INC.
struct IncServer : UdpServer {
  enum class Arm { recv, recvmsg };
  explicit IncServer(std::uint32_t max_pieces = 0, Arm arm = Arm::recv)
      : UdpServer((require_buf_rings(), big), 4, inc_config(true, 4, max_pieces)) {
    if (br.incremental_refused()) skip(br.describe().c_str(), EINVAL);
    REQUIRE(br.incremental());
    if (arm == Arm::recvmsg) arm_recvmsg(2);
    else br.prep_recv_multishot(io_uring_get_sqe(&u.ring), udp.server, 1);
  }
};

} // namespace

TEST_CASE("incremental: 8 datagrams of 512 B share one 4 KB buffer at growing offsets, every byte checked") {
  IncServer s;
  std::vector<RecvEvent> got;
  for (unsigned i = 0; i < 8; ++i) {
    const RecvEvent e = one(s, small, static_cast<unsigned char>(i * 11));
    REQUIRE_MESSAGE(e, static_cast<int>(e.kind));
    CHECK(e.piece != 0);
    CHECK(e.offset == i * small);
    CHECK(e.payload.data() == s.pool.data(e.bid) + i * small); // right after the previous piece
    CHECK(payload_ok(e.payload, small, static_cast<unsigned char>(i * 11)));
    // Until the 8th piece fills it, the kernel keeps the buffer (BUF_MORE).
    CHECK(s.br.in_ring() == (i < 7 ? 4u : 3u));
    got.push_back(e);
  }
  for (const RecvEvent& e : got) CHECK(e.bid == got[0].bid);
  // Earlier pieces are untouched by later ones: every byte checked again.
  for (unsigned i = 0; i < 8; ++i) CHECK(payload_ok(got[i].payload, small, static_cast<unsigned char>(i * 11)));
  const BufRingCounters c = s.br.counters();
  CHECK(c.pieces == 8);
  CHECK(c.piece_bytes == 8 * small);
  CHECK(c.consumed == 8);
  CHECK(s.pool.counters().delivered == 1); // the pool saw one buffer, not eight
  CHECK(s.pool.counters().held == 1);
  // The kernel is done (no BUF_MORE on the 8th) but pieces are out: not re-provided.
  for (unsigned i = 0; i < 7; ++i) CHECK(s.br.give_back(got[i]));
  CHECK(s.pool.counters().held == 1);
  CHECK(s.br.in_ring() == 3);
  CHECK(s.br.counters().provided == 4);
  // The last piece back: the buffer returns to the pool and (immediate) to the ring.
  CHECK(s.br.give_back(got[7]));
  CHECK(s.pool.counters().held == 0);
  CHECK(s.pool.counters().given_back == 1);
  CHECK(s.br.in_ring() == 4);
  CHECK(s.br.counters().provided == 5);
}

TEST_CASE("incremental: a buffer the kernel still fills is not re-provided even when every piece is back") {
  IncServer s;
  const RecvEvent a = one(s, small, 1);
  const RecvEvent b = one(s, small, 2);
  REQUIRE((a && b));
  REQUIRE(a.bid == b.bid);
  CHECK(s.br.give_back(a));
  CHECK(s.br.give_back(b));
  // Every piece is back, but the kernel has room left in it: the pool still holds it.
  CHECK(s.pool.counters().held == 1);
  CHECK(s.pool.counters().given_back == 0);
  CHECK(s.br.counters().provided == 4);
  // The kernel goes on at offset 1024 in the same buffer.
  const RecvEvent c = one(s, small, 3);
  REQUIRE(c);
  CHECK(c.bid == a.bid);
  CHECK(c.offset == 2 * small);
  CHECK(payload_ok(c.payload, small, 3));
  CHECK(s.br.give_back(c));
}

TEST_CASE("incremental: a piece given back twice, or a made-up or stale handle, is refused, counted, changes nothing") {
  IncServer s;
  const RecvEvent a = one(s, small, 1);
  const RecvEvent b = one(s, small, 2);
  REQUIRE((a && b));
  CHECK(s.br.give_back(a));
  const GiveBack twice = s.br.give_back(a);
  CHECK(twice.status == RecvStatus::not_held);
  CHECK(s.br.give_back_piece(0xDEAD'0000'0001ULL).status == RecvStatus::not_held); // wrong generation
  CHECK(s.br.give_back_piece(0x7FFF'FFFFULL).status == RecvStatus::not_held);      // past the table
  CHECK(s.br.counters().bad_piece_give_backs == 3);
  // b is still live: the double give-back of a did not end it.
  CHECK(s.br.give_back(b));
  CHECK(s.br.give_back(b).status == RecvStatus::not_held);
  CHECK(s.br.counters().bad_piece_give_backs == 4);
  // A record reused by a new piece: the old handle (same index) is stale.
  const RecvEvent c = one(s, small, 3);
  REQUIRE(c);
  CHECK(static_cast<std::uint32_t>(c.piece) == static_cast<std::uint32_t>(b.piece)); // LIFO reuse
  CHECK(s.br.give_back(b).status == RecvStatus::not_held);
  CHECK(s.br.give_back(c)); // c survived
}

TEST_CASE("incremental: the buffer given back through the pool directly while pieces are out is parked, not re-provided") {
  IncServer s;
  std::vector<RecvEvent> got;
  for (unsigned i = 0; i < 8; ++i) { // fill buffer A: the kernel is done with it, room in the ring
    got.push_back(one(s, small, static_cast<unsigned char>(i)));
    REQUIRE(got.back());
  }
  const std::uint16_t a = got[0].bid;
  REQUIRE(s.br.in_ring() == 3);
  CHECK(s.pool.give_back(a)); // misuse: the pool frees it, the ring's policy takes it at once
  CHECK(s.br.counters().early_give_backs == 1);
  CHECK(s.br.counters().provided == 4); // parked: not back in the ring while pieces are out
  CHECK(s.br.in_ring() == 3);
  const RecvEvent next = one(s, small, 99);
  REQUIRE(next);
  CHECK(next.bid != a); // the kernel went on in another buffer
  for (unsigned i = 0; i < 8; ++i) CHECK(payload_ok(got[i].payload, small, static_cast<unsigned char>(i)));
  for (const RecvEvent& e : got) CHECK(s.br.give_back(e));
  // The last piece back: the parked buffer is returned (posted -> free) and re-provided.
  CHECK(s.br.counters().provided == 5);
  CHECK(s.br.in_ring() == 4);
  CHECK(s.br.give_back(next));
}

TEST_CASE("incremental: past max_pieces a piece is dropped and counted; the buffer's books stay right") {
  IncServer s(2);
  const RecvEvent a = one(s, small, 1);
  const RecvEvent b = one(s, small, 2);
  const RecvEvent dropped = one(s, small, 3);
  REQUIRE((a && b));
  CHECK(dropped.kind == RecvEventKind::refused);
  CHECK(dropped.view.status == RecvStatus::too_many_pieces);
  CHECK(dropped.piece == 0);
  CHECK(s.br.counters().pieces_refused == 1);
  CHECK(s.br.give_back(a));
  const RecvEvent d = one(s, small, 4); // room again: the kernel goes on after the dropped bytes
  REQUIRE(d);
  CHECK(d.bid == a.bid);
  CHECK(d.offset == 3 * small);
  CHECK(payload_ok(d.payload, small, 4));
  CHECK(s.br.give_back(b));
  CHECK(s.br.give_back(d));
  CHECK(s.pool.counters().held == 1); // the kernel still fills it
}

TEST_CASE("incremental: close() with pieces out leaves their buffer held; reclaim_held takes it back") {
  IncServer s;
  const RecvEvent a = one(s, small, 1);
  REQUIRE(a);
  const BufRingTeardown t = s.br.close();
  REQUIRE(t.unregistered);
  CHECK(t.returned == 3); // the three untouched buffers
  CHECK(s.pool.counters().held == 1);
  // The ring is inert now: the piece is refused, counted, and the pool's books stay as they are.
  CHECK(s.br.give_back(a).status == RecvStatus::not_held);
  CHECK(s.br.counters().bad_piece_give_backs == 1);
  CHECK(s.pool.counters().held == 1);
  CHECK(s.pool.reclaim_held() == 1);
  CHECK(s.pool.counters().free == 4);
}

TEST_CASE("incremental off (the older-kernel path): each datagram takes a whole buffer, no pieces") {
  require_buf_rings();
  UdpServer s(big, 8, inc_config(false, 8));
  CHECK_FALSE(s.br.incremental());
  CHECK_FALSE(s.br.incremental_refused());
  s.br.prep_recv_multishot(io_uring_get_sqe(&s.u.ring), s.udp.server, 1);
  std::vector<RecvEvent> got;
  for (unsigned i = 0; i < 4; ++i) {
    const RecvEvent e = one(s, small, static_cast<unsigned char>(i));
    REQUIRE_MESSAGE(e, "i=", i, " kind=", static_cast<int>(e.kind), " error=", e.error);
    CHECK(e.piece == 0);
    CHECK(e.offset == 0);
    CHECK(e.payload.data() == s.pool.data(e.bid));
    CHECK(payload_ok(e.payload, small, static_cast<unsigned char>(i)));
    got.push_back(e);
  }
  CHECK(s.pool.counters().held == 4); // four buffers for 2 KB: what incremental saves
  CHECK(s.br.counters().pieces == 0);
  for (const RecvEvent& e : got) CHECK(s.br.give_back(e)); // give_back(event) works in both modes
  CHECK(s.pool.counters().held == 0);
}

TEST_CASE("incremental with bundles is refused; a bad max_pieces is refused") {
  require_buf_rings();
  Uring u;
  TestArena arena(ArenaConfig{.slot_size = big, .shard_size = 64 * 1024, .max_shards = 1});
  Pool pool(arena, RecvPoolConfig{.buffers = 4});
  {
    Ring br(u.ring, pool, BufRingConfig{.entries = 4, .bundles = true, .incremental = true});
    CHECK(br.error() == errc::invalid_config);
  }
  {
    Ring br(u.ring, pool, BufRingConfig{.entries = 4, .incremental = true, .max_pieces = (1u << 24) + 1});
    CHECK(br.error() == errc::invalid_config);
  }
  CHECK(pool.counters().free == 4); // nothing taken
}

TEST_CASE("incremental over TCP: a 1 MB stream in pieces, every byte checked, each piece right after the last in its buffer") {
  require_buf_rings();
  Uring u;
  TcpPair tcp;
  TestArena arena(ArenaConfig{.slot_size = 16384, .shard_size = 256 * 1024, .max_shards = 1});
  Pool pool(arena, RecvPoolConfig{.buffers = 8});
  const ConnId conn = *pool.add_connection(8);
  Ring br(u.ring, pool, BufRingConfig{.entries = 8, .group_id = 23, .reprovide = Reprovide::immediate, .incremental = true});
  REQUIRE_MESSAGE(br, br.describe());
  if (br.incremental_refused()) skip(br.describe().c_str(), EINVAL);
  constexpr std::uint64_t total = 1 << 20;
  std::thread sender(send_pattern, tcp.client, total, 2000u, 5u);
  std::uint64_t off = 0;
  bool eof = false, bytes_ok = true, offsets_ok = true;
  std::vector<std::uint32_t> next_off(pool.size(), 0); // where each buffer's next piece must start
  std::deque<RecvEvent> held; // the application holds up to 16 pieces, oldest back first
  br.prep_recv_multishot(io_uring_get_sqe(&u.ring), tcp.server, 1);
  reap(u.ring, [&](const io_uring_cqe& cqe) {
    const RecvEvent e = br.complete(cqe, conn);
    if (e) {
      // A piece at offset 0 starts a new use of its buffer; any other follows the last.
      offsets_ok = offsets_ok && (e.offset == 0 || e.offset == next_off[e.bid]);
      next_off[e.bid] = e.offset + static_cast<std::uint32_t>(e.payload.size());
      for (std::size_t i = 0; i < e.payload.size(); ++i)
        bytes_ok = bytes_ok && static_cast<unsigned char>(e.payload[i]) == pattern(off + i);
      off += e.payload.size();
      held.push_back(e);
      if (held.size() > 16) {
        CHECK(br.give_back(held.front()));
        held.pop_front();
      }
    } else if (e.kind == RecvEventKind::end_of_stream) {
      eof = true;
    } else if (e.kind == RecvEventKind::no_buffers) {
      while (!held.empty()) { // every piece back: the full buffers return to the ring
        CHECK(br.give_back(held.front()));
        held.pop_front();
      }
    } else {
      FAIL_CHECK("unexpected event ", static_cast<int>(e.kind), " error ", e.error);
    }
    if (e.rearm && !eof) br.prep_recv_multishot(io_uring_get_sqe(&u.ring), tcp.server, 1);
    return !eof;
  });
  sender.join();
  CHECK(eof);
  CHECK(off == total);
  CHECK(bytes_ok);
  CHECK(offsets_ok);
  for (const RecvEvent& e : held) CHECK(br.give_back(e));
  const BufRingCounters c = br.counters();
  CHECK(c.piece_bytes == total);
  CHECK(c.bad_piece_give_backs == 0);
  CHECK(c.bad_bids == 0);
  // One pool delivery per buffer use, however many pieces it took (how
  // many depends on the sender's pace: not checked, only shown).
  CHECK(pool.counters().delivered <= c.pieces);
  // Every piece is back: only the ring's head buffer, partly filled, may still be held.
  CHECK(pool.connection_counters(conn).held <= 1);
  MESSAGE("pieces ", c.pieces, ", buffer uses ", pool.counters().delivered, ", ENOBUFS ", c.no_buffers);
}

TEST_CASE("incremental recvmsg: each datagram's header, sender and payload follow the previous one in the buffer") {
  IncServer s(0, IncServer::Arm::recvmsg);
  std::vector<RecvEvent> got;
  for (unsigned i = 0; i < 3; ++i) {
    const RecvEvent e = one(s, small, static_cast<unsigned char>(40 + i));
    REQUIRE_MESSAGE(e, "kind=", static_cast<int>(e.kind), " error=", e.error);
    CHECK(payload_ok(e.payload, small, static_cast<unsigned char>(40 + i)));
    REQUIRE(e.name != nullptr);
    CHECK(reinterpret_cast<const sockaddr_in*>(e.name)->sin_port == s.udp.client_addr.sin_port);
    // io_uring_recvmsg_out, the room for the name (sockaddr_storage), the payload.
    CHECK(e.view.bytes == sizeof(io_uring_recvmsg_out) + sizeof(sockaddr_storage) + small);
    if (!got.empty()) {
      CHECK(e.bid == got[0].bid);
      CHECK(e.offset == got.back().offset + got.back().view.bytes);
    }
    got.push_back(e);
  }
  for (const RecvEvent& e : got) CHECK(s.br.give_back(e));
}
