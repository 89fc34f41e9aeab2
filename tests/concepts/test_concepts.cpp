// The policy concepts accept what the library ships and reject the misfits
// (the compile-fail tests in compile_fail/ check the messages).
#include <arenakit/arenakit.hpp>

#include <doctest/doctest.h>

using namespace arenakit;

namespace {
struct NotAMapper {};
struct NotASource {
  Region allocate(std::size_t, std::size_t) { return {}; } // wrong return type, not noexcept
  void deallocate(const Region&) noexcept {}
};
} // namespace

static_assert(Mapper<NoopMapper>);
static_assert(!Mapper<NotAMapper>);
static_assert(SlotAllocator<BitmapSlots>);
static_assert(!SlotAllocator<NotAMapper>);
static_assert(Reclaimer<ImmediateReclaimer>);
static_assert(!Reclaimer<NotAMapper>);
static_assert(MemorySource<MmapSource>);
static_assert(MemorySource<HeapSource>);
static_assert(!MemorySource<NotASource>);

TEST_CASE("check_* helpers are usable in constant expressions for fitting policies") {
  constexpr bool ok = check_mapper<NoopMapper>() && check_slot_allocator<BitmapSlots>() &&
                      check_reclaimer<ImmediateReclaimer>() && check_memory_source<MmapSource>();
  CHECK(ok);
}
