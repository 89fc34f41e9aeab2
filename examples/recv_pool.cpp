// An RDMA-style receive pool, played without a NIC: 72 receive buffers of
// 4 KB (64 credits + 8 batch overflow, as in svcrdma) carved from 64 KB
// shards, one mapping per shard. Each buffer is "posted" with its SlotId in
// the work request's wr_id; a completion hands the wr_id back and the buffer
// is found in O(1), its bytes consumed, and the buffer re-posted.
#include <arenakit/arenakit.hpp>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <random>
#include <vector>

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
    // The "device" writes the message through the device address.
    auto* dst = reinterpret_cast<unsigned char*>(wr.addr);
    std::memset(dst, static_cast<int>(wc.wr_id & 0xFF), wc.byte_len);
    return true;
  }
  std::size_t posted() const { return posted_.size(); }

private:
  std::deque<WorkRequest> posted_;
};

} // namespace

int main() {
  using RecvArena = arenakit::Arena<arenakit::NoopMapper>;
  RecvArena pool(arenakit::ArenaConfig{.slot_size = 4096, .shard_size = 64 * 1024, .max_shards = 8});
  if (!pool) {
    std::fprintf(stderr, "arena: %s\n", pool.error().message().c_str());
    return 1;
  }
  RecvArena::Cache cache(pool); // the receive thread's own cache
  FakeReceiveQueue rq;

  constexpr int credits = 64 + 8;
  for (int i = 0; i < credits; ++i) {
    arenakit::SlotId id = cache.acquire();
    if (!id) return 2;
    auto buf = pool.buffer(id);
    rq.post({id.raw, buf.device_address, buf.length});
  }
  const auto after_post = pool.counters();
  std::printf("posted %d receive buffers: %llu shards, %llu mappings (one per shard, not per buffer)\n",
              credits, static_cast<unsigned long long>(after_post.shards),
              static_cast<unsigned long long>(after_post.mappings));

  std::mt19937 rng(7);
  std::uint64_t bytes = 0, messages = 0;
  for (int round = 0; round < 100000; ++round) {
    Completion wc;
    if (!rq.deliver(rng, wc)) return 3;
    const arenakit::SlotId id{static_cast<std::uint32_t>(wc.wr_id)};
    std::byte* data = pool.checked_pointer(id); // a wr_id from the device is untrusted
    if (data == nullptr) return 4;
    // Sync-for-CPU would cover only wc.byte_len bytes here; then consume them.
    if (static_cast<unsigned char>(data[wc.byte_len - 1]) != (wc.wr_id & 0xFF)) return 5;
    bytes += wc.byte_len;
    ++messages;
    // Re-post the same buffer: it stays mapped for the pool's life.
    auto buf = pool.buffer(id);
    rq.post({id.raw, buf.device_address, buf.length});
  }

  // Teardown: the queue is drained (flushed completions), every buffer returns.
  Completion wc;
  while (rq.deliver(rng, wc)) cache.release(arenakit::SlotId{static_cast<std::uint32_t>(wc.wr_id)});
  const auto end = pool.counters();
  std::printf("%llu messages, %llu bytes; mappings still %llu; in use at the end %llu; refused %llu\n",
              static_cast<unsigned long long>(messages), static_cast<unsigned long long>(bytes),
              static_cast<unsigned long long>(end.mappings), static_cast<unsigned long long>(end.slots_in_use),
              static_cast<unsigned long long>(end.refused_releases));
  const bool ok = after_post.mappings == 5 && end.mappings == 5 && end.slots_in_use == 0 &&
                  end.refused_releases == 0 && messages == 100000;
  std::printf("%s\n", ok ? "recv_pool: OK" : "recv_pool: FAILED");
  return ok ? 0 : 6;
}
