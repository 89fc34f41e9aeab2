// SPDX-License-Identifier: MIT
// libFuzzer target: random deliveries, return batches (valid and hostile),
// closes, re-opens and stale handles thrown at a TokenTracker, checked after
// every operation against a plain reference model: released counts, refusal
// reasons, per-page totals, every consumer's holdings (so: no underflow,
// nothing lost, other consumers untouched), and the tracker's own counters.
#include <arenakit/tokens/token_tracker.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <span>
#include <vector>

namespace {

using namespace arenakit;

#define FUZZ_CHECK(cond)                                                                           \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      std::fprintf(stderr, "token_tracker_fuzz: check failed: %s (line %d)\n", #cond, __LINE__);   \
      std::abort();                                                                                \
    }                                                                                              \
  } while (0)

struct Input {
  const std::uint8_t* p;
  std::size_t n;
  std::uint8_t byte() { return n ? (--n, *p++) : 0; }
  std::uint32_t u32() {
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v = (v << 8) | byte();
    return v;
  }
  bool done() const { return n == 0; }
};

constexpr std::size_t kPositions = 4;

struct Model {
  std::uint32_t pages = 0;
  unsigned page_bits = 0;
  std::uint32_t cap = 0;
  std::vector<std::uint32_t> total;                   // page -> references
  std::array<std::map<std::uint32_t, std::uint32_t>, kPositions> held; // per open consumer
  std::array<std::array<std::uint64_t, token_refusal_count>, kPositions> refused{};

  std::uint32_t holds(std::size_t k, std::uint32_t p) const {
    auto it = held[k].find(p);
    return it == held[k].end() ? 0 : it->second;
  }
};

/// The validation rules of docs/tokens.md, written again from scratch.
bool model_check(const Model& m, std::uint64_t start, std::uint64_t count, TokenRefusal& why,
                 std::uint32_t& first) {
  if (start > 0xFFFF'FFFFull || (start >> m.page_bits) != 0) {
    why = TokenRefusal::reserved_bits;
    return false;
  }
  if (count == 0) {
    first = 0;
    return true;
  }
  if (count > m.cap) {
    why = TokenRefusal::huge_count;
    return false;
  }
  if (start + count > (std::uint64_t{1} << m.page_bits)) {
    why = TokenRefusal::range_overflow;
    return false;
  }
  if (start + count > m.pages) {
    why = TokenRefusal::out_of_range;
    return false;
  }
  first = static_cast<std::uint32_t>(start);
  return true;
}

template <class Tracker>
void verify(const Tracker& t, const Model& m, const std::array<ConsumerHandle, kPositions>& h,
            const std::array<bool, kPositions>& open) {
  for (std::uint32_t p = 0; p < m.pages; ++p) {
    FUZZ_CHECK(t.page_refs(p) == m.total[p]);
    std::uint32_t sum = 0;
    for (std::size_t k = 0; k < kPositions; ++k) {
      if (!open[k]) continue;
      FUZZ_CHECK(t.held_by(h[k], p) == m.holds(k, p));
      sum += m.holds(k, p);
    }
    FUZZ_CHECK(sum == m.total[p]); // nothing lost, nothing invented
  }
  std::uint64_t out = 0;
  for (std::size_t k = 0; k < kPositions; ++k) {
    if (!open[k]) continue;
    auto s = t.consumer_counters(h[k]);
    FUZZ_CHECK(s.has_value());
    std::uint64_t mine = 0;
    for (auto& [p, c] : m.held[k]) mine += c;
    FUZZ_CHECK(s->outstanding() == mine);
    for (std::size_t r = 0; r < token_refusal_count; ++r) FUZZ_CHECK(s->refused[r] == m.refused[k][r]);
    out += mine;
  }
  FUZZ_CHECK(t.counters().outstanding() == out);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Input in{data, size};
  Model m;
  m.pages = 1 + in.byte() % 200;
  m.page_bits = m.pages <= 1 ? 1u : static_cast<unsigned>(std::bit_width(m.pages - 1));
  m.cap = 1 + in.byte() % 48;
  m.total.assign(m.pages, 0);
  TokenTrackerConfig cfg;
  cfg.max_tokens_per_call = m.cap;
  cfg.max_consumers = 64;
  auto created = TokenTracker<>::create(Region{nullptr, std::size_t{m.pages} * cfg.page_size}, cfg);
  FUZZ_CHECK(created.has_value());
  TokenTracker<> t = std::move(created).value();

  std::array<ConsumerHandle, kPositions> h{};
  std::array<ConsumerHandle, kPositions> stale{};
  std::array<bool, kPositions> open{};
  for (std::size_t k = 0; k < kPositions; ++k) {
    h[k] = *t.open_consumer();
    open[k] = true;
  }
  const std::size_t empty_bytes = t.tracking_bytes(); // page words + one chunk of 64 slots

  while (!in.done()) {
    const std::uint8_t op = in.byte();
    const std::size_t k = (op >> 4) % kPositions;
    switch (op % 6) {
    case 0: { // deliver a batch (pages may be out of range, may repeat)
      std::vector<std::uint32_t> pages(in.byte() % 24);
      for (auto& p : pages) p = in.byte() % 2 ? in.byte() % m.pages : in.byte() % (m.pages + 8);
      const auto out = t.deliver(h[k], std::span<const std::uint32_t>(pages));
      if (!open[k]) {
        FUZZ_CHECK(out.delivered == 0);
        break;
      }
      std::size_t expect = 0;
      for (auto p : pages) {
        if (p >= m.pages) {
          ++m.refused[k][static_cast<std::size_t>(TokenRefusal::out_of_range)];
          continue;
        }
        ++m.held[k][p];
        ++m.total[p];
        ++expect;
      }
      FUZZ_CHECK(out.delivered == expect);
      FUZZ_CHECK(out.refused == pages.size() - expect);
      break;
    }
    case 1:
    case 2: { // return a batch of ranges: near-valid, hostile, huge
      std::vector<TokenRange32> ranges(in.byte() % 12);
      for (auto& r : ranges) {
        const std::uint8_t kind = in.byte();
        if (kind % 4 == 0) {
          r = {in.u32(), in.u32()};
        } else {
          r = {static_cast<std::uint32_t>(in.byte() % (m.pages + 4)), static_cast<std::uint32_t>(in.byte() % 6)};
          if (kind % 16 == 1) r.count = 0xFFFF'FFFFu;
          if (kind % 16 == 2) r.start |= 1u << (m.page_bits + in.byte() % (32 - m.page_bits));
        }
      }
      const auto out = t.return_tokens(h[k], std::span<const TokenRange32>(ranges));
      if (!open[k]) {
        FUZZ_CHECK(out.released == 0 && out.refused == 1 && out.ranges_done == ranges.size());
        break;
      }
      std::uint64_t budget = m.cap, released = 0, refused = 0;
      std::size_t i = 0;
      for (; i < ranges.size(); ++i) {
        TokenRefusal why{};
        std::uint32_t first = 0;
        const bool ok = model_check(m, ranges[i].start, ranges[i].count, why, first);
        const std::uint64_t cost = ok && ranges[i].count != 0 ? ranges[i].count : 1;
        if (cost > budget) break;
        budget -= cost;
        if (!ok) {
          ++m.refused[k][static_cast<std::size_t>(why)];
          ++refused;
          continue;
        }
        for (std::uint32_t p = first; p < first + ranges[i].count; ++p) {
          auto it = m.held[k].find(p);
          if (it != m.held[k].end()) {
            if (--it->second == 0) m.held[k].erase(it);
            --m.total[p];
            ++released;
          } else {
            ++m.refused[k][static_cast<std::size_t>(m.total[p] == 0 ? TokenRefusal::underflow
                                                                     : TokenRefusal::not_held)];
            ++refused;
          }
        }
      }
      FUZZ_CHECK(out.released == released);
      FUZZ_CHECK(out.refused == refused);
      FUZZ_CHECK(out.ranges_done == i);
      FUZZ_CHECK(out.capped == (i < ranges.size()));
      break;
    }
    case 3: { // close (crash) and re-open in the same position
      const auto out = t.close(h[k]);
      if (!open[k]) {
        FUZZ_CHECK(out.status == CloseStatus::refused);
      } else {
        std::uint64_t mine = 0;
        for (auto& [p, c] : m.held[k]) {
          mine += c;
          m.total[p] -= c;
        }
        m.held[k].clear();
        FUZZ_CHECK(out.status == CloseStatus::drained);
        FUZZ_CHECK(out.released == mine);
      }
      stale[k] = h[k];
      open[k] = false;
      if (in.byte() % 2) {
        h[k] = *t.open_consumer();
        open[k] = true;
        m.refused[k] = {};
      }
      break;
    }
    case 4: { // a stale handle returns and delivers: refused, nothing moves
      if (!stale[k]) break;
      TokenRange32 r{static_cast<std::uint32_t>(in.byte() % m.pages), 1 + in.byte() % 4u};
      const auto out = t.return_tokens(stale[k], std::span<const TokenRange32>(&r, 1));
      FUZZ_CHECK(out.released == 0 && out.refused == 1);
      FUZZ_CHECK(!t.deliver(stale[k], r.start));
      break;
    }
    default: { // 64-bit ranges on 32-bit tokens: huge counts, high bits
      TokenRange64 r{std::uint64_t{in.u32()} << (in.byte() % 40), std::uint64_t{in.u32()} << (in.byte() % 40)};
      const auto out = t.return_tokens(h[k], std::span<const TokenRange64>(&r, 1));
      if (!open[k]) break;
      TokenRefusal why{};
      std::uint32_t first = 0;
      if (!model_check(m, r.start, r.count, why, first)) {
        ++m.refused[k][static_cast<std::size_t>(why)];
        FUZZ_CHECK(out.refused == 1 && out.released == 0);
      } else {
        // A valid 64-bit range is rare here; apply it like a 32-bit one.
        for (std::uint32_t p = first; p < first + r.count; ++p) {
          auto it = m.held[k].find(p);
          if (it != m.held[k].end()) {
            if (--it->second == 0) m.held[k].erase(it);
            --m.total[p];
          } else {
            ++m.refused[k][static_cast<std::size_t>(m.total[p] == 0 ? TokenRefusal::underflow
                                                                     : TokenRefusal::not_held)];
          }
        }
      }
      break;
    }
    }
    verify(t, m, h, open);
  }
  for (std::size_t k = 0; k < kPositions; ++k)
    if (open[k]) t.close(h[k]);
  for (std::uint32_t p = 0; p < m.pages; ++p) FUZZ_CHECK(t.page_refs(p) == 0);
  FUZZ_CHECK(t.counters().outstanding() == 0);
  // Every log and table given back: only slot chunks remain.
  FUZZ_CHECK(t.tracking_bytes() == empty_bytes);
  return 0;
}
