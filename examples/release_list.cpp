// SPDX-License-Identifier: MIT
// Composition 2, the send-release list, after svcrdma's "defer send context
// release" change (seed 001). Send completion handlers used to queue a work
// item per completed send; now they push the send context on a lock-free
// list and do nothing else, and the server thread tears the contexts down in
// one batch between requests, where an unmap's cost hurts nobody. The push
// that makes the list non-empty rings the worker's Doorbell, so a completion
// that lands after the worker's last drain (an idle connection) still gets
// torn down. Here the contexts live in slots of an arena: the worker takes
// one per send and gives it back in the drain; two threads play the NIC's
// completion handlers. At the end every context must be back in the arena.
#include <arenakit/arenakit.hpp>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <mutex>
#include <new>
#include <thread>
#include <vector>

namespace {
namespace ak = arenakit;

struct SendCtx : ak::LlistNode { // constructed in its own arena slot
  ak::SlotId id;
  std::uint32_t request = 0;
};

/// A pretend send queue: the worker posts, completion threads reap 8 at a time.
class FakeSendQueue {
public:
  void post(SendCtx* ctx) {
    { std::lock_guard<std::mutex> g(mu_); posted_.push_back(ctx); }
    cv_.notify_one();
  }
  void shutdown() {
    { std::lock_guard<std::mutex> g(mu_); down_ = true; }
    cv_.notify_all();
  }
  bool reap(std::vector<SendCtx*>& out) { // false once shut down and empty
    std::unique_lock<std::mutex> lk(mu_);
    cv_.wait(lk, [&] { return !posted_.empty() || down_; });
    for (int i = 0; i < 8 && !posted_.empty(); ++i, posted_.pop_front()) out.push_back(posted_.front());
    return !out.empty();
  }

private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<SendCtx*> posted_;
  bool down_ = false;
};

unsigned long long ull(std::uint64_t v) { return static_cast<unsigned long long>(v); }
int fail(const char* what) {
  std::fprintf(stderr, "release_list: FAILED: %s\n", what);
  return 1;
}

} // namespace

int main() {
  constexpr std::uint32_t kRequests = 50000, kCredits = 64; // send contexts in flight at most
  using SendArena = ak::Arena<ak::NoopMapper>;
  SendArena arena(ak::ArenaConfig{.slot_size = 256, .shard_size = 64 * 1024, .max_shards = 4});
  if (!arena) return fail(arena.error().message().c_str());
  ak::Doorbell bell;
  ak::ReleaseList<ak::WakeOnEdge, ak::RingDoorbell, ak::Counting::exact> list{ak::RingDoorbell{&bell}};
  FakeSendQueue nic;
  SendArena::Cache cache(arena); // the worker's: only it acquires and releases slots

  std::vector<std::thread> handlers; // completion side: O(1) push, no lock, no teardown
  for (int t = 0; t < 2; ++t)
    handlers.emplace_back([&] {
      for (std::vector<SendCtx*> done; nic.reap(done); done.clear())
        for (SendCtx* ctx : done) list.release(*ctx);
    });

  std::uint64_t posted = 0, torn_down = 0, sleeps = 0;
  std::vector<std::uint8_t> came_back(kRequests, 0);
  auto teardown = [&](ak::LlistNode* node) noexcept { // worker context, release order
    SendCtx* ctx = ak::llist_entry<SendCtx>(node); // DMA unmap, page release would go here
    ++came_back[ctx->request];
    const ak::SlotId id = ctx->id;
    ctx->~SendCtx();
    cache.release(id), ++torn_down; // a refused release is counted by the arena: checked at the end
  };
  // Sleep until @done. The snapshot comes before park() so that a ring in
  // between latches; park() drains, and the worker sleeps only with sends in
  // flight: the list is empty then, so the next completion is an edge, rings.
  auto sleep_until = [&](auto done) {
    while (!done()) {
      const auto seen = bell.snapshot();
      if (list.park(teardown) && !done()) {
        bell.wait(seen);
        ++sleeps;
      }
    }
  };

  for (std::uint32_t req = 0; req < kRequests; ++req) {
    list.drain(teardown); // between requests, like xpo_release_ctxt
    sleep_until([&] { return posted - torn_down < kCredits; });
    const ak::SlotId id = cache.acquire();
    if (!id) return fail("arena exhausted");
    auto* ctx = ::new (static_cast<void*>(arena.pointer(id))) SendCtx{};
    ctx->id = id, ctx->request = req;
    nic.post(ctx);
    ++posted;
  }
  // The connection goes idle: the last completions arrive after the last
  // drain, and only the edge wake-up brings the worker back for them.
  sleep_until([&] { return torn_down == posted; });
  nic.shutdown();
  for (auto& t : handlers) t.join();
  const std::size_t at_close = list.close(teardown); // device quiesced: nothing left

  // A straggler after close is refused, not lost: the context is still ours.
  const ak::SlotId late_id = cache.acquire();
  if (!late_id) return fail("arena exhausted");
  auto* late = ::new (static_cast<void*>(arena.pointer(late_id))) SendCtx{};
  const bool refused = list.release(*late) == ak::ReleaseResult::refused_closed;
  late->~SendCtx();
  cache.release(late_id);
  cache.flush();

  const auto c = list.counters();
  const auto a = arena.counters();
  std::printf("%llu sends posted, %llu torn down, %zu at close; worker slept %llu times\n", ull(posted),
              ull(torn_down), at_close, ull(sleeps));
  std::printf("release list: releases %llu, drains %llu, items per drain %.2f (max %llu), wake-ups %llu,\n"
              "              wake-ups per item %.4f, refused after close %llu\n",
              ull(c.releases), ull(c.drains), c.items_per_drain(), ull(c.max_items_per_drain), ull(c.wakeups),
              c.wakeups_per_item(), ull(c.refused_closed));
  std::printf("arena: slots in use %llu, high water %llu, fast-path hits %llu, refused releases %llu\n",
              ull(a.slots_in_use), ull(a.high_water), ull(a.fast_path_hits), ull(a.refused_releases));

  for (std::uint8_t n : came_back)
    if (n != 1) return fail("a send context came back other than exactly once");
  if (torn_down != kRequests || c.releases != kRequests || c.items_drained != kRequests)
    return fail("release counts differ");
  // On the edge policy each batch a drain finds was opened by exactly one
  // waking release, so wake-ups = drains = rings, however the threads ran.
  if (c.wakeups != bell.rings() || c.wakeups != c.drains) return fail("wake-ups, drains and rings differ");
  if (!refused || c.refused_closed != 1 || at_close != 0) return fail("close");
  if (a.slots_in_use != 0 || a.refused_releases != 0) return fail("the arena did not get every context back");
  std::printf("release_list: OK\n");
  return 0;
}
