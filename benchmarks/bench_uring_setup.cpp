// SPDX-License-Identifier: MIT
// Set-up cost of a pool of 72 ready 4 KB io_uring fixed buffers, with real
// kernel registration (pinning), one registration per buffer against one per
// 64 KB shard (5) and one per 2 MB region (1), in one run.
//
// Scenarios (rows = implementations; one "item" = one whole pool of 72):
//   register_call_72x4k  the registration call alone: io_uring_register_buffers()
//                        with 72 iovecs of 4 KB, 5 of 64 KB or 1 of 2 MB, on
//                        memory mapped and touched once before the loop. Each
//                        iteration registers and unregisters; the time is the
//                        register call only (manual timing); unreg_ns is the
//                        unregister call, reported beside it.
//   pool_setup_72x4k     everything a pool does to make 72 ready buffers and
//                        give them back: Arena<UringFixedBufferMapper>
//                        construction with every shard made at once
//                        (initial_shards: mmap + one table update each), the
//                        72 slots acquired and released, and the arena's
//                        destruction (table entries emptied, munmap). The
//                        shards are mapped lazily, so pinning faults their
//                        pages in: part of what the pool costs. 4 KB
//                        shards are the per-buffer pool (72 registrations);
//                        "2m_huge" asks for a 2 MB huge page (here a THP
//                        fallback, see thp_fallbacks), "2m_4k_pages" is 2 MB
//                        of 4 KB pages, which the kernel pins page by page. A
//                        hand-rolled per-buffer peer mallocs and registers
//                        each buffer into the same sparse table, on warm
//                        memory (see malloc_register_each).
// The rings (and the sparse table of 72 entries) are set up once per process,
// never per iteration; each iteration leaves the table empty again.
#include "support/table.hpp"

#include <arenakit/arena/arena.hpp>
#include <arenakit/uring/mapper.hpp>

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <liburing.h>
#include <sys/uio.h>

namespace {

using namespace arenakit;
using UringArena = Arena<UringFixedBufferMapper>;
constexpr std::size_t k4 = 4096;
constexpr std::size_t k64 = 64 * 1024;
constexpr std::size_t m2 = std::size_t{2} << 20;
constexpr std::uint32_t pool_buffers = 72;

/// A ring made once; `error` says why not when it could not be.
struct SharedRing {
  io_uring ring{};
  bool ring_up = false;
  std::string error;
  UringBufferTable table{};

  explicit SharedRing(unsigned sparse_entries) {
    if (const int rc = io_uring_queue_init(8, &ring, 0); rc < 0) {
      error = std::string("io_uring unavailable: ") + std::strerror(-rc);
      return;
    }
    ring_up = true;
    if (sparse_entries != 0) {
      auto t = UringBufferTable::prepare(ring, sparse_entries);
      if (!t) {
        error = t.error().message();
        return;
      }
      table = *t;
    }
  }
  ~SharedRing() {
    if (ring_up) io_uring_queue_exit(&ring);
  }
  SharedRing(const SharedRing&) = delete;
  SharedRing& operator=(const SharedRing&) = delete;
};

/// Kilobytes of this process's anonymous memory on transparent huge pages:
/// tells whether a "huge" region that fell back really got a 2 MB folio.
double anon_huge_kb() {
  std::FILE* f = std::fopen("/proc/self/smaps_rollup", "r");
  if (f == nullptr) return -1;
  char line[256];
  double kb = -1;
  while (std::fgets(line, sizeof line, f) != nullptr)
    if (std::sscanf(line, "AnonHugePages: %lf kB", &kb) == 1) break;
  std::fclose(f);
  return kb;
}

/// For io_uring_register_buffers(): a ring with no table of its own.
SharedRing& plain_ring() {
  static SharedRing r(0);
  return r;
}
/// For the pools: a sparse table of 72 entries, prepared once.
SharedRing& table_ring() {
  static SharedRing r(pool_buffers);
  return r;
}

// --- register_call_72x4k ------------------------------------------------------

template <std::size_t Bytes, PageSize Pages = PageSize::normal>
void register_call(benchmark::State& state) {
  SharedRing& r = plain_ring();
  if (!r.error.empty()) {
    state.SkipWithError(r.error.c_str());
    return;
  }
  constexpr std::size_t count = (pool_buffers * k4 + Bytes - 1) / Bytes; // 72, 5, 1
  // The memory the pool would own, from the arena's own source, touched once
  // so the loop times pinning, not first-touch faults.
  MmapSource source{.pages = Pages};
  std::vector<Region> regions;
  std::vector<iovec> iovs;
  for (std::size_t i = 0; i < count; ++i) {
    Result<Region> region = source.allocate(Bytes, Bytes);
    if (!region) {
      state.SkipWithError("mmap failed");
      for (Region& done : regions) source.deallocate(done);
      return;
    }
    std::memset(region->data, 1, Bytes);
    regions.push_back(*region);
    iovs.push_back(iovec{region->data, Bytes});
  }
  const double thp_kb = anon_huge_kb();
  double unreg_ns = 0;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    const int rc = io_uring_register_buffers(&r.ring, iovs.data(), static_cast<unsigned>(iovs.size()));
    const auto t1 = std::chrono::steady_clock::now();
    if (rc < 0) {
      state.SkipWithError(uring_kernel_error(rc).message().c_str());
      break;
    }
    io_uring_unregister_buffers(&r.ring);
    const auto t2 = std::chrono::steady_clock::now();
    state.SetIterationTime(std::chrono::duration<double>(t1 - t0).count());
    unreg_ns += std::chrono::duration<double, std::nano>(t2 - t1).count();
  }
  state.counters["buffers"] = static_cast<double>(count);
  state.counters["anon_huge_kb"] = thp_kb;
  state.counters["unreg_ns"] = benchmark::Counter(unreg_ns, benchmark::Counter::kAvgIterations);
  for (Region& region : regions) source.deallocate(region);
}

BENCHMARK(register_call<k4>)->Name("register_call_72x4k/per_buffer_72x4k")->UseManualTime();
BENCHMARK(register_call<k64>)->Name("register_call_72x4k/arenakit_64k_shards_5")->UseManualTime();
BENCHMARK(register_call<m2, PageSize::huge_2m>)->Name("register_call_72x4k/arenakit_2m_huge_region_1")->UseManualTime();
BENCHMARK(register_call<m2>)->Name("register_call_72x4k/arenakit_2m_4k_pages_region_1")->UseManualTime();

// --- pool_setup_72x4k ---------------------------------------------------------

template <std::size_t Shard, PageSize Pages = PageSize::normal>
void pool_setup(benchmark::State& state) {
  SharedRing& r = table_ring();
  if (!r.error.empty()) {
    state.SkipWithError(r.error.c_str());
    return;
  }
  constexpr auto shards = static_cast<std::uint32_t>((pool_buffers * k4 + Shard - 1) / Shard);
  const ArenaConfig config{.slot_size = k4, .shard_size = Shard, .max_shards = shards, .initial_shards = shards};
  SlotId ids[pool_buffers];
  std::uint64_t mappings = 0;
  std::uint64_t fallbacks = 0;
  for (auto _ : state) {
    UringArena arena(config, MmapSource{.pages = Pages}, UringFixedBufferMapper(r.table));
    if (!arena) {
      state.SkipWithError(arena.error().message().c_str());
      break;
    }
    if (arena.acquire_bulk(ids, pool_buffers) != pool_buffers) {
      state.SkipWithError("could not acquire 72 slots");
      break;
    }
    benchmark::DoNotOptimize(ids);
    const ArenaCounters c = arena.counters();
    mappings = c.mappings;
    fallbacks = c.huge_page_fallbacks;
    arena.release_bulk(ids, pool_buffers);
  } // ~Arena: every table entry emptied, every shard unmapped
  state.counters["mappings"] = static_cast<double>(mappings);
  if (Pages == PageSize::huge_2m) state.counters["thp_fallbacks"] = static_cast<double>(fallbacks);
}

/// The hand-rolled per-buffer pool: malloc each 4 KB buffer and register it
/// into its own table entry; then empty the entries and free the buffers.
/// Its memory is warm: after the first iteration glibc hands back the same,
/// already faulted chunks, so it pays no mmap and no page fault, which the
/// arena rows (fresh mappings, as a pool made at start-up gets) all pay.
void malloc_register_each(benchmark::State& state) {
  SharedRing& r = table_ring();
  if (!r.error.empty()) {
    state.SkipWithError(r.error.c_str());
    return;
  }
  void* bufs[pool_buffers];
  const __u64 tag = 0;
  for (auto _ : state) {
    bool failed = false;
    for (std::uint32_t i = 0; i < pool_buffers; ++i) {
      bufs[i] = std::aligned_alloc(k4, k4);
      const iovec iov{bufs[i], k4};
      if (bufs[i] == nullptr || io_uring_register_buffers_update_tag(&r.ring, i, &iov, &tag, 1) < 0) failed = true;
    }
    benchmark::DoNotOptimize(bufs);
    const iovec empty{nullptr, 0};
    for (std::uint32_t i = 0; i < pool_buffers; ++i) {
      io_uring_register_buffers_update_tag(&r.ring, i, &empty, &tag, 1);
      std::free(bufs[i]);
    }
    if (failed) {
      state.SkipWithError("malloc or registration failed");
      break;
    }
  }
  state.counters["mappings"] = pool_buffers;
}

BENCHMARK(pool_setup<k4>)->Name("pool_setup_72x4k/per_buffer_arena_4k_shards")->UseRealTime();
BENCHMARK(pool_setup<k64>)->Name("pool_setup_72x4k/arenakit_64k_shards")->UseRealTime();
BENCHMARK(pool_setup<m2, PageSize::huge_2m>)->Name("pool_setup_72x4k/arenakit_2m_huge_shard")->UseRealTime();
BENCHMARK(pool_setup<m2>)->Name("pool_setup_72x4k/arenakit_2m_4k_pages_shard")->UseRealTime();
BENCHMARK(malloc_register_each)->Name("pool_setup_72x4k/per_buffer_malloc_register_each_warm")->UseRealTime();

// --- pool_setup_64m (issue 15.2) ------------------------------------------------
// 64 MB of 4 KB receive buffers in 1,024 shards of 64 KB, every shard made
// at construction, the arena destroyed at the end of the iteration: one
// registration (table update, pinning) per shard, against one per 2 MB
// extent of 32 shards (ArenaConfig::shards_per_extent). Same memory, same
// slots, same page faults; only the number of mappings differs.

SharedRing& table_ring_1024() {
  static SharedRing r(1024);
  return r;
}

template <std::uint32_t PerExtent>
void pool_setup_64m(benchmark::State& state) {
  SharedRing& r = table_ring_1024();
  if (!r.error.empty()) {
    state.SkipWithError(r.error.c_str());
    return;
  }
  const ArenaConfig config{.slot_size = k4, .shard_size = k64, .max_shards = 1024, .initial_shards = 1024,
                           .shards_per_extent = PerExtent};
  std::uint64_t mappings = 0;
  for (auto _ : state) {
    UringArena arena(config, MmapSource{}, UringFixedBufferMapper(r.table));
    if (!arena) {
      state.SkipWithError(arena.error().message().c_str()); // RLIMIT_MEMLOCK below 64 MB, most likely
      break;
    }
    mappings = arena.counters().mappings;
    benchmark::DoNotOptimize(mappings);
  } // ~Arena: every table entry emptied, every extent unmapped
  state.counters["mappings"] = static_cast<double>(mappings);
}

BENCHMARK(pool_setup_64m<1>)->Name("pool_setup_64m/arenakit_64k_shards_1024_mappings")->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(pool_setup_64m<32>)->Name("pool_setup_64m/arenakit_2m_extents_32_mappings")->UseRealTime()->Unit(benchmark::kMillisecond);

[[maybe_unused]] const int targets = [] {
  bench::target("pool_setup_72x4k", "arenakit_64k_shards", "pool_setup_72x4k", "per_buffer_arena_4k_shards",
                1 / 2.5, "whole pool set-up: 64 KB shards <= per-buffer (72 x 4 KB shards) / 2.5");
  bench::target("pool_setup_64m", "arenakit_2m_extents_32_mappings", "pool_setup_64m",
                "arenakit_64k_shards_1024_mappings", 1.0, "64 MB pool: 2 MB extents no slower than a mapping per 64 KB shard");
  bench::target("register_call_72x4k", "arenakit_64k_shards_5", "register_call_72x4k", "per_buffer_72x4k",
                1 / 2.5, "registration call alone: 5 x 64 KB <= 72 x 4 KB / 2.5");
  return 0;
}();

} // namespace

ARENAKIT_BENCH_MAIN()
