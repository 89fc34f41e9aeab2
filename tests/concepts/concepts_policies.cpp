// SPDX-License-Identifier: MIT
// The library's own policies satisfy the concepts they are checked against,
// and ReleaseList<> compiles with its defaults (a polled list).
#include <arenakit/arena/arena.hpp>
#include <arenakit/lists/release_list.hpp>
#include <arenakit/page_pool/page_pool.hpp>
#include <arenakit/recv/recv_pool.hpp>
#include <arenakit/sync/doorbell.hpp>
#include <arenakit/sync/host_memory.hpp>

#include <doctest/doctest.h>

#include <type_traits>

using namespace arenakit;

static_assert(check_cpu_sync<HostMemorySync>());
static_assert(check_page_source<MmapPageSource>());
static_assert(check_recv_pool_arena<Arena<>>());
static_assert(check_wake_policy<WakeOnEdge>() && check_wake_policy<WakeAtWatermark>() &&
              check_wake_policy<WakeNever>());
static_assert(check_waker<NoWaker>() && check_waker<RingDoorbell>());
static_assert(RecvPoolArena<Arena<>> && CpuSync<HostMemorySync> && PageSource<MmapPageSource>);
static_assert(std::is_same_v<ReleaseList<>, ReleaseList<WakeNever, NoWaker, Counting::at_drain>>,
              "ReleaseList's defaults are a polled list");

TEST_CASE("ReleaseList<> with its defaults: a polled list") {
  ReleaseList<> list;
  LlistNode a, b;
  CHECK(list.release(a) == ReleaseResult::queued); // WakeNever: never wakes
  CHECK(list.release(b) == ReleaseResult::queued);
  int order = 0;
  CHECK(list.drain([&](LlistNode* n) noexcept { order = order * 10 + (n == &a ? 1 : 2); }) == 2);
  CHECK(order == 12); // release order
  CHECK(list.close([](LlistNode*) noexcept {}) == 0);
  CHECK(list.release(a) == ReleaseResult::refused_closed);
}
