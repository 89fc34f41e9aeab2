// A real kernel registration: shards become io_uring fixed buffers, and a
// READ_FIXED lands data in a slot through the shard's buffer index.
#include <arenakit/arena.hpp>
#include <arenakit/uring_mapper.hpp>

#include <doctest/doctest.h>

#include <cstring>
#include <string>

#include <liburing.h>
#include <unistd.h>

using namespace arenakit;

namespace {
struct Ring {
  io_uring ring{};
  int rc;
  Ring() : rc(io_uring_queue_init(8, &ring, 0)) {}
  ~Ring() {
    if (rc == 0) io_uring_queue_exit(&ring);
  }
};
} // namespace

TEST_CASE("shards are registered once each as fixed buffers and READ_FIXED fills a slot") {
  Ring r;
  if (r.rc != 0) {
    // Some sandboxes forbid io_uring (seccomp): say so rather than pretend.
    MESSAGE("io_uring unavailable here (", -r.rc, "): fixed-buffer test not run");
    CHECK(r.rc < 0);
    return;
  }
  REQUIRE_FALSE(UringFixedBufferMapper::prepare(r.ring, 4));
  using UringArena = Arena<UringFixedBufferMapper>;
  UringArena arena(ArenaConfig{.slot_size = 4096, .shard_size = 64 * 1024, .max_shards = 4}, MmapSource{},
                   UringFixedBufferMapper(r.ring, 4));
  REQUIRE(arena);
  SlotId ids[20];
  REQUIRE(arena.acquire_bulk(ids, 20) == 20); // 2 shards
  CHECK(arena.counters().mappings == 2);
  const auto* second = arena.buffer(ids[19]).mapping;
  CHECK(second->registered);

  int fds[2];
  REQUIRE(pipe(fds) == 0);
  const std::string msg = "fixed buffers, one registration per shard";
  REQUIRE(write(fds[1], msg.data(), msg.size()) == static_cast<ssize_t>(msg.size()));
  auto buf = arena.buffer(ids[19]);
  io_uring_sqe* sqe = io_uring_get_sqe(&r.ring);
  io_uring_prep_read_fixed(sqe, fds[0], buf.data, buf.length, 0, buf.mapping->buf_index);
  REQUIRE(io_uring_submit(&r.ring) == 1);
  io_uring_cqe* cqe = nullptr;
  REQUIRE(io_uring_wait_cqe(&r.ring, &cqe) == 0);
  CHECK(cqe->res == static_cast<int>(msg.size()));
  io_uring_cqe_seen(&r.ring, cqe);
  CHECK(std::memcmp(buf.data, msg.data(), msg.size()) == 0);
  close(fds[0]);
  close(fds[1]);

  CHECK(arena.release_bulk(ids, 20) == 20);
  CHECK_FALSE(arena.release_memory());
  CHECK(arena.counters().mappings == 0);
}

TEST_CASE("a full buffer table refuses the next shard cleanly") {
  Ring r;
  if (r.rc != 0) {
    MESSAGE("io_uring unavailable here: not run");
    CHECK(r.rc < 0);
    return;
  }
  REQUIRE_FALSE(UringFixedBufferMapper::prepare(r.ring, 1));
  Arena<UringFixedBufferMapper> arena(ArenaConfig{.slot_size = 32 * 1024, .shard_size = 64 * 1024}, MmapSource{},
                                      UringFixedBufferMapper(r.ring, 1));
  SlotId a = arena.acquire(), b = arena.acquire();
  REQUIRE(a);
  REQUIRE(b);
  CHECK_FALSE(arena.acquire()); // a second shard has no table entry
  CHECK(arena.counters().growth_failures == 1);
  CHECK(arena.counters().mappings == 1);
  arena.release(a);
  arena.release(b);
}
