// rdma-core is installed but this machine has no RDMA device: the mapper is
// checked for what holds everywhere (refusals, no leak on failure), and does
// a real registration when a device is present.
#include <arenakit/arena.hpp>
#include <arenakit/ibverbs_mapper.hpp>

#include <doctest/doctest.h>

#include <infiniband/verbs.h>

using namespace arenakit;

TEST_CASE("IbvMapper without a protection domain refuses, and the arena stays clean") {
  Arena<IbvMapper> arena(ArenaConfig{}, MmapSource{}, IbvMapper{});
  CHECK_FALSE(arena.acquire());
  auto c = arena.counters();
  CHECK(c.growth_failures == 1);
  CHECK(c.mappings == 0);
  CHECK(c.shards == 0);
}

TEST_CASE("IbvMapper registers one MR per shard when an RDMA device exists") {
  int n = 0;
  ibv_device** list = ibv_get_device_list(&n);
  if (list == nullptr || n == 0) {
    MESSAGE("no RDMA device on this machine: registration not exercised");
    if (list != nullptr) ibv_free_device_list(list);
    CHECK(n == 0);
    return;
  }
  ibv_context* ctx = ibv_open_device(list[0]);
  REQUIRE(ctx != nullptr);
  ibv_pd* pd = ibv_alloc_pd(ctx);
  REQUIRE(pd != nullptr);
  {
    Arena<IbvMapper> arena(ArenaConfig{.slot_size = 4096, .shard_size = 64 * 1024}, MmapSource{},
                           IbvMapper{pd, IbvAccess::local_write});
    SlotId ids[72];
    REQUIRE(arena.acquire_bulk(ids, 72) == 72);
    CHECK(arena.counters().mappings == 5);
    CHECK(arena.buffer(ids[0]).mapping->lkey != 0);
    CHECK(arena.release_bulk(ids, 72) == 72);
  }
  ibv_dealloc_pd(pd);
  ibv_close_device(ctx);
  ibv_free_device_list(list);
}
