// SPDX-License-Identifier: MIT
// IbvMapper against a real RDMA device, when there is one: real
// registrations (5 MRs for 72 receive buffers of 4 KB in 64 KB shards), real
// keys, every MR deregistered before the protection domain goes. Nothing is
// posted (that needs a connected peer). Without a device it says so and exits
// 77, which ctest reports as Skipped (SKIP_RETURN_CODE 77).
#include <arenakit/arena/arena.hpp>
#include <arenakit/ibverbs/mapper.hpp>
#include <arenakit/ibverbs/recv.hpp>

#include <cstdio>

#include <infiniband/verbs.h>

#include "hardware_check.hpp"

using arenakit_test::check;

int main() {
  int n = 0;
  ibv_device** list = ibv_get_device_list(&n);
  if (list == nullptr || n == 0) {
    std::printf("skipped: no RDMA device (ibv_get_device_list found 0)\n");
    if (list != nullptr) ibv_free_device_list(list);
    return 77;
  }
  std::printf("device: %s\n", ibv_get_device_name(list[0]));
  ibv_context* ctx = ibv_open_device(list[0]);
  if (ctx == nullptr) {
    std::printf("FAIL: ibv_open_device\n");
    ibv_free_device_list(list);
    return 1;
  }
  ibv_pd* pd = ibv_alloc_pd(ctx);
  check(pd != nullptr, "ibv_alloc_pd");
  if (pd != nullptr) {
    using namespace arenakit;
    Arena<IbvMapper> arena(ArenaConfig{.slot_size = 4096, .shard_size = 64 * 1024}, MmapSource{},
                           IbvMapper{pd, IbvAccess::local_write});
    check(static_cast<bool>(arena), "arena set up");
    SlotId ids[72];
    const bool got = arena.acquire_bulk(ids, 72) == 72;
    if (!got) std::printf("registration error: %s\n", arena.mapper().last_error().message().c_str());
    check(got, "72 buffers of 4 KB acquired");
    if (got) {
      check(arena.counters().mappings == 5, "5 MRs for 72 x 4 KB in 64 KB shards");
      bool keys = true;
      for (SlotId id : ids) {
        const auto buf = arena.buffer(id);
        keys = keys && buf.mapping->mr != nullptr && buf.mapping->lkey == buf.mapping->mr->lkey &&
               buf.device_address == reinterpret_cast<std::uint64_t>(buf.data);
      }
      check(keys, "every slot posts with its shard's lkey at its CPU address");
      IbvRecvBatch<72> batch; // built, not posted: no QP is connected here
      check(batch.assign(arena, ids) && batch.size() == 72, "72-request chain built");
      check(arena.release_bulk(ids, 72) == 72, "all released");
    }
    check(!arena.release_memory(), "release_memory deregisters every MR");
    check(arena.counters().mappings == 0, "no mapping left");
    check(ibv_dealloc_pd(pd) == 0, "pd deallocated (no MR left in it)");
  }
  ibv_close_device(ctx);
  ibv_free_device_list(list);
  std::printf("%s\n", arenakit_test::hardware_check_result() == 0 ? "passed" : "FAILED");
  return arenakit_test::hardware_check_result();
}
