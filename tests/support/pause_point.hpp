// SPDX-License-Identifier: MIT
// PausePoint: stops the first thread that reaches a library pause point
// (ARENAKIT_TEST_PAUSE, compiled only with ARENAKIT_TEST_HOOKS) until the test
// says resume(). The test thread waits until the other thread is inside the
// race window, runs the racing operation, then resumes it: one interleaving,
// forced on every run, no sleep.
#pragma once

#if !defined(ARENAKIT_TEST_HOOKS)
#error "pause_point.hpp needs the whole test executable built with ARENAKIT_TEST_HOOKS"
#endif

#include <arenakit/detail/test_hook.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
#include <thread>
#include <utility>

namespace pause_test {

class PausePoint {
public:
  /// Pause at the first @skip + 1-th arrival at @point (earlier ones pass).
  explicit PausePoint(arenakit::detail::TestPoint point, std::uint32_t skip = 0) noexcept {
    state().point.store(point);
    state().skip.store(skip);
    state().arrivals.store(0);
    state().paused.store(false);
    state().go.store(false);
    arenakit::detail::set_test_hook(&on_point);
  }
  PausePoint(const PausePoint&) = delete;
  PausePoint& operator=(const PausePoint&) = delete;
  ~PausePoint() {
    resume();
    arenakit::detail::set_test_hook(nullptr);
  }

  void wait_until_paused() const noexcept {
    while (!state().paused.load()) std::this_thread::yield();
  }
  void resume() noexcept { state().go.store(true); }
  /// Arrivals at the point so far (paused or passed).
  std::uint32_t hits() const noexcept { return state().arrivals.load(); }
  bool was_paused() const noexcept { return state().paused.load(); }

private:
  struct State {
    std::atomic<arenakit::detail::TestPoint> point{};
    std::atomic<std::uint32_t> skip{0};
    std::atomic<std::uint32_t> arrivals{0};
    std::atomic<bool> paused{false};
    std::atomic<bool> go{false};
  };
  static State& state() noexcept {
    static State s;
    return s;
  }
  static void on_point(arenakit::detail::TestPoint p) noexcept {
    State& s = state();
    if (p != s.point.load()) return;
    const std::uint32_t n = s.arrivals.fetch_add(1);
    if (n != s.skip.load()) return; // only one arrival pauses
    s.paused.store(true);
    while (!s.go.load()) std::this_thread::yield();
  }
};

/// Runs @fn once, on the thread that reaches @point, right there: for a race
/// whose other side is the same thread's own later call (an owner-only
/// writer racing a reader on another thread, played here on one thread).
class RunAt {
public:
  RunAt(arenakit::detail::TestPoint point, std::function<void()> fn) {
    state().point.store(point);
    state().fn = std::move(fn);
    state().done.store(false);
    arenakit::detail::set_test_hook(&on_point);
  }
  RunAt(const RunAt&) = delete;
  RunAt& operator=(const RunAt&) = delete;
  ~RunAt() { arenakit::detail::set_test_hook(nullptr); }
  bool ran() const noexcept { return state().done.load(); }

private:
  struct State {
    std::atomic<arenakit::detail::TestPoint> point{};
    std::function<void()> fn;
    std::atomic<bool> done{false};
  };
  static State& state() noexcept {
    static State s;
    return s;
  }
  static void on_point(arenakit::detail::TestPoint p) noexcept {
    State& s = state();
    if (p != s.point.load() || s.done.exchange(true)) return;
    s.fn();
  }
};

/// Widens a race window for stress tests: every thread that reaches @point
/// yields its CPU there, so the threads it races with run inside the window
/// far more often than preemption alone would let them (a deterministic
/// PausePoint forces one interleaving; this one makes a stress case visit many).
class YieldPoint {
public:
  explicit YieldPoint(arenakit::detail::TestPoint point, int yields = 2) noexcept {
    state().point.store(point);
    state().yields.store(yields);
    state().arrivals.store(0);
    arenakit::detail::set_test_hook(&on_point);
  }
  YieldPoint(const YieldPoint&) = delete;
  YieldPoint& operator=(const YieldPoint&) = delete;
  ~YieldPoint() { arenakit::detail::set_test_hook(nullptr); }
  std::uint64_t hits() const noexcept { return state().arrivals.load(); }

private:
  struct State {
    std::atomic<arenakit::detail::TestPoint> point{};
    std::atomic<int> yields{2};
    std::atomic<std::uint64_t> arrivals{0};
  };
  static State& state() noexcept {
    static State s;
    return s;
  }
  static void on_point(arenakit::detail::TestPoint p) noexcept {
    State& s = state();
    if (p != s.point.load(std::memory_order_relaxed)) return;
    s.arrivals.fetch_add(1, std::memory_order_relaxed);
    for (int i = s.yields.load(std::memory_order_relaxed); i > 0; --i) std::this_thread::yield();
  }
};

} // namespace pause_test
