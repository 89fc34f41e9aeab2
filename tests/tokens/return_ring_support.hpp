// SPDX-License-Identifier: MIT
// Helpers shared by the token return ring tests (tests/tokens/tokens_return_ring*.cpp).
#pragma once

#include "tokens_support.hpp"

#include <arenakit/tokens/return_ring.hpp>

#include <memory>

namespace tokens_test {

using Ring = TokenReturnRing<TokenRange32>;

inline std::unique_ptr<Ring> make_ring(std::uint32_t capacity) {
  auto r = Ring::create(capacity);
  REQUIRE(r.has_value());
  return std::move(r).value();
}

/// Pages first .. first + n - 1.
inline std::vector<std::uint32_t> page_run(std::uint32_t first, std::uint32_t n) {
  std::vector<std::uint32_t> v;
  for (std::uint32_t p = first; p < first + n; ++p) v.push_back(p);
  return v;
}

/// One entry of one token for each of pages first .. first + n - 1.
template <class T>
std::vector<TokenRange32> ones(const T& t, std::uint32_t first, std::uint32_t n) {
  std::vector<TokenRange32> v;
  for (std::uint32_t p = first; p < first + n; ++p) v.push_back({t.token32(p), 1});
  return v;
}

/// A tracker of 64 pages, one consumer holding pages 0 .. held - 1 once
/// each, and that consumer's ring. Tests take it apart:
/// `auto& [t, h, ring] = setup;`.
struct RingSetup {
  TokenTracker<> t;
  ConsumerHandle h;
  std::unique_ptr<Ring> ring;

  RingSetup(std::uint32_t held, std::uint32_t capacity, std::uint32_t work_cap = 4096)
      : t(make_tracker(64, cap_of(work_cap))), h(open(t)), ring(make_ring(capacity)) {
    REQUIRE(hand_out(t, h, page_run(0, held)).delivered == held);
  }

private:
  static TokenTrackerConfig cap_of(std::uint32_t work_cap) {
    TokenTrackerConfig cfg;
    cfg.max_tokens_per_call = work_cap;
    return cfg;
  }
};

/// Write @entries into @ring (all must fit) and publish them once.
inline void write_and_publish(Ring& ring, const std::vector<TokenRange32>& entries) {
  REQUIRE(ring.try_push(std::span<const TokenRange32>(entries)) == entries.size());
  ring.publish();
}

} // namespace tokens_test
