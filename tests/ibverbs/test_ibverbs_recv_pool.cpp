// SPDX-License-Identifier: MIT
// The receive pool's ibverbs door (issue 11: one front door per composition):
// a RecvPool's free buffers posted to an SRQ or a QP as one chain through the
// IbvOps seam (fake verbs), completions turned into deliveries by wr_id,
// failed completions and refused posts giving buffers back, duplicates and
// foreign wr_ids refused by the pool.
#include "test_ibverbs_fake.hpp"

#include <arenakit/arena/arena.hpp>
#include <arenakit/ibverbs/recv_pool.hpp>

#include <doctest/doctest.h>

#include <infiniband/verbs.h>

using namespace arenakit;

namespace {

using RecvArena = Arena<IbvMapper>;
using Pool = RecvPool<RecvArena>;

struct Fixture {
  fake::FakeVerbs f;
  ibv_qp qp{};
  ibv_srq srq{};
  RecvArena arena{ArenaConfig{.slot_size = 4096, .shard_size = 64 * 1024, .max_shards = 8},
                  IbvMapper{&f.pd, IbvAccess::local_write, {}, &fake::ops}};
  Pool pool{arena, RecvPoolConfig{.buffers = 72}};
  IbvPoolPoster<Pool, 128> poster{pool, fake::ops};
  ConnId conn;

  Fixture() {
    qp.pd = &f.pd;
    srq.pd = &f.pd;
    REQUIRE(arena);
    REQUIRE(pool);
    conn = *pool.add_connection(72);
  }
  ibv_wc completion(int posted_index, std::uint32_t bytes, ibv_wc_status status = IBV_WC_SUCCESS) const {
    ibv_wc wc{};
    wc.wr_id = f.posted[posted_index].wr_id;
    wc.byte_len = bytes;
    wc.status = status;
    return wc;
  }
};

} // namespace

TEST_CASE("ibverbs door: every free buffer goes to the SRQ in one call; completions deliver by wr_id") {
  Fixture x;
  const IbvPostResult r = x.poster.post(&x.srq);
  REQUIRE(r);
  CHECK(r.posted == 72);
  CHECK(x.f.post_srq_calls == 1);
  CHECK(x.f.regs == 5); // 72 x 4 KB in 64 KB shards: 5 MRs
  CHECK(x.pool.counters().posted == 72);
  CHECK(x.pool.free_count() == 0);
  // Each sge is the buffer's address, length and its shard's lkey.
  const std::uint16_t bid0 = x.pool.bid_of(slot_of(x.f.posted[0].wr_id));
  CHECK(x.f.posted[0].sge.addr == reinterpret_cast<std::uint64_t>(x.pool.data(bid0)));
  CHECK(x.f.posted[0].sge.length == 4096);
  CHECK(x.f.posted[0].sge.lkey == x.pool.buffer(bid0).mapping->lkey);

  const IbvRecvCompletion c = x.poster.complete(x.conn, x.completion(0, 300));
  REQUIRE(c);
  CHECK(c.view.bid == bid0);
  CHECK(c.view.bytes == 300);
  CHECK(c.view.data == x.pool.data(bid0));
  CHECK(x.pool.counters().held == 1);
  // The same completion again (a duplicate) is refused by the pool, counted.
  const IbvRecvCompletion dup = x.poster.complete(x.conn, x.completion(0, 300));
  CHECK_FALSE(dup);
  CHECK(dup.view.status == RecvStatus::not_posted);
  // Given back, the buffer is re-posted by the next post.
  CHECK(x.pool.give_back(c.view.bid));
  const IbvPostResult again = x.poster.post(&x.qp);
  CHECK(again.posted == 1);
  CHECK(x.f.post_recv_calls == 1);
  CHECK(x.pool.counters().posted == 72);
}

TEST_CASE("ibverbs door: a flushed completion returns its buffer; a foreign wr_id changes nothing") {
  Fixture x;
  REQUIRE(x.poster.post(&x.srq).posted == 72);
  const IbvRecvCompletion flushed = x.poster.complete(x.conn, x.completion(5, 0, IBV_WC_WR_FLUSH_ERR));
  CHECK_FALSE(flushed);
  CHECK(flushed.device_status == IBV_WC_WR_FLUSH_ERR);
  CHECK(flushed.returned_to_pool);
  CHECK(x.pool.free_count() == 1);
  ibv_wc foreign{};
  foreign.wr_id = 0x00AB'CDEFu; // no buffer of this pool
  foreign.status = IBV_WC_SUCCESS;
  const IbvRecvCompletion bad = x.poster.complete(x.conn, foreign);
  CHECK_FALSE(bad);
  CHECK(bad.view.status == RecvStatus::unknown_buffer);
  CHECK(x.pool.counters().posted == 71);
  CHECK(x.pool.counters().held == 0);
}

TEST_CASE("ibverbs door: what a refused post did not take goes back to the free list") {
  Fixture x;
  x.f.fail_post_at = 40; // the device takes 40, refuses the 41st
  const IbvPostResult r = x.poster.post(&x.srq);
  CHECK_FALSE(r);
  CHECK(r.posted == 40);
  CHECK(r.not_posted == 32);
  CHECK(x.pool.counters().posted == 40);
  CHECK(x.pool.free_count() == 32);
  x.f.fail_post_at = -1;
  CHECK(x.poster.post(&x.srq).posted == 32);
  CHECK(x.pool.free_count() == 0);
}
