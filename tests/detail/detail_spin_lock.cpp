// SPDX-License-Identifier: MIT
// detail::SpinLock: mutual exclusion (a plain counter under the lock stays
// exact), try_lock fails while held, backoff helpers return.
#include <arenakit/detail/spin_lock.hpp>

#include <doctest/doctest.h>

#include <thread>
#include <vector>

using namespace arenakit::detail;

TEST_CASE("SpinLock: try_lock fails while held") {
  SpinLock l;
  CHECK(l.try_lock());
  CHECK(!l.try_lock());
  l.unlock();
  {
    SpinLockGuard g(l);
    CHECK(!l.try_lock());
  }
  CHECK(l.try_lock());
  l.unlock();
}

TEST_CASE("SpinLock: mutual exclusion under contention") {
  SpinLock l;
  long plain = 0; // written only under the lock: TSan checks the pairing
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 20000; ++i) {
        if (i % 2 == 0) {
          SpinLockGuard g(l);
          ++plain;
        } else {
          while (!l.try_lock()) cpu_relax();
          ++plain;
          l.unlock();
        }
      }
    });
  for (auto& t : threads) t.join();
  CHECK(plain == 4 * 20000);
}

TEST_CASE("SpinWait and backoff_sleep return") {
  SpinWait w;
  for (int i = 0; i < 100; ++i) w();
  CHECK(w.n == 100);
  backoff_sleep(0);
  backoff_sleep(20);
}
