// SPDX-License-Identifier: MIT
// Helpers shared by the token-tracker tests (tests/tokens/*.cpp).
#pragma once

#include <arenakit/tokens/token_tracker.hpp>

#include <doctest/doctest.h>

#include <cstdint>
#include <span>
#include <vector>

namespace tokens_test {

using namespace arenakit;

/// A device-memory binding (no CPU address), like an imported dma-buf.
inline Region device_binding(std::size_t bytes) { return Region{nullptr, bytes}; }

template <class Hook = IgnorePageFree>
TokenTracker<Hook> make_tracker(std::size_t pages, TokenTrackerConfig cfg = {}, Hook hook = {}) {
  auto t = TokenTracker<Hook>::create(device_binding(pages * cfg.page_size), cfg, std::move(hook));
  REQUIRE(t.has_value());
  return std::move(t).value();
}

template <class T>
ConsumerHandle open(T& t) {
  auto h = t.open_consumer();
  REQUIRE(h.has_value());
  return *h;
}

template <class T>
ReturnOutcome give_back(T& t, ConsumerHandle h, std::vector<TokenRange32> ranges) {
  return t.return_tokens(h, std::span<const TokenRange32>(ranges));
}

template <class T>
ReturnOutcome give_back64(T& t, ConsumerHandle h, std::vector<TokenRange64> ranges) {
  return t.return_tokens(h, std::span<const TokenRange64>(ranges));
}

template <class T>
DeliverOutcome hand_out(T& t, ConsumerHandle h, std::vector<std::uint32_t> pages) {
  return t.deliver(h, std::span<const std::uint32_t>(pages));
}

/// SingleWriterRefs (one producer, one Returner per consumer): plain stores, no RMW per token.
using SwTracker = TokenTracker<IgnorePageFree, SingleWriterRefs>;

inline SwTracker make_sw_tracker(std::size_t pages, TokenTrackerConfig cfg = {}) {
  auto t = SwTracker::create(device_binding(pages * cfg.page_size), cfg);
  REQUIRE(t.has_value());
  return std::move(t).value();
}

inline SwTracker::Returner claim(SwTracker& t, ConsumerHandle h) {
  auto r = t.claim_returner(h);
  REQUIRE(r.has_value());
  return std::move(*r);
}

inline ReturnOutcome give_back(SwTracker::Returner& r, std::vector<TokenRange32> ranges) {
  return r.return_tokens(std::span<const TokenRange32>(ranges));
}

inline ReturnOutcome give_back64(SwTracker::Returner& r, std::vector<TokenRange64> ranges) {
  return r.return_tokens(std::span<const TokenRange64>(ranges));
}

/// Counts the pages whose last reference came back, per page.
struct CountingHook {
  std::vector<std::uint32_t>* freed = nullptr;
  void operator()(std::uint32_t page) const noexcept { ++(*freed)[page]; }
};

} // namespace tokens_test
