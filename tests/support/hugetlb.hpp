// SPDX-License-Identifier: MIT
// How many 2 MB huge pages the kernel's pool has free right now (0 if it
// cannot tell): tests that ask for MAP_HUGETLB assert the fallback count from it.
#pragma once

#include <fstream>

namespace arenakit_test {

inline long hugetlb_pages_free() {
  std::ifstream f("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages");
  long n = 0;
  if (!(f >> n)) return 0;
  return n;
}

} // namespace arenakit_test
