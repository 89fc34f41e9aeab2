// Must not compile: this CPU sync never gives the bytes back to the device.
#include <arenakit/arena/arena.hpp>
#include <arenakit/recv/recv_pool.hpp>

struct HalfSync {
  std::error_code begin_cpu_access(const std::byte*, std::size_t, arenakit::SyncAccess) noexcept { return {}; }
};

int main() {
  arenakit::Arena<> arena(arenakit::ArenaConfig{});
  arenakit::RecvPool<arenakit::Arena<>, HalfSync> pool(arena, arenakit::RecvPoolConfig{});
  return pool ? 0 : 1;
}
