// SPDX-License-Identifier: MIT
// A UDP echo server in the style of liburing's examples/io_uring-udp.c: one
// multishot recvmsg into a provided-buffer ring, each datagram echoed with
// sendmsg straight from the buffer it landed in, the buffer back in the ring
// when the send completes. The buffers come from a RecvPool (one spec: size
// and count), the ring is a UringBufRing: the buffer management is the lines
// marked [buf] below. An in-process client sends datagrams of varied sizes
// and checks every byte of every echo. Exit 0 only if all match.
#include <arenakit/recv/owned_pool.hpp>
#include <arenakit/uring/buf_ring.hpp>

#include <arpa/inet.h>
#include <cstdio>
#include <cstring>
#include <liburing.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <vector>

using namespace arenakit;

namespace {
constexpr int messages = 3000;
std::uint32_t message_size(int i) { return 1 + static_cast<std::uint32_t>(i * 131 % 3000); }
unsigned char byte_at(int i, std::uint32_t k) { return static_cast<unsigned char>(static_cast<std::uint32_t>(i) * 13 + k); }

// The client: one datagram at a time, each echo read back and compared; an
// empty datagram tells the server to stop. Returns the mismatches.
int run_client(sockaddr_in server) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  timeval two_seconds{2, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &two_seconds, sizeof two_seconds);
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&server), sizeof server) != 0) return messages;
  int bad = 0;
  std::vector<unsigned char> out(4096), in(4096);
  for (int i = 0; i < messages; ++i) {
    const std::uint32_t n = message_size(i);
    for (std::uint32_t k = 0; k < n; ++k) out[k] = byte_at(i, k);
    if (::send(fd, out.data(), n, 0) != static_cast<ssize_t>(n)) return messages;
    const ssize_t r = ::recv(fd, in.data(), in.size(), 0);
    bad += r != static_cast<ssize_t>(n) || std::memcmp(in.data(), out.data(), n) != 0 ? 1 : 0;
  }
  ::send(fd, out.data(), 0, 0);
  ::close(fd);
  return bad;
}

io_uring_sqe* get_sqe(io_uring& ring) {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring);
  if (sqe == nullptr) {
    io_uring_submit(&ring);
    sqe = io_uring_get_sqe(&ring);
  }
  return sqe;
}
} // namespace

int main() {
  io_uring ring;
  if (int rc = io_uring_queue_init(64, &ring, 0); rc < 0) {
    std::printf("io_uring unavailable (%s): nothing to run\n", std::strerror(-rc));
    return 0;
  }
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    return 1;
  int result = 1;
  {
    // [buf] 1024 buffers of 4 KB (the original's BUFFERS and BUF_SHIFT), the arena derived from that.
    OwnedRecvPool<> bufs(RecvPoolSpec{.buffer_size = 4096, .buffers = 1024, .mode = PoolMode::connectionless});
    // [buf] The ring: registered, filled, each buffer back in it as soon as it is free (as the original).
    UringBufRing<OwnedRecvPool<>::pool_type> br(ring, bufs.pool(),
                                               BufRingConfig{.reprovide = Reprovide::immediate, .memory = RingMemory::automatic});
    if (!br) { // [buf] a kernel without buffer rings (< 5.19) cannot run this: say so, do not fail
      std::printf("%s\n", br.describe().c_str());
      return br.error().category() == std::system_category() ? 0 : 1;
    }
    std::printf("%s\n", br.describe().c_str());
    int client_bad = -1;
    std::thread client([&] { client_bad = run_client(addr); });

    br.prep_recvmsg_multishot(get_sqe(ring), fd, 0); // [buf] recvmsg, buffer select, our group
    bool stop = false;
    std::uint64_t echoed = 0, sends_out = 0;
    while (!stop || sends_out != 0) {
      io_uring_submit_and_wait(&ring, 1);
      io_uring_cqe* cqe;
      unsigned head, seen = 0;
      io_uring_for_each_cqe(&ring, head, cqe) {
        ++seen;
        const RecvEvent e = br.complete(*cqe); // [buf] a delivered view, or a send whose buffer went back
        if (e.rearm && !stop) br.prep_recvmsg_multishot(get_sqe(ring), fd, 0); // ENOBUFS or an end
        if (e.kind == RecvEventKind::sent) {
          --sends_out;
        } else if (e && e.payload.empty()) { // the client's "stop"
          stop = true;
          bufs.pool().give_back(e.bid); // [buf]
        } else if (e) {
          echoed += e.payload.size();
          br.prep_sendmsg_reply(get_sqe(ring), fd, e); // [buf] sendmsg from the pool buffer to the sender
          ++sends_out;
        }
      }
      io_uring_cq_advance(&ring, seen);
    }
    client.join();
    // Shutdown: cancel the receive, reap it, close the ring (buffers back), then the pool.
    io_uring_prep_cancel_fd(get_sqe(ring), fd, 0);
    io_uring_submit_and_wait(&ring, 2);
    const BufRingTeardown t = br.close(); // [buf]
    const BufRingCounters rc = br.counters();
    const RecvPoolCounters k = bufs.pool().counters();
    std::uint64_t expected = 0;
    for (int i = 0; i < messages; ++i) expected += message_size(i);
    std::printf("echoed %d datagrams, %llu bytes; client mismatches %d\n", messages,
                static_cast<unsigned long long>(echoed), client_bad);
    std::printf("pool: delivered %llu, given back %llu, free %llu/%llu, refused %llu, mappings %llu\n",
                static_cast<unsigned long long>(k.delivered), static_cast<unsigned long long>(k.given_back),
                static_cast<unsigned long long>(k.free), static_cast<unsigned long long>(k.buffers),
                static_cast<unsigned long long>(k.refused),
                static_cast<unsigned long long>(bufs.arena().counters().mappings));
    std::printf("ring: provided %llu in %llu advances, consumed %llu, ENOBUFS %llu (starved %llu), "
                "returned at teardown %llu\n",
                static_cast<unsigned long long>(rc.provided), static_cast<unsigned long long>(rc.batches),
                static_cast<unsigned long long>(rc.consumed), static_cast<unsigned long long>(rc.no_buffers),
                static_cast<unsigned long long>(rc.starved), static_cast<unsigned long long>(t.returned));
    const bool ok = client_bad == 0 && echoed == expected && k.delivered == k.given_back &&
                    k.delivered == static_cast<std::uint64_t>(messages) + 1 && k.free == k.buffers &&
                    k.refused == 0 && t.unregistered && !t.io_uring_exited_first;
    std::printf("%s\n", ok ? "udp_echo: OK" : "udp_echo: FAILED");
    result = ok ? 0 : 1;
  }
  ::close(fd);
  io_uring_queue_exit(&ring);
  return result;
}
