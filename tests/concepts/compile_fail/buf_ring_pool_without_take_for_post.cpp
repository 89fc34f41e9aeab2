// Must not compile: the ring cannot take buffers from this pool to post.
#include <arenakit/uring/buf_ring.hpp>

struct EmptyPool {
  void return_unused(std::uint16_t) noexcept {}
  std::byte* data(std::uint16_t) const noexcept { return nullptr; }
  std::uint32_t size() const noexcept { return 0; }
  std::uint32_t buffer_size() const noexcept { return 0; }
  std::error_code error() const noexcept { return {}; }
  explicit operator bool() const noexcept { return true; }
};

int main() {
  io_uring ring{};
  EmptyPool pool;
  arenakit::UringBufRing<EmptyPool> br(ring, pool, arenakit::BufRingConfig{});
  return br ? 0 : 1;
}
