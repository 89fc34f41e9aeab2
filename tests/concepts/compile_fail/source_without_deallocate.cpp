// Must not compile: a memory source that can never take memory back.
#include <arenakit/arena/arena.hpp>

struct OneWaySource {
  arenakit::Result<arenakit::Region> allocate(std::size_t, std::size_t) noexcept {
    return arenakit::errc::out_of_memory;
  }
};

int main() {
  arenakit::Arena<arenakit::NoopMapper, arenakit::BitmapSlots, arenakit::ImmediateReclaimer, OneWaySource>
      arena(arenakit::ArenaConfig{});
  return arena.acquire() ? 0 : 1;
}
