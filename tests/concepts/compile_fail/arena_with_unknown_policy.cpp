// Arena<>::with<...> is given something that is not a role tag: refused with
// a message naming the four tags.
#include <arenakit/arena/arena.hpp>

struct NotAPolicy {};
using Bad = arenakit::Arena<>::with<NotAPolicy>;
int main() { return sizeof(Bad) != 0 ? 0 : 1; }
