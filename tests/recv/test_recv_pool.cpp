// SPDX-License-Identifier: MIT
// RecvPool unit tests: buffers taken once, O(1) maps both ways, quota and
// shared mode, CPU sync over exactly the received bytes, bad input refused
// with nothing lost, give-backs through a ReleaseList, teardown.
#include <arenakit/arena/arena.hpp>
#include <arenakit/recv/recv_pool.hpp>
#include <arenakit/lists/release_list.hpp>

#include <doctest/doctest.h>

#include <cstring>
#include <thread>
#include <vector>

using namespace arenakit;

namespace {

using TestArena = Arena<NoopMapper>;
using Pool = RecvPool<TestArena>;

struct SyncCall {
  const std::byte* data;
  std::size_t bytes;
  SyncAccess access;
  bool begin;
};

/// A CpuSync that records every call, and can be told to fail.
struct CountingSync {
  std::vector<SyncCall>* log = nullptr;
  bool fail_begin = false;
  std::error_code begin_cpu_access(const std::byte* p, std::size_t n, SyncAccess a) noexcept {
    if (fail_begin) return std::make_error_code(std::errc::io_error);
    log->push_back({p, n, a, true});
    return {};
  }
  std::error_code end_cpu_access(const std::byte* p, std::size_t n, SyncAccess a) noexcept {
    log->push_back({p, n, a, false});
    return {};
  }
};
static_assert(CpuSync<CountingSync>);

ArenaConfig four_k(std::uint32_t max_shards = 8) {
  return ArenaConfig{.slot_size = 4096, .shard_size = 64 * 1024, .max_shards = max_shards};
}

std::vector<std::uint16_t> post_all(Pool& pool) {
  std::vector<std::uint16_t> bids(pool.size());
  bids.resize(pool.take_for_post(bids.data(), pool.size()));
  return bids;
}

} // namespace

TEST_CASE("72 buffers of 4 KB are taken once: 5 mappings, dense ids, O(1) maps both ways") {
  TestArena arena(four_k());
  REQUIRE(arena);
  Pool pool(arena, RecvPoolConfig{.buffers = 72});
  REQUIRE(pool);
  CHECK(pool.size() == 72);
  CHECK(pool.buffer_size() == 4096);
  CHECK(arena.counters().mappings == 5);
  CHECK(arena.counters().slots_in_use == 72);
  for (std::uint16_t bid = 0; bid < 72; ++bid) {
    const SlotId id = pool.slot_of(bid);
    REQUIRE(arena.is_held(id));
    CHECK(pool.bid_of(id) == bid);
    CHECK(pool.data(bid) == arena.pointer(id));
    CHECK(pool.buffer(bid).length == 4096);
  }
  CHECK_FALSE(pool.slot_of(72));

  // Posting and delivering never touches the arena again.
  const auto before = arena.counters();
  ConnId c = *pool.add_connection(72);
  auto bids = post_all(pool);
  for (auto bid : bids) REQUIRE(pool.deliver(c, bid, 100));
  for (auto bid : bids) REQUIRE(pool.give_back(bid));
  const auto after = arena.counters();
  CHECK(after.mappings == before.mappings);
  CHECK(after.growths == before.growths);
  CHECK(after.slots_in_use == before.slots_in_use);
}

TEST_CASE("a SlotId of another arena, or of a slot the pool does not hold, has no buffer id") {
  TestArena arena(four_k());
  TestArena other(four_k());
  Pool pool(arena, RecvPoolConfig{.buffers = 8});
  REQUIRE(pool);
  const SlotId mine_not_pool = arena.acquire();
  const SlotId foreign = other.acquire();
  REQUIRE(mine_not_pool);
  REQUIRE(foreign);
  CHECK(pool.bid_of(foreign) == Pool::no_bid);
  CHECK(pool.bid_of(mine_not_pool) == Pool::no_bid);
  CHECK(pool.bid_of(SlotId{}) == Pool::no_bid);
  auto r = pool.give_back(foreign);
  CHECK(r.status == RecvStatus::foreign_slot);
  CHECK(pool.counters().refused_for(RecvStatus::foreign_slot) == 1);
  CHECK(arena.release(mine_not_pool));
  CHECK(other.release(foreign));
}

TEST_CASE("set-up errors are refused and take nothing from the arena") {
  TestArena arena(four_k(2)); // 32 slots at most
  REQUIRE(arena);
  {
    Pool zero(arena, RecvPoolConfig{.buffers = 0});
    CHECK(zero.error() == errc::invalid_config);
    Pool too_many_ids(arena, RecvPoolConfig{.buffers = 32769});
    CHECK(too_many_ids.error() == errc::invalid_config);
    Pool two_owners(arena, RecvPoolConfig{.buffers = 4, .mode = PoolMode::per_connection, .max_connections = 2});
    CHECK(two_owners.error() == errc::invalid_config);
    Pool no_table(arena, RecvPoolConfig{.buffers = 4, .mode = PoolMode::shared, .max_connections = 0});
    CHECK(no_table.error() == errc::invalid_config);
    Pool no_mode(arena, RecvPoolConfig{.buffers = 4, .mode = static_cast<PoolMode>(7)}); // not a mode
    CHECK(no_mode.error() == errc::invalid_config);
    CHECK_FALSE(no_mode.add_connection(4));
    Pool beyond_arena(arena, RecvPoolConfig{.buffers = 33});
    CHECK(beyond_arena.error() == errc::limit_reached);
    CHECK_FALSE(beyond_arena);
  }
  CHECK(arena.counters().slots_in_use == 0);
  // create() refuses the same way and hands out no pool.
  auto refused = Pool::create(arena, RecvPoolConfig{.buffers = 33});
  REQUIRE_FALSE(refused);
  CHECK(refused.error() == errc::limit_reached);
  CHECK(Pool::create(arena, RecvPoolConfig{.buffers = 0}).error() == errc::invalid_config);
  CHECK(arena.counters().slots_in_use == 0);
  {
    auto made = Pool::create(arena, RecvPoolConfig{.buffers = 32});
    REQUIRE(made);
    CHECK((*made)->free_count() == 32);
  }
  Pool fits(arena, RecvPoolConfig{.buffers = 32});
  CHECK(fits);
}

TEST_CASE("CPU sync covers exactly the received bytes, begin at delivery and end at give-back") {
  TestArena arena(four_k());
  std::vector<SyncCall> log;
  RecvPool<TestArena, CountingSync> pool(arena, RecvPoolConfig{.buffers = 4}, CountingSync{&log});
  REQUIRE(pool);
  ConnId c = *pool.add_connection(4);
  std::uint16_t bids[4] = {};
  REQUIRE(pool.take_for_post(bids, 4) == 4);
  CHECK(log.empty()); // posting syncs nothing
  const std::uint32_t sizes[4] = {1, 17, 4095, 4096};
  for (int i = 0; i < 4; ++i) {
    auto v = pool.deliver(c, bids[i], sizes[i]);
    REQUIRE(v);
    CHECK(v.bytes == sizes[i]);
    CHECK(v.span().size() == sizes[i]);
    CHECK(v.data == pool.data(bids[i]));
    CHECK(v.id == pool.slot_of(bids[i]));
  }
  REQUIRE(log.size() == 4);
  for (std::size_t i = 0; i < 4; ++i) {
    CHECK(log[i].begin);
    CHECK(log[i].access == SyncAccess::read);
    CHECK(log[i].bytes == sizes[i]);
    CHECK(log[i].data == pool.data(bids[i]));
  }
  // Give back in another order: each end covers that buffer's own bytes.
  const std::size_t order[4] = {2, 0, 3, 1};
  for (std::size_t i : order) REQUIRE(pool.give_back(bids[i]));
  REQUIRE(log.size() == 8);
  for (std::size_t k = 0; k < 4; ++k) {
    CHECK_FALSE(log[4 + k].begin);
    CHECK(log[4 + k].bytes == sizes[order[k]]);
    CHECK(log[4 + k].data == pool.data(bids[order[k]]));
  }
  CHECK(pool.counters().bytes_delivered == 1 + 17 + 4095 + 4096);
}

TEST_CASE("a failed begin_cpu_access refuses the delivery and leaves the buffer posted") {
  TestArena arena(four_k());
  std::vector<SyncCall> log;
  RecvPool<TestArena, CountingSync> pool(arena, RecvPoolConfig{.buffers = 2}, CountingSync{&log, true});
  ConnId c = *pool.add_connection(2);
  std::uint16_t bid = 0;
  REQUIRE(pool.take_for_post(&bid, 1) == 1);
  auto v = pool.deliver(c, bid, 10);
  CHECK(v.status == RecvStatus::sync_failed);
  CHECK(pool.counters().posted == 1);
  CHECK(pool.counters().held == 0);
  pool.sync().fail_begin = false;
  CHECK(pool.deliver(c, bid, 10)); // still posted: the retry works
  CHECK(pool.give_back(bid));
}

TEST_CASE("per-connection mode: one connection, quota up to the pool") {
  TestArena arena(four_k());
  Pool pool(arena, RecvPoolConfig{.buffers = 8});
  auto c = pool.add_connection(8);
  REQUIRE(c);
  auto second = pool.add_connection(1);
  CHECK(second.error() == RecvStatus::too_many_connections);
  CHECK(pool.add_connection(9).error() == RecvStatus::bad_quota);
  auto bids = post_all(pool);
  REQUIRE(bids.size() == 8);
  for (std::size_t i = 0; i < 7; ++i) CHECK(pool.deliver(*c, bids[i], 1).arming == Arming::unchanged);
  CHECK(pool.may_arm(*c));
  CHECK(pool.deliver(*c, bids[7], 1).arming == Arming::stop);
  CHECK_FALSE(pool.may_arm(*c));
  CHECK(pool.give_back(bids[0]).arming == Arming::resume);
  for (std::size_t i = 1; i < 8; ++i) CHECK(pool.give_back(bids[i]).arming == Arming::unchanged);
}

TEST_CASE("shared mode: each connection is capped by its own quota, and told when to stop and resume") {
  TestArena arena(four_k());
  Pool pool(arena, RecvPoolConfig{.buffers = 16, .mode = PoolMode::shared, .max_connections = 3});
  REQUIRE(pool);
  ConnId a = *pool.add_connection(2);
  ConnId b = *pool.add_connection(3);
  CHECK_FALSE(a == b);
  auto bids = post_all(pool);
  REQUIRE(bids.size() == 16);

  CHECK(pool.deliver(a, bids[0], 10).arming == Arming::unchanged);
  CHECK(pool.deliver(a, bids[1], 10).arming == Arming::stop); // at quota
  CHECK_FALSE(pool.may_arm(a));
  CHECK(pool.may_arm(b)); // b is not affected by a
  // A receive already in flight lands anyway: accepted, counted as over quota.
  auto over = pool.deliver(a, bids[2], 10);
  CHECK(over);
  CHECK(over.arming == Arming::stop);
  for (int i = 3; i < 6; ++i) CHECK(pool.deliver(b, bids[static_cast<std::size_t>(i)], 20));
  CHECK_FALSE(pool.may_arm(b));

  auto ca = pool.connection_counters(a);
  CHECK(ca.held == 3);
  CHECK(ca.quota_hits == 1);
  CHECK(ca.over_quota_deliveries == 1);
  CHECK(ca.bytes == 30);
  auto cb = pool.connection_counters(b);
  CHECK(cb.held == 3);
  CHECK(cb.quota_hits == 1);
  CHECK(cb.bytes == 60);

  // a holds 3 with quota 2: the first give-back leaves it at quota (no
  // resume), the second drops it below.
  auto g1 = pool.give_back(bids[2]);
  CHECK(g1.conn == a);
  CHECK(g1.arming == Arming::unchanged);
  CHECK(pool.give_back(bids[1]).arming == Arming::resume);
  CHECK(pool.may_arm(a));
  CHECK(pool.give_back(bids[0]).arming == Arming::unchanged);

  // Busy connections cannot be removed; idle ones can, and the slot is reused.
  CHECK(pool.remove_connection(b) == RecvStatus::connection_busy);
  for (int i = 3; i < 6; ++i) CHECK(pool.give_back(bids[static_cast<std::size_t>(i)]));
  CHECK_FALSE(pool.remove_connection(b));
  CHECK(pool.deliver(b, bids[6], 1).status == RecvStatus::unknown_connection);
  ConnId c = *pool.add_connection(1);
  ConnId d = *pool.add_connection(1);
  CHECK(pool.add_connection(1).error() == RecvStatus::too_many_connections);
  CHECK(pool.connection_counters(c).delivered == 0); // a reused slot starts clean
  (void)d;

  const auto k = pool.counters();
  CHECK(k.connections == 3);
  CHECK(k.quota_hits == 2);
  CHECK(k.over_quota_deliveries == 1);
  CHECK(k.delivered == 6);
  CHECK(k.given_back == 6);
  CHECK(k.held == 0);
  CHECK(k.posted == 10);
}

TEST_CASE("bad input is refused with a readable error, counted by reason, and loses nothing") {
  TestArena arena(four_k());
  Pool pool(arena, RecvPoolConfig{.buffers = 4});
  ConnId c = *pool.add_connection(4);
  std::uint16_t bids[2] = {};
  REQUIRE(pool.take_for_post(bids, 2) == 2);
  REQUIRE(pool.deliver(c, bids[0], 64));
  const auto before = pool.counters();

  CHECK(pool.deliver(c, 4, 1).status == RecvStatus::unknown_buffer);
  CHECK(pool.deliver(c, 0xFFFF, 1).status == RecvStatus::unknown_buffer);
  CHECK(pool.deliver(ConnId{7}, bids[1], 1).status == RecvStatus::unknown_connection);
  CHECK(pool.deliver(c, bids[1], 4097).status == RecvStatus::bad_length);
  CHECK(pool.deliver(c, bids[0], 1).status == RecvStatus::not_posted); // duplicate completion
  const std::uint16_t never_posted = 3;
  CHECK(pool.deliver(c, never_posted, 1).status == RecvStatus::not_posted);
  CHECK(pool.give_back(bids[1]).status == RecvStatus::not_held);     // posted, not delivered
  CHECK(pool.give_back(never_posted).status == RecvStatus::not_held); // free
  CHECK(pool.give_back(std::uint16_t{9}).status == RecvStatus::unknown_buffer);
  CHECK(pool.return_unused(bids[0]) == RecvStatus::not_posted);       // held, not posted

  const auto after = pool.counters();
  CHECK(after.refused == before.refused + 10);
  CHECK(after.refused_for(RecvStatus::unknown_buffer) == 3);
  CHECK(after.refused_for(RecvStatus::unknown_connection) == 1);
  CHECK(after.refused_for(RecvStatus::bad_length) == 1);
  CHECK(after.refused_for(RecvStatus::not_posted) == 3);
  CHECK(after.refused_for(RecvStatus::not_held) == 2);
  CHECK(after.delivered == before.delivered);
  CHECK(after.held == before.held);
  CHECK(after.posted == before.posted);
  CHECK(after.free == before.free);

  // The good buffers still work, and a second give-back is refused.
  CHECK(pool.give_back(bids[0]));
  CHECK(pool.give_back(bids[0]).status == RecvStatus::not_held);
  CHECK(pool.deliver(c, bids[1], 1));
  CHECK(pool.give_back(pool.slot_of(bids[1]))); // by SlotId
  CHECK(pool.counters().free == 4);

  // Errors read well in a log.
  const std::error_code ec = RecvStatus::not_held;
  CHECK(std::string(ec.category().name()) == "arenakit.recv_pool");
  CHECK(ec.message().find("given back twice") != std::string::npos);
  CHECK(std::error_code(RecvStatus::bad_quota).message().find("quota") != std::string::npos);
}

TEST_CASE("return_unused and reclaim_posted bring posted buffers back without a delivery") {
  TestArena arena(four_k());
  Pool pool(arena, RecvPoolConfig{.buffers = 6});
  auto bids = post_all(pool);
  CHECK(pool.free_count() == 0);
  CHECK(pool.return_unused(bids[0]) == RecvStatus::ok);
  CHECK(pool.reclaim_posted() == 5);
  CHECK(pool.free_count() == 6);
  CHECK(pool.counters().returned_unused == 6);
  CHECK(pool.counters().posted == 0);
  CHECK(pool.counters().refused == 0);
}

// Issue 10, defect 5: reclaim_posted() walked every buffer through
// return_unused(), so each free or held one counted a not_posted refusal
// (1 posted + 15 free gave 15 refusals). Refusals count bad input only.
TEST_CASE("reclaim_posted skips free and held buffers without counting a refusal") {
  TestArena arena(four_k());
  Pool pool(arena, RecvPoolConfig{.buffers = 16});
  ConnId c = *pool.add_connection(16);
  auto bids = post_all(pool);
  REQUIRE(bids.size() == 16);
  REQUIRE(pool.deliver(c, bids[0], 8)); // held by the application
  for (std::size_t i = 2; i < bids.size(); ++i) REQUIRE(pool.return_unused(bids[i]) == RecvStatus::ok); // free
  CHECK(pool.reclaim_posted() == 1); // only bids[1] was still posted
  const auto k = pool.counters();
  CHECK(k.refused == 0);
  CHECK(k.refused_for(RecvStatus::not_posted) == 0);
  CHECK(k.posted == 0);
  CHECK(pool.free_count() == 15);
  CHECK(pool.reclaim_posted() == 0);
  CHECK(pool.counters().refused == 0);
  CHECK(pool.give_back(bids[0]));
  // A real refusal is still counted.
  CHECK(pool.return_unused(bids[1]) == RecvStatus::not_posted);
  CHECK(pool.counters().refused_for(RecvStatus::not_posted) == 1);
}

TEST_CASE("give-backs from another thread go through a ReleaseList the owner drains in batch") {
  TestArena arena(four_k());
  Pool pool(arena, RecvPoolConfig{.buffers = 32});
  ConnId c = *pool.add_connection(32);
  ReleaseList<WakeNever> list;
  auto bids = post_all(pool);
  for (auto bid : bids) REQUIRE(pool.deliver(c, bid, 8));

  std::thread worker([&] {
    for (auto bid : bids) CHECK(pool.queue_give_back(list, bid) == RecvStatus::ok);
  });
  worker.join();
  CHECK(pool.counters().queued == 32);
  CHECK(pool.counters().held == 32); // queued buffers are still out until drained
  // A queued buffer cannot be given back again, by either path.
  CHECK(pool.queue_give_back(list, bids[0]) == RecvStatus::already_queued);
  CHECK(pool.give_back(bids[0]).status == RecvStatus::already_queued);

  CHECK(pool.drain(list) == 32);
  CHECK(list.counters().drains == 1); // one batch
  const auto k = pool.counters();
  CHECK(k.given_back == 32);
  CHECK(k.given_back_queued == 32);
  CHECK(k.queued == 0);
  CHECK(k.free == 32);
  CHECK(pool.connection_counters(c).held == 0);

  // A node that is not one of the pool's is refused by the drain path.
  LlistNode stranger;
  CHECK(pool.give_back_queued(&stranger).status == RecvStatus::foreign_slot);
  CHECK(pool.give_back_queued(nullptr).status == RecvStatus::foreign_slot);

  // A closed list refuses: the caller still holds the buffer and can give it back.
  std::uint16_t bid = 0;
  REQUIRE(pool.take_for_post(&bid, 1) == 1);
  REQUIRE(pool.deliver(c, bid, 1));
  CHECK(pool.close(list) == 0);
  CHECK(pool.queue_give_back(list, bid) == RecvStatus::list_closed);
  CHECK(pool.give_back(bid));
  CHECK(pool.counters().free == 32);
}

TEST_CASE("destruction hands free buffers back to the arena, never ones still out") {
  TestArena arena(four_k());
  {
    Pool pool(arena, RecvPoolConfig{.buffers = 10});
    ConnId c = *pool.add_connection(10);
    auto bids = post_all(pool);
    for (auto bid : bids) REQUIRE(pool.deliver(c, bid, 1));
    for (auto bid : bids) REQUIRE(pool.give_back(bid));
  }
  CHECK(arena.counters().slots_in_use == 0);
  {
    Pool pool(arena, RecvPoolConfig{.buffers = 10});
    ConnId c = *pool.add_connection(10);
    std::uint16_t bids[3] = {};
    REQUIRE(pool.take_for_post(bids, 3) == 3);
    REQUIRE(pool.deliver(c, bids[0], 1)); // held by a user
    CHECK(pool.outstanding() == 3);
  }
  // Two posted and one held stay acquired: a device or a user may write them.
  CHECK(arena.counters().slots_in_use == 3);
}

TEST_CASE("connectionless mode: deliver without a ConnId, no connections to add or remove") {
  TestArena arena(four_k());
  Pool pool(arena, RecvPoolConfig{.buffers = 4, .mode = PoolMode::connectionless});
  REQUIRE(pool);
  CHECK(pool.connectionless());
  CHECK(pool.counters().connections == 1); // the implicit one
  CHECK(pool.add_connection(2).error() == RecvStatus::connectionless);
  CHECK(pool.remove_connection(ConnId{0}) == RecvStatus::connectionless);
  CHECK(pool.counters().refused_for(RecvStatus::connectionless) == 2);
  const auto bids = post_all(pool);
  for (std::size_t i = 0; i < bids.size(); ++i) {
    const RecvView v = pool.deliver(bids[i], 100);
    REQUIRE(v);
    // The implicit quota is the pool: stop means "every buffer is held".
    CHECK(v.arming == (i + 1 == bids.size() ? Arming::stop : Arming::unchanged));
  }
  CHECK(pool.give_back(bids[0]).arming == Arming::resume);
  // A connectionless config with a connection table is refused.
  Pool bad(arena, RecvPoolConfig{.buffers = 4, .mode = PoolMode::connectionless, .max_connections = 2});
  CHECK(bad.error() == errc::invalid_config);
}

TEST_CASE("reclaim_held takes back, at shutdown, every buffer the application still holds, ending its CPU access") {
  TestArena arena(four_k());
  std::vector<SyncCall> log;
  RecvPool<TestArena, CountingSync> pool(arena, RecvPoolConfig{.buffers = 6}, CountingSync{&log});
  ConnId c = *pool.add_connection(6);
  std::uint16_t bids[6] = {};
  REQUIRE(pool.take_for_post(bids, 6) == 6);
  for (int i = 0; i < 4; ++i) REQUIRE(pool.deliver(c, bids[i], 10u + static_cast<std::uint32_t>(i)));
  ReleaseList<WakeNever> list;
  REQUIRE(pool.queue_give_back(list, bids[3]) == RecvStatus::ok); // queued: drain's to free
  log.clear();
  CHECK(pool.reclaim_held() == 3); // bids 0..2; posted 4, 5 and queued 3 are not "held"
  CHECK(log.size() == 3);
  for (const SyncCall& s : log) CHECK_FALSE(s.begin);
  auto k = pool.counters();
  CHECK(k.reclaimed_held == 3);
  CHECK(k.refused == 0);
  CHECK(pool.connection_counters(c).held == 1); // the queued one
  CHECK(pool.drain(list) == 1);
  CHECK(pool.reclaim_posted() == 2);
  k = pool.counters();
  CHECK(k.free == 6);
  CHECK(k.held == 0);
  CHECK(pool.reclaim_held() == 0);
}

TEST_CASE("an attachment hears every buffer that becomes free, and the pool's destruction; one at a time") {
  struct Listener {
    unsigned freed = 0, closing = 0;
    static void on_freed(void* self) noexcept { ++static_cast<Listener*>(self)->freed; }
    static void on_closing(void* self) noexcept { ++static_cast<Listener*>(self)->closing; }
  } l, other;
  TestArena arena(four_k());
  {
    Pool pool(arena, RecvPoolConfig{.buffers = 4, .mode = PoolMode::connectionless});
    CHECK(pool.attach({&l, &Listener::on_freed, &Listener::on_closing}) == RecvStatus::ok);
    CHECK(pool.attach({&other, &Listener::on_freed, &Listener::on_closing}) == RecvStatus::ring_attached);
    const auto bids = post_all(pool);
    REQUIRE(pool.deliver(bids[0], 1));
    REQUIRE(pool.give_back(bids[0]));      // 1
    REQUIRE(pool.return_unused(bids[1]) == RecvStatus::ok); // 2
    REQUIRE(pool.deliver(bids[2], 1));
    CHECK(pool.reclaim_held() == 1);       // 3
    CHECK(pool.reclaim_posted() == 1);     // 4
    CHECK(l.freed == 4);
    pool.detach(&other); // not the attached one: nothing
    CHECK(pool.counters().rings_attached == 1);
  }
  CHECK(l.closing == 1);
  CHECK(other.freed + other.closing == 0);
}
