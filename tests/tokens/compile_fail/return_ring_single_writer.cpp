// Must not compile: a return ring drains through return_tokens(handle,
// ranges), which a SingleWriterRefs tracker does not offer: its
// one Returner cannot also take the writer's fallback from another thread.
#include <arenakit/tokens/return_ring.hpp>
#include <arenakit/tokens/token_tracker.hpp>

int main() {
  using Tracker = arenakit::TokenTracker<arenakit::IgnorePageFree, arenakit::SingleWriterRefs>;
  auto t = Tracker::create(arenakit::Region{nullptr, 4096}, {});
  auto ring = arenakit::TokenReturnRing<>::create(8);
  return static_cast<int>((*ring)->drain(*t, arenakit::ConsumerHandle{}).entries);
}
