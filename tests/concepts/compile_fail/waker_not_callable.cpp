// Must not compile: the waker cannot be called.
#include <arenakit/lists/release_list.hpp>

struct Bell {
  int rings = 0;
};

int main() {
  arenakit::ReleaseList<arenakit::WakeOnEdge, Bell> list;
  return list.empty() ? 0 : 1;
}
