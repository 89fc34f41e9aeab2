// SPDX-License-Identifier: MIT
// bench_tokens' deliver+return window inside one function, so that callgrind
// (--toggle-collect=run_pairs, --collect-bus=yes; tests/arena/counts/check.cmake)
// counts the instructions and locked instructions of the windows alone. One
// "pair" = one window: deliver 64 pages, return the 64 delivered 1,024 before
// (one range of 64: seq, 64 ranges of 1: rand) on a 2 GiB binding. Locked
// per window do not depend on the machine:
//   any / one / single_writer  -> 128 + 5, 64 + 6, 0 + 5: one CAS per token
//   to claim (none with one producer: a plain store; the batch's exchange is
//   the sixth), one per token to return (none with a Returner), and per call
//   the state-word hand-offs (2 per delivery, 2 per return) and the
//   `returned` statistic (1).
#include <arenakit/tokens/token_tracker.hpp>

#include <cstdio>
#include <cstring>
#include <random>
#include <span>
#include <vector>

namespace {

constexpr std::uint32_t kPages = 1u << 19;
constexpr std::size_t kBatch = 64;
constexpr std::size_t kWindow = 1024 / kBatch;

struct Stream {
  std::vector<std::uint32_t> pages;
  std::vector<arenakit::TokenRange32> ranges; // kBatch per block (rand) or 1 (seq)
  bool seq = true;
  explicit Stream(bool s) : seq(s) {
    std::mt19937 rng(42);
    pages.resize(1u << 16);
    for (std::size_t i = 0; i < pages.size(); ++i)
      pages[i] = seq ? static_cast<std::uint32_t>(i) : static_cast<std::uint32_t>(rng() % kPages);
    for (std::size_t b = 0; b < pages.size() / kBatch; ++b) {
      if (seq) {
        ranges.push_back({pages[b * kBatch], static_cast<std::uint32_t>(kBatch)});
      } else {
        for (std::size_t i = 0; i < kBatch; ++i) ranges.push_back({pages[b * kBatch + i], 1});
      }
    }
  }
  [[nodiscard]] std::size_t blocks() const { return pages.size() / kBatch; }
  [[nodiscard]] std::span<const std::uint32_t> block(std::size_t b) const {
    return std::span<const std::uint32_t>(pages).subspan((b % blocks()) * kBatch, kBatch);
  }
  [[nodiscard]] std::span<const arenakit::TokenRange32> returns(std::size_t b) const {
    const std::size_t per = seq ? 1 : kBatch;
    return std::span<const arenakit::TokenRange32>(ranges).subspan((b % blocks()) * per, per);
  }
};

template <class Refs>
struct Any {
  using Tracker = arenakit::TokenTracker<arenakit::IgnorePageFree, Refs>;
  Tracker t = std::move(Tracker::create(arenakit::Region{nullptr, std::size_t{kPages} * 4096}, {}).value());
  arenakit::ConsumerHandle h = *t.open_consumer();
  std::size_t give_back(std::span<const arenakit::TokenRange32> r) { return t.return_tokens(h, r).released; }
};

struct SingleWriter {
  using Tracker = arenakit::TokenTracker<arenakit::IgnorePageFree, arenakit::SingleWriterRefs>;
  Tracker t = std::move(Tracker::create(arenakit::Region{nullptr, std::size_t{kPages} * 4096}, {}).value());
  arenakit::ConsumerHandle h = *t.open_consumer();
  Tracker::Returner r = std::move(t.claim_returner(h).value());
  std::size_t give_back(std::span<const arenakit::TokenRange32> rs) { return r.return_tokens(rs).released; }
};

template <class Impl>
std::size_t window(Impl& impl, const Stream& s, std::size_t head) {
  return impl.t.deliver(impl.h, s.block(head)).delivered + impl.give_back(s.returns(head - kWindow));
}

// noinline: the toggle needs a function of its own.
template <class Impl>
[[gnu::noinline]] std::size_t run_pairs(Impl& impl, const Stream& s, std::size_t& head, int n) {
  std::size_t sum = 0;
  for (int i = 0; i < n; ++i) sum += window(impl, s, head++);
  return sum;
}

template <class Impl>
int run(bool seq) {
  const Stream s(seq);
  Impl impl;
  std::size_t head = 0;
  for (; head < kWindow; ++head) (void)impl.t.deliver(impl.h, s.block(head));
  // Warm: the held log reaches its steady size (its growth counts bytes
  // with an RMW), outside the counted function.
  for (int i = 0; i < 4096; ++i) (void)window(impl, s, head++);
  const int pairs = 10000;
  const std::size_t moved = run_pairs(impl, s, head, pairs);
  if (moved != std::size_t{pairs} * 2 * kBatch || impl.t.counters().outstanding() != 1024) {
    std::fprintf(stderr, "lost or extra references\n");
    return 1;
  }
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  const char* m = argv[1];
  const bool seq = std::strstr(m, "_seq") != nullptr;
  if (std::strncmp(m, "any_", 4) == 0) return run<Any<arenakit::AnyThreadRefs>>(seq);
  if (std::strncmp(m, "one_", 4) == 0) return run<Any<arenakit::OneProducerRefs>>(seq);
  if (std::strncmp(m, "sw_", 3) == 0) return run<SingleWriter>(seq);
  return 2;
}
