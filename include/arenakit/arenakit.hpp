// SPDX-License-Identifier: MIT
/**
 * @file arenakit.hpp
 * @brief Everything in arenakit that needs nothing beyond the C++ library and
 *        Linux system calls. Optional integrations have their own headers.
 */
#pragma once

#include "arena.hpp"
#include "bitmap_slots.hpp"
#include "cpu_sync.hpp"
#include "epoch.hpp"
#include "error.hpp"
#include "heap_source.hpp"
#include "llist.hpp"
#include "mapper.hpp"
#include "memory_source.hpp"
#include "mmap_source.hpp"
#include "noop_mapper.hpp"
#include "page_pool.hpp"
#include "reclaimer.hpp"
#include "recv_pool.hpp"
#include "region.hpp"
#include "release_list.hpp"
#include "slot_allocator.hpp"
#include "slot_id.hpp"
#include "token_tracker.hpp"
#include "wake_policy.hpp"
