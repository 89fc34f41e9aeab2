// SPDX-License-Identifier: MIT
// An io_uring echo server on 127.0.0.1 (ephemeral port) whose receives land in
// a RecvPool's buffers through a provided-buffer ring, echoed back with
// SEND_ZC straight from the pool buffer. The buffer goes back to the ring when
// the zero-copy notification says the kernel is done with it (complete() does
// that). An in-process
// client sends N messages and checks every echo. Exit 0 only if all match.
#include <arenakit/arena/arena.hpp>
#include <arenakit/recv/recv_pool.hpp>
#include <arenakit/uring/buf_ring.hpp>

#include <arpa/inet.h>
#include <cstdio>
#include <cstring>
#include <liburing.h>
#include <netinet/in.h>
#include <optional>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <vector>

using namespace arenakit;

namespace {
constexpr int messages = 2000;
std::uint32_t message_size(int i) { return 1 + static_cast<std::uint32_t>(i * 37 % 3000); }
unsigned char byte_at(int i, std::uint32_t k) { return static_cast<unsigned char>(static_cast<std::uint32_t>(i) * 7 + k); }

// The client: sends each message, then reads back exactly as many bytes and
// compares. Returns the number of mismatched messages.
int run_client(sockaddr_in addr) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return messages;
  int bad = 0;
  std::vector<unsigned char> out(4096), in(4096);
  for (int i = 0; i < messages; ++i) {
    const std::uint32_t n = message_size(i);
    for (std::uint32_t k = 0; k < n; ++k) out[k] = byte_at(i, k);
    if (::send(fd, out.data(), n, MSG_NOSIGNAL) != static_cast<ssize_t>(n)) return messages;
    std::uint32_t got = 0; // TCP is a stream: an echo may come back in pieces
    while (got < n) {
      const ssize_t r = ::recv(fd, in.data() + got, n - got, 0);
      if (r <= 0) return messages;
      got += static_cast<std::uint32_t>(r);
    }
    bad += std::memcmp(in.data(), out.data(), n) != 0 ? 1 : 0;
  }
  ::close(fd); // the server sees end of stream and stops
  return bad;
}
} // namespace

int main() {
  io_uring ring;
  if (int rc = io_uring_queue_init(64, &ring, 0); rc < 0) {
    std::printf("io_uring unavailable (%s): nothing to run\n", std::strerror(-rc));
    return 0;
  }
  // 64 buffers of 4 KB from 64 KB shards: 4 mappings for the pool's whole life.
  Arena<NoopMapper> arena(ArenaConfig{.slot_size = 4096, .shard_size = 64 * 1024, .max_shards = 4});
  RecvPool<Arena<NoopMapper>> pool(arena, RecvPoolConfig{.buffers = 64});
  ConnId conn = *pool.add_connection(64);
  std::optional<UringBufRing<decltype(pool)>> br; // destroyed before the pool, below
  br.emplace(ring, pool, BufRingConfig{.entries = 64, .group_id = 1});
  if (!*br) { // a kernel without buffer rings (< 5.19) cannot run this: say so, do not fail
    std::printf("%s\n", br->describe().c_str());
    return br->error().category() == std::system_category() ? 0 : 1;
  }

  int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(listener, reinterpret_cast<sockaddr*>(&addr), len) != 0 || ::listen(listener, 1) != 0 ||
      ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    return 1;
  int client_bad = -1;
  std::thread client([&] { client_bad = run_client(addr); });
  const int fd = ::accept(listener, nullptr, nullptr);

  br->prep_recv_multishot(io_uring_get_sqe(&ring), fd, 0);
  bool eof = false;
  std::uint64_t sends_out = 0, echoed = 0;
  while (!eof || sends_out != 0) {
    io_uring_submit_and_wait(&ring, 1);
    io_uring_cqe* cqe;
    unsigned head, seen = 0;
    bool rearm = false;
    io_uring_for_each_cqe(&ring, head, cqe) {
      ++seen;
      // One call per CQE: a receive is delivered to the pool (CPU sync of the
      // received bytes only), a SEND_ZC notification gives its buffer back.
      const RecvEvent e = br->complete(*cqe, conn);
      rearm |= e.rearm; // ENOBUFS or any end of the multishot: re-arm below
      if (e.kind == RecvEventKind::end_of_stream) eof = true;
      if (e.kind == RecvEventKind::send_pending) echoed += cqe->res > 0 ? static_cast<std::uint64_t>(cqe->res) : 0;
      if (e.kind == RecvEventKind::sent) --sends_out; // the kernel no longer reads the buffer
      if (!e) continue;
      io_uring_sqe* sqe = io_uring_get_sqe(&ring);
      if (sqe == nullptr) { io_uring_submit(&ring); sqe = io_uring_get_sqe(&ring); }
      br->prep_send_zc(sqe, fd, e); // straight from the pool buffer
      ++sends_out;
    }
    io_uring_cq_advance(&ring, seen);
    br->provide(); // everything given back in this batch: one tail advance
    if (rearm && !eof) br->prep_recv_multishot(io_uring_get_sqe(&ring), fd, 0);
  }
  client.join();
  const BufRingCounters rc = br->counters();
  br.reset(); // before the pool: buffers still in the ring go back to it
  const RecvPoolCounters k = pool.counters();
  std::printf("echoed %d messages, %llu bytes; client mismatches %d\n", messages,
              static_cast<unsigned long long>(echoed), client_bad);
  std::printf("pool: delivered %llu, given back %llu, bytes %llu, free %llu/%llu, refused %llu, mappings %llu\n",
              static_cast<unsigned long long>(k.delivered), static_cast<unsigned long long>(k.given_back),
              static_cast<unsigned long long>(k.bytes_delivered), static_cast<unsigned long long>(k.free),
              static_cast<unsigned long long>(k.buffers), static_cast<unsigned long long>(k.refused),
              static_cast<unsigned long long>(arena.counters().mappings));
  std::printf("ring: provided %llu in %llu advances, consumed %llu, ENOBUFS %llu, multishot ends %llu\n",
              static_cast<unsigned long long>(rc.provided), static_cast<unsigned long long>(rc.batches),
              static_cast<unsigned long long>(rc.consumed), static_cast<unsigned long long>(rc.no_buffers),
              static_cast<unsigned long long>(rc.multishot_ends));
  ::close(fd);
  ::close(listener);
  io_uring_queue_exit(&ring);
  std::uint64_t expected = 0;
  for (int i = 0; i < messages; ++i) expected += message_size(i);
  const bool ok = client_bad == 0 && echoed == expected && k.delivered == k.given_back &&
                  k.bytes_delivered == expected && k.free == k.buffers && k.refused == 0;
  std::printf("%s\n", ok ? "uring_echo: OK" : "uring_echo: FAILED");
  return ok ? 0 : 1;
}
