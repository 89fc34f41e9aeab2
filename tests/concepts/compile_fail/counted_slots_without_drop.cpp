// Must not compile: a slot allocator that counts references but cannot drop one.
#include <arenakit/concepts/counted_slot_allocator.hpp>

struct RetainOnly {
  explicit RetainOnly(std::uint32_t) noexcept {}
  bool ready() const noexcept { return true; }
  std::uint32_t claim(std::uint32_t*, std::uint32_t) noexcept { return 0; }
  arenakit::SlotRelease release(std::uint32_t) noexcept { return arenakit::SlotRelease::released; }
  std::uint32_t free_count() const noexcept { return 0; }
  std::uint32_t capacity() const noexcept { return 0; }
  bool is_free(std::uint32_t) const noexcept { return false; }
  bool retain(std::uint32_t) noexcept { return false; }
  std::uint32_t refs(std::uint32_t) const noexcept { return 0; }
};

static_assert(arenakit::check_counted_slot_allocator<RetainOnly>());
int main() { return 0; }
