// Must not compile: this mapper cannot undo a mapping.
#include <arenakit/arena/arena.hpp>

struct LeakyMapper {
  struct mapping_type {
    std::uint64_t base = 0;
  };
  arenakit::Result<mapping_type> map(const arenakit::Region& r) noexcept {
    return mapping_type{reinterpret_cast<std::uint64_t>(r.data)};
  }
  std::uint64_t device_address(const mapping_type& m) const noexcept { return m.base; }
};

int main() {
  arenakit::Arena<LeakyMapper> arena(arenakit::ArenaConfig{});
  return arena.acquire() ? 0 : 1;
}
