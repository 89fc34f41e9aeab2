// SPDX-License-Identifier: MIT
// libFuzzer target: random deliveries, return batches (valid and hostile),
// closes, re-opens and stale handles thrown at a TokenTracker, checked after
// every operation against a plain reference model: released counts, refusal
// reasons, per-page totals, every consumer's holdings (so: no underflow,
// nothing lost, other consumers untouched), and the tracker's own counters.
// The first byte picks the page-reference policy (AnyThreadRefs,
// OneProducerRefs, SingleWriterRefs: returns through each consumer's
// Returner) or a BindingGroup of three bindings whose consumers hold and
// return pages of all of them at once (64-bit tokens).
#include <arenakit/tokens/binding_group.hpp>
#include <arenakit/tokens/token_tracker.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
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

/// Returns through the consumer's handle, or (SingleWriterRefs) its Returner.
template <class Tracker>
struct Positions {
  static constexpr bool one_returner = requires(Tracker& t, ConsumerHandle h) { t.claim_returner(h); };
  std::array<ConsumerHandle, kPositions> h{};
  std::array<ConsumerHandle, kPositions> stale{};
  std::array<bool, kPositions> open{};
  std::array<std::optional<typename Tracker::Returner>, kPositions> returner, stale_returner;

  void opened(Tracker& t, std::size_t k) {
    h[k] = *t.open_consumer();
    open[k] = true;
    if constexpr (one_returner) {
      returner[k] = t.claim_returner(h[k]);
      FUZZ_CHECK(returner[k].has_value());
      FUZZ_CHECK(!t.claim_returner(h[k]).has_value()); // once per consumer
    }
  }
  void closed(std::size_t k) {
    stale[k] = h[k];
    open[k] = false;
    if constexpr (one_returner) stale_returner[k] = std::move(returner[k]);
  }
  template <class Range>
  ReturnOutcome give(Tracker& t, std::size_t k, std::span<const Range> ranges, bool old = false) {
    if constexpr (one_returner) {
      auto& r = old ? stale_returner[k] : returner[k];
      if (!r) return {0, 1, ranges.size(), false}; // never claimed: as refused
      return r->return_tokens(ranges);
    } else {
      return t.return_tokens(old ? stale[k] : h[k], ranges);
    }
  }
};

template <class Refs>
void run_single(Input& in) {
  using Tracker = TokenTracker<IgnorePageFree, Refs>;
  Model m;
  m.pages = 1 + in.byte() % 200;
  m.page_bits = m.pages <= 1 ? 1u : static_cast<unsigned>(std::bit_width(m.pages - 1));
  m.cap = 1 + in.byte() % 48;
  m.total.assign(m.pages, 0);
  TokenTrackerConfig cfg;
  cfg.max_tokens_per_call = m.cap;
  cfg.max_consumers = 64;
  auto created = Tracker::create(Region{nullptr, std::size_t{m.pages} * cfg.page_size}, cfg);
  FUZZ_CHECK(created.has_value());
  Tracker t = std::move(created).value();

  Positions<Tracker> pos;
  auto& h = pos.h;
  auto& open = pos.open;
  for (std::size_t k = 0; k < kPositions; ++k) pos.opened(t, k);
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
      const auto out = pos.give(t, k, std::span<const TokenRange32>(ranges));
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
      pos.closed(k);
      if (in.byte() % 2) {
        pos.opened(t, k);
        m.refused[k] = {};
      }
      break;
    }
    case 4: { // a stale handle returns and delivers: refused, nothing moves
      if (!pos.stale[k]) break;
      TokenRange32 r{static_cast<std::uint32_t>(in.byte() % m.pages), 1 + in.byte() % 4u};
      const auto out = pos.give(t, k, std::span<const TokenRange32>(&r, 1), true);
      FUZZ_CHECK(out.released == 0 && out.refused == 1);
      FUZZ_CHECK(!t.deliver(pos.stale[k], r.start));
      break;
    }
    default: { // 64-bit ranges on 32-bit tokens: huge counts, high bits
      TokenRange64 r{std::uint64_t{in.u32()} << (in.byte() % 40), std::uint64_t{in.u32()} << (in.byte() % 40)};
      const auto out = pos.give(t, k, std::span<const TokenRange64>(&r, 1));
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
}

/// A BindingGroup of three bindings (64-bit tokens, 4-bit binding ids):
/// consumers hold pages of every binding, return a mix of them in one call,
/// and a close gives back everything across bindings.
void run_group(Input& in) {
  constexpr std::size_t kBindings = 3;
  constexpr std::uint64_t kUnknownId = 9; // names no member
  std::array<Model, kBindings> m;
  std::array<TokenTracker<>, kBindings> t;
  BindingGroup<TokenTracker<>> g;
  const std::uint32_t cap = 1 + in.byte() % 48;
  for (std::size_t b = 0; b < kBindings; ++b) {
    m[b].pages = 1 + in.byte() % 100;
    m[b].cap = cap;
    m[b].total.assign(m[b].pages, 0);
    TokenTrackerConfig cfg;
    cfg.token_width = TokenWidth::bits64;
    cfg.page_bits = 16; // no range overflow within the small ranges below
    cfg.binding_bits = 4;
    cfg.binding_id = b + 1;
    cfg.max_tokens_per_call = cap;
    cfg.max_consumers = 64;
    auto created = TokenTracker<>::create(Region{nullptr, std::size_t{m[b].pages} * cfg.page_size}, cfg);
    FUZZ_CHECK(created.has_value());
    t[b] = std::move(created).value();
    FUZZ_CHECK(!g.add(t[b]));
  }
  using Consumer = BindingGroup<TokenTracker<>>::Consumer;
  std::array<Consumer, kPositions> c{};
  std::array<Consumer, kPositions> stale{};
  std::array<bool, kPositions> open{};
  for (std::size_t k = 0; k < kPositions; ++k) {
    c[k] = *g.open();
    open[k] = true;
  }
  std::uint64_t group_refused = 0;
  auto token_of = [&](std::size_t b, std::uint32_t page) -> std::uint64_t {
    return b < kBindings ? t[b].token(page) : (kUnknownId << 60) | page;
  };

  while (!in.done()) {
    const std::uint8_t op = in.byte();
    const std::size_t k = (op >> 4) % kPositions;
    switch (op % 5) {
    case 0: { // deliver pages of binding b (b == 3: no such member)
      const std::size_t b = in.byte() % (kBindings + 1);
      std::vector<std::uint32_t> pages(in.byte() % 16);
      for (auto& p : pages) p = in.byte() % (b < kBindings ? m[b].pages + 4 : 8);
      const auto out = g.deliver(c[k], b, std::span<const std::uint32_t>(pages));
      if (b == kBindings) {
        group_refused += pages.size();
        FUZZ_CHECK(out.delivered == 0 && out.refused == pages.size());
        break;
      }
      if (!open[k]) {
        FUZZ_CHECK(out.delivered == 0);
        break;
      }
      std::size_t expect = 0;
      for (auto p : pages) {
        if (p >= m[b].pages) {
          ++m[b].refused[k][static_cast<std::size_t>(TokenRefusal::out_of_range)];
          continue;
        }
        ++m[b].held[k][p];
        ++m[b].total[p];
        ++expect;
      }
      FUZZ_CHECK(out.delivered == expect);
      break;
    }
    case 1:
    case 2: { // one call returning a mix of bindings, some unknown, some huge
      std::vector<TokenRange64> ranges(in.byte() % 10);
      std::vector<std::size_t> member(ranges.size());
      for (std::size_t i = 0; i < ranges.size(); ++i) {
        const std::size_t b = in.byte() % (kBindings + 1);
        const std::uint32_t page = in.byte() % (b < kBindings ? m[b].pages : 8);
        std::uint64_t count = in.byte() % 6;
        if (in.byte() % 16 == 0) count = cap + 1 + in.byte();
        ranges[i] = {token_of(b, page), count};
        member[i] = b;
      }
      const auto out = g.return_tokens(c[k], std::span<const TokenRange64>(ranges));
      const bool closed = !open[k]; // members refuse its calls; the group still refuses unknown ids
      // The group's rule (tokens/binding_group.hpp): a range over the cap is
      // refused by the group itself (huge_count, charged 1); the rest go in
      // runs of one member, each range charged (its count, 1 when empty) first.
      std::uint64_t budget = cap, released = 0, refused = 0;
      std::size_t i = 0;
      bool capped = false;
      while (i < ranges.size() && !capped) {
        if (ranges[i].count > cap) {
          if (budget == 0) {
            capped = true;
            break;
          }
          --budget;
          ++group_refused;
          ++refused;
          ++i;
          continue;
        }
        const std::size_t b = member[i];
        std::size_t j = i;
        for (; j < ranges.size() && ranges[j].count <= cap && member[j] == b; ++j) {
          const std::uint64_t n = ranges[j].count;
          const std::uint64_t cost = n == 0 ? 1 : n;
          if (cost > budget) {
            capped = true;
            break;
          }
          budget -= cost;
        }
        for (std::size_t r = i; r < j; ++r) {
          if (b == kBindings) {
            ++group_refused;
            ++refused;
            continue;
          }
          if (closed) continue;
          const std::uint32_t first = static_cast<std::uint32_t>(ranges[r].start & 0xFFFF);
          const std::uint64_t n = ranges[r].count;
          if (n == 0) continue;
          TokenRefusal why{};
          if (first + n > m[b].pages) {
            why = TokenRefusal::out_of_range;
          } else {
            for (std::uint32_t p = first; p < first + n; ++p) {
              auto it = m[b].held[k].find(p);
              if (it != m[b].held[k].end()) {
                if (--it->second == 0) m[b].held[k].erase(it);
                --m[b].total[p];
                ++released;
              } else {
                ++m[b].refused[k][static_cast<std::size_t>(m[b].total[p] == 0 ? TokenRefusal::underflow
                                                                               : TokenRefusal::not_held)];
                ++refused;
              }
            }
            continue;
          }
          ++m[b].refused[k][static_cast<std::size_t>(why)];
          ++refused;
        }
        i = j;
      }
      FUZZ_CHECK(out.released == released);
      FUZZ_CHECK(out.ranges_done == i);
      FUZZ_CHECK(out.capped == capped);
      if (!closed) FUZZ_CHECK(out.refused == refused);
      break;
    }
    case 3: { // close across every binding (a crash), maybe re-open
      const auto out = g.close(c[k]);
      if (!open[k]) {
        FUZZ_CHECK(out.status == CloseStatus::refused && out.released == 0);
      } else {
        std::uint64_t mine = 0;
        for (std::size_t b = 0; b < kBindings; ++b) {
          for (auto& [p, n] : m[b].held[k]) {
            mine += n;
            m[b].total[p] -= n;
          }
          m[b].held[k].clear();
        }
        FUZZ_CHECK(out.status == CloseStatus::drained);
        FUZZ_CHECK(out.released == mine);
      }
      stale[k] = c[k];
      open[k] = false;
      if (in.byte() % 2) {
        c[k] = *g.open();
        open[k] = true;
        for (std::size_t b = 0; b < kBindings; ++b) m[b].refused[k] = {};
      }
      break;
    }
    default: { // a closed consumer returns to one binding: refused, nothing moves
      if (!stale[k]) break;
      const std::size_t b = in.byte() % kBindings;
      TokenRange64 r{t[b].token(in.byte() % m[b].pages), 1};
      const auto out = g.return_tokens(stale[k], std::span<const TokenRange64>(&r, 1));
      FUZZ_CHECK(out.released == 0 && out.refused == 1);
      break;
    }
    }
    for (std::size_t b = 0; b < kBindings; ++b) {
      std::array<ConsumerHandle, kPositions> h{};
      for (std::size_t q = 0; q < kPositions; ++q) h[q] = c[q].handles[b];
      verify(t[b], m[b], h, open);
    }
    FUZZ_CHECK(g.refused() == group_refused);
  }
  for (std::size_t k = 0; k < kPositions; ++k)
    if (open[k]) (void)g.close(c[k]);
  for (std::size_t b = 0; b < kBindings; ++b) {
    for (std::uint32_t p = 0; p < m[b].pages; ++p) FUZZ_CHECK(t[b].page_refs(p) == 0);
    FUZZ_CHECK(t[b].counters().outstanding() == 0);
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Input in{data, size};
  switch (in.byte() % 4) {
  case 0: run_single<AnyThreadRefs>(in); break;
  case 1: run_single<OneProducerRefs>(in); break;
  case 2: run_single<SingleWriterRefs>(in); break;
  default: run_group(in); break;
  }
  return 0;
}
