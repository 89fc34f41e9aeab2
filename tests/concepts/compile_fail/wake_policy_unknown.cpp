// Must not compile: a wake policy the list does not know.
#include <arenakit/lists/release_list.hpp>

struct WakeSometimes {};

int main() {
  arenakit::ReleaseList<WakeSometimes> list;
  return list.empty() ? 0 : 1;
}
