// Must not compile: a page-reference policy that can deliver but never give back.
#include <arenakit/tokens/token_tracker.hpp>

struct DeliverOnly {
  static constexpr bool one_returner = false;
  static constexpr bool calls_hook = true;
  static constexpr std::size_t bytes_per_page = 8;
  bool allocate(std::uint64_t) noexcept { return true; }
  bool begin_batch() noexcept { return true; }
  void end_batch() noexcept {}
  void prefetch(std::uint32_t) const noexcept {}
  template <class H>
  arenakit::detail::PageStep deliver(arenakit::detail::PageCtx<H>, std::uint32_t) noexcept { return 0; }
  template <class H>
  std::uint64_t drain(arenakit::detail::PageCtx<H>, std::uint64_t&) noexcept { return 0; }
  std::uint32_t page_refs(std::uint32_t) const noexcept { return 0; }
  template <class H>
  std::uint32_t refs_of(arenakit::detail::PageCtx<H>, std::uint32_t) const noexcept { return 0; }
  static void count_returned(std::atomic<std::uint64_t>&, std::uint64_t) noexcept {}
};

int main() { return arenakit::TokenTracker<arenakit::IgnorePageFree, DeliverOnly>{} ? 1 : 0; }
