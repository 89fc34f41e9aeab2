// SPDX-License-Identifier: MIT
// Statistics races forced at pause points (built with ARENAKIT_TEST_HOOKS),
// found by the issue-10 sweep for its two bug shapes: bookkeeping done after
// the state it describes was published, and a multi-word read in the wrong
// order. Each case fails on every run with the old order.
#include "pause_point.hpp"

#include <arenakit/arena/arena.hpp>
#include <arenakit/epoch/epoch.hpp>
#include <arenakit/mappers/noop.hpp>
#include <arenakit/recv/recv_pool.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <thread>

using namespace arenakit;
using arenakit::detail::TestPoint;

namespace {
std::atomic<int> g_freed{0};
struct Obj : EpochHook {};
void free_obj(EpochHook* h) noexcept {
  g_freed.fetch_add(1);
  delete static_cast<Obj*>(h);
}
} // namespace

// seal() pushed the batch, then counted it as retired and stamped the
// bucket's age. Two advances on another thread in between freed the batch
// first: counters() said reclaimed > retired, and the age of the emptied bucket
// stayed set on an idle domain.
TEST_CASE("epoch races: a batch freed right after its seal is never reclaimed before it is retired, nor aged after") {
  auto created = EpochDomain::create({.batch_size = 4});
  REQUIRE(created);
  EpochDomain& domain = **created;
  g_freed = 0;
  pause_test::PausePoint pause(TestPoint::epoch_seal_before_push);
  std::thread sealer([&] {
    EpochThread me(domain, "sealer");
    for (int i = 0; i < 3; ++i) CHECK(me.retire(new Obj, &free_obj) == RetireResult::accepted);
    me.flush(); // seals 3, paused inside
  });
  pause.wait_until_paused();
  for (int i = 0; i < 3; ++i) domain.try_reclaim(); // no reader: each advances
  const EpochCounters during = domain.counters();
  CHECK(during.reclaimed <= during.retired);
  CHECK(during.unreclaimed <= during.reserved);
  pause.resume();
  sealer.join();
  for (int i = 0; i < 4; ++i) domain.try_reclaim(); // now the batch is old enough
  const EpochCounters after = domain.counters();
  CHECK(g_freed.load() == 3);
  CHECK(after.retired == 3);
  CHECK(after.reclaimed == 3);
  CHECK(after.unreclaimed == 0);
  CHECK(after.oldest_epoch_age == 0); // nothing left, so nothing old
  CHECK(after.oldest_age_ns == 0);
}

// counters() read posted_ then held_; a deliver() (posted -> held) between
// the two reads counted the buffer in both, and free = buffers - posted -
// held wrapped to 2^64 - 1 with every buffer posted. The deliver is played
// on the reading thread at the point between the reads.
TEST_CASE("recv pool races: counters() between a deliver's two stores never reports a wrapped free count") {
  using TestArena = Arena<NoopMapper>;
  TestArena arena(ArenaConfig{.slot_size = 4096, .shard_size = 64 * 1024, .max_shards = 8});
  RecvPool<TestArena> pool(arena, RecvPoolConfig{.buffers = 16});
  const ConnId c = *pool.add_connection(16);
  std::vector<std::uint16_t> bids(16);
  REQUIRE(pool.take_for_post(bids.data(), 16) == 16);
  pause_test::RunAt deliver(TestPoint::recv_counters_held_read, [&] { CHECK(pool.deliver(c, bids[0], 64)); });
  const RecvPoolCounters k = pool.counters();
  CHECK(deliver.ran());
  CHECK(k.free <= k.buffers);
  CHECK(k.posted + k.held <= k.buffers);
  const RecvPoolCounters after = pool.counters();
  CHECK(after.free == 0);
  CHECK(after.posted == 15);
  CHECK(after.held == 1);
  CHECK(pool.give_back(bids[0]));
}
