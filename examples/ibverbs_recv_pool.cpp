// SPDX-License-Identifier: MIT
// The receive pool on a real RDMA device (composition 1, seeds 000/002):
// 72 receive buffers of 4 KB (64 credits + 8 batch overflow) carved from
// 64 KB shards, one MR per shard (5, not 72), posted to a shared receive
// queue as ONE chained ibv_recv_wr batch through the pool's ibverbs door
// (IbvPoolPoster). A completion's wr_id is the buffer's 32-bit SlotId: the
// buffer is found in O(1), delivered, given back and re-posted. With no RDMA device
// here it says so and exits 0 (the main job runs every example).
#include <arenakit/arena/arena.hpp>
#include <arenakit/ibverbs/mapper.hpp>
#include <arenakit/ibverbs/recv_pool.hpp>
#include <arenakit/recv/recv_pool.hpp>

#include <cstdint>
#include <cstdio>

#include <infiniband/verbs.h>

namespace {

using RecvArena = arenakit::Arena<arenakit::IbvMapper>;
using Pool = arenakit::RecvPool<RecvArena>;
constexpr std::uint32_t credits = 64 + 8;

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
    // One MR per 64 KB shard; the pool takes its 72 buffers from the arena once.
    RecvArena arena(arenakit::ArenaConfig{.slot_size = 4096, .shard_size = 64 * 1024, .max_shards = 8},
                    arenakit::IbvMapper{pd, arenakit::IbvAccess::local_write});
    Pool pool(arena, arenakit::RecvPoolConfig{.buffers = credits});
    if (!arena || !pool) {
      // e.g. "ibv_reg_mr failed: Cannot allocate memory ... check RLIMIT_MEMLOCK"
      std::fprintf(stderr, "pool: %s\n", pool.error() ? pool.error().message().c_str()
                                                         : arena.mapper().last_error().message().c_str());
      rc = 1;
    } else {
      const arenakit::ConnId conn = *pool.add_connection(credits);
      arenakit::IbvPoolPoster<Pool, credits> poster(pool);
      // All 72 buffers as one chain, posted with a single call.
      const arenakit::IbvPostResult posted = poster.post(srq);
      if (!posted) {
        std::fprintf(stderr, "post: %s (bad_wr at %u; %u posted, %u back in the pool)\n",
                     posted.error.message().c_str(), posted.bad_index, posted.posted, posted.not_posted);
        rc = 1;
      } else {
        std::printf("posted %u receive buffers to the SRQ in one call\n", posted.posted);
      }

      // Poll briefly: no peer is connected, so usually nothing arrives; the
      // loop shows the delivery and re-post path all the same.
      ibv_wc wc[16];
      for (int round = 0; round < 1000 && rc == 0; ++round) {
        const int n = ibv_poll_cq(cq, 16, wc);
        for (int i = 0; i < n; ++i) {
          const arenakit::IbvRecvCompletion c = poster.complete(conn, wc[i]); // wr_id -> buffer, O(1)
          if (!c) continue; // a flushed receive went back to the pool; a bad wr_id was counted
          std::printf("received %u bytes in buffer %u\n", c.view.bytes, c.view.bid);
          if (!pool.give_back(c.view.bid)) rc = 1;
        }
        if (pool.free_count() != 0 && !poster.post(srq)) rc = 1; // re-post what came back
      }

      const auto c = arena.counters();
      const auto p = pool.counters();
      std::printf("counters: mappings=%llu posted=%llu delivered=%llu given_back=%llu refused=%llu\n",
                  static_cast<unsigned long long>(c.mappings), static_cast<unsigned long long>(p.posted),
                  static_cast<unsigned long long>(p.delivered), static_cast<unsigned long long>(p.given_back),
                  static_cast<unsigned long long>(p.refused));
      if (c.mappings != 5) {
        std::fprintf(stderr, "expected 5 MRs for 72 x 4 KB in 64 KB shards\n");
        rc = 1;
      }
      // Teardown order: the queue goes first (its posted buffers with it),
      // then the buffers come back to the pool, then the pool and the MRs.
      ibv_destroy_srq(srq);
      srq = nullptr;
      pool.reclaim_posted();
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
