// An arena given a release check that is not one of the two: refused with a
// message naming them.
#include <arenakit/arena/arena.hpp>

struct TrustEverything {
  static constexpr arenakit::ReleaseCheck value = arenakit::ReleaseCheck::range_only;
};
using Bad = arenakit::Arena<>::with<arenakit::policy::release_check<TrustEverything>>;
int main() {
  Bad arena(arenakit::ArenaConfig{});
  return arena ? 0 : 1;
}
