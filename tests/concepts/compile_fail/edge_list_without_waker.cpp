// Must not compile: a list that wakes on the edge, with nobody to wake.
#include <arenakit/lists/release_list.hpp>

int main() {
  arenakit::ReleaseList<arenakit::WakeOnEdge> list;
  return list.empty() ? 0 : 1;
}
