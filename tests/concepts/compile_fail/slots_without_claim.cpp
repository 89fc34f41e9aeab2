// Must not compile: a slot allocator that cannot hand out slots.
#include <arenakit/arena/arena.hpp>

struct ReleaseOnly {
  explicit ReleaseOnly(std::uint32_t) noexcept {}
  bool ready() const noexcept { return true; }
  arenakit::SlotRelease release(std::uint32_t) noexcept { return arenakit::SlotRelease::released; }
  std::uint32_t free_count() const noexcept { return 0; }
  std::uint32_t capacity() const noexcept { return 0; }
  bool is_free(std::uint32_t) const noexcept { return false; }
};

int main() {
  arenakit::Arena<arenakit::NoopMapper, ReleaseOnly> arena(arenakit::ArenaConfig{});
  return arena.acquire() ? 0 : 1;
}
