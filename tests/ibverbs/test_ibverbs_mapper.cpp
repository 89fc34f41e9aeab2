// SPDX-License-Identifier: MIT
// IbvMapper through the IbvOps seam (no RDMA device needed): registrations
// counted per shard, pd and access flags passed through, every MR
// deregistered when its shard goes, injected failures (ENOMEM at shard k)
// refused with a readable error, no MR leaked and the arena still usable,
// dma-buf regions registered with ibv_reg_dmabuf_mr. The real-device run is
// test_ibverbs_hardware.
#include "test_ibverbs_fake.hpp"

#include <arenakit/arena/arena.hpp>
#include <arenakit/sources/heap.hpp>
#include <arenakit/ibverbs/mapper.hpp>

#include <doctest/doctest.h>

#include <cerrno>
#include <string>
#include <system_error>
#include <vector>

#include <infiniband/verbs.h>

using namespace arenakit;

namespace {

using IbvArena = Arena<IbvMapper>;

bool contains(const std::string& s, const char* what) { return s.find(what) != std::string::npos; }

/// Acquires one slot at a time until the arena refuses; returns the ids.
std::vector<SlotId> drain(IbvArena& arena, std::size_t most) {
  std::vector<SlotId> ids;
  while (ids.size() < most) {
    const SlotId id = arena.acquire();
    if (!id) break;
    ids.push_back(id);
  }
  return ids;
}

} // namespace

TEST_CASE("IbvMapper without a protection domain refuses, and says why") {
  IbvArena arena(ArenaConfig{}, MmapSource{}, IbvMapper{});
  CHECK_FALSE(arena.acquire());
  const auto c = arena.counters();
  CHECK(c.growth_failures == 1);
  CHECK(c.mappings == 0);
  CHECK(c.shards == 0);
  const std::error_code ec = arena.mapper().last_error();
  CHECK(ec == std::errc::invalid_argument);
  CHECK(ibverbs_call_of(ec) == IbvCall::missing_pd);
  CHECK(contains(ec.message(), "protection domain"));
}

TEST_CASE("72 receive buffers of 4 KB: 72 registrations per buffer, 5 in 64 KB shards, 1 in a 2 MB shard") {
  struct Case {
    std::size_t shard_size;
    PageSize pages;
    int registrations;
  };
  const Case cases[] = {{4096, PageSize::normal, 72},
                        {64 * 1024, PageSize::normal, 5},
                        {std::size_t{2} << 20, PageSize::huge_2m, 1}};
  for (const Case& k : cases) {
    CAPTURE(k.shard_size);
    fake::FakeVerbs f;
    {
      // max_shards keeps the arena's tables small; it does not change the count.
      IbvArena arena(ArenaConfig{.slot_size = 4096, .shard_size = k.shard_size, .max_shards = 128},
                     MmapSource{.pages = k.pages}, IbvMapper{&f.pd, IbvAccess::local_write, {}, &fake::ops});
      REQUIRE(arena);
      SlotId ids[72];
      REQUIRE(arena.acquire_bulk(ids, 72) == 72);
      CHECK(f.regs == k.registrations);
      CHECK(f.reg_attempts == k.registrations);
      CHECK(arena.counters().mappings == static_cast<std::uint64_t>(k.registrations));
      CHECK(f.dmabuf_regs == 0);
      CHECK(f.last_pd == &f.pd);
      CHECK(f.last_access == IBV_ACCESS_LOCAL_WRITE);
      CHECK(f.last_length >= k.shard_size); // a 2 MB request may be rounded up, never down

      // Per slot, O(1): the shard's MR keys and the CPU address as iova.
      for (SlotId id : ids) {
        const auto buf = arena.buffer(id);
        REQUIRE(buf.mapping != nullptr);
        const auto* mr = reinterpret_cast<const fake::Mr*>(buf.mapping->mr);
        CHECK(mr->live);
        CHECK(buf.mapping->lkey == mr->mr.lkey);
        CHECK(buf.mapping->rkey == mr->mr.rkey);
        CHECK(buf.device_address == reinterpret_cast<std::uint64_t>(buf.data));
        const auto base = static_cast<std::byte*>(mr->mr.addr);
        CHECK(buf.data >= base);
        CHECK(buf.data + buf.length <= base + mr->mr.length);
      }
      CHECK(arena.release_bulk(ids, 72) == 72);
      CHECK_FALSE(arena.release_memory());
      CHECK(f.deregs == f.regs); // every shard's MR went with its shard
      CHECK(arena.counters().mappings == 0);
      // The arena grows (and registers) again after release_memory().
      const SlotId again = arena.acquire();
      CHECK(again);
      CHECK(f.live_mrs() == 1);
      CHECK(arena.release(again));
    }
    CHECK(f.deregs == f.regs); // and destruction deregisters what is left
    CHECK(f.live_mrs() == 0);
  }
}

TEST_CASE("access policy, named extras and the protection domain reach the registration") {
  fake::FakeVerbs f;
  IbvMapper mapper(&f.pd, IbvAccess::remote_rw,
                   IbvAccessExtra::relaxed_ordering | IbvAccessExtra::remote_atomic, &fake::ops);
  CHECK(mapper.access_flags() == (IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_READ |
                                  IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_RELAXED_ORDERING |
                                  IBV_ACCESS_REMOTE_ATOMIC));
  {
    IbvArena arena(ArenaConfig{.slot_size = 4096, .shard_size = 64 * 1024, .initial_shards = 2},
                   MmapSource{}, mapper);
    REQUIRE(arena);
    CHECK(f.regs == 2);
    CHECK(f.mrs[0].access == mapper.access_flags());
    CHECK(f.mrs[1].access == mapper.access_flags());
    CHECK(f.mrs[0].mr.pd == &f.pd);
    CHECK(arena.mapper().pd() == &f.pd);
  }
  CHECK(f.deregs == 2);

  // A null ops pointer means the real table, not a crash later.
  IbvMapper real(&f.pd, IbvAccess::local_write, IbvAccessExtra::none, nullptr);
  CHECK(&real.ops() == &ibv_default_ops);
}

TEST_CASE("ENOMEM at shard k: acquire refuses, the error names the memlock limit, nothing leaks, growth resumes") {
  fake::FakeVerbs f;
  f.fail_reg_at = 2; // the third registration (shard k = 2) fails
  f.fail_reg_errno = ENOMEM;
  IbvArena arena(ArenaConfig{.slot_size = 4096, .shard_size = 64 * 1024, .max_shards = 8},
                 MmapSource{}, IbvMapper{&f.pd, IbvAccess::local_write, {}, &fake::ops});
  REQUIRE(arena);

  std::vector<SlotId> ids = drain(arena, 72);
  CHECK(ids.size() == 32); // shards 0 and 1, 16 slots each
  auto c = arena.counters();
  CHECK(c.growth_failures == 1);
  CHECK(c.mappings == 2);
  CHECK(c.shards == 2);
  CHECK(f.reg_attempts == 3);
  CHECK(f.live_mrs() == 2); // the failed one registered nothing, the others are the arena's

  const std::error_code ec = arena.mapper().last_error();
  REQUIRE(ec);
  CHECK(ec == std::errc::not_enough_memory);
  CHECK(ibverbs_call_of(ec) == IbvCall::reg_mr);
  CHECK(std::string(ec.category().name()) == "arenakit.ibverbs");
  const std::string msg = ec.message();
  MESSAGE("the error reads: ", msg);
  CHECK(contains(msg, "ibv_reg_mr"));
  CHECK(contains(msg, "RLIMIT_MEMLOCK"));
  CHECK(contains(msg, "ulimit -l"));

  // Bulk is all or nothing: nothing taken while growth fails.
  SlotId more[8];
  CHECK(arena.acquire_bulk(more, 8) == 0);
  CHECK(arena.counters().slots_in_use == 32);

  // Still usable with the shards it has.
  REQUIRE(arena.release(ids.back()));
  ids.pop_back();
  const SlotId reused = arena.acquire();
  REQUIRE(reused);
  ids.push_back(reused);

  // The fault clears (the admin raised the limit): growth resumes.
  f.fail_reg_at = -1;
  const SlotId grown = arena.acquire();
  REQUIRE(grown);
  ids.push_back(grown);
  CHECK(arena.counters().mappings == 3);
  CHECK(f.live_mrs() == 3);

  CHECK(arena.release_bulk(ids.data(), static_cast<std::uint32_t>(ids.size())) == ids.size());
  CHECK_FALSE(arena.release_memory());
  CHECK(f.regs == 3);
  CHECK(f.deregs == 3);
}

TEST_CASE("failure while creating initial shards: the error is the arena's, earlier MRs are deregistered") {
  fake::FakeVerbs f;
  f.fail_reg_at = 3;
  f.fail_reg_errno = EAGAIN;
  {
    IbvArena arena(ArenaConfig{.slot_size = 4096, .shard_size = 64 * 1024, .initial_shards = 5},
                   MmapSource{}, IbvMapper{&f.pd, IbvAccess::local_write, {}, &fake::ops});
    CHECK_FALSE(arena);
    CHECK(arena.error() == std::errc::resource_unavailable_try_again);
    CHECK(contains(arena.error().message(), "RLIMIT_MEMLOCK"));
    CHECK(f.regs == 3);
    CHECK(f.live_mrs() == 3);
  }
  CHECK(f.deregs == 3);
}

TEST_CASE("errors that are not the memlock limit say what they are, without the memlock hint") {
  const std::error_code inval = make_ibverbs_error(IbvCall::reg_dmabuf_mr, EINVAL);
  CHECK(inval == std::errc::invalid_argument);
  CHECK(contains(inval.message(), "ibv_reg_dmabuf_mr failed"));
  CHECK_FALSE(contains(inval.message(), "RLIMIT_MEMLOCK"));
  const std::error_code silent = make_ibverbs_error(IbvCall::reg_mr, 0);
  CHECK(silent); // a failure without errno is still a failure
  CHECK(contains(silent.message(), "no errno"));
  CHECK(ibverbs_call_of(std::make_error_code(std::errc::invalid_argument)) == IbvCall{});
}

TEST_CASE("a failed deregistration is kept as the mapper's last error") {
  fake::FakeVerbs f;
  IbvMapper mapper(&f.pd, IbvAccess::local_write, {}, &fake::ops);
  Region r;
  alignas(64) static std::byte memory[4096];
  r.data = memory;
  r.size = sizeof memory;
  auto m = mapper.map(r);
  REQUIRE(m);
  f.fail_dereg_errno = EBUSY;
  mapper.unmap(*m);
  CHECK(m->mr == nullptr); // the arena will not try twice
  CHECK(ibverbs_call_of(mapper.last_error()) == IbvCall::dereg_mr);
  CHECK(mapper.last_error() == std::errc::device_or_resource_busy);
  f.fail_dereg_errno = 0;
  CHECK(f.live_mrs() == 1); // what a failed dereg leaves behind, made visible
}

namespace {
/// A source whose regions stand for a dma-buf (say, GPU memory a driver
/// exported): fd and offset set; data points at host memory so the arena's
/// CPU-side index has something to name.
struct DmabufSource {
  HeapSource heap;
  int fd = 42;
  std::uint64_t next_offset = 0;
  Result<Region> allocate(std::size_t bytes, std::size_t alignment) noexcept {
    Result<Region> r = heap.allocate(bytes, alignment);
    if (!r) return r;
    r->dmabuf_fd = fd;
    r->dmabuf_offset = next_offset;
    next_offset += bytes;
    return r;
  }
  void deallocate(const Region& r) noexcept { heap.deallocate(r); }
};
} // namespace

TEST_CASE("dma-buf regions are registered with ibv_reg_dmabuf_mr at offset = iova") {
  fake::FakeVerbs f;
  {
    Arena<IbvMapper, BitmapSlots, ImmediateReclaimer, DmabufSource> arena(
        ArenaConfig{.slot_size = 4096, .shard_size = 64 * 1024}, DmabufSource{},
        IbvMapper{&f.pd, IbvAccess::remote_write, {}, &fake::ops});
    REQUIRE(arena);
    SlotId ids[40];
    REQUIRE(arena.acquire_bulk(ids, 40) == 40);
    CHECK(f.regs == 3);
    CHECK(f.dmabuf_regs == 3);
    for (int i = 0; i < 3; ++i) {
      CAPTURE(i);
      CHECK(f.mrs[i].dmabuf);
      CHECK(f.mrs[i].fd == 42);
      CHECK(f.mrs[i].mr.length == 64 * 1024);
      CHECK(f.mrs[i].access == (IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE));
      CHECK(f.mrs[i].iova == f.mrs[i].offset);
    }
    // Offsets are distinct per shard, and the slot's device address is the
    // iova of its shard plus its offset inside the shard.
    CHECK(f.mrs[0].offset != f.mrs[1].offset);
    for (SlotId id : ids) {
      const auto buf = arena.buffer(id);
      const auto* mr = reinterpret_cast<const fake::Mr*>(buf.mapping->mr);
      CHECK(buf.device_address >= mr->iova);
      CHECK(buf.device_address + buf.length <= mr->iova + 64 * 1024);
      CHECK(buf.mapping->lkey == mr->mr.lkey);
      CHECK(arena.from_device_address(buf.device_address) == id);
    }
    CHECK(arena.release_bulk(ids, 40) == 40);
  }
  CHECK(f.deregs == 3);
}
