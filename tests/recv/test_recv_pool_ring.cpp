// SPDX-License-Identifier: MIT
// UringBufRing + RecvPool as a server uses them (issue 16): every destruction
// order defined and reported, the re-provide policy and the starved counter,
// complete() from a CQE to a delivered view (foreign CQEs ignored), recvmsg
// with the sender's address, sendmsg replies from the pool buffer, a
// connectionless pool, teardown counters read after close(), kernel-mapped
// rings. Real io_uring on loopback UDP; exits 77 (skipped) without io_uring
// or provided-buffer rings.
#include <arenakit/arena/arena.hpp>
#include <arenakit/recv/recv_pool.hpp>
#include <arenakit/uring/buf_ring.hpp>

#include <doctest/doctest.h>

#include "loopback.hpp"
#include "ring_fixture.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <arpa/inet.h>
#include <dirent.h>
#include <liburing.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/mman.h>
#include <unistd.h>

using namespace arenakit;

namespace {

using namespace arenakit_test;

int open_fds() {
  int n = 0;
  DIR* d = ::opendir("/proc/self/fd");
  if (d == nullptr) return -1;
  while (::readdir(d) != nullptr) ++n;
  ::closedir(d);
  return n;
}

/// A CQE as the kernel would post it for a ring-prepared SQE (the policy
/// tests drive the ring's books without traffic).
io_uring_cqe fake_recv_cqe(Ring& br, std::uint16_t bid, std::int32_t res) {
  io_uring_sqe sqe{};
  br.prep_recv(&sqe, 0, 5);
  io_uring_cqe cqe{};
  cqe.user_data = sqe.user_data;
  cqe.res = res;
  cqe.flags = IORING_CQE_F_BUFFER | (std::uint32_t{bid} << IORING_CQE_BUFFER_SHIFT);
  return cqe;
}

/// Completes CQEs until the multishot receive ends (ENOBUFS), giving each
/// delivered buffer back at once; returns {data events, no_buffers events}.
template <class Server>
std::pair<unsigned, unsigned> read_until_dry(Server& s) {
  unsigned data = 0, dry = 0;
  reap(s.u.ring, [&](const io_uring_cqe& cqe) {
    const RecvEvent e = s.br.complete(cqe);
    if (e) {
      ++data;
      CHECK(s.pool.give_back(e.bid));
    }
    if (e.kind == RecvEventKind::no_buffers) ++dry;
    return !e.rearm; // the multishot ended (ENOBUFS): stop
  });
  return {data, dry};
}
} // namespace

// --- item 1: destruction order ------------------------------------------------------

TEST_CASE("the pool destroyed before its ring: the pool closes the ring first, says so, nothing dangles") {
  require_buf_rings();
  Uring u;
  TeardownReport arena_report;
  TestArena arena(ArenaConfig{.slot_size = 512, .shard_size = 64 * 1024, .max_shards = 1,
                              .teardown_report = &arena_report});
  auto pool = std::make_unique<Pool>(arena, RecvPoolConfig{.buffers = 16});
  Ring br(u.ring, *pool, BufRingConfig{.entries = 8, .group_id = 1});
  REQUIRE(br);
  CHECK(pool->counters().rings_attached == 1);
  CHECK(br.in_ring() == 8);
  pool.reset(); // the wrong order: before the ring
  // Old code: the pool released only its 8 free buffers (the 8 in the ring
  // stayed acquired) and the ring's destructor then read the freed pool
  // (heap-use-after-free under ASan).
  CHECK(arena.counters().slots_in_use == 0);
  const BufRingTeardown t = br.teardown();
  CHECK(t.closed);
  CHECK(t.pool_destroyed_first);
  CHECK(t.unregistered);
  CHECK(t.returned == 8);
  CHECK(br.counters().returned_at_teardown == 8);
  // The ring is inert: no re-provide, CQEs say closed.
  CHECK(br.provide() == 0);
  CHECK(br.complete(fake_recv_cqe(br, 0, 10)).kind == RecvEventKind::closed);
  // The group is free again on the io_uring: the unregister happened.
  TestArena arena2(ArenaConfig{.slot_size = 512, .shard_size = 64 * 1024, .max_shards = 1});
  Pool pool2(arena2, RecvPoolConfig{.buffers = 4});
  Ring again(u.ring, pool2, BufRingConfig{.entries = 4, .group_id = 1});
  CHECK(again);
}

TEST_CASE("io_uring_queue_exit before the ring: the ring's own fd reaches the right instance, even if the number is reused") {
  require_buf_rings();
  const int fds_before = open_fds();
  TestArena arena(ArenaConfig{.slot_size = 512, .shard_size = 64 * 1024, .max_shards = 1});
  Pool pool(arena, RecvPoolConfig{.buffers = 8});
  auto first = std::make_unique<Uring>();
  const int first_fd = first->ring.ring_fd;
  std::optional<Ring> br;
  br.emplace(first->ring, pool, BufRingConfig{.entries = 8, .group_id = 4});
  REQUIRE(*br);
  first->exit(); // the wrong order: io_uring gone, the ring still registered on it
  // A new io_uring takes the same fd number, with its own group 4.
  Uring second;
  CHECK(second.ring.ring_fd == first_fd);
  TestArena arena2(ArenaConfig{.slot_size = 512, .shard_size = 64 * 1024, .max_shards = 1});
  Pool pool2(arena2, RecvPoolConfig{.buffers = 8});
  Ring other(second.ring, pool2, BufRingConfig{.entries = 8, .group_id = 4});
  REQUIRE(other);
  const BufRingTeardown t = br->close();
  CHECK(t.io_uring_exited_first);
  CHECK(t.unregistered); // through the ring's own duplicate of the old instance
  CHECK(t.returned == 8);
  CHECK(pool.free_count() == 8);
  // Old code unregistered group 4 through the reused number: the second
  // io_uring's ring would be gone and registering group 4 there would succeed.
  TestArena arena3(ArenaConfig{.slot_size = 512, .shard_size = 64 * 1024, .max_shards = 1});
  Pool pool4(arena3, RecvPoolConfig{.buffers = 4});
  Ring probe(second.ring, pool4, BufRingConfig{.entries = 4, .group_id = 4});
  CHECK(probe.error() == std::error_code(EEXIST, std::system_category()));
  br.reset();
  first.reset();
  CHECK(other.close().returned == 8);
  CHECK(open_fds() == fds_before + 1); // only `second` is still open: the duplicates are closed
}

TEST_CASE("the right order reports nothing wrong; a second ring on one pool is refused and takes nothing") {
  require_buf_rings();
  Uring u;
  TestArena arena(ArenaConfig{.slot_size = 512, .shard_size = 64 * 1024, .max_shards = 1});
  Pool pool(arena, RecvPoolConfig{.buffers = 8});
  Ring br(u.ring, pool, BufRingConfig{.entries = 4, .group_id = 2});
  REQUIRE(br);
  {
    Ring second(u.ring, pool, BufRingConfig{.entries = 4, .group_id = 3});
    CHECK(second.error() == RecvStatus::ring_attached);
    CHECK(pool.counters().refused_for(RecvStatus::ring_attached) == 1);
    CHECK(pool.free_count() == 4);
  }
  const BufRingTeardown t = br.close();
  CHECK_FALSE(t.pool_destroyed_first);
  CHECK_FALSE(t.io_uring_exited_first);
  CHECK(t.unregistered);
  CHECK(t.returned == 4);
  CHECK(pool.free_count() == 8);
  CHECK(pool.counters().rings_attached == 0);
  CHECK(br.close().returned == 4); // idempotent: the same report
}

// --- item 2: re-provide policy -------------------------------------------------------

TEST_CASE("Reprovide::immediate puts a given-back buffer back in the ring at once; batched waits for its bound") {
  require_buf_rings();
  Uring u;
  TestArena arena(ArenaConfig{.slot_size = 512, .shard_size = 64 * 1024, .max_shards = 1});
  SUBCASE("immediate") {
    Pool pool(arena, RecvPoolConfig{.buffers = 8, .mode = PoolMode::connectionless});
    Ring br(u.ring, pool, BufRingConfig{.entries = 8, .group_id = 6, .reprovide = Reprovide::immediate});
    REQUIRE(br);
    const RecvEvent e = br.complete(fake_recv_cqe(br, 3, 100));
    REQUIRE(e);
    CHECK(br.in_ring() == 7);
    CHECK(pool.give_back(e.bid));
    CHECK(br.in_ring() == 8); // old code: 7 until the caller remembered provide()
    CHECK(br.counters().policy_provides == 1);
    CHECK(br.counters().waiting == 0);
  }
  SUBCASE("batched with a bound of 3") {
    Pool pool(arena, RecvPoolConfig{.buffers = 8, .mode = PoolMode::connectionless});
    Ring br(u.ring, pool, BufRingConfig{.entries = 8, .group_id = 6, .batch_bound = 3});
    REQUIRE(br);
    std::vector<std::uint16_t> held;
    for (std::uint16_t bid = 0; bid < 4; ++bid) {
      const RecvEvent e = br.complete(fake_recv_cqe(br, bid, 10));
      REQUIRE(e);
      held.push_back(e.bid);
    }
    CHECK(br.in_ring() == 4);
    CHECK(pool.give_back(held[0]));
    CHECK(pool.give_back(held[1]));
    CHECK(br.in_ring() == 4);
    CHECK(br.counters().waiting == 2); // visible: two buffers the kernel cannot pick yet
    CHECK(pool.give_back(held[2]));    // the bound: all three go back, one tail advance
    CHECK(br.in_ring() == 7);
    CHECK(br.counters().policy_provides == 1);
    CHECK(pool.give_back(held[3]));
    CHECK(br.in_ring() == 7);
    CHECK(br.provide() == 1); // the end of a batch flushes the rest
    CHECK(br.in_ring() == 8);
  }
}

TEST_CASE("a starving ring is visible: ENOBUFS while given-back buffers wait is counted in starved") {
  require_buf_rings();
  // A bound the ring can never reach (it has 2 entries): like a loop that never calls provide().
  UdpServer s(512, 16, BufRingConfig{.entries = 2, .group_id = 8, .batch_bound = 1000});
  Pool& pool = s.pool;
  Ring& br = s.br;
  for (unsigned i = 0; i < 6; ++i) s.udp.send(100, static_cast<unsigned char>(i));
  s.arm_recvmsg();
  // Plain variables, not a structured binding: clang 14 cannot capture one in a lambda.
  unsigned data = 0, dry = 0;
  std::tie(data, dry) = read_until_dry(s);
  CHECK(data == 2);
  CHECK(dry == 1);
  const auto c = br.counters();
  CHECK(c.no_buffers == 1);
  CHECK(c.starved == 1); // the documented signal: buffers waited while the kernel had none
  CHECK(c.waiting == 2);
  // The cure: provide and re-arm; the rest arrives.
  CHECK(br.provide() == 2);
  s.arm_recvmsg();
  reap(s.u.ring, [&](const io_uring_cqe& cqe) {
    const RecvEvent e = br.complete(cqe);
    if (e) {
      ++data;
      CHECK(pool.give_back(e.bid));
      br.provide();
    }
    if (e.rearm && data < 6) s.arm_recvmsg();
    return data < 6;
  });
  CHECK(data == 6);
}

TEST_CASE("a ring that ran dry while every buffer was out is not starved, whatever comes back before its CQE is read") {
  require_buf_rings();
  // 8 buffers, all in the ring, 9 datagrams queued before the receive is
  // armed: the kernel fills the 8 and answers ENOBUFS at once, with no buffer
  // free anywhere. The application gives the 8 back as it reads their CQEs
  // (the batched policy re-provides 5), so the pool has 3 free by the time
  // it reads the ENOBUFS: counted as starved before, although none was free
  // when the kernel ran dry.
  UdpServer s(512, 8, BufRingConfig{.entries = 8, .group_id = 8, .batch_bound = 5});
  Pool& pool = s.pool;
  Ring& br = s.br;
  REQUIRE(br.in_ring() == 8);
  REQUIRE(pool.free_count() == 0);
  for (unsigned i = 0; i < 9; ++i) s.udp.send(100, static_cast<unsigned char>(i));
  s.arm_recvmsg();
  const auto [data, dry] = read_until_dry(s);
  CHECK(data == 8);
  CHECK(dry == 1);
  CHECK(br.counters().no_buffers == 1);
  CHECK(br.counters().starved == 0);
  CHECK(pool.free_count() == 3); // given back after the kernel ran dry, waiting for the bound
  CHECK(br.provide() == 3);
}

// --- items 4, 5, 6: complete(), recvmsg, sendmsg replies, connectionless --------------

TEST_CASE("complete(): foreign CQEs are ignored; recvmsg gives the sender and the payload; the reply's CQE gives the buffer back") {
  require_buf_rings();
  UdpServer s(2048, 16, BufRingConfig{.entries = 16, .group_id = 11, .reprovide = Reprovide::immediate});
  Pool& pool = s.pool;
  Ring& br = s.br;
  {
    io_uring_cqe foreign{};
    foreign.user_data = 12345; // the application's own
    foreign.res = 7;
    foreign.flags = IORING_CQE_F_BUFFER | (1u << IORING_CQE_BUFFER_SHIFT);
    const auto before = pool.counters();
    CHECK(br.complete(foreign).kind == RecvEventKind::foreign);
    CHECK(br.counters().foreign_cqes == 1);
    CHECK(pool.counters().delivered == before.delivered);
    CHECK(br.in_ring() == 16);
  }
  constexpr unsigned n = 40;
  for (unsigned i = 0; i < n; ++i) s.udp.send(1 + i * 37, static_cast<unsigned char>(i));
  s.arm_recvmsg(77);
  unsigned got = 0, bad = 0, sent = 0;
  reap(s.u.ring, [&](const io_uring_cqe& cqe) {
    const RecvEvent e = br.complete(cqe);
    if (e) {
      CHECK(e.user == 77);
      bad += payload_ok(e.payload, 1 + got * 37, static_cast<unsigned char>(got)) ? 0u : 1u;
      REQUIRE(e.name != nullptr);
      const auto* from = reinterpret_cast<const sockaddr_in*>(e.name);
      CHECK(from->sin_port == s.udp.client_addr.sin_port);
      ++got;
      br.prep_sendmsg_reply(io_uring_get_sqe(&s.u.ring), s.udp.server, e, 9);
    } else if (e.kind == RecvEventKind::sent) {
      CHECK(e.error == 0);
      CHECK(e.user == 9);
      ++sent;
    }
    if (e.rearm) s.arm_recvmsg(77);
    return sent < n;
  });
  CHECK(got == n);
  CHECK(bad == 0);
  CHECK(sent == n);
  // Every reply came back to the client, byte for byte.
  std::vector<unsigned char> buf(4096);
  for (unsigned i = 0; i < n; ++i) {
    const ssize_t r = ::recv(s.udp.client, buf.data(), buf.size(), MSG_DONTWAIT);
    REQUIRE(r == static_cast<ssize_t>(1 + i * 37));
    CHECK(payload_ok(std::as_bytes(std::span(buf.data(), static_cast<std::size_t>(r))), 1 + i * 37,
                     static_cast<unsigned char>(i)));
  }
  const auto k = pool.counters();
  CHECK(k.delivered == n);
  CHECK(k.given_back == n);
  CHECK(k.refused == 0);
  CHECK(br.counters().sends == n);
  CHECK(br.in_ring() == 16); // immediate: every buffer went straight back
}

TEST_CASE("recvmsg: a datagram larger than the buffer is reported truncated and its buffer given back") {
  require_buf_rings();
  UdpServer s(256, 4, BufRingConfig{.entries = 4, .group_id = 12});
  Pool& pool = s.pool;
  Ring& br = s.br;
  s.udp.send(1000, 1);
  s.arm_recvmsg();
  RecvEvent seen;
  reap(s.u.ring, [&](const io_uring_cqe& cqe) {
    seen = br.complete(cqe);
    return false;
  });
  CHECK(seen.kind == RecvEventKind::truncated);
  CHECK(br.counters().truncated == 1);
  CHECK(pool.counters().held == 0);
}

// --- items 3, 7: kernel-mapped ring memory, teardown counters -------------------------

TEST_CASE("a kernel-mapped ring (IOU_PBUF_RING_MMAP) where the kernel has it; automatic says what it chose") {
  require_buf_rings();
  UdpServer s(1024, 8, BufRingConfig{.entries = 8, .group_id = 13, .memory = RingMemory::automatic});
  Pool& pool = s.pool;
  Ring& br = s.br;
  MESSAGE(br.describe());
  if (br.chosen() == RingMemory::user) return; // a kernel before 6.4: nothing more to check
  for (unsigned i = 0; i < 3; ++i) s.udp.send(300, static_cast<unsigned char>(i));
  s.arm_recvmsg();
  unsigned got = 0;
  reap(s.u.ring, [&](const io_uring_cqe& cqe) {
    const RecvEvent e = br.complete(cqe);
    if (e) {
      CHECK(payload_ok(e.payload, 300, static_cast<unsigned char>(got)));
      ++got;
      CHECK(pool.give_back(e.bid));
    }
    return got < 3;
  });
  CHECK(got == 3);
  const BufRingTeardown t = br.close();
  CHECK(t.unregistered);
  CHECK(pool.free_count() == 8);
}

TEST_CASE("teardown counters are readable after close(); reclaim_held takes back what the application still holds") {
  require_buf_rings();
  UdpServer s(512, 8, BufRingConfig{.entries = 8, .group_id = 14});
  Pool& pool = s.pool;
  Ring& br = s.br;
  for (unsigned i = 0; i < 3; ++i) s.udp.send(50, 0);
  s.arm_recvmsg();
  unsigned got = 0;
  reap(s.u.ring, [&](const io_uring_cqe& cqe) {
    got += br.complete(cqe) ? 1u : 0u; // held, not given back: the application stops here
    return got < 3;
  });
  REQUIRE(got == 3);
  // Shut down: cancel the receive, reap, close the ring, take back the rest.
  io_uring_prep_cancel_fd(io_uring_get_sqe(&s.u.ring), s.udp.server, 0);
  reap(s.u.ring, [&](const io_uring_cqe& cqe) { return br.complete(cqe).kind == RecvEventKind::foreign; });
  const BufRingTeardown t = br.close();
  CHECK(t.returned == 5);
  CHECK(br.counters().returned_at_teardown == 5); // old code: 0 until the destructor, then unreadable
  CHECK(pool.counters().held == 3);
  CHECK(pool.reclaim_held() == 3);
  const auto k = pool.counters();
  CHECK(k.reclaimed_held == 3);
  CHECK(k.free == 8);
  CHECK(k.held == 0);
}

TEST_CASE("single-shot recvmsg and recv through complete(): the payload is the whole delivered buffer") {
  require_buf_rings();
  UdpServer s(1024, 4, BufRingConfig{.entries = 4, .group_id = 15});
  Pool& pool = s.pool;
  Ring& br = s.br;
  s.udp.send(500, 3);
  s.udp.send(700, 4);
  br.prep_recvmsg(io_uring_get_sqe(&s.u.ring), s.udp.server, 1);
  br.prep_recv(io_uring_get_sqe(&s.u.ring), s.udp.server, 2);
  unsigned got = 0;
  reap(s.u.ring, [&](const io_uring_cqe& cqe) {
    const RecvEvent e = br.complete(cqe);
    REQUIRE(e);
    CHECK(e.rearm); // single-shot: never still armed
    CHECK(e.name == nullptr);
    CHECK(payload_ok(e.payload, e.user == 1 ? 500 : 700, e.user == 1 ? 3 : 4));
    CHECK(pool.give_back(e.bid));
    return ++got < 2;
  });
  CHECK(got == 2);
}

TEST_CASE("an adopted ring (registered by its owner, as io_uring_setup_buf_ring does) is filled from the pool and left to its owner") {
  require_buf_rings();
  Uring u;
  UdpPair udp;
  TestArena arena(ArenaConfig{.slot_size = 1024, .shard_size = 64 * 1024, .max_shards = 1});
  Pool pool(arena, RecvPoolConfig{.buffers = 8, .mode = PoolMode::connectionless});
  // What liburing 2.4's io_uring_setup_buf_ring does (Debian's 2.3 lacks it).
  constexpr unsigned entries = 8;
  const std::size_t bytes = 4096;
  void* mem = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  REQUIRE(mem != MAP_FAILED);
  auto* ring = static_cast<io_uring_buf_ring*>(mem);
  io_uring_buf_ring_init(ring);
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<std::uint64_t>(ring);
  reg.ring_entries = entries;
  reg.bgid = 21;
  REQUIRE(io_uring_register_buf_ring(&u.ring, &reg, 0) == 0);
  {
    Ring br(u.ring, pool, AdoptedBufRing{ring, entries, 21}, BufRingConfig{.reprovide = Reprovide::immediate});
    REQUIRE(br);
    CHECK(br.in_ring() == 8);
    udp.send(600, 5);
    br.prep_recvmsg_multishot(io_uring_get_sqe(&u.ring), udp.server, 0);
    bool got = false;
    reap(u.ring, [&](const io_uring_cqe& cqe) {
      const RecvEvent e = br.complete(cqe);
      if (e) {
        CHECK(payload_ok(e.payload, 600, 5));
        CHECK(pool.give_back(e.bid)); // immediate: straight back into the adopted ring
        got = true;
      }
      return !got;
    });
    CHECK(got);
    CHECK(br.in_ring() == 8);
    io_uring_prep_cancel_fd(io_uring_get_sqe(&u.ring), udp.server, 0);
    reap(u.ring, [&](const io_uring_cqe& cqe) { return br.complete(cqe).kind == RecvEventKind::foreign; });
    const BufRingTeardown t = br.close();
    CHECK(t.adopted);
    CHECK_FALSE(t.unregistered);
    CHECK(t.left_posted == 8); // the owner's ring may still hand them to the kernel
    CHECK(pool.counters().posted == 8);
  }
  // The owner unregisters and unmaps (io_uring_free_buf_ring), then the pool takes them back.
  CHECK(io_uring_unregister_buf_ring(&u.ring, 21) == 0);
  ::munmap(mem, bytes);
  CHECK(pool.reclaim_posted() == 8);
  CHECK(pool.free_count() == 8);
}

TEST_CASE("TCP: prep_send echoes a delivered view from the pool buffer; its CQE gives the buffer back") {
  require_buf_rings();
  Uring u;
  TcpPair tcp;
  TestArena arena(ArenaConfig{.slot_size = 4096, .shard_size = 64 * 1024, .max_shards = 1});
  Pool pool(arena, RecvPoolConfig{.buffers = 8});
  const ConnId conn = *pool.add_connection(8);
  Ring br(u.ring, pool, BufRingConfig{.entries = 8, .group_id = 22});
  REQUIRE(br);
  std::vector<unsigned char> out(3000);
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<unsigned char>(i * 7 + 5);
  REQUIRE(::send(tcp.client, out.data(), out.size(), 0) == static_cast<ssize_t>(out.size()));
  br.prep_recv_multishot(io_uring_get_sqe(&u.ring), tcp.server, 0);
  std::size_t received = 0, sent = 0;
  reap(u.ring, [&](const io_uring_cqe& cqe) {
    const RecvEvent e = br.complete(cqe, conn);
    if (e) {
      received += e.payload.size();
      br.prep_send(io_uring_get_sqe(&u.ring), tcp.server, e, 3);
    } else if (e.kind == RecvEventKind::sent) {
      CHECK(e.user == 3);
      CHECK(e.error == 0);
      sent += static_cast<std::size_t>(cqe.res);
    }
    return sent < out.size();
  });
  CHECK(received == out.size());
  std::vector<unsigned char> in(out.size());
  std::size_t got = 0;
  while (got < in.size()) {
    const ssize_t r = ::recv(tcp.client, in.data() + got, in.size() - got, 0);
    REQUIRE(r > 0);
    got += static_cast<std::size_t>(r);
  }
  CHECK(in == out);
  CHECK(pool.connection_counters(conn).held == 0);
  CHECK(br.counters().sends >= 1);
}

TEST_CASE("bundles where the kernel has them: one receive fills consecutive buffers, each delivered and given back") {
  require_buf_rings();
  Uring u;
  TcpPair tcp;
  TestArena arena(ArenaConfig{.slot_size = 1024, .shard_size = 64 * 1024, .max_shards = 1});
  Pool pool(arena, RecvPoolConfig{.buffers = 16, .mode = PoolMode::connectionless});
  Ring br(u.ring, pool, BufRingConfig{.entries = 16, .group_id = 23, .bundles = true});
  REQUIRE(br);
  MESSAGE(std::string(br.bundles() ? "bundles on (IORING_FEAT_RECVSEND_BUNDLE)" : "bundles off: no IORING_FEAT_RECVSEND_BUNDLE"));
  std::vector<unsigned char> out(10000);
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<unsigned char>(i * 13 + i / 251);
  REQUIRE(::send(tcp.client, out.data(), out.size(), 0) == static_cast<ssize_t>(out.size()));
  ::shutdown(tcp.client, SHUT_WR);
  br.prep_recv_multishot(io_uring_get_sqe(&u.ring), tcp.server, 0);
  std::vector<unsigned char> in;
  unsigned largest = 0;
  bool eof = false;
  reap(u.ring, [&](const io_uring_cqe& cqe) {
    const RecvEvent e = br.complete(cqe);
    if (e) {
      largest = std::max<unsigned>(largest, e.bundle);
      std::vector<std::uint16_t> bids; // every view first: a give-back may re-provide (and reuse) entries
      for (unsigned i = 0; i < e.bundle; ++i) {
        const RecvView v = br.bundle_view(e, i);
        const auto* b = reinterpret_cast<const unsigned char*>(v.data);
        in.insert(in.end(), b, b + v.bytes);
        bids.push_back(v.bid);
      }
      for (std::uint16_t bid : bids) CHECK(pool.give_back(bid));
      br.provide();
    }
    if (e.kind == RecvEventKind::end_of_stream) eof = true;
    if (e.rearm && !eof) br.prep_recv_multishot(io_uring_get_sqe(&u.ring), tcp.server, 0);
    return !eof;
  });
  CHECK(in == out);
  const auto k = pool.counters();
  CHECK(k.delivered == k.given_back);
  CHECK(k.refused == 0);
  if (br.bundles()) CHECK(largest > 1); // 10000 bytes queued before the receive: one CQE, ten buffers
  MESSAGE("largest bundle: ", largest, " buffers");
}

TEST_CASE("a bundle CQE naming a buffer the ring does not hold is refused and counted; nothing is taken") {
  // Before: an out-of-range bid was read past the order table, and a bid
  // not in the ring (free in the pool, never provided) delivered the
  // buffers at a stale position, still in the kernel's ring.
  require_buf_rings();
  Uring u;
  TestArena arena(ArenaConfig{.slot_size = 1024, .shard_size = 64 * 1024, .max_shards = 1});
  Pool pool(arena, RecvPoolConfig{.buffers = 16, .mode = PoolMode::connectionless});
  Ring br(u.ring, pool, BufRingConfig{.entries = 8, .group_id = 24, .bundles = true});
  REQUIRE(br);
  if (!br.bundles()) {
    MESSAGE("bundles off (no IORING_FEAT_RECVSEND_BUNDLE): the bundle path is not reached");
    return;
  }
  const unsigned in_ring = br.in_ring();
  REQUIRE(in_ring == 8);
  const auto before = pool.counters();
  for (const std::uint16_t bid : {std::uint16_t{60000}, std::uint16_t{15}}) { // out of range; never provided
    const RecvEvent e = br.complete(fake_recv_cqe(br, bid, 3000));
    CHECK(e.kind == RecvEventKind::error);
    CHECK_FALSE(e);
  }
  CHECK(br.counters().bad_bids == 2);
  CHECK(br.in_ring() == in_ring);
  CHECK(pool.counters().delivered == before.delivered);
  CHECK(pool.counters().held == before.held);
}
