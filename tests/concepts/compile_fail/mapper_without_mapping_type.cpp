// Must not compile: the mapper does not say what a mapping is.
#include <arenakit/arena/arena.hpp>

struct NamelessMapper {
  arenakit::Result<std::uint64_t> map(const arenakit::Region&) noexcept { return std::uint64_t{0}; }
  void unmap(std::uint64_t&) noexcept {}
};

int main() {
  arenakit::Arena<NamelessMapper> arena(arenakit::ArenaConfig{});
  return arena.acquire() ? 0 : 1;
}
