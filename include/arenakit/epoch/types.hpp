// SPDX-License-Identifier: MIT
/**
 * @file epoch/types.hpp
 * @brief The epoch domain's vocabulary: fence and bound policies, the retire
 *        hook, the configuration and the report, and the few system calls
 *        the domain needs (see epoch/epoch.hpp for the algorithm).
 */
#pragma once

#include <arenakit/config.hpp>
#include <arenakit/lists/llist.hpp>
#include <arenakit/slot_id.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>

#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace arenakit {

/// How a reader's announcement is ordered before its reads.
enum class ReaderFence : std::uint8_t {
  asymmetric, ///< membarrier() on the reclaimer side; readers pay no fence
  symmetric,  ///< a full fence on every outermost guard entry
};

/// What a retire does when the garbage bound is reached and reclaiming
/// could not make room.
enum class OnGarbageBound : std::uint8_t {
  refuse,   ///< retire returns refused_bound; the caller keeps the object
  wait,     ///< retire waits for a grace period (refuses inside its own guard)
  callback, ///< the configured callback decides (admit or refuse)
};

/// What the bound callback decided.
enum class BoundDecision : std::uint8_t {
  refuse, ///< the caller keeps the object
  admit,  ///< accept it over the bound (counted in over_bound_admits)
};

enum class RetireResult : std::uint8_t {
  accepted,      ///< the domain owns the object; it will be freed after a grace period
  refused_bound, ///< the garbage bound is reached; the object is still the caller's
};

/// Link + deleter kept inside a retired object (intrusive: retire never allocates).
struct EpochHook : LlistNode {
  void (*deleter)(EpochHook*) noexcept = nullptr;
};

struct EpochCounters {
  std::uint64_t epoch = 0;             ///< the global epoch
  std::size_t unreclaimed = 0;         ///< retired, not yet freed (sealed + unsealed)
  std::size_t reserved = 0;            ///< room held against the bound (>= unreclaimed)
  std::size_t bound = 0;
  std::uint64_t retired = 0;           ///< objects accepted by retire, ever
  std::uint64_t reclaimed = 0;         ///< objects freed, ever
  std::uint64_t oldest_epoch_age = 0;  ///< epoch - stamp of the oldest sealed garbage
  std::int64_t oldest_age_ns = 0;      ///< time since the oldest sealed garbage was sealed
  std::size_t registered = 0;          ///< EpochThreads alive
  std::size_t active = 0;              ///< of which inside a guard
  bool held_back = false;              ///< an active reader announced an epoch < `epoch`
  const char* holder_label = nullptr;  ///< that reader's label (the oldest one)
  long holder_tid = 0;                 ///< its OS thread id (at registration)
  std::uint64_t holder_epoch = 0;      ///< the epoch it announced
  std::uint64_t advances = 0;          ///< grace periods completed
  std::uint64_t fences_skipped = 0;    ///< advances by the only registered record, without the heavy fence
  std::uint64_t bound_hits = 0;        ///< retires that found the bound reached
  std::uint64_t refused = 0;           ///< retires refused at the bound
  std::uint64_t over_bound_admits = 0; ///< admitted over the bound by the callback
};

/// 0.1's name for EpochCounters.
using EpochReport [[deprecated("arenakit: EpochReport is now EpochCounters")]] = EpochCounters;

using BoundCallback = BoundDecision (*)(void* context, const EpochCounters& report) noexcept;

struct EpochConfig {
  /// Retires collected per thread before the batch is stamped and published
  /// (sooner when the thread's credit, see garbage_bound, is smaller).
  std::size_t batch_size = 128;
  /// After sealing a batch, an EpochThread tries an advance only when the
  /// domain holds at least this many sealed objects, or when
  /// `reclaim_interval_us` has passed since the last attempt: an advance
  /// costs a membarrier (~1-3 us), so trying once per batch made it the
  /// largest cost of a retire. 0 tries after every batch (0.1's behaviour).
  /// The garbage bound is unaffected: a retire at the bound still tries.
  std::size_t reclaim_threshold = 1024;
  /// See reclaim_threshold; 0 means no interval (the threshold alone).
  std::uint32_t reclaim_interval_us = 1000;
  /// Most retired-not-freed objects the domain holds (>= 1). Room a thread
  /// has reserved for its next retires counts too: a thread reserves at most
  /// min(batch_size, garbage_bound / (4 x registered threads)) at a time.
  std::size_t garbage_bound = std::size_t{1} << 20;
  OnGarbageBound on_bound = OnGarbageBound::refuse;
  BoundCallback bound_callback = nullptr; ///< required with OnGarbageBound::callback
  void* callback_context = nullptr;
  ReaderFence fence = ReaderFence::asymmetric;
};

class EpochDomain;
class EpochThread;

namespace detail {

/// A full fence. Under ThreadSanitizer a seq_cst RMW stands in for
/// atomic_thread_fence, which TSan does not model (and GCC warns about).
inline void epoch_full_fence() noexcept {
#if defined(__SANITIZE_THREAD__)
  static std::atomic<int> word{0};
  word.fetch_add(0, std::memory_order_seq_cst);
#else
  std::atomic_thread_fence(std::memory_order_seq_cst);
#endif
}

inline bool epoch_membarrier_register() noexcept {
  long query = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
  if (query < 0 || (query & MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0) return false;
  return syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
}

inline long epoch_gettid() noexcept { return static_cast<long>(syscall(SYS_gettid)); }

inline std::int64_t epoch_now_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

/// What an EpochReclaimer keeps in a retired slot.
struct EpochSlot : LlistNode {
  SlotId id;
  std::uint64_t stamp = 0;
};

} // namespace detail

} // namespace arenakit
