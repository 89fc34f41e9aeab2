// SPDX-License-Identifier: MIT
/**
 * @file epoch/guard.hpp
 * @brief EpochGuard: the RAII read-side critical section of an EpochThread.
 */
#pragma once

#include <arenakit/epoch/thread.hpp>

namespace arenakit {

/// RAII read-side critical section; nests. Wait-free; barriers of
/// EpochThread::enter() (ep-E1) and exit() (ep-E2).
class EpochGuard {
public:
  explicit EpochGuard(EpochThread& thread) noexcept : thread_(thread) { thread_.enter(); }
  ~EpochGuard() { thread_.exit(); }
  EpochGuard(const EpochGuard&) = delete;
  EpochGuard& operator=(const EpochGuard&) = delete;

private:
  EpochThread& thread_;
};

} // namespace arenakit
