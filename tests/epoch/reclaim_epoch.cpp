// SPDX-License-Identifier: MIT
// Epoch domain: nothing is freed while a guard that could see it lives
// (canaries, and ASan in the sanitizer build), nesting, the garbage bound and
// its three actions, the report of who holds the epoch back, synchronize and
// barrier, teardown with garbage pending, and EpochReclaimer with a test sink.
#include <arenakit/epoch/epoch.hpp>
#include <arenakit/reclaimers/epoch.hpp>
#include <arenakit/concepts/reclaimer.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

using namespace arenakit;

namespace {
constexpr std::uint64_t alive = 0xA11CE5A11CE5A11Cull;
constexpr std::uint64_t dead = 0xDEADDEADDEADDEADull;

std::atomic<int> g_freed{0};

struct Obj : EpochHook {
  std::uint64_t canary = alive;
  int value = 0;
};
void free_obj(EpochHook* h) noexcept {
  auto* o = static_cast<Obj*>(h);
  CHECK(o->canary == alive); // freed once
  o->canary = dead;
  g_freed.fetch_add(1);
  delete o;
}

std::unique_ptr<EpochDomain> make_domain(EpochConfig cfg = {}) {
  auto d = EpochDomain::create(cfg);
  REQUIRE(d);
  return std::move(*d);
}
} // namespace

TEST_CASE("bad config is refused with invalid_config") {
  CHECK(EpochDomain::create({.batch_size = 0}).error() == errc::invalid_config);
  CHECK(EpochDomain::create({.garbage_bound = 0}).error() == errc::invalid_config);
  CHECK(EpochDomain::create({.on_bound = OnGarbageBound::callback}).error() == errc::invalid_config);
}

TEST_CASE("domains are instances: two domains do not share epochs or garbage") {
  auto a = make_domain();
  auto b = make_domain();
  EpochThread ta(*a, "a"), tb(*b, "b");
  EpochGuard g(ta); // a reader in a does not hold b back
  const auto before = b->epoch();
  CHECK(b->synchronize() == std::error_code{});
  CHECK(b->epoch() >= before + 2);
  CHECK(a->counters().active == 1);
  CHECK(b->counters().active == 0);
}

TEST_CASE("guards nest: only the outermost exit leaves the critical section") {
  auto d = make_domain();
  EpochThread me(*d, "nester");
  {
    EpochGuard outer(me);
    {
      EpochGuard inner(me);
      CHECK(me.in_guard());
    }
    CHECK(me.in_guard());
    CHECK(d->counters().active == 1);
  }
  CHECK_FALSE(me.in_guard());
  CHECK(d->counters().active == 0);
}

TEST_CASE("nothing is freed while a guard that could see it lives") {
  g_freed = 0;
  auto d = make_domain({.batch_size = 4});
  EpochThread reader(*d, "reader"), writer(*d, "writer");
  std::atomic<Obj*> shared{new Obj{}};
  shared.load()->value = 1;

  EpochGuard* guard = new EpochGuard(reader);
  Obj* seen = shared.load(std::memory_order_acquire);
  // The writer replaces and retires the object the reader holds.
  Obj* replacement = new Obj{};
  replacement->value = 2;
  Obj* old = shared.exchange(replacement, std::memory_order_acq_rel);
  CHECK(old == seen);
  CHECK(writer.retire(old, &free_obj) == RetireResult::accepted);
  writer.flush();
  for (int i = 0; i < 10; ++i) d->try_reclaim();
  CHECK(g_freed.load() == 0);
  CHECK(seen->canary == alive); // ASan would report a use after free here
  CHECK(seen->value == 1);
  // synchronize from another registered thread would wait for the reader:
  // check through the report instead of blocking.
  auto r = d->counters();
  CHECK(r.held_back);
  CHECK(std::strcmp(r.holder_label, "reader") == 0);
  delete guard;
  CHECK(writer.synchronize() == std::error_code{});
  CHECK(g_freed.load() == 1);
  writer.retire(shared.exchange(nullptr), &free_obj);
  CHECK(writer.synchronize() == std::error_code{});
  CHECK(g_freed.load() == 2);
}

TEST_CASE("stalled reader: the bound holds, the caller is told, and the report names the holder") {
  g_freed = 0;
  auto d = make_domain({.batch_size = 16, .garbage_bound = 100, .on_bound = OnGarbageBound::refuse});
  EpochThread stalled(*d, "stalled-reader");
  EpochThread retirer(*d, "retirer");
  auto* guard = new EpochGuard(stalled); // stalls for the whole test
  std::vector<Obj*> refused;
  int accepted = 0;
  for (int i = 0; i < 150; ++i) {
    Obj* o = new Obj{};
    if (retirer.retire(o, &free_obj) == RetireResult::accepted)
      ++accepted;
    else
      refused.push_back(o); // still ours: nothing freed, nothing lost
  }
  CHECK(accepted == 100);
  CHECK(refused.size() == 50);
  CHECK(g_freed.load() == 0);
  auto r = d->counters();
  CHECK(r.unreclaimed == 100);
  CHECK(r.reserved <= r.bound);
  CHECK(r.bound == 100);
  CHECK(r.refused == 50);
  CHECK(r.bound_hits >= 50);
  CHECK(r.held_back);
  REQUIRE(r.holder_label != nullptr);
  CHECK(std::strcmp(r.holder_label, "stalled-reader") == 0);
  CHECK(r.holder_tid == stalled.tid());
  CHECK(r.holder_epoch < r.epoch);
  CHECK(r.oldest_epoch_age >= 1);
  CHECK(r.oldest_age_ns >= 0);
  CHECK(r.registered == 2);
  CHECK(r.active == 1);
  // The reader moves on: everything is reclaimed, and room comes back.
  delete guard;
  CHECK(retirer.synchronize() == std::error_code{});
  CHECK(g_freed.load() == 100);
  for (Obj* o : refused) CHECK(retirer.retire(o, &free_obj) == RetireResult::accepted);
  CHECK(retirer.synchronize() == std::error_code{});
  CHECK(g_freed.load() == 150);
  auto after = d->counters();
  CHECK(after.unreclaimed == 0);
  CHECK_FALSE(after.held_back);
}

namespace {
struct CallbackSeen {
  int calls = 0;
  std::string holder;
  std::size_t unreclaimed = 0;
};
BoundDecision admit_first(void* ctx, const EpochCounters& r) noexcept {
  auto* seen = static_cast<CallbackSeen*>(ctx);
  ++seen->calls;
  seen->holder = r.holder_label != nullptr ? r.holder_label : "";
  if (seen->calls == 1) seen->unreclaimed = r.unreclaimed;
  return seen->calls == 1 ? BoundDecision::admit : BoundDecision::refuse;
}
} // namespace

TEST_CASE("credit one thread reserved does not take the bound from the others") {
  // A bound of one batch: a thread's first retire reserved the whole batch
  // (128) as credit, and every retire of every other thread was refused
  // (with OnGarbageBound::wait: hung) although nothing was pending but one
  // object.
  g_freed = 0;
  auto d = make_domain({.batch_size = 128, .garbage_bound = 128, .on_bound = OnGarbageBound::refuse});
  EpochThread a(*d, "a");
  REQUIRE(a.retire(new Obj{}, &free_obj) == RetireResult::accepted);
  RetireResult from_b = RetireResult::refused_bound;
  {
    std::thread other([&] {
      EpochThread b(*d, "b");
      Obj* o = new Obj{};
      from_b = b.retire(o, &free_obj);
      if (from_b != RetireResult::accepted) delete o;
    });
    other.join();
  }
  CHECK(from_b == RetireResult::accepted);
  Obj* o = new Obj{};
  const RetireResult domain_level = d->retire(o, &free_obj);
  CHECK(domain_level == RetireResult::accepted);
  if (domain_level != RetireResult::accepted) delete o;
  CHECK(d->counters().reserved <= 128);
  CHECK(d->counters().refused == 0);
}

TEST_CASE("bound action wait: retires an idle thread made do not hold the whole bound from a waiter") {
  // A bound under one batch: the idle thread's retires sat unsealed in its
  // batch (100 < 128), which no other thread can seal or free, so the
  // waiting retirer on another thread waited forever with no reader in any
  // guard. Now a thread seals what its used-up credit paid for before it
  // reserves more: at most one credit chunk stays unsealed.
  g_freed = 0;
  auto d = make_domain({.batch_size = 128, .garbage_bound = 100, .on_bound = OnGarbageBound::wait});
  EpochThread idle(*d, "idle");
  int accepted = 0;
  for (int i = 0; i < 100; ++i) accepted += idle.retire(new Obj{}, &free_obj) == RetireResult::accepted;
  REQUIRE(accepted == 100);
  CHECK(idle.unsealed() <= 25); // one credit chunk: 100 / (4 x 1 thread)
  std::atomic<bool> done{false};
  RetireResult from_waiter = RetireResult::refused_bound;
  std::thread waiter([&] {
    EpochThread w(*d, "waiter");
    from_waiter = w.retire(new Obj{}, &free_obj);
    done.store(true);
  });
  // A watchdog, not a timing assumption: the waiter needs two grace periods
  // with no reader anywhere; 30 s without them is the hang this test is for.
  for (int i = 0; i < 3000 && !done.load(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  if (!done.load()) {
    // doctest reports at the end, which a hung thread never reaches: say it now.
    std::fprintf(stderr, "FAILED: the waiting retirer hung: the bound is held by another thread's unsealed retires "
                         "(unsealed %zu)\n", idle.unsealed());
    std::_Exit(1);
  }
  waiter.join();
  CHECK(from_waiter == RetireResult::accepted);
  CHECK(idle.synchronize() == std::error_code{});
  CHECK(d->counters().reserved <= 100);
}

TEST_CASE("bound action callback: sees the report, admits or refuses") {
  g_freed = 0;
  CallbackSeen seen;
  auto d = make_domain({.batch_size = 8,
                        .garbage_bound = 16,
                        .on_bound = OnGarbageBound::callback,
                        .bound_callback = &admit_first,
                        .callback_context = &seen});
  EpochThread stalled(*d, "slow-conn-7"), retirer(*d, "retirer");
  std::vector<Obj*> refused;
  {
    EpochGuard g(stalled);
    for (int i = 0; i < 20; ++i) {
      Obj* o = new Obj{};
      if (retirer.retire(o, &free_obj) != RetireResult::accepted) refused.push_back(o);
    }
    CHECK(seen.calls >= 2);
    CHECK(seen.holder == "slow-conn-7");
    CHECK(seen.unreclaimed == 16);
    CHECK(refused.size() == 3); // 16 under the bound + 1 admitted over it
    CHECK(d->counters().over_bound_admits == 1);
  }
  for (Obj* o : refused) delete o;
  CHECK(retirer.synchronize() == std::error_code{});
  CHECK(g_freed.load() == 17);
}

TEST_CASE("bound action wait: the retirer waits for the stalled reader, never for itself") {
  g_freed = 0;
  auto d = make_domain({.batch_size = 4, .garbage_bound = 8, .on_bound = OnGarbageBound::wait});
  EpochThread retirer(*d, "retirer");
  {
    // Inside its own guard a waiting retirer would wait forever: refused.
    EpochGuard g(retirer);
    std::vector<Obj*> refused;
    for (int i = 0; i < 12; ++i) {
      Obj* o = new Obj{};
      if (retirer.retire(o, &free_obj) != RetireResult::accepted) refused.push_back(o);
    }
    CHECK(refused.size() == 4);
    for (Obj* o : refused) delete o;
  }
  CHECK(retirer.synchronize() == std::error_code{});
  CHECK(g_freed.load() == 8);

  // A reader on another thread stalls until the retirer is seen waiting.
  std::atomic<bool> entered{false};
  std::thread reader([&] {
    EpochThread r(*d, "slow-reader");
    {
      EpochGuard g(r);
      entered.store(true);
      while (d->counters().bound_hits < 2) std::this_thread::yield();
    }
  });
  while (!entered.load()) std::this_thread::yield();
  int accepted = 0;
  for (int i = 0; i < 20; ++i) accepted += retirer.retire(new Obj{}, &free_obj) == RetireResult::accepted;
  reader.join();
  CHECK(accepted == 20); // waited instead of refusing
  CHECK(retirer.synchronize() == std::error_code{});
  CHECK(g_freed.load() == 28);
}

TEST_CASE("synchronize inside one's own guard is refused, not a deadlock") {
  auto d = make_domain();
  EpochThread me(*d, "me");
  EpochGuard g(me);
  CHECK(me.synchronize() == std::make_error_code(std::errc::resource_deadlock_would_occur));
  CHECK(d->barrier() == std::make_error_code(std::errc::resource_deadlock_would_occur));
}

TEST_CASE("synchronize inside the guard of a record registered on another thread is refused, not a deadlock") {
  // A record handed to another thread ("one thread at a time"): the domain's
  // check went by the calling thread's tid and missed the guard, and the
  // call waited for itself forever.
  auto d = make_domain();
  std::unique_ptr<EpochThread> rec;
  std::thread([&] { rec = std::make_unique<EpochThread>(*d, "registered-elsewhere"); }).join();
  std::error_code ec;
  std::atomic<bool> done{false};
  std::thread user([&] {
    EpochGuard g(*rec);
    ec = rec->synchronize();
    done.store(true);
  });
  for (int i = 0; i < 3000 && !done.load(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  if (!done.load()) {
    std::fprintf(stderr, "FAILED: synchronize() inside the record's own guard hung\n");
    std::_Exit(1);
  }
  user.join();
  CHECK(ec == std::make_error_code(std::errc::resource_deadlock_would_occur));
  rec.reset();
}

TEST_CASE("domain-level retire works from a thread with no record") {
  g_freed = 0;
  auto d = make_domain();
  std::thread t([&] {
    for (int i = 0; i < 10; ++i) CHECK(d->retire(new Obj{}, &free_obj) == RetireResult::accepted);
  });
  t.join();
  CHECK(d->counters().unreclaimed == 10);
  CHECK(d->synchronize() == std::error_code{});
  CHECK(g_freed.load() == 10);
}

TEST_CASE("retire<T> frees with delete") {
  struct Plain : EpochHook {
    int x = 3;
  };
  auto d = make_domain({.batch_size = 2});
  EpochThread me(*d);
  CHECK(me.retire(new Plain{}) == RetireResult::accepted);
  CHECK(d->retire(new Plain{}) == RetireResult::accepted);
  CHECK(me.synchronize() == std::error_code{});
  CHECK(d->counters().unreclaimed == 0);
}

TEST_CASE("teardown with garbage pending: every deleter runs, nothing leaks") {
  g_freed = 0;
  {
    auto d = make_domain({.batch_size = 64});
    EpochThread a(*d, "a");
    {
      EpochThread b(*d, "b");
      EpochGuard g(b); // a reader holds everything back for now
      for (int i = 0; i < 100; ++i) CHECK(a.retire(new Obj{}, &free_obj) == RetireResult::accepted);
      for (int i = 0; i < 30; ++i) CHECK(b.retire(new Obj{}, &free_obj) == RetireResult::accepted);
      d->try_reclaim();
      d->try_reclaim();
    }
    CHECK(g_freed.load() == 0);
    // `a` still has an unsealed batch; destroying the threads publishes it,
    // and the domain's destructor frees everything (no reader can remain).
  }
  CHECK(g_freed.load() == 130);
}

TEST_CASE("barrier at teardown frees everything once no thread is registered") {
  g_freed = 0;
  auto d = make_domain({.batch_size = 1000});
  {
    EpochThread a(*d, "a");
    for (int i = 0; i < 50; ++i) a.retire(new Obj{}, &free_obj);
  } // a's batch is published on destruction
  CHECK(d->barrier() == std::error_code{});
  CHECK(g_freed.load() == 50);
  CHECK(d->counters().unreclaimed == 0);
}

TEST_CASE("reader fence: asymmetric on Linux with membarrier, symmetric on request") {
  auto asym = make_domain({.fence = ReaderFence::asymmetric});
  auto sym = make_domain({.fence = ReaderFence::symmetric});
  CHECK(sym->reader_fence() == ReaderFence::symmetric);
  std::string how = asym->reader_fence() == ReaderFence::asymmetric ? "membarrier" : "fallback fences";
  MESSAGE("asymmetric domain uses " << how);
  EpochThread t(*sym, "sym");
  {
    EpochGuard g(t);
  }
  CHECK(sym->synchronize() == std::error_code{});
}

TEST_CASE("EpochReclaimer: a slot is not returned while a guard that could see it lives") {
  auto d = make_domain();
  EpochReclaimer reclaimer(*d);
  static_assert(check_reclaimer<EpochReclaimer>());
  CHECK(EpochReclaimer::min_slot_size <= 64);
  EpochThread reader(*d, "reader");
  alignas(64) std::byte slots[2][64];
  std::vector<SlotId> returned;
  auto sink = [&](SlotId id) noexcept { returned.push_back(id); };
  {
    EpochGuard g(reader);
    reclaimer.retire(SlotId{0x0200'0001u}, slots[0], sink);
    CHECK(reclaimer.pending() == 1);
    for (int i = 0; i < 5; ++i) CHECK(reclaimer.reclaim(sink) == 0);
    CHECK(returned.empty());
  }
  CHECK(reclaimer.reclaim(sink) == 1); // no reader: one call is enough
  REQUIRE(returned.size() == 1);
  CHECK(returned[0].raw == 0x0200'0001u);
  CHECK(reclaimer.pending() == 0);
  // Moving before use keeps what was pending.
  reclaimer.retire(SlotId{0x0200'0002u}, slots[1], sink);
  EpochReclaimer moved(std::move(reclaimer));
  CHECK(moved.pending() == 1);
  CHECK(moved.reclaim(sink) == 1);
}

TEST_CASE("layout: a thread's announcement owns its cache line") {
  CHECK(alignof(EpochThread) == cache_line_size);
}

// Issue 13: an advance costs a membarrier, so a retiring thread tries one
// only when enough garbage is sealed or enough time has passed.
TEST_CASE("a retiring thread advances at the sealed-garbage threshold, not at every batch") {
  g_freed = 0;
  auto d = make_domain({.batch_size = 4, .reclaim_threshold = 16, .reclaim_interval_us = 0});
  EpochThread me(*d, "retirer");
  for (int i = 0; i < 12; ++i) CHECK(me.retire(new Obj{}, &free_obj) == RetireResult::accepted);
  // Three batches sealed, 12 < 16: no advance tried.
  CHECK(d->counters().advances == 0);
  CHECK(d->counters().unreclaimed == 12);
  for (int i = 0; i < 4; ++i) CHECK(me.retire(new Obj{}, &free_obj) == RetireResult::accepted);
  // The fourth batch reaches 16: one advance per batch from here on.
  CHECK(d->counters().advances == 1);
  // Batch 5 (20 sealed) advances again, which frees the 16 stamped two
  // epochs back; batch 6 leaves 8 sealed, under the threshold: no advance.
  for (int i = 0; i < 8; ++i) CHECK(me.retire(new Obj{}, &free_obj) == RetireResult::accepted);
  CHECK(d->counters().advances == 2);
  CHECK(g_freed.load() == 16);
  CHECK(d->counters().unreclaimed == 8);
  CHECK(d->barrier() == std::error_code{});
}

TEST_CASE("reclaim_threshold 0 tries after every batch; the interval alone triggers too") {
  g_freed = 0;
  auto every = make_domain({.batch_size = 4, .reclaim_threshold = 0, .reclaim_interval_us = 0});
  {
    EpochThread me(*every, "retirer");
    for (int i = 0; i < 12; ++i) (void)me.retire(new Obj{}, &free_obj);
    CHECK(every->counters().advances == 3);
  }
  auto timed = make_domain({.batch_size = 4, .reclaim_threshold = 1u << 20, .reclaim_interval_us = 1000});
  EpochThread me(*timed, "retirer");
  timed->try_reclaim(); // the interval counts from the last attempt
  const std::uint64_t before = timed->counters().advances;
  for (int i = 0; i < 4; ++i) (void)me.retire(new Obj{}, &free_obj);
  // Time moves one way: after 2 ms the interval has certainly passed, whatever the scheduler did.
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  for (int i = 0; i < 4; ++i) (void)me.retire(new Obj{}, &free_obj);
  CHECK(timed->counters().advances >= before + 1);
  CHECK(timed->barrier() == std::error_code{});
}

TEST_CASE("the heavy fence is skipped exactly when the caller's record is the only one") {
  g_freed = 0;
  auto d = make_domain({.batch_size = 2, .reclaim_threshold = 0, .reclaim_interval_us = 0});
  {
    EpochThread me(*d, "alone");
    for (int i = 0; i < 4; ++i) (void)me.retire(new Obj{}, &free_obj);
    const EpochCounters alone = d->counters();
    CHECK(alone.advances == 2);
    CHECK(alone.fences_skipped == 2);
    // A second record, even idle, is a reader the fence must order.
    EpochThread other(*d, "other");
    for (int i = 0; i < 4; ++i) (void)me.retire(new Obj{}, &free_obj);
    const EpochCounters two = d->counters();
    CHECK(two.advances == 4);
    CHECK(two.fences_skipped == 2);
    // try_reclaim() from no record: skipped only when no record exists.
    d->try_reclaim();
    CHECK(d->counters().fences_skipped == 2);
  }
  d->try_reclaim();
  CHECK(d->counters().fences_skipped == 3);
  CHECK(d->barrier() == std::error_code{});
}
