// Built with -fno-exceptions: every header must work without exceptions, and
// a set-up failure must come back as an error code, not a throw or an abort.
#include <arenakit/arenakit.hpp>

int main() {
  arenakit::Arena<> bad(arenakit::ArenaConfig{.shard_size = 3000});
  if (bad.error() != arenakit::make_error_code(arenakit::errc::invalid_config)) return 1;
  arenakit::Arena<> arena(arenakit::ArenaConfig{});
  decltype(arena)::Cache cache(arena);
  arenakit::SlotId id = cache.acquire();
  if (!id || !cache.release(id) || cache.release(id)) return 2;
  return 0;
}
