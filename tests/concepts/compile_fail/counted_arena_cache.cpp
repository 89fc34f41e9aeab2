// Must not compile: an owner cache over a counted arena would park a slot
// without dropping its reference.
#include <arenakit/arena/arena.hpp>
#include <arenakit/slots/counted.hpp>

int main() {
  arenakit::Arena<>::with<arenakit::policy::slots<arenakit::CountedSlots>> arena(arenakit::ArenaConfig{});
  arenakit::Arena<>::with<arenakit::policy::slots<arenakit::CountedSlots>>::Cache cache(arena);
  return cache.acquire() ? 0 : 1;
}
