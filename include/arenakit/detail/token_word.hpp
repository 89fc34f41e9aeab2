// SPDX-License-Identifier: MIT
/**
 * @file detail/token_word.hpp
 * @brief The per-page word of a token tracker (8 bytes per page, per binding).
 *        Its slow path spins with detail/spin_lock.hpp.
 *
 * One 64-bit word per page carries the page's total reference count and,
 * while a single consumer holds the page, that consumer's id:
 *
 *     | busy:1 | shared:1 | owner:30 | count:32 |
 *
 * - free:    the whole word is 0.
 * - sole:    owner = consumer index + 1, count = that consumer's references
 *            (>= 1). Deliver and return are one CAS on this word: the
 *            attribution costs no memory beyond the word.
 * - shared:  shared = 1, owner = 0, count = total over all holders; each
 *            holder's own count lives in its PageCountTable.
 * - busy:    a page spin bit, held only around sole->shared transitions and
 *            shared-page updates (never on the sole fast path).
 */
#pragma once

#include <atomic>
#include <cstdint>

namespace arenakit::detail::token_word {

inline constexpr std::uint64_t busy_bit = std::uint64_t{1} << 63;
inline constexpr std::uint64_t shared_bit = std::uint64_t{1} << 62;
inline constexpr unsigned owner_shift = 32;
inline constexpr unsigned owner_bits = 30;
inline constexpr std::uint64_t owner_mask = ((std::uint64_t{1} << owner_bits) - 1) << owner_shift;
inline constexpr std::uint64_t count_mask = 0xFFFF'FFFFu;
inline constexpr std::uint32_t count_max = 0xFFFF'FFFFu;
/// Largest consumer index an owner field can name (index + 1 must fit).
inline constexpr std::uint32_t max_consumer_index = (1u << owner_bits) - 2;

/// owner_of() - the owner field of a sole word as it appears in the word.
constexpr std::uint64_t owner_field(std::uint32_t consumer_index) noexcept {
  return (std::uint64_t{consumer_index} + 1) << owner_shift;
}
constexpr std::uint32_t count(std::uint64_t w) noexcept { return static_cast<std::uint32_t>(w & count_mask); }
/// Consumer index of a sole word (precondition: owner field non-zero).
constexpr std::uint32_t owner_index(std::uint64_t w) noexcept {
  return static_cast<std::uint32_t>((w & owner_mask) >> owner_shift) - 1;
}
/// True when @w is a sole word of the consumer whose owner field is @me
/// (busy or shared words never match).
constexpr bool sole_of(std::uint64_t w, std::uint64_t me) noexcept {
  return (w & (busy_bit | shared_bit | owner_mask)) == me;
}

static_assert((busy_bit | shared_bit | owner_mask | count_mask) == ~std::uint64_t{0} &&
                  (busy_bit & shared_bit) == 0 && (owner_mask & count_mask) == 0,
              "page word fields must tile 64 bits without overlap");
static_assert(std::atomic_ref<std::uint64_t>::is_always_lock_free,
              "the page word must be a lock-free 64-bit atomic");

/**
 * struct SwPage - a page's single-writer counters, used only under
 * SingleWriterRefs (16 bytes per page, next to the page word).
 *
 * - held:     | owner index + 1 : 32 | delivered : 32 |, written only by the
 *             one producer (plain stores). Owner and count change together
 *             in one store, so no reader sees one without the other.
 * - returned: written only by the owner's Returner (and, once that
 *             consumer is closed and its Returner quiet, by its drain).
 *
 * The owner holds `delivered - returned` references (mod 2^32: the share
 * never exceeds count_max). When the two are equal nobody holds this part
 * and the producer may give the page to any consumer; the new owner's
 * returner continues from the current `returned`. References of other
 * consumers on the same page live in the page word (shared mode).
 * Accessed through std::atomic_ref only.
 */
struct alignas(16) SwPage {
  std::uint64_t held = 0;
  std::uint32_t returned = 0;
  std::uint32_t unused = 0;
};
static_assert(sizeof(SwPage) == 16, "four single-writer pages per cache line");
static_assert(std::atomic_ref<std::uint32_t>::is_always_lock_free, "returned must be a lock-free 32-bit atomic");

constexpr std::uint32_t sw_owner(std::uint64_t held) noexcept { return static_cast<std::uint32_t>(held >> 32); }
constexpr std::uint32_t sw_delivered(std::uint64_t held) noexcept { return static_cast<std::uint32_t>(held); }
constexpr std::uint64_t sw_held(std::uint32_t owner, std::uint32_t delivered) noexcept {
  return (std::uint64_t{owner} << 32) | delivered;
}

} // namespace arenakit::detail::token_word
