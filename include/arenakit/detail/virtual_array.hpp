// SPDX-License-Identifier: MIT
/**
 * @file detail/virtual_array.hpp
 * @brief A zero-filled array sized for a limit, committed only where touched.
 *
 * Arenas size their per-shard and per-slot tables for the configured limit so
 * that growth never moves them (readers index them without locks). Anonymous
 * MAP_NORESERVE memory makes that cheap: untouched pages cost no RAM.
 * T must be trivially constructible from all-zero bytes (integers, pointers,
 * std::atomic of those).
 */
#pragma once

#include <cstddef>
#include <type_traits>

#include <sys/mman.h>

namespace arenakit::detail {

template <class T>
class VirtualArray {
  static_assert(std::is_trivially_destructible_v<T>, "VirtualArray holds trivially destructible T");

public:
  VirtualArray() noexcept = default;
  VirtualArray(const VirtualArray&) = delete;
  VirtualArray& operator=(const VirtualArray&) = delete;
  ~VirtualArray() { reset(); }

  /// Reserve room for @n elements, all zero. False if the address space is
  /// not available (the previous contents, if any, are released either way).
  bool allocate(std::size_t n) noexcept {
    reset();
    if (n == 0) return true;
    const std::size_t bytes = n * sizeof(T);
    void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return false;
    data_ = static_cast<T*>(p);
    size_ = n;
    return true;
  }

  /// Make every element zero again by dropping the pages (private anonymous
  /// memory reads back as zeros): O(pages touched), not O(size). No
  /// concurrent readers allowed.
  void zero() noexcept {
    if (data_ != nullptr) ::madvise(data_, size_ * sizeof(T), MADV_DONTNEED);
  }

  void reset() noexcept {
    if (data_ != nullptr) ::munmap(data_, size_ * sizeof(T));
    data_ = nullptr;
    size_ = 0;
  }

  T& operator[](std::size_t i) noexcept { return data_[i]; }
  const T& operator[](std::size_t i) const noexcept { return data_[i]; }
  std::size_t size() const noexcept { return size_; }
  T* data() noexcept { return data_; }

private:
  T* data_ = nullptr;
  std::size_t size_ = 0;
};

} // namespace arenakit::detail
