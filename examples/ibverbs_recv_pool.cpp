// SPDX-License-Identifier: MIT
// The receive pool on a real RDMA device (composition 1, seeds 000/002):
// 72 receive buffers of 4 KB (64 credits + 8 batch overflow) carved from
// 64 KB shards, one MR per shard (5, not 72), posted to a shared receive
// queue as ONE chained ibv_recv_wr batch. A completion's wr_id is the slot's
// 32-bit id: the buffer is found in O(1) and re-posted. With no RDMA device
// here it says so and exits 0 (the main job runs every example).
#include <arenakit/arena/arena.hpp>
#include <arenakit/ibverbs/mapper.hpp>
#include <arenakit/ibverbs/recv.hpp>

#include <cstdint>
#include <cstdio>

#include <infiniband/verbs.h>

namespace {

using RecvPool = arenakit::Arena<arenakit::IbvMapper>;
constexpr std::uint32_t credits = 64 + 8;

/// A completion hands back wr_id: turn it into the slot, use the bytes, and
/// queue the buffer for the next re-post (no allocation on this path).
bool on_completion(const RecvPool& pool, const ibv_wc& wc, arenakit::IbvRecvChain& repost) {
  const arenakit::SlotId id = arenakit::slot_of(wc);
  const std::byte* data = pool.checked_pointer(id); // a wr_id from the device is untrusted
  if (data == nullptr || wc.status != IBV_WC_SUCCESS) return false;
  std::printf("received %u bytes in slot %#x\n", wc.byte_len, id.raw);
  return repost.add(pool, id);
}

int run(ibv_context* ctx) {
  // The verbs objects: protection domain, completion queue, shared receive queue.
  ibv_pd* pd = ibv_alloc_pd(ctx);
  ibv_cq* cq = pd != nullptr ? ibv_create_cq(ctx, 2 * credits, nullptr, nullptr, 0) : nullptr;
  ibv_srq_init_attr srq_attr{};
  srq_attr.attr.max_wr = 2 * credits;
  srq_attr.attr.max_sge = 1;
  ibv_srq* srq = cq != nullptr ? ibv_create_srq(pd, &srq_attr) : nullptr;
  if (srq == nullptr) {
    std::fprintf(stderr, "could not create pd/cq/srq\n");
    if (cq != nullptr) ibv_destroy_cq(cq);
    if (pd != nullptr) ibv_dealloc_pd(pd);
    return 1;
  }

  int rc = 0;
  {
    // One MR per 64 KB shard; the arena grows (and registers) on demand.
    RecvPool pool(arenakit::ArenaConfig{.slot_size = 4096, .shard_size = 64 * 1024, .max_shards = 8},
                  arenakit::MmapSource{},
                  arenakit::IbvMapper{pd, arenakit::IbvAccess::local_write});
    arenakit::SlotId ids[credits];
    if (!pool || pool.acquire_bulk(ids, credits) != credits) {
      // e.g. "ibv_reg_mr failed: Cannot allocate memory ... check RLIMIT_MEMLOCK"
      std::fprintf(stderr, "pool: %s\n", pool.mapper().last_error().message().c_str());
      rc = 1;
    } else {
      // All 72 buffers as one chain, posted with a single call.
      arenakit::IbvRecvBatch<credits> batch;
      const bool built = batch.assign(pool, ids);
      const arenakit::IbvPostResult posted = built ? batch.post(srq) : arenakit::IbvPostResult{};
      if (!built || !posted) {
        std::fprintf(stderr, "post: %s (bad_wr at %u; %u posted, %u still ours)\n",
                     posted.error.message().c_str(), posted.bad_index, posted.posted,
                     posted.not_posted);
        rc = 1;
      } else {
        std::printf("posted %u receive buffers to the SRQ in one call\n", posted.posted);
      }

      // Poll briefly: no peer is connected, so usually nothing arrives; the
      // loop shows the re-post path all the same.
      arenakit::IbvRecvBatch<credits> repost;
      ibv_wc wc[16];
      for (int round = 0; round < 1000 && rc == 0; ++round) {
        const int n = ibv_poll_cq(cq, 16, wc);
        for (int i = 0; i < n; ++i)
          if (!on_completion(pool, wc[i], repost)) rc = 1;
        if (!repost.empty() && !repost.post(srq)) rc = 1;
        repost.clear();
      }

      const auto c = pool.counters();
      std::printf("counters: shards=%llu mappings=%llu slots_in_use=%llu high_water=%llu "
                  "growths=%llu growth_failures=%llu limit_hits=%llu refused_releases=%llu\n",
                  static_cast<unsigned long long>(c.shards), static_cast<unsigned long long>(c.mappings),
                  static_cast<unsigned long long>(c.slots_in_use),
                  static_cast<unsigned long long>(c.high_water), static_cast<unsigned long long>(c.growths),
                  static_cast<unsigned long long>(c.growth_failures),
                  static_cast<unsigned long long>(c.limit_hits),
                  static_cast<unsigned long long>(c.refused_releases));
      if (c.mappings != 5) {
        std::fprintf(stderr, "expected 5 MRs for 72 x 4 KB in 64 KB shards\n");
        rc = 1;
      }
      // Teardown order: the queue goes first (its posted buffers with it),
      // then the buffers come back, then the MRs, then the pd.
      ibv_destroy_srq(srq);
      srq = nullptr;
      if (pool.release_bulk(ids, credits) != credits) rc = 1;
    }
    if (const std::error_code ec = pool.release_memory(); ec) { // ibv_dereg_mr per shard
      std::fprintf(stderr, "release_memory: %s\n", ec.message().c_str());
      rc = 1;
    }
  }
  if (srq != nullptr) ibv_destroy_srq(srq);
  ibv_destroy_cq(cq);
  ibv_dealloc_pd(pd);
  return rc;
}

} // namespace

int main() {
  int n = 0;
  ibv_device** list = ibv_get_device_list(&n);
  if (list == nullptr || n == 0) {
    std::printf("no RDMA device (ibv_get_device_list found 0): nothing to register; "
                "this example runs where a device exists\n");
    if (list != nullptr) ibv_free_device_list(list);
    return 0;
  }
  std::printf("device: %s\n", ibv_get_device_name(list[0]));
  ibv_context* ctx = ibv_open_device(list[0]);
  const int rc = ctx != nullptr ? run(ctx) : 1;
  if (ctx != nullptr) ibv_close_device(ctx);
  ibv_free_device_list(list);
  return rc;
}
