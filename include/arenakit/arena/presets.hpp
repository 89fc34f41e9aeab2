// SPDX-License-Identifier: MIT
/**
 * @file arena/presets.hpp
 * @brief Named arenas for the common compositions, each the default Arena<>
 *        with the one role it changes (see arena/policy.hpp).
 */
#pragma once

#include <arenakit/arena/arena.hpp>
#include <arenakit/arena/policy.hpp>
#include <arenakit/reclaimers/deferred.hpp>
#include <arenakit/reclaimers/epoch.hpp>
#include <arenakit/sources/heap.hpp>

namespace arenakit::presets {

/// Host memory from mmap (huge pages when asked, NUMA binding), no device
/// mapping, a released slot reusable at once. The default Arena<>.
using HostArena = Arena<>;

/// A release from any thread (a completion handler) is queued on @List and
/// becomes reusable when the owner reclaims in batch: the send-release list.
/// Construct with the list: `DeferredArena<L> arena(cfg, DeferredReclaimer{list})`.
template <class List>
using DeferredArena = Arena<>::with<policy::reclaimer<DeferredReclaimer<List>>>;

/// A released slot becomes reusable once no epoch guard could still see it:
/// lock-free readers of slot contents. Construct with `EpochReclaimer{domain}`.
using EpochArena = Arena<>::with<policy::reclaimer<EpochReclaimer>>;

/// Releases check tag and range only (RangeOnlyCheck): no held flags, no
/// locked instruction on a cache release, no double-release detection. For
/// ids that come back from the caller's own device completions.
using RangeCheckedArena = Arena<>::with<policy::release_check<RangeOnlyCheck>>;

/// Shards from the C++ heap (no huge pages, no NUMA binding): small pools,
/// tests, platforms without mmap.
using HeapArena = Arena<>::with<policy::source<HeapSource>>;

} // namespace arenakit::presets
