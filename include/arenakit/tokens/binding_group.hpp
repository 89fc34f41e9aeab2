// SPDX-License-Identifier: MIT
/**
 * @file tokens/binding_group.hpp
 * @brief BindingGroup: several bindings behind one consumer. 64-bit tokens
 *        carry the binding id in their high bits, so a consumer (a socket)
 *        may hold pages of every binding of the group at once, return a mix
 *        of them in one call, and close() gives back everything it holds
 *        across bindings. (Kernel review called "a socket can only serve a
 *        single binding" a UAPI regression.)
 *
 * Contract
 * - Each member is a TokenTracker whose format is 64-bit with the same
 *   binding-id width and its own id (TokenTrackerConfig::binding_bits,
 *   binding_id); add() refuses anything else. Members are added at set-up,
 *   before any other call, and must outlive the group.
 * - A group Consumer is one ConsumerHandle per member, opened together: a
 *   value the caller keeps (8 bytes per binding). Memory per binding stays
 *   the tracker's: a consumer that takes nothing from a binding costs that
 *   binding one consumer slot.
 * - deliver(c, b, pages): the member @b's deliver(), with its contract (one
 *   delivering thread per consumer per binding at a time).
 * - return_tokens(c, ranges): any thread. Runs of consecutive ranges of one
 *   binding go to that member in one call, in order. A range whose binding
 *   id names no member is refused (wrong_binding, counted by the group).
 *   Work cap: the group's cap is the smallest of its members'. A range
 *   longer than it is refused by the group (huge_count: no call of the
 *   group could do it, even where its own member's cap is larger; or
 *   reserved_bits / wrong_binding first, in a tracker's order), and
 *   charged 1. Every other range is charged its count (1 if empty) before
 *   it is handed over; a range that does not fit stops the call
 *   (ranges_done, capped), as a single tracker's cap does. A member's own
 *   outcome is honoured too: ranges_done never counts a range it did not
 *   do. The group counts its refusals by reason (refused_for()).
 *   An empty group refuses every range (wrong_binding).
 * - close(c): any thread; closes the consumer in every member and sums what
 *   came back. Progress, barriers and refusals are each member's.
 */
#pragma once

#include <arenakit/error.hpp>
#include <arenakit/tokens/format.hpp>
#include <arenakit/tokens/types.hpp>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>

namespace arenakit {

template <class TrackerT, std::size_t MaxBindings = 8>
class BindingGroup {
public:
  /// A consumer of every member: one handle each, in the order of add().
  struct Consumer {
    std::array<ConsumerHandle, MaxBindings> handles{};
    explicit operator bool() const noexcept { return static_cast<bool>(handles[0]); }
  };

  BindingGroup() noexcept = default;
  BindingGroup(const BindingGroup&) = delete;
  BindingGroup& operator=(const BindingGroup&) = delete;

  /**
   * add() - make @tracker a member (set-up only, before any other call).
   * Return: errc::invalid_config for a 32-bit format, one without a binding
   * id, a binding-id width other than the first member's, or an id already
   * in the group; errc::limit_reached past MaxBindings.
   */
  std::error_code add(TrackerT& tracker) noexcept {
    const TokenFormat& f = tracker.format();
    if (f.width() != TokenWidth::bits64 || f.binding_bits() == 0) return errc::invalid_config;
    if (size_ != 0 && f.binding_bits() != members_[0]->format().binding_bits()) return errc::invalid_config;
    for (std::size_t i = 0; i < size_; ++i)
      if (members_[i]->format().binding_id() == f.binding_id()) return errc::invalid_config;
    if (size_ == MaxBindings) return errc::limit_reached;
    members_[size_++] = &tracker;
    if (cap_ == 0 || tracker.max_tokens_per_call() < cap_) cap_ = tracker.max_tokens_per_call();
    return {};
  }

  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] TrackerT& member(std::size_t b) const noexcept { return *members_[b]; }

  /// open() - a consumer of every member; on a failure nothing stays open.
  Result<Consumer> open() noexcept {
    if (size_ == 0) return errc::invalid_config;
    Consumer c;
    for (std::size_t b = 0; b < size_; ++b) {
      Result<ConsumerHandle> h = members_[b]->open_consumer();
      if (!h) {
        for (std::size_t k = 0; k < b; ++k) (void)members_[k]->close(c.handles[k]);
        return h.error();
      }
      c.handles[b] = *h;
    }
    return c;
  }

  /// deliver() - member @b's deliver() to @c (its contract). A @b past the
  /// group refuses every page (out_of_range, counted by the group).
  DeliverOutcome deliver(const Consumer& c, std::size_t b, std::span<const std::uint32_t> pages) noexcept {
    if (b >= size_) {
      refuse(TokenRefusal::out_of_range, pages.size());
      return {0, pages.size(), TokenRefusal::out_of_range};
    }
    return members_[b]->deliver(c.handles[b], pages);
  }

  /// The token naming @page of member @b.
  [[nodiscard]] std::uint64_t token(std::size_t b, std::uint32_t page) const noexcept {
    return members_[b]->token(page);
  }

  /// return_tokens() - see the file comment.
  ReturnOutcome return_tokens(const Consumer& c, std::span<const TokenRange64> ranges) noexcept {
    ReturnOutcome out;
    if (size_ == 0) {
      out.refused = ranges.size();
      refuse(TokenRefusal::wrong_binding, ranges.size());
      out.ranges_done = ranges.size();
      return out;
    }
    std::uint64_t budget = cap_;
    std::size_t i = 0;
    while (i < ranges.size()) {
      if (ranges[i].count > cap_) { // oversized: refused here, whatever its member's cap
        if (budget == 0) {
          out.capped = true;
          break;
        }
        --budget;
        ++out.refused;
        refuse(oversized_reason(ranges[i].start), 1);
        ++i;
        continue;
      }
      const std::size_t b = member_of(ranges[i].start);
      std::size_t j = i;
      for (; j < ranges.size() && ranges[j].count <= cap_ && member_of(ranges[j].start) == b; ++j) {
        const std::uint64_t cost = ranges[j].count == 0 ? 1 : ranges[j].count;
        if (cost > budget) {
          out.capped = true;
          break;
        }
        budget -= cost;
      }
      if (b == size_) { // no member has this binding id
        out.refused += j - i;
        refuse(TokenRefusal::wrong_binding, j - i);
      } else if (j != i) {
        const ReturnOutcome r = members_[b]->return_tokens(c.handles[b], ranges.subspan(i, j - i));
        out.released += r.released;
        out.refused += r.refused;
        if (r.ranges_done != j - i || r.capped) { // the member stopped early: resume there
          i += r.ranges_done;
          out.capped = true;
          break;
        }
      }
      i = j;
      if (out.capped) break;
    }
    out.ranges_done = i;
    return out;
  }

  /// close() - close @c in every member. drained when every member drained
  /// now; else the first deferral; refused when no member knew the handle.
  CloseOutcome close(const Consumer& c) noexcept {
    CloseOutcome out;
    bool any = false, deferred = false;
    for (std::size_t b = 0; b < size_; ++b) {
      const CloseOutcome r = members_[b]->close(c.handles[b]);
      out.released += r.released;
      if (r.status == CloseStatus::refused) continue;
      if (r.status != CloseStatus::drained && !deferred) {
        deferred = true;
        out.status = r.status;
      }
      any = true;
    }
    if (any && !deferred) out.status = CloseStatus::drained;
    return out;
  }

  /// Ranges and pages the group refused itself (a binding id or index that
  /// names no member, a range over the group's cap); the members count the
  /// rest. Relaxed loads: statistics, pairing with nothing.
  [[nodiscard]] std::uint64_t refused() const noexcept {
    std::uint64_t total = 0;
    for (const auto& n : refused_) total += n.load(std::memory_order_relaxed); // a statistic: pairs with nothing
    return total;
  }
  /// What the group refused itself for @reason (out_of_range: a deliver()
  /// to a member index past the group; wrong_binding; huge_count).
  [[nodiscard]] std::uint64_t refused_for(TokenRefusal reason) const noexcept {
    return refused_[static_cast<std::size_t>(reason)].load(std::memory_order_relaxed); // a statistic: pairs with nothing
  }

private:
  /// The member whose binding id @token carries, or size_ for none.
  std::size_t member_of(std::uint64_t token) const noexcept {
    const std::uint64_t id = members_[0]->format().binding_of(token);
    for (std::size_t b = 0; b < size_; ++b)
      if (members_[b]->format().binding_id() == id) return b;
    return size_;
  }

  /// Why a range over the group's cap is refused, in a single tracker's
  /// order (TokenFormat::check()): a reserved bit, then a binding id that
  /// names no member, then the count.
  TokenRefusal oversized_reason(std::uint64_t start) const noexcept {
    if ((start & members_[0]->format().reserved_mask()) != 0) return TokenRefusal::reserved_bits;
    if (member_of(start) == size_) return TokenRefusal::wrong_binding;
    return TokenRefusal::huge_count;
  }

  /// Count @n refusals for @reason (relaxed: a statistic, pairs with nothing).
  void refuse(TokenRefusal reason, std::uint64_t n) noexcept {
    refused_[static_cast<std::size_t>(reason)].fetch_add(n, std::memory_order_relaxed);
  }

  std::array<TrackerT*, MaxBindings> members_{};
  std::size_t size_ = 0;
  std::uint32_t cap_ = 0;
  std::array<std::atomic<std::uint64_t>, token_refusal_count> refused_{};
};

} // namespace arenakit
