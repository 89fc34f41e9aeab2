// SPDX-License-Identifier: MIT
// Token tracker: tracking memory, computed by the tracker from capacities,
// for 10,000 consumers each holding 1,024 tokens on a 2 GiB binding. The
// per-socket array design needs 10,000 x 2 MiB = 20 GiB; the bound
// is 200 MiB. 10.24 M references do not fit on 524,288 pages one apiece,
// so two placements are measured: each consumer's tokens on pages it holds
// alone (about 20 references per page: small fragments), and every page
// shared by about 20 consumers (each consumer: one reference on 1,024
// pages) — the worst case for per-consumer records.
#include "tokens_support.hpp"

#include <cstdio>

using namespace tokens_test;

namespace {

constexpr std::uint32_t consumers = 10'000;
constexpr std::uint32_t tokens_each = 1'024;
constexpr std::uint32_t pages = 1u << 19; // 2 GiB / 4 KiB
constexpr std::size_t limit = std::size_t{200} << 20;
constexpr std::size_t per_socket_arrays = std::size_t{consumers} * pages * 4; // 20 GiB

TokenTrackerConfig config() {
  TokenTrackerConfig cfg;
  cfg.max_consumers = consumers;
  return cfg;
}

void report(const char* what, std::size_t bytes) {
  std::printf("tokens memory, %s: %.1f MiB (per-socket arrays: %.1f GiB, %.0fx more)\n", what,
              static_cast<double>(bytes) / (1 << 20), static_cast<double>(per_socket_arrays) / (1 << 30),
              static_cast<double>(per_socket_arrays) / static_cast<double>(bytes));
}

} // namespace

TEST_CASE("tokens memory: 10,000 consumers x 1,024 tokens, pages held alone") {
  auto t = make_tracker(pages, config());
  std::vector<ConsumerHandle> hs;
  const std::uint32_t per = pages / consumers; // 52 pages each, ~20 references a page
  std::vector<std::uint32_t> batch(tokens_each);
  for (std::uint32_t c = 0; c < consumers; ++c) {
    hs.push_back(open(t));
    for (std::uint32_t k = 0; k < tokens_each; ++k) batch[k] = c * per + k % per;
    REQUIRE(t.deliver(hs.back(), std::span<const std::uint32_t>(batch)).delivered == tokens_each);
  }
  const auto s = t.counters();
  CHECK(s.outstanding() == std::uint64_t{consumers} * tokens_each);
  const std::size_t bytes = t.tracking_bytes();
  report("held alone", bytes);
  CHECK(bytes <= limit);
  CHECK(bytes <= std::size_t{16} << 20); // issue 12: pages held alone cost at most 16 MiB
  // Exactly: page words + slot chunks + one 64-entry log per consumer.
  const std::size_t slots = ((consumers + 63) / 64) * 64 * sizeof(detail::TokenConsumerSlot);
  const std::size_t logs = std::size_t{consumers} * 64 * sizeof(std::uint32_t);
  CHECK(bytes - sizeof(t) <= std::size_t{pages} * 8 + slots + logs + 64 * 1024);
  CHECK(bytes >= std::size_t{pages} * 8 + slots + logs);
  for (auto h : hs) REQUIRE(t.close(h).released == tokens_each);
  CHECK(t.counters().outstanding() == 0);
}

TEST_CASE("tokens memory: 10,000 consumers x 1,024 tokens, every page shared by ~20 consumers") {
  auto t = make_tracker(pages, config());
  const std::size_t empty = t.tracking_bytes();
  std::vector<ConsumerHandle> hs;
  std::vector<std::uint32_t> batch(tokens_each);
  for (std::uint32_t c = 0; c < consumers; ++c) {
    hs.push_back(open(t));
    for (std::uint32_t k = 0; k < tokens_each; ++k) batch[k] = (c * tokens_each + k) % pages;
    REQUIRE(t.deliver(hs.back(), std::span<const std::uint32_t>(batch)).delivered == tokens_each);
  }
  CHECK(t.page_refs(0) == (consumers + 511) / 512);
  const std::size_t bytes = t.tracking_bytes();
  report("shared by ~20", bytes);
  CHECK(bytes <= limit);
  // The tracker's own figure equals what its parts report.
  std::size_t parts = 0;
  for (auto h : hs) parts += t.consumer_counters(h)->tracking_bytes;
  const std::size_t unused_slots = (((consumers + 63) / 64) * 64 - consumers) * sizeof(detail::TokenConsumerSlot);
  CHECK(bytes == empty + parts + unused_slots);
  // A consumer that took 1,024 tokens and shares them all costs 16 KiB of
  // table and at most a 4 KiB log: its own holdings, not the binding.
  CHECK(t.consumer_counters(hs.back())->tracking_bytes <= sizeof(detail::TokenConsumerSlot) + 20 * 1024);
  for (auto h : hs) REQUIRE(t.close(h).released == tokens_each);
  CHECK(t.counters().outstanding() == 0);
  CHECK(t.tracking_bytes() == empty + ((consumers + 63) / 64) * 64 * sizeof(detail::TokenConsumerSlot));
}
