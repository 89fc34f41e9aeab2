// Must not compile: a counted slot allocator that cannot hand a draining slot
// its first reference (Arena::Cache parks counted slots draining, and gives
// each its first reference as it hands it out).
#include <arenakit/concepts/counted_slot_allocator.hpp>

struct NoFirstRef {
  explicit NoFirstRef(std::uint32_t) noexcept {}
  bool ready() const noexcept { return true; }
  std::uint32_t claim(std::uint32_t*, std::uint32_t) noexcept { return 0; }
  std::uint32_t claim_draining(std::uint32_t*, std::uint32_t) noexcept { return 0; }
  arenakit::SlotRelease release(std::uint32_t) noexcept { return arenakit::SlotRelease::released; }
  std::uint32_t free_count() const noexcept { return 0; }
  std::uint32_t capacity() const noexcept { return 0; }
  bool is_free(std::uint32_t) const noexcept { return false; }
  bool retain(std::uint32_t) noexcept { return false; }
  arenakit::SlotDrop drop(std::uint32_t) noexcept { return arenakit::SlotDrop::refused; }
  std::uint32_t refs(std::uint32_t) const noexcept { return 0; }
};

static_assert(arenakit::check_counted_slot_allocator<NoFirstRef>());
int main() { return 0; }
