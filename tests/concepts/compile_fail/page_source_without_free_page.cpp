// Must not compile: this page source cannot take overflow back.
#include <arenakit/page_pool/page_pool.hpp>

struct OneWaySource {
  std::byte* allocate_page() noexcept { return nullptr; }
  std::size_t page_size() const noexcept { return 4096; }
  int numa_node() const noexcept { return -1; }
};

int main() {
  auto pool = arenakit::PagePool<OneWaySource>::create({}, OneWaySource{});
  return pool ? 0 : 1;
}
