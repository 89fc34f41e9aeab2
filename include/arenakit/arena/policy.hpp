// SPDX-License-Identifier: MIT
/**
 * @file arena/policy.hpp
 * @brief Named policy selection for Arena: a tag per role, so that a
 *        composition names only what it changes.
 *
 *     using A = arenakit::Arena<>::with<arenakit::policy::reclaimer<arenakit::EpochReclaimer>>;
 *     // = Arena<NoopMapper, BitmapSlots, EpochReclaimer, MmapSource, HeldFlagsCheck>
 *
 * `with<...>` takes any subset of the five roles, in any order; a role named
 * twice takes the last one; anything that is not one of the five tags is
 * refused with a message. Policy instances go to the constructor the same
 * way, matched by type, in any order (see Arena's constructor).
 */
#pragma once

#include <cstddef>
#include <type_traits>
#include <utility>

namespace arenakit::policy {

/// The Mapper role: how a shard becomes visible to a device.
template <class T>
struct mapper {
  using type = T;
};
/// The SlotAllocator role: which slot of a shard is free.
template <class T>
struct slots {
  using type = T;
};
/// The Reclaimer role: when a released slot may be reused.
template <class T>
struct reclaimer {
  using type = T;
};
/// The MemorySource role: where shard memory comes from.
template <class T>
struct source {
  using type = T;
};
/// The release-check role: what a release verifies (HeldFlagsCheck or
/// RangeOnlyCheck, arena/config.hpp). Stateless: never a constructor argument.
template <class T>
struct release_check {
  using type = T;
};

} // namespace arenakit::policy

namespace arenakit::detail {

template <class P>
inline constexpr bool is_arena_policy = false;
template <class T>
inline constexpr bool is_arena_policy<policy::mapper<T>> = true;
template <class T>
inline constexpr bool is_arena_policy<policy::slots<T>> = true;
template <class T>
inline constexpr bool is_arena_policy<policy::reclaimer<T>> = true;
template <class T>
inline constexpr bool is_arena_policy<policy::source<T>> = true;
template <class T>
inline constexpr bool is_arena_policy<policy::release_check<T>> = true;

/// The type the last `Role<T>` among @Ps names, or @Current if none does.
template <template <class> class Role, class Current, class... Ps>
struct pick_policy {
  using type = Current;
};
template <template <class> class Role, class Current, class P, class... Ps>
struct pick_policy<Role, Current, P, Ps...> {
  static_assert(is_arena_policy<P>,
                "arenakit: Arena<>::with<...> takes arenakit::policy::mapper<M>, policy::slots<S>, "
                "policy::reclaimer<R>, policy::source<S> or policy::release_check<C>");
  using type = typename pick_policy<Role, Current, Ps...>::type;
};
template <template <class> class Role, class Current, class T, class... Ps>
struct pick_policy<Role, Current, Role<T>, Ps...> {
  using type = typename pick_policy<Role, T, Ps...>::type;
};
template <template <class> class Role, class Current, class... Ps>
using pick_policy_t = typename pick_policy<Role, Current, Ps...>::type;

/// How many of @Args are (after decay) a @T.
template <class T, class... Args>
inline constexpr std::size_t count_of = (std::size_t{std::is_same_v<std::remove_cvref_t<Args>, T>} + ... + 0);

/// The argument of type @T among @args (moved), or a default @T.
template <class T>
T take_policy() noexcept(std::is_nothrow_default_constructible_v<T>) {
  static_assert(std::is_default_constructible_v<T>,
                "arenakit: this Arena policy has no default: pass an instance to the constructor");
  return T{};
}
template <class T, class A, class... Rest>
T take_policy(A&& a, Rest&&... rest) noexcept {
  if constexpr (std::is_same_v<std::remove_cvref_t<A>, T>) {
    return T(std::forward<A>(a));
  } else {
    return take_policy<T>(std::forward<Rest>(rest)...);
  }
}

} // namespace arenakit::detail
