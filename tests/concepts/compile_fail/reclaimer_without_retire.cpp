// Must not compile: a reclaimer with nowhere to put a released slot.
#include <arenakit/arena/arena.hpp>

struct Forgetful {
  static constexpr bool immediate = false;
  template <class Sink>
  std::size_t reclaim(Sink&) noexcept { return 0; }
  std::size_t pending() const noexcept { return 0; }
};

int main() {
  arenakit::Arena<arenakit::NoopMapper, arenakit::BitmapSlots, Forgetful> arena(arenakit::ArenaConfig{});
  return arena.acquire() ? 0 : 1;
}
