// SPDX-License-Identifier: MIT
// For the plain-main tests that run only on real hardware (an RDMA device,
// /dev/udmabuf): each check prints one line, and main returns
// hardware_check_result() — 1 if any check failed. A missing device is not a
// failure: such a test prints its reason and returns 77 (ctest: Skipped).
#pragma once

#include <cstdio>

namespace arenakit_test {

inline int& hardware_check_failures() noexcept {
  static int failures = 0;
  return failures;
}

inline void check(bool ok, const char* what) noexcept {
  std::printf("%s: %s\n", ok ? "ok  " : "FAIL", what);
  if (!ok) ++hardware_check_failures();
}

inline int hardware_check_result() noexcept { return hardware_check_failures() == 0 ? 0 : 1; }

} // namespace arenakit_test
