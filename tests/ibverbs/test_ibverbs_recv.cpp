// SPDX-License-Identifier: MIT
// Receive posts over an IbvMapper arena, through the IbvOps seam: the chain
// (one sge per slot, next pointers in order), what each sge carries, wr_id
// back to SlotId, one post call per batch to a QP or an SRQ, a refused post
// that names bad_wr and leaves ownership clear, refusals of ids the caller
// does not hold, and a re-post loop that allocates nothing.
#include "test_ibverbs_fake.hpp"

#include <arenakit/arena/arena.hpp>
#include <arenakit/ibverbs/mapper.hpp>
#include <arenakit/ibverbs/recv.hpp>

#include <doctest/doctest.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <new>
#include <string>
#include <system_error>

#include <infiniband/verbs.h>

// Counts every allocation in this test binary, so the re-post loop can be
// shown to make none.
namespace {
std::atomic<long> g_allocations{0};
}
void* operator new(std::size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed); // a count, orders nothing
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

using namespace arenakit;

namespace {

using RecvArena = Arena<IbvMapper>;

struct Fixture {
  fake::FakeVerbs f;
  ibv_qp qp{};
  ibv_srq srq{};
  RecvArena arena{ArenaConfig{.slot_size = 4096, .shard_size = 64 * 1024},
                  MmapSource{}, IbvMapper{&f.pd, IbvAccess::local_write, {}, &fake::ops}};
  SlotId ids[72];

  Fixture() {
    qp.pd = &f.pd; // the fake finds its state through the queue's pd
    srq.pd = &f.pd;
    REQUIRE(arena);
    REQUIRE(arena.acquire_bulk(ids, 72) == 72);
    REQUIRE(f.regs == 5);
  }
  ~Fixture() { arena.release_bulk(ids, 72); }
};

bool contains(const std::string& s, const char* what) { return s.find(what) != std::string::npos; }

} // namespace

TEST_CASE("a batch of 72 slots is one chain: one sge each, in order, with address, length and lkey") {
  Fixture x;
  IbvRecvBatch<72> batch;
  REQUIRE(batch.assign(x.arena, x.ids));
  REQUIRE(batch.size() == 72);
  const auto wrs = batch.requests();
  const auto sges = batch.sges();
  CHECK(batch.head() == &wrs[0]);
  for (std::uint32_t i = 0; i < 72; ++i) {
    CAPTURE(i);
    const ibv_recv_wr& wr = wrs[i];
    CHECK(wr.next == (i + 1 < 72 ? &wrs[i + 1] : nullptr));
    CHECK(wr.num_sge == 1);
    CHECK(wr.sg_list == &sges[i]);
    CHECK(wr.wr_id == x.ids[i].raw);
    const auto buf = x.arena.buffer(x.ids[i]);
    CHECK(sges[i].addr == x.arena.device_address(x.ids[i]));
    CHECK(sges[i].length == 4096);
    CHECK(sges[i].lkey == buf.mapping->lkey);
    // The lkey is that of the MR registered for the slot's shard.
    const auto* mr = reinterpret_cast<const fake::Mr*>(buf.mapping->mr);
    CHECK(sges[i].lkey == mr->mr.lkey);
    // wr_id comes back to the slot and its bytes in O(1).
    const SlotId back = slot_of(wr.wr_id);
    CHECK(back == x.ids[i]);
    CHECK(x.arena.checked_pointer(back) == x.arena.pointer(x.ids[i]));
    CHECK(batch.slot(i) == x.ids[i]);
  }
  // Five shards, five distinct lkeys among the 72 sges.
  int distinct = 0;
  for (std::uint32_t i = 0; i < 72; ++i) {
    bool seen = false;
    for (std::uint32_t j = 0; j < i; ++j) seen = seen || sges[j].lkey == sges[i].lkey;
    distinct += seen ? 0 : 1;
  }
  CHECK(distinct == 5);
  // A wr_id no chain built (more than 32 bits) is no slot.
  CHECK_FALSE(slot_of((std::uint64_t{1} << 32) | x.ids[0].raw));
  ibv_wc wc{};
  wc.wr_id = x.ids[5].raw;
  CHECK(slot_of(wc) == x.ids[5]);
}

TEST_CASE("per connection: the whole batch goes to the QP in one post_recv call") {
  Fixture x;
  IbvRecvBatch<72> batch;
  REQUIRE(batch.assign(x.arena, x.ids));
  const IbvPostResult r = batch.post(&x.qp, fake::ops);
  CHECK(r);
  CHECK(r.posted == 72);
  CHECK(r.not_posted == 0);
  CHECK(r.bad_wr == nullptr);
  CHECK(x.f.post_recv_calls == 1);
  CHECK(x.f.post_srq_calls == 0);
  REQUIRE(x.f.posted_count == 72);
  for (int i = 0; i < 72; ++i) {
    CAPTURE(i);
    CHECK(x.f.posted[i].wr_id == x.ids[i].raw);
    CHECK(x.f.posted[i].num_sge == 1);
    CHECK(x.f.posted[i].sge.addr == x.arena.device_address(x.ids[i]));
    CHECK(x.f.posted[i].sge.lkey == x.arena.buffer(x.ids[i]).mapping->lkey);
    CHECK_FALSE(x.f.posted[i].to_srq);
  }
}

TEST_CASE("shared by many connections: the batch goes to the SRQ in one post_srq_recv call") {
  Fixture x;
  IbvRecvBatch<72> batch;
  REQUIRE(batch.assign(x.arena, x.ids));
  const IbvPostResult r = batch.post(&x.srq, fake::ops);
  CHECK(r);
  CHECK(r.posted == 72);
  CHECK(x.f.post_srq_calls == 1);
  CHECK(x.f.post_recv_calls == 0);
  REQUIRE(x.f.posted_count == 72);
  CHECK(x.f.posted[71].wr_id == x.ids[71].raw);
  CHECK(x.f.posted[0].to_srq);
}

TEST_CASE("a refused post names bad_wr: the slots before it are the device's, it and the rest are ours") {
  Fixture x;
  IbvRecvBatch<72> batch;
  REQUIRE(batch.assign(x.arena, x.ids));
  x.f.fail_post_at = 40;
  x.f.fail_post_errno = ENOMEM;

  const IbvPostResult r = batch.post(&x.qp, fake::ops);
  CHECK_FALSE(r);
  CHECK(r.error == std::errc::not_enough_memory);
  CHECK(ibverbs_call_of(r.error) == IbvCall::post_recv);
  CHECK(contains(r.error.message(), "ibv_post_recv"));
  CHECK(contains(r.error.message(), "receive queue is full"));
  CHECK_FALSE(contains(r.error.message(), "RLIMIT_MEMLOCK")); // posting pins nothing
  CHECK(r.ownership_known);
  CHECK(r.bad_wr == &batch.requests()[40]);
  CHECK(r.bad_index == 40);
  CHECK(r.bad_slot == x.ids[40]);
  CHECK(r.posted == 40);
  CHECK(r.not_posted == 32);
  CHECK(x.f.posted_count == 40);

  // The rest is retried from bad_index once the queue has room.
  x.f.fail_post_at = -1;
  const IbvPostResult rest = batch.post(&x.qp, fake::ops, r.bad_index);
  CHECK(rest);
  CHECK(rest.posted == 32);
  REQUIRE(x.f.posted_count == 72);
  for (int i = 0; i < 72; ++i) CHECK(x.f.posted[i].wr_id == x.ids[i].raw); // each once, in order
}

TEST_CASE("a bad_wr that is not one of ours: ownership is reported unknown, every slot counted posted") {
  Fixture x;
  IbvRecvBatch<8> batch;
  REQUIRE(batch.assign(x.arena, std::span<const SlotId>(x.ids, 8)));
  x.f.foreign_bad_wr = true;
  const IbvPostResult r = batch.post(&x.srq, fake::ops);
  CHECK_FALSE(r);
  CHECK_FALSE(r.ownership_known);
  CHECK(r.posted == 8);
  CHECK(r.not_posted == 0);
  CHECK_FALSE(r.bad_slot);
}

TEST_CASE("ids the caller does not hold, and a full batch, are refused and add nothing") {
  Fixture x;
  IbvRecvBatch<4> batch;
  // Not held: released back to the arena.
  REQUIRE(x.arena.release(x.ids[0]));
  CHECK_FALSE(batch.add(x.arena, x.ids[0]));
  CHECK(batch.empty());
  // Foreign: minted by another arena.
  fake::FakeVerbs g;
  RecvArena other(ArenaConfig{.slot_size = 4096, .shard_size = 64 * 1024}, MmapSource{},
                  IbvMapper{&g.pd, IbvAccess::local_write, {}, &fake::ops});
  const SlotId theirs = other.acquire();
  REQUIRE(theirs);
  CHECK_FALSE(batch.add(x.arena, theirs));
  CHECK_FALSE(batch.add(x.arena, SlotId{}));
  CHECK(batch.empty());
  CHECK(other.release(theirs));
  // Full.
  for (int i = 1; i <= 4; ++i) CHECK(batch.add(x.arena, x.ids[i]));
  CHECK_FALSE(batch.add(x.arena, x.ids[5]));
  CHECK(batch.size() == 4);
  CHECK(batch.requests()[3].next == nullptr);
  // assign is all or nothing: one bad id leaves the batch empty.
  const SlotId mixed[] = {x.ids[1], x.ids[0], x.ids[2]};
  CHECK_FALSE(batch.assign(x.arena, mixed));
  CHECK(batch.empty());
  CHECK_FALSE(batch.assign(x.arena, std::span<const SlotId>(x.ids + 1, 5))); // too many
  CHECK(batch.empty());
  // A null queue is refused before any call, nothing posted.
  REQUIRE(batch.assign(x.arena, std::span<const SlotId>(x.ids + 1, 2)));
  const IbvPostResult r = batch.post(static_cast<ibv_qp*>(nullptr), fake::ops);
  CHECK(r.error == std::errc::invalid_argument);
  CHECK(r.posted == 0);
  CHECK(r.not_posted == 2);
  CHECK(x.f.post_recv_calls == 0);
  x.ids[0] = x.arena.acquire(); // keep the fixture's release balanced
  REQUIRE(x.ids[0]);
}

TEST_CASE("caller-owned storage, and a re-post loop that allocates nothing") {
  Fixture x;
  std::array<ibv_recv_wr, 16> wrs{};
  std::array<ibv_sge, 16> sges{};
  IbvRecvChain chain(wrs, sges);
  CHECK(chain.capacity() == 16);

  const long before = g_allocations.load();
  std::uint32_t next = 0;
  for (int round = 0; round < 100; ++round) {
    // "Completions" hand back 16 wr_ids; each is turned back into its slot
    // and the batch is rebuilt and re-posted with one call.
    chain.clear();
    for (int k = 0; k < 16; ++k) {
      ibv_wc wc{};
      wc.wr_id = x.ids[next].raw;
      next = (next + 1) % 72;
      const SlotId id = slot_of(wc);
      if (x.arena.checked_pointer(id) == nullptr || !chain.add(x.arena, id)) FAIL("refused");
    }
    x.f.posted_count = 0;
    if (!chain.post(&x.srq, fake::ops)) FAIL("post failed");
  }
  CHECK(g_allocations.load() == before);
  CHECK(x.f.post_srq_calls == 100);
  CHECK(wrs[15].next == nullptr);
  CHECK(wrs[0].next == &wrs[1]);
}
