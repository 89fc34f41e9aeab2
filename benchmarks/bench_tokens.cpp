// SPDX-License-Identifier: MIT
// Token tracking (issue 4): arenakit's TokenTracker against the designs of
// the devmem thread, in the same run.
//
// deliver_return_{seq,rand}/<impl>: one consumer keeps 1,024 tokens out on a
// 2 GiB binding (524,288 pages of 4 KiB). Each iteration delivers 64 pages
// (one batch) and returns the 64 oldest (one call): ns/item = one delivery
// plus one return. seq: consecutive pages, returned as one range of 64;
// rand: pages from a fixed pseudo-random stream, returned as 64 ranges of 1.
// Every implementation sees the same pages and the same ranges, bounds-checks
// each range and refuses a return below zero.
//   arenakit            TokenTracker (AnyThreadRefs): 8-byte word per page, owner attribution
//   arenakit_one_producer  TokenTracker<.., OneProducerRefs>: a free page is claimed by a plain store
//   arenakit_single_writer TokenTracker<.., SingleWriterRefs>: single-writer
//                       delivered/returned counters per page, no locked instruction per token
//   flat_binding_array  std::atomic<uint32_t> per page per binding (no attribution)
//   per_consumer_array  std::atomic<uint32_t> per page per consumer (2 MiB each)
//   judy_present        JudyL per consumer, every page already inserted
//   judy_churn          JudyL per consumer, insert on delivery, erase at zero (xarray-like)
//   unordered_map       std::unordered_map<page, count> per consumer, churn
//
// return_app_thread_{seq,rand}/<impl> (issue 15, part 3): what giving tokens
// back costs the application's thread, per token. Each iteration delivers
// 64 blocks of 64 pages (untimed), then the application gives them back,
// one batch per block (seq: one range of 64; rand: 64 ranges of 1), on the
// same tracker and consumer. Manual time, one clock pair per 4,096 tokens,
// 2,000 iterations for every row:
//   arenakit_return_tokens  timed: one return_tokens() call per batch; the
//                       references are released on this thread
//   arenakit_ring_write     timed: try_push(batch) + publish() per batch on the
//                       consumer's TokenReturnRing (4,096 entries): entries
//                       only; the drain that releases the references runs
//                       untimed after the burst (the receive thread's work)
//   arenakit_ring_drain     the other half, for the total: the same write
//                       untimed, the drain (return_tokens() on ring runs) timed
//
// close_1024_on_2GiB/<impl>: a consumer holding 1,024 tokens (random pages)
// closes; only the close is timed (manual time). Peers: the per-consumer
// array's scrub over the whole binding, kernel style (xchg every page) and
// read-first (xchg only non-zero pages); Judy: walk and free the tree.
#include "support/table.hpp"

#include <arenakit/tokens/return_ring.hpp>
#include <arenakit/tokens/token_tracker.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <random>
#include <span>
#include <unordered_map>
#include <vector>

#if defined(ARENAKIT_HAVE_JUDY)
namespace tokens_bench_judy {
struct Range {
  std::uint32_t start;
  std::uint32_t count;
};
void* create();
void populate(void** array, const std::uint32_t* pages, std::size_t n);
std::size_t deliver_present(void** array, const std::uint32_t* pages, std::size_t n);
std::size_t return_present(void** array, const Range* r, std::size_t n);
std::size_t deliver_churn(void** array, const std::uint32_t* pages, std::size_t n);
std::size_t return_churn(void** array, const Range* r, std::size_t n);
std::size_t close_all(void** array);
} // namespace tokens_bench_judy
#endif

namespace {

using arenakit::TokenRange32;
constexpr std::uint32_t kPages = 1u << 19; // 2 GiB / 4 KiB
constexpr std::size_t kBatch = 64;
constexpr std::size_t kOutstanding = 1024;
constexpr std::size_t kWindow = kOutstanding / kBatch;

enum class Pattern { seq, rand };

/// The page stream and, per block of 64 pages, the ranges that return it.
struct Workload {
  std::vector<std::uint32_t> pages;
  std::vector<TokenRange32> ranges;
  std::vector<std::size_t> first; // ranges of block b: [first[b], first[b + 1])
#if defined(ARENAKIT_HAVE_JUDY)
  std::vector<tokens_bench_judy::Range> judy_ranges;
#endif

  explicit Workload(Pattern p) {
    if (p == Pattern::seq) {
      pages.resize(kPages);
      for (std::uint32_t i = 0; i < kPages; ++i) pages[i] = i;
    } else {
      std::mt19937 rng(42);
      pages.resize(1u << 16);
      for (auto& x : pages) x = static_cast<std::uint32_t>(rng() % kPages);
    }
    for (std::size_t b = 0; b < blocks(); ++b) {
      first.push_back(ranges.size());
      if (p == Pattern::seq) {
        ranges.push_back({pages[b * kBatch], static_cast<std::uint32_t>(kBatch)});
      } else {
        for (std::size_t i = 0; i < kBatch; ++i) ranges.push_back({pages[b * kBatch + i], 1});
      }
    }
    first.push_back(ranges.size());
#if defined(ARENAKIT_HAVE_JUDY)
    for (auto r : ranges) judy_ranges.push_back({r.start, r.count});
#endif
  }
  [[nodiscard]] std::size_t blocks() const { return pages.size() / kBatch; }
  [[nodiscard]] std::span<const std::uint32_t> block(std::size_t b) const {
    return std::span<const std::uint32_t>(pages).subspan((b % blocks()) * kBatch, kBatch);
  }
  [[nodiscard]] std::span<const TokenRange32> returns(std::size_t b) const {
    b %= blocks();
    return std::span<const TokenRange32>(ranges).subspan(first[b], first[b + 1] - first[b]);
  }
};

const Workload& workload(Pattern p) {
  static const Workload seq(Pattern::seq);
  static const Workload rand(Pattern::rand);
  return p == Pattern::seq ? seq : rand;
}

// ----------------------------------------------------------------- impls

template <class P>
struct Ours {
  using Tracker = arenakit::TokenTracker<arenakit::IgnorePageFree, P>;
  Tracker t;
  arenakit::ConsumerHandle h;
  explicit Ours(const Workload&) {
    t = std::move(Tracker::create(arenakit::Region{nullptr, std::size_t{kPages} * 4096}, {}).value());
    h = *t.open_consumer();
  }
  void deliver(const Workload&, std::size_t b, std::span<const std::uint32_t> pages) {
    (void)b;
    auto out = t.deliver(h, pages);
    benchmark::DoNotOptimize(out);
  }
  void give_back(const Workload& w, std::size_t b) {
    auto out = t.return_tokens(h, w.returns(b));
    benchmark::DoNotOptimize(out);
  }
  [[nodiscard]] std::uint64_t outstanding() const { return t.counters().outstanding(); }
  [[nodiscard]] double bytes() const { return static_cast<double>(t.tracking_bytes()); }
};

/// SingleWriterRefs: the consumer's one Returner gives back.
struct OursSingleWriter {
  using Tracker = arenakit::TokenTracker<arenakit::IgnorePageFree, arenakit::SingleWriterRefs>;
  Tracker t;
  arenakit::ConsumerHandle h;
  Tracker::Returner r;
  explicit OursSingleWriter(const Workload&) {
    t = std::move(Tracker::create(arenakit::Region{nullptr, std::size_t{kPages} * 4096}, {}).value());
    h = *t.open_consumer();
    r = std::move(t.claim_returner(h).value());
  }
  void deliver(const Workload&, std::size_t b, std::span<const std::uint32_t> pages) {
    (void)b;
    auto out = t.deliver(h, pages);
    benchmark::DoNotOptimize(out);
  }
  void give_back(const Workload& w, std::size_t b) {
    auto out = r.return_tokens(w.returns(b));
    benchmark::DoNotOptimize(out);
  }
  [[nodiscard]] std::uint64_t outstanding() const { return t.counters().outstanding(); }
  [[nodiscard]] double bytes() const { return static_cast<double>(t.tracking_bytes()); }
};

/// One std::atomic<uint32_t> per page: the niov-array design (per binding
/// or, with one array per consumer, per socket). Same code either way; the
/// difference is memory: 2 MiB per binding vs 2 MiB per consumer.
struct FlatArray {
  std::unique_ptr<std::atomic<std::uint32_t>[]> refs{new std::atomic<std::uint32_t>[kPages]()};
  std::uint64_t out = 0;
  explicit FlatArray(const Workload&) {}
  void deliver(const Workload&, std::size_t, std::span<const std::uint32_t> pages) {
    std::size_t n = 0;
    for (auto p : pages) {
      if (p >= kPages) continue;
      refs[p].fetch_add(1, std::memory_order_acquire);
      ++n;
    }
    out += n;
  }
  void give_back(const Workload& w, std::size_t b) {
    std::size_t n = 0;
    for (auto r : w.returns(b)) {
      if (r.start >= kPages || r.count > kPages - r.start) continue;
      for (std::uint32_t p = r.start; p != r.start + r.count; ++p) {
        std::uint32_t v = refs[p].load(std::memory_order_relaxed);
        while (v != 0 && !refs[p].compare_exchange_weak(v, v - 1, std::memory_order_release,
                                                        std::memory_order_relaxed)) {
        }
        n += v != 0;
      }
    }
    out -= n;
  }
  [[nodiscard]] std::uint64_t outstanding() const { return out; }
  [[nodiscard]] double bytes() const { return double{kPages} * 4; }
};

struct StdMap {
  std::unordered_map<std::uint32_t, std::uint32_t> m;
  std::uint64_t out = 0;
  explicit StdMap(const Workload&) { m.reserve(4 * kOutstanding); }
  void deliver(const Workload&, std::size_t, std::span<const std::uint32_t> pages) {
    for (auto p : pages) ++m[p];
    out += pages.size();
  }
  void give_back(const Workload& w, std::size_t b) {
    for (auto r : w.returns(b))
      for (std::uint32_t p = r.start; p != r.start + r.count; ++p) {
        auto it = m.find(p);
        if (it == m.end()) continue;
        --out;
        if (--it->second == 0) m.erase(it);
      }
  }
  [[nodiscard]] std::uint64_t outstanding() const { return out; }
  [[nodiscard]] double bytes() const { return 0; }
};

#if defined(ARENAKIT_HAVE_JUDY)
template <bool Churn>
struct Judy {
  void* array = tokens_bench_judy::create();
  std::uint64_t out = 0;
  explicit Judy(const Workload& w) {
    if (!Churn) tokens_bench_judy::populate(&array, w.pages.data(), w.pages.size());
  }
  ~Judy() { tokens_bench_judy::close_all(&array); }
  Judy(const Judy&) = delete;
  Judy& operator=(const Judy&) = delete;
  void deliver(const Workload&, std::size_t, std::span<const std::uint32_t> pages) {
    out += Churn ? tokens_bench_judy::deliver_churn(&array, pages.data(), pages.size())
                 : tokens_bench_judy::deliver_present(&array, pages.data(), pages.size());
  }
  void give_back(const Workload& w, std::size_t b) {
    b %= w.blocks();
    const auto* r = w.judy_ranges.data() + w.first[b];
    const std::size_t n = w.first[b + 1] - w.first[b];
    out -= Churn ? tokens_bench_judy::return_churn(&array, r, n) : tokens_bench_judy::return_present(&array, r, n);
  }
  [[nodiscard]] std::uint64_t outstanding() const { return out; }
  [[nodiscard]] double bytes() const { return 0; }
};
#endif

/// The ring: 1,024 tokens out; each iteration delivers 64 and returns the
/// 64 oldest.
template <class Impl>
void deliver_return(benchmark::State& state, Pattern pattern) {
  const Workload& w = workload(pattern);
  Impl impl(w);
  std::size_t head = 0;
  for (; head < kWindow; ++head) impl.deliver(w, head, w.block(head));
  for (auto _ : state) {
    impl.deliver(w, head, w.block(head));
    impl.give_back(w, head - kWindow);
    ++head;
  }
  state.SetItemsProcessed(state.iterations() * static_cast<benchmark::IterationCount>(kBatch));
  if (impl.outstanding() != kOutstanding) state.SkipWithError("lost or extra references");
  if (impl.bytes() > 0) state.counters["track_KiB"] = impl.bytes() / 1024;
}

// --------------------------------------- returns on the application thread

constexpr std::size_t kBurst = 64; // blocks per iteration: 4,096 tokens
using Clock = std::chrono::steady_clock;

enum class AppSide { return_tokens, ring_write, ring_drain };

/// The application's side of a return (see the file comment): @side says
/// which part of the iteration is timed.
template <AppSide side>
void return_app_thread(benchmark::State& state, Pattern pattern) {
  const Workload& w = workload(pattern);
  auto t = std::move(arenakit::TokenTracker<>::create(arenakit::Region{nullptr, std::size_t{kPages} * 4096}, {}).value());
  const arenakit::ConsumerHandle h = *t.open_consumer();
  auto ring = std::move(arenakit::TokenReturnRing<TokenRange32>::create(kBurst * kBatch).value());
  std::size_t next = 0;
  for (auto _ : state) {
    for (std::size_t b = 0; b < kBurst; ++b) (void)t.deliver(h, w.block(next + b));
    Clock::time_point t0, t1;
    if constexpr (side == AppSide::return_tokens) {
      t0 = Clock::now();
      for (std::size_t b = 0; b < kBurst; ++b) {
        auto out = t.return_tokens(h, w.returns(next + b));
        benchmark::DoNotOptimize(out);
      }
      t1 = Clock::now();
    } else {
      if constexpr (side == AppSide::ring_write) t0 = Clock::now();
      for (std::size_t b = 0; b < kBurst; ++b) {
        const auto batch = w.returns(next + b);
        if (ring->try_push(batch) != batch.size()) state.SkipWithError("ring full");
        ring->publish();
      }
      if constexpr (side == AppSide::ring_write) t1 = Clock::now();
      if constexpr (side == AppSide::ring_drain) t0 = Clock::now();
      while (ring->readable() != 0) {
        auto out = ring->drain(t, h);
        benchmark::DoNotOptimize(out);
      }
      if constexpr (side == AppSide::ring_drain) t1 = Clock::now();
    }
    state.SetIterationTime(std::chrono::duration<double>(t1 - t0).count());
    next += kBurst;
  }
  state.SetItemsProcessed(state.iterations() * static_cast<benchmark::IterationCount>(kBurst * kBatch));
  if (t.counters().outstanding() != 0 || t.counters().refused_total() != 0)
    state.SkipWithError("lost, extra or refused references");
}

// ----------------------------------------------------------------- close

std::vector<std::uint32_t> close_pages() {
  std::mt19937 rng(7);
  std::vector<std::uint32_t> p(kOutstanding);
  for (auto& x : p) x = static_cast<std::uint32_t>(rng() % kPages);
  return p;
}

void close_ours(benchmark::State& state) {
  auto t = std::move(arenakit::TokenTracker<>::create(arenakit::Region{nullptr, std::size_t{kPages} * 4096}, {}).value());
  const auto pages = close_pages();
  for (auto _ : state) {
    const auto h = *t.open_consumer();
    (void)t.deliver(h, std::span<const std::uint32_t>(pages));
    const auto t0 = Clock::now();
    auto out = t.close(h);
    const auto t1 = Clock::now();
    benchmark::DoNotOptimize(out);
    if (out.released != kOutstanding) state.SkipWithError("close lost references");
    state.SetIterationTime(std::chrono::duration<double>(t1 - t0).count());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

/// Per-consumer array (2 MiB) whose close scrubs the whole binding, giving
/// each page's references back to the binding's counts.
template <bool ReadFirst>
void close_scrub(benchmark::State& state) {
  std::unique_ptr<std::atomic<std::uint32_t>[]> mine(new std::atomic<std::uint32_t>[kPages]());
  std::unique_ptr<std::atomic<std::uint32_t>[]> binding(new std::atomic<std::uint32_t>[kPages]());
  const auto pages = close_pages();
  for (auto _ : state) {
    for (auto p : pages) {
      mine[p].fetch_add(1, std::memory_order_relaxed);
      binding[p].fetch_add(1, std::memory_order_relaxed);
    }
    const auto t0 = Clock::now();
    std::uint64_t released = 0;
    for (std::uint32_t i = 0; i < kPages; ++i) {
      if (ReadFirst && mine[i].load(std::memory_order_relaxed) == 0) continue;
      const std::uint32_t n = mine[i].exchange(0, std::memory_order_acq_rel);
      if (n != 0) {
        binding[i].fetch_sub(n, std::memory_order_release);
        released += n;
      }
    }
    const auto t1 = Clock::now();
    benchmark::DoNotOptimize(released);
    if (released != kOutstanding) state.SkipWithError("scrub lost references");
    state.SetIterationTime(std::chrono::duration<double>(t1 - t0).count());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

#if defined(ARENAKIT_HAVE_JUDY)
void close_judy(benchmark::State& state) {
  const auto pages = close_pages();
  for (auto _ : state) {
    void* array = tokens_bench_judy::create();
    tokens_bench_judy::deliver_churn(&array, pages.data(), pages.size());
    const auto t0 = Clock::now();
    const std::size_t released = tokens_bench_judy::close_all(&array);
    const auto t1 = Clock::now();
    if (released != kOutstanding) state.SkipWithError("close lost references");
    state.SetIterationTime(std::chrono::duration<double>(t1 - t0).count());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
#endif

// ------------------------------------------------------------ registration

template <class Impl>
void add(const char* scenario, const char* impl, Pattern p) {
  benchmark::RegisterBenchmark((std::string(scenario) + "/" + impl).c_str(),
                               [p](benchmark::State& s) { deliver_return<Impl>(s, p); });
}

/// Same iteration count for every row of a return_app_thread scenario.
template <AppSide side>
void add_app_side(const char* scenario, const char* impl, Pattern p) {
  benchmark::RegisterBenchmark((std::string(scenario) + "/" + impl).c_str(),
                               [p](benchmark::State& s) { return_app_thread<side>(s, p); })
      ->UseManualTime()
      ->Iterations(2000);
}

// Optional peer: a missing one is reported as "not measured", with its package.
const int declared_peers = arenakit::bench::declare_peer(
    "judy", ARENAKIT_BENCH_FOUND(ARENAKIT_HAVE_JUDY), "libjudy-dev",
    {"deliver_return_seq/judy_present", "deliver_return_seq/judy_churn", "deliver_return_rand/judy_present",
     "deliver_return_rand/judy_churn", "close_1024_on_2GiB/judy_walk_free"});

const int registered = [] {
  using arenakit::bench::target;
  for (auto [scenario, p] : {std::pair{"deliver_return_seq", Pattern::seq}, std::pair{"deliver_return_rand", Pattern::rand}}) {
    add<Ours<arenakit::AnyThreadRefs>>(scenario, "arenakit", p);
    add<Ours<arenakit::OneProducerRefs>>(scenario, "arenakit_one_producer", p);
    add<OursSingleWriter>(scenario, "arenakit_single_writer", p);
    add<FlatArray>(scenario, "flat_binding_array", p);
    add<FlatArray>(scenario, "per_consumer_array", p);
#if defined(ARENAKIT_HAVE_JUDY)
    add<Judy<false>>(scenario, "judy_present", p);
    add<Judy<true>>(scenario, "judy_churn", p);
#endif
    add<StdMap>(scenario, "unordered_map", p);
    const std::string s(scenario);
    const std::string tag = p == Pattern::seq ? "seq" : "rand";
    target(s, "arenakit", s, "flat_binding_array", 1.0, tag + ": deliver+return <= 1.0x flat per-binding array");
    target(s, "arenakit", s, "judy_present", 1 / 3.0, tag + ": >= 3x faster than Judy, tokens present");
    target(s, "arenakit", s, "judy_churn", 1 / 10.0, tag + ": >= 10x faster than Judy, insert/erase churn");
    target(s, "arenakit_one_producer", s, "flat_binding_array", 1.0, tag + ", one producer: <= 1.0x flat array");
    target(s, "arenakit_one_producer", s, "judy_present", 1 / 3.0, tag + ", one producer: >= 3x faster than Judy present");
    target(s, "arenakit_one_producer", s, "judy_churn", 1 / 10.0, tag + ", one producer: >= 10x faster than Judy churn");
    target(s, "arenakit_single_writer", s, "flat_binding_array", 0.6, tag + ", single writer: <= 0.6x flat array");
    target(s, "arenakit_single_writer", s, "judy_present", 1 / 3.0, tag + ", single writer: >= 3x faster than Judy present");
    target(s, "arenakit_single_writer", s, "judy_churn", 1 / 10.0, tag + ", single writer: >= 10x faster than Judy churn");
  }
  for (auto [scenario, p] : {std::pair{"return_app_thread_seq", Pattern::seq}, std::pair{"return_app_thread_rand", Pattern::rand}}) {
    const std::string s(scenario);
    add_app_side<AppSide::return_tokens>(scenario, "arenakit_return_tokens", p);
    add_app_side<AppSide::ring_write>(scenario, "arenakit_ring_write", p);
    add_app_side<AppSide::ring_drain>(scenario, "arenakit_ring_drain", p);
    const std::string tag = p == Pattern::seq ? "seq" : "rand";
    target(s, "arenakit_ring_write", s, "arenakit_return_tokens", 0.5,
           tag + ": ring write+publish <= 0.5x a return_tokens() call, per token, application thread");
  }
  benchmark::RegisterBenchmark("close_1024_on_2GiB/arenakit", close_ours)->UseManualTime();
  benchmark::RegisterBenchmark("close_1024_on_2GiB/scrub_xchg_every_page", close_scrub<false>)->UseManualTime();
  benchmark::RegisterBenchmark("close_1024_on_2GiB/scrub_read_first", close_scrub<true>)->UseManualTime();
#if defined(ARENAKIT_HAVE_JUDY)
  benchmark::RegisterBenchmark("close_1024_on_2GiB/judy_walk_free", close_judy)->UseManualTime();
#endif
  target("close_1024_on_2GiB", "arenakit", "close_1024_on_2GiB", "scrub_xchg_every_page", 1 / 100.0,
         "close 1,024 tokens >= 100x faster than a scrub (xchg every page)");
  target("close_1024_on_2GiB", "arenakit", "close_1024_on_2GiB", "scrub_read_first", 1 / 50.0,
         "close 1,024 tokens >= 50x faster than a read-first scrub");
  return 0;
}();

} // namespace

ARENAKIT_BENCH_MAIN()
