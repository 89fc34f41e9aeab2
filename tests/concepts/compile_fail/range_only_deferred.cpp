// Must not compile: RangeOnlyCheck over a deferred reclaimer. The reclaimer
// links a released slot into its list through the slot itself; a double
// release, which RangeOnlyCheck does not catch, would link it twice (a
// cycle: the next reclaim() never ends).
#include <arenakit/arena/arena.hpp>
#include <arenakit/lists/release_list.hpp>
#include <arenakit/reclaimers/deferred.hpp>

int main() {
  using List = arenakit::ReleaseList<arenakit::WakeNever>;
  List list;
  arenakit::Arena<arenakit::NoopMapper, arenakit::BitmapSlots, arenakit::DeferredReclaimer<List>, arenakit::MmapSource,
                  arenakit::RangeOnlyCheck>
      arena(arenakit::ArenaConfig{}, arenakit::DeferredReclaimer<List>{list});
  return arena.acquire() ? 0 : 1;
}
