// SPDX-License-Identifier: MIT
/**
 * @file tokens/format.hpp
 * @brief How a devmem-style token names a page: layout, encoding, and the
 *        validation of an untrusted range {start, count}.
 *
 * A token is a page index, so a lookup is an array index. Layout, most
 * significant bit first, for a token `width` bits wide (32 or 64):
 *
 *     | binding id: binding_bits | reserved | page index: page_bits |
 *
 * - 32-bit tokens (the devmem ABI, `struct dmabuf_token`): binding_bits is
 *   usually 0; with 8 NICs x 32 queues an 8-bit binding id leaves 24 page
 *   bits, 64 GiB of 4 KiB pages (the limit the kernel thread ran into).
 * - 64-bit tokens: the binding id rides in the high bits, so a consumer can
 *   keep tokens of many bindings apart, and bindings past what 32 bits can
 *   index (page_bits up to 32 with a 32-bit binding id) still fit.
 * - Every bit between the two fields is reserved: a token with one set is
 *   refused (never silently masked off).
 */
#pragma once

#include <arenakit/config.hpp>
#include <arenakit/error.hpp>

#include <bit>
#include <cstddef>
#include <cstdint>

namespace arenakit {

/// Width of the tokens a binding hands out.
enum class TokenWidth : std::uint8_t {
  bits32 = 32, ///< devmem's `__u32 token`: page index (plus an optional small binding id)
  bits64 = 64, ///< binding id in the high 32 bits (or fewer), page index in the low bits
};

/// Why a delivery or a returned range was refused. Each reason has its own
/// counter, per consumer and per binding. Nothing refused has any effect.
enum class TokenRefusal : std::uint8_t {
  out_of_range,        ///< page index (or the range's last page) >= the binding's page count
  reserved_bits,       ///< a bit between the binding field and the page field is set
  wrong_binding,       ///< the binding field names another binding
  range_overflow,      ///< start + count runs past the page field (would carry or wrap)
  huge_count,          ///< count > max_tokens_per_call: no call could ever do it
  not_held,            ///< the page is held, but not by this consumer (another's references are never touched)
  underflow,           ///< the page holds no reference at all: returning one would go below zero
  consumer_closed,     ///< stale handle, or the consumer is closed (or closing)
  concurrent_delivery, ///< a second thread delivered to a consumer mid-delivery (contract breach, refused not raced)
  count_saturated,     ///< deliver: the page's reference count is at its maximum (2^32 - 1)
  no_memory,           ///< deliver: the consumer's held-page record could not grow
  concurrent_return,   ///< SingleWriterRefs: a second call through the consumer's Returner while one runs (contract breach, refused not raced)
  page_not_live,       ///< deliver: the hook refused to take the page (ArenaBinding: its arena slot holds no reference: free or draining)
};
inline constexpr std::size_t token_refusal_count = 13;

/// Short, stable name of a refusal reason (for logs and benchmark counters).
constexpr const char* to_string(TokenRefusal r) noexcept {
  switch (r) {
  case TokenRefusal::out_of_range: return "out_of_range";
  case TokenRefusal::reserved_bits: return "reserved_bits";
  case TokenRefusal::wrong_binding: return "wrong_binding";
  case TokenRefusal::range_overflow: return "range_overflow";
  case TokenRefusal::huge_count: return "huge_count";
  case TokenRefusal::not_held: return "not_held";
  case TokenRefusal::underflow: return "underflow";
  case TokenRefusal::consumer_closed: return "consumer_closed";
  case TokenRefusal::concurrent_delivery: return "concurrent_delivery";
  case TokenRefusal::count_saturated: return "count_saturated";
  case TokenRefusal::no_memory: return "no_memory";
  case TokenRefusal::concurrent_return: return "concurrent_return";
  case TokenRefusal::page_not_live: return "page_not_live";
  }
  return "unknown";
}

/// One returned range of 32-bit tokens: `count` consecutive tokens from
/// `start`, one reference each. Same layout as the kernel's
/// `struct dmabuf_token { __u32 token_start; __u32 token_count; }`, so an
/// array of those can be passed straight through.
struct TokenRange32 {
  std::uint32_t start = 0;
  std::uint32_t count = 0;
};
static_assert(sizeof(TokenRange32) == 8 && alignof(TokenRange32) == 4,
              "TokenRange32 must match struct dmabuf_token (2 x __u32)");

/// One returned range of 64-bit tokens. `count` is 64 bits wide so that a
/// huge count is representable, and refused, rather than truncated.
struct TokenRange64 {
  std::uint64_t start = 0;
  std::uint64_t count = 0;
};
static_assert(sizeof(TokenRange64) == 16, "TokenRange64 is two 64-bit words");

/// The outcome of validating one untrusted range: either the pages
/// [first, first + count) of this binding, or a refusal reason.
struct CheckedRange {
  std::uint32_t first = 0;
  std::uint32_t count = 0;
  bool ok = false;
  TokenRefusal refusal = TokenRefusal::out_of_range; ///< meaningful only when !ok
};

/// A binding's token layout (see the file comment). Built by create(), which
/// refuses a layout that cannot name every page; immutable afterwards.
class TokenFormat {
public:
  TokenFormat() = default;

  /**
   * create() - validate and build a token layout.
   * @width:        32 or 64-bit tokens.
   * @page_count:   pages in the binding, 1 .. 2^32.
   * @page_bits:    bits of the page field; 0 picks the fewest that index
   *                page_count pages. At most 32.
   * @binding_bits: bits of the binding-id field (high bits); 0 for none.
   * @binding_id:   this binding's id; must fit in binding_bits.
   *
   * Return: the format, errc::invalid_config for an inconsistent request,
   * errc::id_space_exhausted when the fields do not fit in @width (use 64-bit
   * tokens).
   */
  static Result<TokenFormat> create(TokenWidth width, std::uint64_t page_count, unsigned page_bits,
                                  unsigned binding_bits, std::uint64_t binding_id) noexcept {
    const unsigned w = static_cast<unsigned>(width);
    if (w != 32 && w != 64) return errc::invalid_config;
    if (page_count == 0 || page_count > (std::uint64_t{1} << 32)) return errc::invalid_config;
    const unsigned need = page_count <= 1 ? 1u : static_cast<unsigned>(std::bit_width(page_count - 1));
    if (page_bits == 0) page_bits = need;
    if (page_bits > 32) return errc::invalid_config;
    if (page_bits < need) return errc::id_space_exhausted;
    if (binding_bits > 32 || page_bits + binding_bits > w) return errc::id_space_exhausted;
    if (binding_bits < 64 && binding_id >= (std::uint64_t{1} << binding_bits)) return errc::invalid_config;
    TokenFormat f;
    f.width_ = width;
    f.page_bits_ = page_bits;
    f.binding_bits_ = binding_bits;
    f.binding_id_ = binding_id;
    f.page_count_ = page_count;
    f.binding_shift_ = w - binding_bits;
    f.page_mask_ = (std::uint64_t{1} << page_bits) - 1;
    const std::uint64_t width_mask = w == 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << w) - 1;
    const std::uint64_t binding_mask =
        binding_bits == 0 ? 0 : ((std::uint64_t{1} << binding_bits) - 1) << f.binding_shift_;
    f.reserved_mask_ = width_mask & ~binding_mask & ~f.page_mask_;
    f.binding_field_ = binding_bits == 0 ? 0 : binding_id << f.binding_shift_;
    f.allowed_mask_ = width_mask & ~f.reserved_mask_;
    return f;
  }

  [[nodiscard]] TokenWidth width() const noexcept { return width_; }
  [[nodiscard]] unsigned page_bits() const noexcept { return page_bits_; }
  [[nodiscard]] unsigned binding_bits() const noexcept { return binding_bits_; }
  [[nodiscard]] std::uint64_t binding_id() const noexcept { return binding_id_; }
  [[nodiscard]] std::uint64_t page_count() const noexcept { return page_count_; }
  [[nodiscard]] std::uint64_t reserved_mask() const noexcept { return reserved_mask_; }

  /// binding_of() - the binding-id field of @token (0 when there is none).
  [[nodiscard]] constexpr std::uint64_t binding_of(std::uint64_t token) const noexcept {
    if (binding_bits_ == 0) return 0;
    const std::uint64_t field = binding_bits_ >= 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << binding_bits_) - 1;
    return (token >> binding_shift_) & field;
  }

  /// encode() - the token naming @page. Precondition: page < page_count().
  [[nodiscard]] constexpr std::uint64_t encode(std::uint32_t page) const noexcept {
    return binding_field_ | page;
  }

  /// page_hint() - the page @start names if it is a well-formed token of
  /// this binding, else a value >= page_count(): one xor, for prefetching
  /// ahead of check().
  [[nodiscard]] constexpr std::uint64_t page_hint(std::uint64_t start) const noexcept {
    return start ^ binding_field_;
  }

  /**
   * in_range() - check()'s fast path: true when [@start, @start + @count)
   * is a non-empty range of this binding's pages with @count <= @limit;
   * @first then holds its first page. One test per bound: `x < page_count`
   * says the binding field matches, no reserved bit is set and the page
   * exists; `count - 1` wraps for count == 0. False says nothing about why:
   * check() does.
   */
  [[nodiscard]] constexpr bool in_range(std::uint64_t start, std::uint64_t count, std::uint64_t limit,
                                        std::uint32_t& first) const noexcept {
    const std::uint64_t x = start ^ binding_field_;
    if (x >= page_count_) return false;
    const std::uint64_t room = page_count_ - x;
    if (count - 1 >= (room < limit ? room : limit)) return false;
    first = static_cast<std::uint32_t>(x);
    return true;
  }

  /**
   * check() - validate an untrusted range of tokens.
   * @start: first token (any 64-bit value; for 32-bit formats a value past
   *         32 bits counts as reserved bits).
   * @count: number of consecutive tokens (any 64-bit value).
   * @max_count: the per-call work cap; a larger count is a huge_count.
   *
   * Checks, in this order: reserved bits, binding id, count cap, overflow of
   * the page field, page count. count == 0 is a valid empty range. Pure
   * arithmetic on 64-bit values with every sum bounded first: no overflow, no
   * UB for any input.
   */
  [[nodiscard]] constexpr CheckedRange check(std::uint64_t start, std::uint64_t count,
                                             std::uint64_t max_count) const noexcept {
    CheckedRange r;
    if (std::uint32_t first = 0; ARENAKIT_LIKELY(in_range(start, count, max_count, first))) {
      r.first = first;
      r.count = static_cast<std::uint32_t>(count);
      r.ok = true;
      return r;
    }
    if (ARENAKIT_UNLIKELY((start & ~allowed_mask_) != 0)) return refuse(TokenRefusal::reserved_bits);
    if ((start & ~reserved_mask_ & ~page_mask_) != binding_field_) return refuse(TokenRefusal::wrong_binding);
    if (count == 0) {
      r.ok = true;
      return r;
    }
    if (count > max_count) return refuse(TokenRefusal::huge_count);
    const std::uint64_t page = start & page_mask_;
    // page < 2^32 and count <= max_count < 2^32 here: the sum cannot wrap.
    if (count > page_mask_ + 1 - page) return refuse(TokenRefusal::range_overflow);
    if (count > page_count_ || page > page_count_ - count) return refuse(TokenRefusal::out_of_range);
    r.first = static_cast<std::uint32_t>(page);
    r.count = static_cast<std::uint32_t>(count);
    r.ok = true;
    return r;
  }

private:
  static constexpr CheckedRange refuse(TokenRefusal why) noexcept {
    CheckedRange r;
    r.refusal = why;
    return r;
  }

  TokenWidth width_ = TokenWidth::bits32;
  unsigned page_bits_ = 0;
  unsigned binding_bits_ = 0;
  unsigned binding_shift_ = 32;
  std::uint64_t binding_id_ = 0;
  std::uint64_t page_count_ = 0;
  std::uint64_t page_mask_ = 0;
  std::uint64_t reserved_mask_ = 0;
  std::uint64_t binding_field_ = 0;
  std::uint64_t allowed_mask_ = 0; ///< bits a token may set: within the width, not reserved
};

} // namespace arenakit
