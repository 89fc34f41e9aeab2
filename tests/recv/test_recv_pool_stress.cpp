// SPDX-License-Identifier: MIT
// RecvPool under threads: workers give buffers back through a ReleaseList
// while the owner keeps delivering and draining; racing give-backs of the
// same buffer have exactly one winner. Run under TSan.
#include <arenakit/arena/arena.hpp>
#include <arenakit/recv/recv_pool.hpp>
#include <arenakit/lists/release_list.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

using namespace arenakit;

namespace {
using TestArena = Arena<NoopMapper>;
using Pool = RecvPool<TestArena>;
using List = ReleaseList<WakeNever, NoWaker, Counting::exact>;

/// A small mutex-protected hand-off from the owner to the workers (the test
/// is about the pool and the list, not this queue).
struct Handoff {
  std::mutex m;
  std::vector<std::uint16_t> q;
  void put(std::uint16_t b) {
    std::lock_guard g(m);
    q.push_back(b);
  }
  bool take(std::uint16_t& b) {
    std::lock_guard g(m);
    if (q.empty()) return false;
    b = q.back();
    q.pop_back();
    return true;
  }
};
} // namespace

TEST_CASE("workers give back through a release list while the owner delivers and drains") {
  TestArena arena(ArenaConfig{.slot_size = 256, .shard_size = 64 * 1024, .max_shards = 4});
  Pool pool(arena, RecvPoolConfig{.buffers = 64});
  REQUIRE(pool);
  ConnId c = *pool.add_connection(64);
  List list;
  List closed;
  pool.close(closed);
  Handoff handoff;
  std::atomic<bool> done{false};
  std::atomic<std::uint64_t> queued{0}, dup_refused{0};
  constexpr std::uint64_t total = 20000;

  auto worker = [&] {
    std::uint16_t bid = 0;
    while (!done.load(std::memory_order_acquire)) {
      if (!handoff.take(bid)) {
        std::this_thread::yield();
        continue;
      }
      // The worker reads the bytes the owner delivered (ordered by the hand-off).
      CHECK(static_cast<unsigned char>(pool.data(bid)[0]) == (bid & 0xFF));
      // A give-back to a closed list is refused and the worker still holds
      // the buffer: it gives it back again, to the live list.
      if (bid % 7 == 0 && pool.queue_give_back(closed, bid) == RecvStatus::list_closed)
        dup_refused.fetch_add(1, std::memory_order_relaxed);
      REQUIRE(pool.queue_give_back(list, bid) == RecvStatus::ok);
      queued.fetch_add(1, std::memory_order_relaxed);
    }
  };
  std::thread w1(worker), w2(worker);

  std::uint64_t delivered = 0;
  std::vector<std::uint16_t> bids(64);
  while (delivered < total) {
    const std::uint32_t n = pool.take_for_post(bids.data(), 64);
    std::uint32_t i = 0;
    for (; i < n && delivered < total; ++i) {
      std::uint16_t bid = bids[i];
      auto v = pool.deliver(c, bid, 1 + bid);
      REQUIRE(v);
      v.data[0] = static_cast<std::byte>(bid & 0xFF);
      ++delivered;
      handoff.put(bid);
    }
    // Posted but not delivered in this round: back to free.
    for (; i < n; ++i) REQUIRE(pool.return_unused(bids[i]) == RecvStatus::ok);
    pool.drain(list);
  }
  while (pool.counters().given_back < total) {
    pool.drain(list);
    std::this_thread::yield();
  }
  done.store(true, std::memory_order_release);
  w1.join();
  w2.join();
  pool.close(list);

  const auto k = pool.counters();
  CHECK(k.delivered == total);
  CHECK(k.given_back == total);
  CHECK(k.given_back_queued == total);
  CHECK(queued.load() == total);
  CHECK(k.free == 64);
  CHECK(k.held == 0);
  CHECK(dup_refused.load() != 0);
  CHECK(k.refused == dup_refused.load());
  CHECK(k.refused_for(RecvStatus::list_closed) == dup_refused.load());
  CHECK(list.counters().items_drained == total);
}

TEST_CASE("an owner give-back racing a remote queue_give_back of the same buffer has one winner") {
  TestArena arena(ArenaConfig{.slot_size = 256, .shard_size = 64 * 1024, .max_shards = 1});
  Pool pool(arena, RecvPoolConfig{.buffers = 1});
  ConnId c = *pool.add_connection(1);
  List list;
  constexpr int rounds = 2000;
  std::atomic<int> go{-1};     // the round the remote may start
  std::atomic<int> remote_done{-1};
  std::atomic<int> remote_status{0};
  std::thread remote([&] {
    for (int round = 0; round < rounds; ++round) {
      while (go.load(std::memory_order_acquire) != round) {
      }
      remote_status.store(static_cast<int>(pool.queue_give_back(list, 0)), std::memory_order_relaxed);
      remote_done.store(round, std::memory_order_release); // pairs with the owner's acquire below
    }
  });
  int remote_wins = 0, owner_wins = 0;
  for (int round = 0; round < rounds; ++round) {
    std::uint16_t bid = 0;
    REQUIRE(pool.take_for_post(&bid, 1) == 1);
    REQUIRE(pool.deliver(c, bid, 1));
    go.store(round, std::memory_order_release); // the delivery happens-before the remote's CAS
    // A varying head start for the remote, so both sides win some rounds.
    for (int spin = 0; spin < round % 400; ++spin) std::atomic_signal_fence(std::memory_order_seq_cst);
    const GiveBack owner = pool.give_back(bid);
    while (remote_done.load(std::memory_order_acquire) != round) {
    }
    const auto remote_result = static_cast<RecvStatus>(remote_status.load(std::memory_order_relaxed));
    REQUIRE((owner.status == RecvStatus::ok) != (remote_result == RecvStatus::ok));
    if (owner) ++owner_wins;
    else ++remote_wins;
    pool.drain(list);
    REQUIRE(pool.free_count() == 1);
  }
  remote.join();
  CHECK(owner_wins + remote_wins == rounds);
  const auto k = pool.counters();
  CHECK(k.given_back == rounds);
  CHECK(k.refused == rounds); // every loser was refused and counted
  MESSAGE("owner won ", owner_wins, ", remote won ", remote_wins);
  pool.close(list);
}

TEST_CASE("reclaim_held at shutdown racing remote queue_give_backs: every buffer comes back exactly once") {
  TestArena arena(ArenaConfig{.slot_size = 256, .shard_size = 64 * 1024, .max_shards = 1});
  constexpr std::uint32_t n = 32;
  constexpr int rounds = 300;
  Pool pool(arena, RecvPoolConfig{.buffers = n, .mode = PoolMode::connectionless});
  List list;
  std::atomic<int> go{-1}, done{-1};
  std::atomic<std::uint32_t> remote_ok{0};
  // The remote gives back the odd buffers while the owner reclaims everything held.
  std::thread remote([&] {
    for (int round = 0; round < rounds; ++round) {
      while (go.load(std::memory_order_acquire) != round) { // pairs with the owner's release: deliveries first
      }
      std::uint32_t ok = 0;
      for (std::uint16_t bid = 1; bid < n; bid += 2) ok += pool.queue_give_back(list, bid) == RecvStatus::ok ? 1u : 0u;
      remote_ok.store(ok, std::memory_order_relaxed);
      done.store(round, std::memory_order_release); // pairs with the owner's acquire
    }
  });
  std::uint64_t reclaimed = 0, drained = 0, remote_total = 0;
  std::uint16_t bids[n];
  for (int round = 0; round < rounds; ++round) {
    REQUIRE(pool.take_for_post(bids, n) == n);
    for (std::uint16_t bid : bids) REQUIRE(pool.deliver(bid, 8));
    go.store(round, std::memory_order_release);
    for (int spin = 0; spin < round % 64; ++spin) std::atomic_signal_fence(std::memory_order_seq_cst);
    reclaimed += pool.reclaim_held();
    while (done.load(std::memory_order_acquire) != round) {
    }
    remote_total += remote_ok.load(std::memory_order_relaxed);
    drained += pool.drain(list);
    REQUIRE(pool.free_count() == n); // each buffer back once: reclaimed or drained, never both
  }
  remote.join();
  pool.close(list);
  CHECK(reclaimed + drained == std::uint64_t{n} * rounds);
  CHECK(drained == remote_total);
  const auto k = pool.counters();
  CHECK(k.reclaimed_held == reclaimed);
  CHECK(k.given_back == std::uint64_t{n} * rounds);
  MESSAGE(reclaimed, " reclaimed by the owner, ", drained, " given back by the remote");
}
