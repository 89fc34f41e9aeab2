// SPDX-License-Identifier: MIT
// Peer for bench_tokens: a per-consumer JudyL array page -> references, the
// radix-tree shape of the kernel's per-socket xarray. Compiled with Judy's
// flags only (see arenakit_add_benchmark PEER_SOURCES). Batch-level calls so
// that no cross-TU call is charged per token.
#include <Judy.h>

#include <cstddef>
#include <cstdint>

namespace tokens_bench_judy {

struct Range { // same layout as bench_tokens.cpp's
  std::uint32_t start;
  std::uint32_t count;
};

void* create() { return nullptr; } // an empty JudyL array is a null pointer

/// populate() - insert every page with 0 references ("tokens present").
void populate(void** array, const std::uint32_t* pages, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    auto* v = reinterpret_cast<Word_t*>(JudyLIns(array, pages[i], PJE0));
    *v += 0;
  }
}

/// Present variant: entries stay; only their values move (lookups only).
std::size_t deliver_present(void** array, const std::uint32_t* pages, std::size_t n) {
  std::size_t done = 0;
  for (std::size_t i = 0; i < n; ++i) {
    auto* v = reinterpret_cast<Word_t*>(JudyLGet(*array, pages[i], PJE0));
    if (v != nullptr) {
      ++*v;
      ++done;
    }
  }
  return done;
}

std::size_t return_present(void** array, const Range* r, std::size_t n) {
  std::size_t released = 0;
  for (std::size_t i = 0; i < n; ++i)
    for (std::uint32_t p = r[i].start; p != r[i].start + r[i].count; ++p) {
      auto* v = reinterpret_cast<Word_t*>(JudyLGet(*array, p, PJE0));
      if (v != nullptr && *v != 0) {
        --*v;
        ++released;
      }
    }
  return released;
}

/// Churn variant: a page's entry exists only while references are held
/// (insert on first delivery, erase on last return), as the xarray design.
std::size_t deliver_churn(void** array, const std::uint32_t* pages, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    auto* v = reinterpret_cast<Word_t*>(JudyLIns(array, pages[i], PJE0));
    ++*v;
  }
  return n;
}

std::size_t return_churn(void** array, const Range* r, std::size_t n) {
  std::size_t released = 0;
  for (std::size_t i = 0; i < n; ++i)
    for (std::uint32_t p = r[i].start; p != r[i].start + r[i].count; ++p) {
      auto* v = reinterpret_cast<Word_t*>(JudyLGet(*array, p, PJE0));
      if (v == nullptr) continue;
      ++released;
      if (--*v == 0) JudyLDel(array, p, PJE0);
    }
  return released;
}

/// close_all() - walk every entry, give its references back, free the tree.
std::size_t close_all(void** array) {
  std::size_t released = 0;
  Word_t index = 0;
  for (auto* v = reinterpret_cast<Word_t*>(JudyLFirst(*array, &index, PJE0)); v != nullptr;
       v = reinterpret_cast<Word_t*>(JudyLNext(*array, &index, PJE0)))
    released += *v;
  JudyLFreeArray(array, PJE0);
  return released;
}

} // namespace tokens_bench_judy
