// SPDX-License-Identifier: MIT
// The baseline to beat: the allocator of the seed-000 RFC ("svcrdma: Receive
// buffer arenas"), written fresh from its description — a vector of 64 KB
// shards, each with a bitmap, allocation scanning the shards in order and the
// bits of each with atomic test-and-set, growing by a shard when all are full.
// One kindness over the RFC: a fully set word is skipped with one load instead
// of a test-and-set per bit.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

namespace arenakit::bench {

class LinearScanPool {
public:
  LinearScanPool(std::size_t buf_size, std::size_t shard_size = 64 * 1024)
      : buf_size_(buf_size), shard_size_(shard_size), per_shard_(static_cast<std::uint32_t>(shard_size / buf_size)) {}
  LinearScanPool(const LinearScanPool&) = delete;
  LinearScanPool& operator=(const LinearScanPool&) = delete;
  ~LinearScanPool() {
    for (Shard* s : shards_) {
      std::free(s->memory);
      delete s;
    }
  }

  void* alloc() {
    for (Shard* s : shards_) {
      for (std::uint32_t w = 0; w < words(); ++w) {
        if (s->bits[w].load(std::memory_order_relaxed) == ~std::uint64_t{0}) continue;
        for (std::uint32_t b = 0; b < 64 && w * 64 + b < per_shard_; ++b) {
          const std::uint64_t mask = std::uint64_t{1} << b;
          if ((s->bits[w].fetch_or(mask, std::memory_order_acquire) & mask) == 0)
            return s->memory + (w * 64 + b) * buf_size_;
        }
      }
    }
    auto* s = new Shard;
    s->memory = static_cast<std::byte*>(std::aligned_alloc(shard_size_, shard_size_));
    s->bits = std::vector<std::atomic<std::uint64_t>>(words());
    s->bits[0].store(1, std::memory_order_relaxed);
    shards_.push_back(s);
    return s->memory;
  }

  void free(void* p) {
    // The RFC has no per-buffer free; the fair counterpart is a bit clear,
    // with the shard found from the address (linear, like the allocation).
    auto* b = static_cast<std::byte*>(p);
    for (Shard* s : shards_) {
      if (b >= s->memory && b < s->memory + shard_size_) {
        const auto i = static_cast<std::uint32_t>(static_cast<std::size_t>(b - s->memory) / buf_size_);
        s->bits[i / 64].fetch_and(~(std::uint64_t{1} << (i % 64)), std::memory_order_release);
        return;
      }
    }
  }

  /// Free with the shard already known (what a wr_id-carrying caller has):
  /// the baseline's free without its lookup cost.
  void free_in(std::size_t shard, void* p) {
    Shard* s = shards_[shard];
    const auto i = static_cast<std::uint32_t>(static_cast<std::size_t>(static_cast<std::byte*>(p) - s->memory) / buf_size_);
    s->bits[i / 64].fetch_and(~(std::uint64_t{1} << (i % 64)), std::memory_order_release);
  }

  std::size_t shard_of(void* p) const {
    auto* b = static_cast<std::byte*>(p);
    for (std::size_t i = 0; i < shards_.size(); ++i)
      if (b >= shards_[i]->memory && b < shards_[i]->memory + shard_size_) return i;
    return ~std::size_t{0};
  }

private:
  struct Shard {
    std::byte* memory = nullptr;
    std::vector<std::atomic<std::uint64_t>> bits;
  };
  std::uint32_t words() const { return (per_shard_ + 63) / 64; }

  std::size_t buf_size_;
  std::size_t shard_size_;
  std::uint32_t per_shard_;
  std::vector<Shard*> shards_;
};

} // namespace arenakit::bench
