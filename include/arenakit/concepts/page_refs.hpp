// SPDX-License-Identifier: MIT
/**
 * @file concepts/page_refs.hpp
 * @brief The PageRefs concept: how a TokenTracker counts who holds which
 *        page. The tracker owns consumers (registry, lifecycle, handles),
 *        the range walk, the work cap and the counters; a PageRefs policy
 *        owns the per-page memory and the per-page protocol.
 *
 * Models: AnyThreadRefs / OneProducerRefs (tokens/refs/sole_or_shared.hpp)
 * and SingleWriterRefs (tokens/refs/single_writer.hpp).
 *
 * Requirements on P (each is checked by arenakit::check_page_refs<P>() with
 * a message naming what is missing); `x` is a detail::PageCtx<Hook>, the
 * consumer one call acts for:
 * - `P::one_returner` (bool): returns go through one Returner per consumer
 *   (TokenTracker::claim_returner) instead of return_tokens(h, ...).
 * - `P::calls_hook` (bool): give_back()/drain() call x.hook(page) when a
 *   page's last reference drops. A policy that cannot must say false; the
 *   tracker then accepts only IgnorePageFree.
 * - `P::bytes_per_page` (std::size_t): memory per page (tracking_bytes()).
 * - `p.allocate(pages) -> bool` (set-up; false: out of memory).
 * - `p.begin_batch() -> bool`, `p.end_batch()`: bracket one deliver() call;
 *   begin may refuse (concurrent_delivery).
 * - `p.prefetch(page)`: a hint that @page comes soon in this batch.
 * - `p.deliver(x, page)`, `p.give_back(x, page) -> detail::PageStep`:
 *   one reference more / less for x's consumer: page_done or the refusal.
 * - `p.drain(x, visits&) -> std::uint64_t`: close: every reference x's
 *   consumer holds comes back (its log, then its shared table), counting
 *   entries visited; returns references released.
 * - `cp.page_refs(page) -> std::uint32_t` (acquire: a 0 seen by the
 *   producer means every holder's use happened before), `cp.refs_of(x,
 *   page) -> std::uint32_t`.
 * - `P::count_returned(std::atomic<std::uint64_t>&, n)`: how the consumer's
 *   `returned` statistic is bumped (one writer or many).
 * Every operation is noexcept.
 */
#pragma once

#include <arenakit/tokens/refs/page_words.hpp>
#include <arenakit/tokens/types.hpp>

#include <atomic>
#include <concepts>
#include <cstddef>
#include <cstdint>

namespace arenakit {

template <class P>
concept PageRefs =
    std::is_nothrow_default_constructible_v<P> && std::is_nothrow_move_constructible_v<P> &&
    requires(P& p, const P& cp, detail::PageCtx<IgnorePageFree>& x, std::uint32_t page, std::uint64_t& visits,
             std::atomic<std::uint64_t>& counter) {
      { P::one_returner } -> std::convertible_to<bool>;
      { P::calls_hook } -> std::convertible_to<bool>;
      { P::bytes_per_page } -> std::convertible_to<std::size_t>;
      { p.allocate(std::uint64_t{1}) } noexcept -> std::same_as<bool>;
      { p.begin_batch() } noexcept -> std::same_as<bool>;
      { p.end_batch() } noexcept;
      { cp.prefetch(page) } noexcept;
      { p.deliver(x, page) } noexcept -> std::same_as<detail::PageStep>;
      { p.give_back(x, page) } noexcept -> std::same_as<detail::PageStep>;
      { p.drain(x, visits) } noexcept -> std::same_as<std::uint64_t>;
      { cp.page_refs(page) } noexcept -> std::same_as<std::uint32_t>;
      { cp.refs_of(x, page) } noexcept -> std::same_as<std::uint32_t>;
      { P::count_returned(counter, std::uint64_t{1}) } noexcept;
    };

/// Checks P piece by piece so the compiler names what is missing; returns
/// true so it can sit in a static_assert.
template <class P>
constexpr bool check_page_refs() {
  static_assert(std::is_nothrow_default_constructible_v<P> && std::is_nothrow_move_constructible_v<P>,
                "arenakit: PageRefs must be nothrow default- and move-constructible");
  static_assert(requires {
                  { P::one_returner } -> std::convertible_to<bool>;
                  { P::calls_hook } -> std::convertible_to<bool>;
                },
                "arenakit: PageRefs is missing `static constexpr bool one_returner` / `calls_hook`");
  static_assert(requires { { P::bytes_per_page } -> std::convertible_to<std::size_t>; },
                "arenakit: PageRefs is missing `static constexpr std::size_t bytes_per_page`");
  static_assert(requires(P& p) { { p.allocate(std::uint64_t{1}) } noexcept -> std::same_as<bool>; },
                "arenakit: PageRefs is missing `allocate(std::uint64_t pages) noexcept -> bool`");
  static_assert(requires(P& p) {
                  { p.begin_batch() } noexcept -> std::same_as<bool>;
                  { p.end_batch() } noexcept;
                },
                "arenakit: PageRefs is missing `begin_batch() noexcept -> bool` / `end_batch() noexcept`");
  static_assert(requires(const P& p, std::uint32_t page) { { p.prefetch(page) } noexcept; },
                "arenakit: PageRefs is missing `prefetch(std::uint32_t) const noexcept`");
  static_assert(requires(P& p, detail::PageCtx<IgnorePageFree>& x, std::uint32_t page) {
                  { p.deliver(x, page) } noexcept -> std::same_as<detail::PageStep>;
                },
                "arenakit: PageRefs is missing `deliver(PageCtx&, std::uint32_t) noexcept -> PageStep`");
  static_assert(requires(P& p, detail::PageCtx<IgnorePageFree>& x, std::uint32_t page) {
                  { p.give_back(x, page) } noexcept -> std::same_as<detail::PageStep>;
                },
                "arenakit: PageRefs is missing `give_back(PageCtx&, std::uint32_t) noexcept -> PageStep`");
  static_assert(requires(P& p, detail::PageCtx<IgnorePageFree>& x, std::uint64_t& visits) {
                  { p.drain(x, visits) } noexcept -> std::same_as<std::uint64_t>;
                },
                "arenakit: PageRefs is missing `drain(PageCtx&, std::uint64_t& visits) noexcept -> std::uint64_t`");
  static_assert(requires(const P& p, detail::PageCtx<IgnorePageFree>& x, std::uint32_t page) {
                  { p.page_refs(page) } noexcept -> std::same_as<std::uint32_t>;
                  { p.refs_of(x, page) } noexcept -> std::same_as<std::uint32_t>;
                },
                "arenakit: PageRefs is missing `page_refs(page)` / `refs_of(PageCtx&, page)` (const, noexcept)");
  static_assert(requires(std::atomic<std::uint64_t>& c) { { P::count_returned(c, std::uint64_t{1}) } noexcept; },
                "arenakit: PageRefs is missing `static count_returned(std::atomic<std::uint64_t>&, n) noexcept`");
  return true;
}

} // namespace arenakit
