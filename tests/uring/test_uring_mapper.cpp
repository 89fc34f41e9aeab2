// SPDX-License-Identifier: MIT
// UringFixedBufferMapper against the real kernel: one table entry per shard,
// entries reused as shards come and go, bad tables and full tables refused
// with a readable reason and nothing lost, and an injected registration
// failure at shard k leaves the arena usable with no entry leaked.
//
// Exits 77 (ctest: Skipped) only when this kernel or sandbox has no io_uring.
#include <arenakit/arena/arena.hpp>
#include <arenakit/uring/mapper.hpp>

#include <doctest/doctest.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include <fcntl.h>
#include <liburing.h>
#include <sys/resource.h>
#include <unistd.h>

#include "loopback.hpp"

using namespace arenakit;
using UringArena = Arena<UringFixedBufferMapper>;

namespace {

using Ring = arenakit_test::TestRing;

/// A model of the kernel table built from the calls the mapper makes (the
/// counting seam), plus a one-shot failure at the k-th registration.
struct Recorder {
  std::set<unsigned> occupied;
  unsigned registrations = 0;
  unsigned clears = 0;
  unsigned sparse_calls = 0;
  int fail_at = -1;      ///< 0-based registration to fail, -1 for none
  int fail_errno = ENOMEM;

  static int sparse(void* ctx, io_uring* ring, unsigned n) noexcept {
    ++static_cast<Recorder*>(ctx)->sparse_calls;
    return UringRegisterOps::liburing_sparse(nullptr, ring, n);
  }
  static int update(void* ctx, io_uring* ring, unsigned index, const iovec* iov) noexcept {
    auto* self = static_cast<Recorder*>(ctx);
    if (iov->iov_len != 0) {
      if (static_cast<int>(self->registrations) == self->fail_at) {
        self->fail_at = -1;
        return -self->fail_errno;
      }
      const int rc = UringRegisterOps::liburing_update(nullptr, ring, index, iov);
      if (rc >= 0) {
        ++self->registrations;
        self->occupied.insert(index);
      }
      return rc;
    }
    const int rc = UringRegisterOps::liburing_update(nullptr, ring, index, iov);
    if (rc >= 0) {
      ++self->clears;
      self->occupied.erase(index);
    }
    return rc;
  }
  UringRegisterOps ops() noexcept { return {this, sparse, update}; }
};

/// Is table entry @index empty in the kernel? A READ_FIXED of one byte from
/// /dev/zero to @addr through it: an empty entry fails with EFAULT; an entry
/// that still holds the buffer that covered @addr succeeds (even if the
/// memory has since been unmapped from the process: the kernel pinned it).
int read_one_through(io_uring& ring, std::uint64_t addr, unsigned index) {
  const int fd = ::open("/dev/zero", O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  io_uring_sqe* sqe = io_uring_get_sqe(&ring);
  REQUIRE(sqe != nullptr);
  io_uring_prep_read_fixed(sqe, fd, reinterpret_cast<void*>(addr), 1, 0, static_cast<int>(index));
  REQUIRE(io_uring_submit(&ring) == 1);
  io_uring_cqe* cqe = nullptr;
  REQUIRE(io_uring_wait_cqe(&ring, &cqe) == 0);
  const int res = cqe->res;
  io_uring_cqe_seen(&ring, cqe);
  ::close(fd);
  return res;
}

ArenaConfig cfg(std::size_t shard, std::uint32_t max_shards, std::uint32_t initial = 0) {
  return ArenaConfig{.slot_size = 4096, .shard_size = shard, .max_shards = max_shards, .initial_shards = initial};
}

} // namespace

TEST_CASE("72 buffers of 4 KB take 72 / 5 / 1 real registrations with 4 KB / 64 KB / 2 MB shards") {
  struct Case {
    std::size_t shard;
    std::uint64_t mappings;
  };
  for (const Case c : {Case{4096, 72}, Case{64 * 1024, 5}, Case{2u << 20, 1}}) {
    CAPTURE(c.shard);
    Ring r;
    Recorder rec;
    auto table = UringBufferTable::prepare(r.ring, 72, rec.ops());
    REQUIRE(table);
    UringArena arena(cfg(c.shard, 72), MmapSource{}, UringFixedBufferMapper(*table));
    REQUIRE(arena);
    std::vector<SlotId> ids(72);
    REQUIRE(arena.acquire_bulk(ids.data(), 72) == 72);
    CHECK(arena.counters().mappings == c.mappings);
    CHECK(arena.mapper().in_use() == c.mappings);
    CHECK(rec.registrations == c.mappings); // the kernel saw exactly that many
    CHECK(rec.occupied.size() == c.mappings);
    // Every slot's entry is live in the kernel: a READ_FIXED through it lands.
    std::set<unsigned> indices;
    for (SlotId id : ids) {
      const UringFixedSlot s = uring_fixed_slot(arena, id);
      indices.insert(s.buf_index);
      CHECK(s.offset_in_buffer + s.len <= c.shard);
    }
    CHECK(indices.size() == c.mappings);
    CHECK(read_one_through(r.ring, reinterpret_cast<std::uint64_t>(arena.pointer(ids[71])),
                           uring_fixed_slot(arena, ids[71]).buf_index) == 1);
    CHECK(arena.release_bulk(ids.data(), 72) == 72);
    CHECK_FALSE(arena.release_memory());
    CHECK(arena.counters().mappings == 0);
    CHECK(rec.occupied.empty());
    CHECK(arena.mapper().unmap_failures() == 0);
  }
}

TEST_CASE("1,024 x 64 KiB shards take 1,024 real registrations, and 32 with 2 MiB extents (issue 15.2)") {
  // 64 MiB pinned: needs RLIMIT_MEMLOCK >= 64 MiB (or CAP_IPC_LOCK).
  rlimit lim{};
  REQUIRE(::getrlimit(RLIMIT_MEMLOCK, &lim) == 0);
  if (::geteuid() != 0 && lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur < (std::uint64_t{64} << 20)) {
    MESSAGE("skipped: RLIMIT_MEMLOCK below 64 MiB and not root");
    return;
  }
  for (const std::uint32_t per : {1u, 32u}) {
    CAPTURE(per);
    Ring r;
    Recorder rec;
    auto table = UringBufferTable::prepare(r.ring, 1024, rec.ops());
    REQUIRE(table);
    ArenaConfig c = cfg(64 * 1024, 1024, 1024);
    c.shards_per_extent = per;
    UringArena arena(c, MmapSource{}, UringFixedBufferMapper(*table));
    REQUIRE(arena);
    CHECK(arena.counters().shards == 1024);
    CHECK(arena.counters().mappings == 1024 / per);
    CHECK(rec.registrations == 1024 / per); // the kernel saw exactly that many
    std::vector<SlotId> ids(1024 * 16);
    REQUIRE(arena.acquire_bulk(ids.data(), static_cast<std::uint32_t>(ids.size())) == ids.size());
    std::set<unsigned> indices;
    for (SlotId id : ids) {
      const UringFixedSlot s = uring_fixed_slot(arena, id);
      indices.insert(s.buf_index);
      CHECK(s.offset_in_buffer + s.len <= std::size_t{per} * 64 * 1024);
    }
    CHECK(indices.size() == 1024 / per);
    // A slot in the middle of an extent is live in the kernel through its entry.
    const SlotId mid = ids[ids.size() / 2 + 17];
    CHECK(read_one_through(r.ring, reinterpret_cast<std::uint64_t>(arena.pointer(mid)),
                           uring_fixed_slot(arena, mid).buf_index) == 1);
    CHECK(arena.release_bulk(ids.data(), static_cast<std::uint32_t>(ids.size())) == ids.size());
    CHECK_FALSE(arena.release_memory());
    CHECK(rec.occupied.empty());
    CHECK(arena.mapper().unmap_failures() == 0);
  }
}

TEST_CASE("table entries are emptied with their shards and reused as shards come and go") {
  Ring r;
  Recorder rec;
  auto table = UringBufferTable::prepare(r.ring, 4, rec.ops());
  REQUIRE(table);
  UringArena arena(cfg(64 * 1024, 4), MmapSource{}, UringFixedBufferMapper(*table));
  REQUIRE(arena);
  // Table exactly as large as the arena: five rounds of 4 shards only work
  // if every entry is given back and taken again.
  for (int round = 0; round < 5; ++round) {
    CAPTURE(round);
    std::vector<SlotId> ids(64);
    REQUIRE(arena.acquire_bulk(ids.data(), 64) == 64);
    CHECK(arena.counters().mappings == 4);
    std::vector<std::pair<std::uint64_t, unsigned>> live; // (address in shard, entry)
    std::set<unsigned> indices;
    for (std::uint32_t i = 0; i < 64; i += 16) {
      const UringFixedSlot s = uring_fixed_slot(arena, ids[i]);
      live.emplace_back(reinterpret_cast<std::uint64_t>(s.addr), s.buf_index);
      indices.insert(s.buf_index);
    }
    CHECK(indices == std::set<unsigned>{0, 1, 2, 3});
    for (auto [addr, index] : live) CHECK(read_one_through(r.ring, addr, index) == 1);
    CHECK(arena.release_bulk(ids.data(), 64) == 64);
    REQUIRE_FALSE(arena.release_memory());
    // The kernel no longer holds the old shards: each entry is empty.
    for (auto [addr, index] : live) CHECK(read_one_through(r.ring, addr, index) == -EFAULT);
    CHECK(rec.occupied.empty());
  }
  CHECK(rec.registrations == 20);
  CHECK(rec.clears == 20);
  CHECK(arena.mapper().registrations() == 20);
  CHECK(arena.mapper().unregistrations() == 20);
}

TEST_CASE("a full table refuses the next shard clearly and nothing held is lost") {
  Ring r;
  Recorder rec;
  auto table = UringBufferTable::prepare(r.ring, 2, rec.ops());
  REQUIRE(table);
  SUBCASE("on demand growth: acquire returns empty, held slots stay usable") {
    UringArena arena(cfg(64 * 1024, 3), MmapSource{}, UringFixedBufferMapper(*table));
    REQUIRE(arena);
    std::vector<SlotId> ids(32);
    REQUIRE(arena.acquire_bulk(ids.data(), 32) == 32); // 2 shards, the whole table
    CHECK_FALSE(arena.acquire());                      // a third shard has no entry
    SlotId more[4];
    CHECK(arena.acquire_bulk(more, 4) == 0);           // all or nothing
    const ArenaCounters c = arena.counters();
    CHECK(c.growth_failures == 2);
    CHECK(c.mappings == 2);
    CHECK(c.shards == 2);
    CHECK(c.slots_in_use == 32);
    CHECK(rec.occupied.size() == 2);
    CHECK(arena.mapper().in_use() == 2);
    // The held slots still do I/O through their entries.
    for (SlotId id : {ids[0], ids[31]}) {
      const UringFixedSlot s = uring_fixed_slot(arena, id);
      CHECK(read_one_through(r.ring, reinterpret_cast<std::uint64_t>(s.addr), s.buf_index) == 1);
    }
    // A release makes room inside the existing shards: acquire works again.
    CHECK(arena.release(ids[5]));
    ids[5] = arena.acquire();
    CHECK(ids[5]);
    CHECK(arena.release_bulk(ids.data(), 32) == 32);
    CHECK_FALSE(arena.release_memory());
    CHECK(rec.occupied.empty());
  }
  SUBCASE("at construction: the arena reports table_full with a readable message") {
    std::error_code ec;
    {
      UringArena arena(cfg(64 * 1024, 3, 3), MmapSource{}, UringFixedBufferMapper(*table));
      ec = arena.error();
      CHECK_FALSE(arena);
      CHECK(arena.counters().mappings == 2); // what it did make stays accounted for
    }
    CHECK(ec == uring_errc::table_full);
    CHECK(ec.message().find("table full") != std::string::npos);
    CHECK(rec.occupied.empty()); // the two shards it did make were unmapped with it
    CHECK(rec.registrations == 2);
    CHECK(rec.clears == 2);
  }
}

TEST_CASE("bad table sizes are refused before the kernel is asked") {
  Ring r;
  Recorder rec;
  for (unsigned n : {0u, uring_max_table_entries + 1, 100000u}) {
    CAPTURE(n);
    auto t = UringBufferTable::prepare(r.ring, n, rec.ops());
    CHECK_FALSE(t);
    CHECK(t.error() == uring_errc::bad_table_size);
    CHECK(t.error().message().find("16384") != std::string::npos);
  }
  CHECK(rec.sparse_calls == 0);
  // The ring is untouched: a good table still registers.
  auto t = UringBufferTable::prepare(r.ring, 8, rec.ops());
  CHECK(t);
  CHECK(rec.sparse_calls == 1);
  // A second table on the same ring: the kernel's EBUSY, explained.
  auto again = UringBufferTable::prepare(r.ring, 8, rec.ops());
  REQUIRE_FALSE(again);
  CHECK(again.error() == std::errc::device_or_resource_busy);
  CHECK(again.error().message().find("once per ring") != std::string::npos);
}

TEST_CASE("the largest table the kernel allows is accepted") {
  Ring r;
  auto t = UringBufferTable::prepare(r.ring, uring_max_table_entries);
  REQUIRE(t);
  UringArena arena(cfg(4096, uring_max_table_entries), MmapSource{}, UringFixedBufferMapper(*t));
  REQUIRE(arena);
  SlotId id = arena.acquire();
  REQUIRE(id);
  CHECK(uring_fixed_slot(arena, id).buf_index == 0); // lowest entry first
  CHECK(arena.release(id));
}

TEST_CASE("a mapper larger than its table is refused with a clear error") {
  Ring r;
  auto t = UringBufferTable::prepare(r.ring, 8);
  REQUIRE(t);
  for (const std::pair<unsigned, unsigned>& range : {std::pair{0u, 9u}, std::pair{4u, 5u}, std::pair{8u, 0u},
                                                     std::pair{8u, 1u}}) {
    const unsigned first = range.first, count = range.second; // clang 14: no bindings in CAPTURE
    CAPTURE(first);
    CAPTURE(count);
    UringFixedBufferMapper m(*t, first, count);
    CHECK(m.error() == uring_errc::mapper_larger_than_table);
    CHECK(m.error().message().find("does not fit") != std::string::npos);
    UringArena arena(cfg(4096, 8, 1), MmapSource{}, std::move(m));
    CHECK(arena.error() == uring_errc::mapper_larger_than_table);
    CHECK(arena.counters().mappings == 0);
  }
  // A table size no kernel accepts, handed in by hand, is refused too.
  UringBufferTable forged = *t;
  forged.entries = uring_max_table_entries * 2;
  CHECK(UringFixedBufferMapper(forged).error() == uring_errc::bad_table_size);
  CHECK(UringFixedBufferMapper().error() == uring_errc::no_table);
  // create() says the same thing before an arena is built on it.
  auto refused = UringFixedBufferMapper::create(*t, 8, 1);
  REQUIRE_FALSE(refused);
  CHECK(refused.error() == uring_errc::mapper_larger_than_table);
  auto made = UringFixedBufferMapper::create(*t, 4, 4);
  REQUIRE(made);
  CHECK_FALSE(made->error());
  UringArena arena(cfg(4096, 8, 1), MmapSource{}, std::move(*made));
  CHECK(arena);
  CHECK(arena.counters().mappings == 1);
}

TEST_CASE("two mappers share one table through disjoint ranges") {
  Ring r;
  Recorder rec;
  auto t = UringBufferTable::prepare(r.ring, 6, rec.ops());
  REQUIRE(t);
  UringArena a(cfg(64 * 1024, 4), MmapSource{}, UringFixedBufferMapper(*t, 0, 2));
  UringArena b(cfg(64 * 1024, 4), MmapSource{}, UringFixedBufferMapper(*t, 2));
  REQUIRE(a);
  REQUIRE(b);
  CHECK(b.mapper().first_index() == 2);
  CHECK(b.mapper().capacity() == 4);
  std::vector<SlotId> ia(32), ib(64);
  REQUIRE(a.acquire_bulk(ia.data(), 32) == 32);
  REQUIRE(b.acquire_bulk(ib.data(), 64) == 64);
  CHECK_FALSE(a.acquire()); // a's range is full though the table has b's entries
  for (SlotId id : ia) CHECK(uring_fixed_slot(a, id).buf_index < 2);
  for (SlotId id : ib) CHECK(uring_fixed_slot(b, id).buf_index >= 2);
  CHECK(rec.occupied.size() == 6);
  CHECK(a.release_bulk(ia.data(), 32) == 32);
  CHECK(b.release_bulk(ib.data(), 64) == 64);
}

TEST_CASE("a registration that fails at shard k leaves the arena usable and leaks nothing") {
  for (int k : {0, 2, 4}) {
    CAPTURE(k);
    Ring r;
    Recorder rec;
    rec.fail_at = k;
    auto t = UringBufferTable::prepare(r.ring, 8, rec.ops());
    REQUIRE(t);
    UringArena arena(cfg(64 * 1024, 8), MmapSource{}, UringFixedBufferMapper(*t));
    REQUIRE(arena);
    std::vector<SlotId> ids(72);
    CHECK(arena.acquire_bulk(ids.data(), 72) == 0); // the k-th shard failed: nothing taken
    ArenaCounters c = arena.counters();
    CHECK(c.growth_failures == 1);
    CHECK(c.mappings == static_cast<std::uint64_t>(k));
    CHECK(c.slots_in_use == 0);
    CHECK(rec.occupied.size() == static_cast<std::size_t>(k));
    CHECK(arena.mapper().in_use() == static_cast<unsigned>(k)); // the failed entry went back
    // The failure was one-shot: the same request now succeeds, 5 entries.
    REQUIRE(arena.acquire_bulk(ids.data(), 72) == 72);
    c = arena.counters();
    CHECK(c.mappings == 5);
    CHECK(rec.occupied.size() == 5);
    for (SlotId id : {ids[0], ids[71]}) {
      const UringFixedSlot s = uring_fixed_slot(arena, id);
      CHECK(read_one_through(r.ring, reinterpret_cast<std::uint64_t>(s.addr), s.buf_index) == 1);
    }
    CHECK(arena.release_bulk(ids.data(), 72) == 72);
    CHECK_FALSE(arena.release_memory());
    CHECK(rec.occupied.empty());
    CHECK(arena.mapper().in_use() == 0);
  }
}

TEST_CASE("an injected ENOMEM at construction names RLIMIT_MEMLOCK") {
  Ring r;
  Recorder rec;
  rec.fail_at = 1;
  auto t = UringBufferTable::prepare(r.ring, 4, rec.ops());
  REQUIRE(t);
  std::error_code ec;
  {
    UringArena arena(cfg(64 * 1024, 4, 3), MmapSource{}, UringFixedBufferMapper(*t));
    ec = arena.error();
  }
  CHECK(ec == std::errc::not_enough_memory); // equivalent to the errno
  CHECK(ec.category() == uring_kernel_category());
  CHECK(ec.message().find("RLIMIT_MEMLOCK") != std::string::npos);
  CHECK(rec.occupied.empty()); // shard 0 was registered and then unmapped with the arena
}

TEST_CASE("regions the kernel cannot take as one fixed buffer are refused by the mapper") {
  Ring r;
  Recorder rec;
  auto t = UringBufferTable::prepare(r.ring, 2, rec.ops());
  REQUIRE(t);
  UringFixedBufferMapper m(*t);
  Region device_only;
  device_only.size = 4096;
  device_only.dmabuf_fd = 3;
  auto a = m.map(device_only);
  CHECK(a.error() == uring_errc::no_cpu_address);
  alignas(64) static std::byte buf[64];
  Region huge;
  huge.data = buf;
  huge.size = uring_max_buffer_bytes + 4096;
  CHECK(m.map(huge).error() == uring_errc::buffer_too_large);
  Region empty;
  empty.data = buf; // an empty region: nothing to register, not a size over the limit
  CHECK(m.map(empty).error() == errc::invalid_config);
  CHECK(rec.registrations == 0);
  CHECK(m.in_use() == 0);
}
