// Must not compile: RecvPool could never hand this arena's buffers back.
#include <arenakit/recv/recv_pool.hpp>

struct TakeOnlyArena {
  std::uint32_t acquire_bulk(arenakit::SlotId*, std::uint32_t) noexcept { return 0; }
  std::byte* pointer(arenakit::SlotId) const noexcept { return nullptr; }
  int buffer(arenakit::SlotId) const noexcept { return 0; }
  std::size_t slot_size() const noexcept { return 2048; }
};

int main() {
  TakeOnlyArena arena;
  arenakit::RecvPool<TakeOnlyArena> pool(arena, arenakit::RecvPoolConfig{});
  return pool ? 0 : 1;
}
