// SPDX-License-Identifier: MIT
// Composition 1 from below, the arena as receive buffers (RecvPool, in
// uring_echo.cpp and ibverbs_recv_pool.cpp, is built on exactly this):
// equal-size receive buffers carved from
// mapped shards, mapped once for the pool's life (the svcrdma receive-buffer
// arena RFC, seed 000, and the "allocate and DMA-map receive buffers
// persistently" change, seed 002). Played without a NIC: 72 receive buffers
// of 4 KB (64 credits + 8 batch overflow, as in svcrdma) from 64 KB shards,
// so 5 mappings, not 72. Each buffer is "posted" with its SlotId in the work
// request's wr_id; a completion hands the wr_id back, the buffer is found in
// O(1), its bytes consumed, and the same buffer re-posted. At teardown one
// completion is flushed twice: the second release is refused and counted.
#include <arenakit/arenakit.hpp>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <random>

namespace {

struct WorkRequest { // the fields of an ibv_recv_wr/ibv_sge that matter here
  std::uint64_t wr_id;
  std::uint64_t addr;
  std::uint32_t length;
};

struct Completion {
  std::uint64_t wr_id;
  std::uint32_t byte_len;
};

/// A pretend receive queue: "delivers" messages into posted buffers in order.
class FakeReceiveQueue {
public:
  void post(const WorkRequest& wr) { posted_.push_back(wr); }
  bool deliver(std::mt19937& rng, Completion& wc) {
    if (posted_.empty()) return false;
    WorkRequest wr = posted_.front();
    posted_.pop_front();
    wc.wr_id = wr.wr_id;
    wc.byte_len = 64 + static_cast<std::uint32_t>(rng() % (wr.length - 64));
    // The "device" writes the message through the device address (with the
    // no-op mapper it is the CPU address).
    std::memset(reinterpret_cast<unsigned char*>(wr.addr), static_cast<int>(wc.wr_id & 0xFF), wc.byte_len);
    return true;
  }

private:
  std::deque<WorkRequest> posted_;
};

unsigned long long ull(std::uint64_t v) { return static_cast<unsigned long long>(v); }

} // namespace

int main() {
  using RecvArena = arenakit::Arena<arenakit::NoopMapper>;
  RecvArena pool(arenakit::ArenaConfig{.slot_size = 4096, .shard_size = 64 * 1024, .max_shards = 8});
  if (!pool) {
    std::fprintf(stderr, "arena: %s\n", pool.error().message().c_str());
    return 1;
  }
  RecvArena::Cache cache(pool); // the receive thread's own cache: no atomics on its path
  FakeReceiveQueue rq;

  constexpr int credits = 64 + 8;
  for (int i = 0; i < credits; ++i) {
    arenakit::SlotId id = cache.acquire();
    if (!id) return 2; // the pool's limit: an empty id, never an exception
    auto buf = pool.buffer(id);
    rq.post({id.raw, buf.device_address, buf.length});
  }
  const auto after_post = pool.counters();
  std::printf("posted %d receive buffers: %llu shards, %llu mappings (one per shard, not per buffer)\n", credits,
              ull(after_post.shards), ull(after_post.mappings));

  constexpr std::uint64_t rounds = 100000;
  std::mt19937 rng(7);
  std::uint64_t bytes = 0;
  for (std::uint64_t round = 0; round < rounds; ++round) {
    Completion wc;
    if (!rq.deliver(rng, wc)) return 3;
    const arenakit::SlotId id{static_cast<std::uint32_t>(wc.wr_id)};
    std::byte* data = pool.checked_pointer(id); // a wr_id from the device is untrusted
    if (data == nullptr) return 4;
    // Sync-for-CPU would cover only wc.byte_len bytes here; then consume them.
    if (static_cast<unsigned char>(data[wc.byte_len - 1]) != (wc.wr_id & 0xFF)) return 5;
    bytes += wc.byte_len;
    auto buf = pool.buffer(id); // re-post the same buffer: it stays mapped
    rq.post({id.raw, buf.device_address, buf.length});
  }

  // Teardown: the queue is flushed and every buffer comes back; the last
  // flushed completion is seen twice (a bug upstream), and the arena refuses
  // the second release instead of freeing the buffer twice.
  Completion wc{};
  arenakit::SlotId last{};
  while (rq.deliver(rng, wc)) {
    last = arenakit::SlotId{static_cast<std::uint32_t>(wc.wr_id)};
    if (!cache.release(last)) return 6;
  }
  const bool refused_double = !cache.release(last);
  cache.flush();

  const auto c = pool.counters();
  std::printf("%llu messages, %llu bytes\n", ull(rounds), ull(bytes));
  std::printf("counters: shards %llu, mappings %llu, slots in use %llu, cached %llu, high water %llu,\n"
              "          fast-path hits %llu, slow-path hits %llu, growths %llu, limit hits %llu,\n"
              "          refused releases %llu (not held %llu, foreign %llu, out of range %llu)\n",
              ull(c.shards), ull(c.mappings), ull(c.slots_in_use), ull(c.slots_cached), ull(c.high_water),
              ull(c.fast_path_hits), ull(c.slow_path_hits), ull(c.growths), ull(c.limit_hits),
              ull(c.refused_releases), ull(c.refused_not_held), ull(c.refused_foreign),
              ull(c.refused_out_of_range));
  const bool ok = after_post.mappings == 5 && c.mappings == 5 && c.slots_in_use == 0 && c.slots_cached == 0 &&
                  c.high_water >= static_cast<std::uint64_t>(credits) && refused_double &&
                  c.refused_releases == 1 && c.refused_not_held == 1;
  std::printf("%s\n", ok ? "arena_receive_buffers: OK" : "arena_receive_buffers: FAILED");
  return ok ? 0 : 7;
}
