// SPDX-License-Identifier: MIT
// Composition 3, the bounded page-recycling pool, after the sunrpc
// "per-transport page recycling pool" RFC (seed 003): worker threads that
// finish a request hand its pages back, and the transport's receive thread
// reuses them instead of going to the page allocator. Here the receive
// thread takes 1-16 pages per request, drops every 8th request itself
// (recycled on its own thread, no atomics), and two workers return the rest,
// one page at a time (put) or all at once (put_bulk). The pool holds at most
// 128 pages while up to 512 are out (a first request takes 256 at once), so
// returns overflow to the source: the bound must hold throughout (a
// check-then-add bound would not), and no page may be lost.
#include <arenakit/arenakit.hpp>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

namespace {
namespace ak = arenakit;

/// MmapPageSource that counts what it hands out and takes back.
struct CountingSource {
  ak::MmapPageSource inner;
  std::atomic<std::uint64_t>* live; // relaxed: a tally, read after the threads are joined
  std::byte* allocate_page() noexcept {
    std::byte* p = inner.allocate_page();
    if (p != nullptr) live->fetch_add(1, std::memory_order_relaxed);
    return p;
  }
  void free_page(std::byte* p) noexcept { live->fetch_sub(1, std::memory_order_relaxed), inner.free_page(p); }
  std::size_t page_size() const noexcept { return inner.page_size(); }
  int numa_node() const noexcept { return inner.numa_node(); }
};
using Pool = ak::PagePool<CountingSource>;

struct Request { std::uint32_t id = 0; std::vector<std::byte*> pages; };

/// Requests on their way from the receive thread to the workers.
class WorkQueue {
public:
  void push(Request r) {
    { std::lock_guard<std::mutex> g(mu_); q_.push_back(std::move(r)); }
    cv_.notify_one();
  }
  void close() {
    { std::lock_guard<std::mutex> g(mu_); closed_ = true; }
    cv_.notify_all();
  }
  bool pop(Request& r) { // false once closed and empty
    std::unique_lock<std::mutex> lk(mu_);
    cv_.wait(lk, [&] { return !q_.empty() || closed_; });
    if (q_.empty()) return false;
    r = std::move(q_.front()), q_.pop_front();
    return true;
  }

private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Request> q_;
  bool closed_ = false;
};

unsigned long long ull(std::uint64_t v) { return static_cast<unsigned long long>(v); }
int fail(const char* what) {
  std::fprintf(stderr, "page_pool: FAILED: %s\n", what);
  return 1;
}

} // namespace

int main() {
  constexpr std::uint32_t kRequests = 20000, kMaxPages = 128, kMaxOut = 512;
  std::atomic<std::uint64_t> live{0};
  auto src = ak::MmapPageSource::create(4096); // -1: no NUMA binding here; a node number binds with mbind
  if (!src) return fail(src.error().message().c_str());
  auto created = Pool::create({.max_pages = kMaxPages}, CountingSource{*src, &live});
  if (!created) return fail(created.error().message().c_str());
  Pool& pool = **created;
  if (pool.put(nullptr) != ak::PutResult::refused) return fail("a null page was accepted");

  WorkQueue work;
  std::atomic<std::uint32_t> out{0};       // pages handed to workers (a throttle: relaxed)
  std::atomic<std::uint64_t> over_bound{0}; // samples that saw the pool above its bound
  std::atomic<std::uint64_t> corrupt{0};   // pages whose contents changed in flight
  std::vector<std::thread> workers;
  for (int w = 0; w < 2; ++w)
    workers.emplace_back([&, w] {
      for (Request r; work.pop(r);) {
        for (std::byte* p : r.pages) // the page still carries what the receive thread wrote
          if (std::memcmp(p + 64, &r.id, sizeof r.id) != 0) corrupt.fetch_add(1, std::memory_order_relaxed);
        if (w == 0) {
          for (std::byte* p : r.pages) pool.put(p); // pooled, or overflowed to the source
        } else {
          pool.put_bulk(r.pages.data(), r.pages.size()); // one reservation, one push
        }
        out.fetch_sub(static_cast<std::uint32_t>(r.pages.size()), std::memory_order_relaxed);
        if (pool.counters().reserved > kMaxPages) over_bound.fetch_add(1, std::memory_order_relaxed);
      }
    });

  ak::PagePoolConsumerCounters rxc;
  {
    Pool::Consumer rx = pool.consumer(); // the receive thread's (here: main)
    { // First one large request (a 1 MiB WRITE): 256 pages out at once, all handed back by a
      // worker while this thread waits, so the pool must overflow to the source (it holds at
      // most 128) whatever the scheduling of the steady state below.
      Request big{kRequests, std::vector<std::byte*>(256)};
      if (rx.get_bulk(big.pages.data(), big.pages.size()) != big.pages.size()) return fail("the source failed");
      for (std::byte* p : big.pages) std::memcpy(p + 64, &big.id, sizeof big.id);
      out.fetch_add(256, std::memory_order_relaxed);
      work.push(std::move(big));
      while (out.load(std::memory_order_relaxed) != 0) std::this_thread::yield();
    }
    for (std::uint32_t id = 0; id < kRequests; ++id) {
      while (out.load(std::memory_order_relaxed) >= kMaxOut) std::this_thread::yield();
      Request r{id, std::vector<std::byte*>(1 + id % 16)};
      if (rx.get_bulk(r.pages.data(), r.pages.size()) != r.pages.size()) return fail("the source failed");
      for (std::byte* p : r.pages) std::memcpy(p + 64, &id, sizeof id); // "receive" into the page
      if (id % 8 == 0) { // malformed: dropped on the receive thread itself
        rx.put_bulk(r.pages.data(), r.pages.size());
        continue;
      }
      out.fetch_add(static_cast<std::uint32_t>(r.pages.size()), std::memory_order_relaxed);
      work.push(std::move(r));
    }
    work.close();
    for (auto& t : workers) t.join();
    rxc = rx.counters();
  } // the Consumer flushes its cache back to the pool here

  const auto c = pool.counters();
  std::printf("pool: bound %zu, reserved %zu, high water %zu, overflowed %llu, refused %llu,\n"
              "      source allocations %llu, refills %llu, consumers %zu\n",
              c.max_pages, c.reserved, c.high_water, ull(c.overflowed), ull(c.refused),
              ull(c.source_allocations), ull(c.refills), c.consumers);
  std::printf("receive thread: cache hits %llu, shared hits %llu, source allocations %llu, recycled %llu\n",
              ull(rxc.cache_hits), ull(rxc.shared_hits), ull(rxc.source_allocations), ull(rxc.recycled));
  const std::uint64_t gets = rxc.cache_hits + rxc.shared_hits + rxc.source_allocations;
  std::printf("%.1f%% of %llu pages came from the pool; pages alive in the source %llu\n",
              100.0 * static_cast<double>(gets - rxc.source_allocations) / static_cast<double>(gets), ull(gets),
              ull(live.load()));

  if (c.high_water > kMaxPages || over_bound.load() != 0) return fail("the pool went past its bound");
  if (corrupt.load() != 0) return fail("a page came back with other contents");
  if (c.overflowed == 0 || c.refills == 0 || rxc.recycled == 0 || c.refused != 1 || c.consumers != 0)
    return fail("a path was not exercised, or a counter is off");
  // Every page the source handed out is in the pool or went back to it.
  if (live.load() != c.reserved || c.source_allocations != rxc.source_allocations) return fail("pages lost");
  created->reset(); // the pool frees what it holds
  if (live.load() != 0) return fail("pages leaked by the pool");
  std::printf("page_pool: OK\n");
  return 0;
}
