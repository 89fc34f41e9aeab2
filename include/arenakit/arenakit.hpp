// SPDX-License-Identifier: MIT
/**
 * @file arenakit.hpp
 * @brief Everything in arenakit that needs nothing beyond the C++ library and
 *        Linux system calls. Optional integrations (uring/, ibverbs/,
 *        dmabuf/) have targets and folders of their own.
 *
 * The tree, one family per folder:
 * - concepts/  every policy concept with its check_*()
 * - mappers/, slots/, sources/, reclaimers/, sync/  the policies
 * - arena/     Arena and its owner-thread Cache
 * - lists/     llist, the deferred-release list and its wake policies
 * - epoch/, page_pool/, recv/, tokens/  the other compositions
 * - detail/    what users never name
 */
#pragma once

#include <arenakit/config.hpp>
#include <arenakit/error.hpp>
#include <arenakit/region.hpp>
#include <arenakit/slot_id.hpp>

#include <arenakit/concepts/buf_ring_pool.hpp>
#include <arenakit/concepts/cpu_sync.hpp>
#include <arenakit/concepts/mapper.hpp>
#include <arenakit/concepts/memory_source.hpp>
#include <arenakit/concepts/page_source.hpp>
#include <arenakit/concepts/reclaimer.hpp>
#include <arenakit/concepts/slot_allocator.hpp>
#include <arenakit/concepts/counted_slot_allocator.hpp>

#include <arenakit/mappers/noop.hpp>
#include <arenakit/reclaimers/deferred.hpp>
#include <arenakit/reclaimers/epoch.hpp>
#include <arenakit/reclaimers/immediate.hpp>
#include <arenakit/slots/bitmap.hpp>
#include <arenakit/slots/counted.hpp>
#include <arenakit/sources/heap.hpp>
#include <arenakit/sources/mmap.hpp>
#include <arenakit/sources/mmap_page.hpp>
#include <arenakit/sources/source_pages.hpp>
#include <arenakit/sources/reserved.hpp>
#include <arenakit/sync/doorbell.hpp>
#include <arenakit/sync/host_memory.hpp>

#include <arenakit/arena/arena.hpp>
#include <arenakit/arena/presets.hpp>
#include <arenakit/epoch/epoch.hpp>
#include <arenakit/lists/llist.hpp>
#include <arenakit/lists/release_list.hpp>
#include <arenakit/lists/wake_policy.hpp>
#include <arenakit/page_pool/page_pool.hpp>
#include <arenakit/recv/owned_pool.hpp>
#include <arenakit/recv/recv_pool.hpp>
#include <arenakit/tokens/arena_binding.hpp>
#include <arenakit/tokens/binding_group.hpp>
#include <arenakit/tokens/format.hpp>
#include <arenakit/tokens/return_ring.hpp>
#include <arenakit/tokens/token_tracker.hpp>
