// SPDX-License-Identifier: MIT
// The package's smoke test: the headers, include path, C++ level and, for
// each component asked for, the library arrive through the target; an arena
// acquires and releases one slot. Exit 0 on success, non-zero on any check
// that fails.
#include <arenakit/arenakit.hpp>

#include <cstdio>

#if defined(ARENAKIT_TEST_URING)
#include <arenakit/uring/mapper.hpp>
static_assert(arenakit::Mapper<arenakit::UringFixedBufferMapper>);
#endif
#if defined(ARENAKIT_TEST_IBVERBS)
#include <arenakit/ibverbs/mapper.hpp>
static_assert(arenakit::Mapper<arenakit::IbvMapper>);
#endif

int main() {
  arenakit::Arena<> arena(arenakit::ArenaConfig{.slot_size = 4096, .shard_size = 64 * 1024});
  if (!arena) {
    std::printf("arena refused: %s\n", arena.error().message().c_str());
    return 1;
  }
  const arenakit::SlotId id = arena.acquire();
  if (!id || arena.counters().mappings != 1) {
    std::puts("acquire failed");
    return 2;
  }
  if (!arena.release(id)) {
    std::puts("release refused");
    return 3;
  }
#if defined(ARENAKIT_TEST_URING)
  // The mapper's default table calls liburing: storing its entry in a
  // volatile makes the link step need liburing itself.
  const arenakit::UringRegisterOps uring_ops{};
  auto* volatile uring_register = uring_ops.register_sparse;
  if (uring_register == nullptr) return 4;
  std::puts("arenakit::uring linked");
#endif
#if defined(ARENAKIT_TEST_IBVERBS)
  // The mapper's default table points at the real libibverbs functions.
  auto* volatile verbs_dereg = arenakit::ibv_default_ops.dereg_mr;
  if (verbs_dereg == nullptr) return 5;
  std::puts("arenakit::ibverbs linked");
#endif
  std::printf("arenakit: 1 slot acquired and released, mappings=%llu\n",
              static_cast<unsigned long long>(arena.counters().mappings));
  return 0;
}
