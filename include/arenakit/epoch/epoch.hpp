// SPDX-License-Identifier: MIT
/**
 * @file epoch/epoch.hpp
 * @brief Epoch-based reclamation as an instance domain: registered threads,
 *        nesting RAII read guards, intrusive batched retire, try-reclaim,
 *        synchronize, a teardown-correct barrier, a bound on garbage with a
 *        chosen action, and a report of who holds the epoch back. Plus
 *        EpochReclaimer, the arena Reclaimer built on a domain.
 *
 *     auto domain = EpochDomain::create({.garbage_bound = 1 << 16});   // user-owned
 *     EpochThread me(**domain, "rx-worker-2");         // once per thread
 *     { EpochGuard g(me); Node* n = head.load(std::memory_order_acquire); use(n); }
 *     unlink(old);  me.retire(old);                    // freed after a grace period
 *
 * Algorithm: a global epoch G (64-bit, never wraps in practice). A reader
 * announces the G it saw in its record on entry and clears it on exit.
 * Retired objects collect in a per-thread batch; a full batch is stamped with
 * G (read after a full fence, so after the unlinks) and pushed on one of three
 * buckets, G mod 3. G advances from g to g+1 only when every active reader
 * announced g; at that advance the bucket of stamp g-1 is emptied and its
 * objects freed: any reader that could have seen them announced g-1 or older
 * and has left. The advance runs under the domain's lock (try-lock on the
 * retire path, so retirers never wait on each other).
 *
 * Reader fence (ReaderFence):
 * - asymmetric (default): entry is a relaxed store plus a compiler barrier;
 *   the advancing thread issues membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED),
 *   which executes a full barrier on every running thread of the process, so
 *   a reader's announcement is either visible to the scan or the reader's
 *   later loads see the unlinks. Falls back to symmetric when the kernel
 *   lacks the command (reader_fence() says which is in force).
 * - symmetric: entry is a store plus a full fence; the advance a full fence.
 *
 * Bounded garbage: `garbage_bound` counts retired objects not yet freed
 * (including objects waiting in a thread's unsealed batch). Room is reserved
 * with a CAS before an object is accepted, as in page_pool/page_pool.hpp, so the bound
 * is hard. At the bound the domain first tries to reclaim, then applies
 * `on_bound`: refuse (retire returns RetireResult::refused_bound and the
 * object stays with the caller - nothing is freed, nothing is lost), wait
 * (until a grace period frees room; refused instead when the caller itself is
 * inside a guard of this domain, which would wait forever), or callback (the
 * user's function sees the report and admits or refuses).
 *
 * Observability: counters() gives the global epoch, unreclaimed count, the
 * oldest garbage's age in epochs and in nanoseconds, and the registered
 * thread (label and OS tid) whose announcement holds the epoch back.
 *
 * Progress: guard entry/exit are wait-free (a few plain instructions).
 * retire is lock-free (a CAS on the bound counter every `batch_size` retires,
 * an llist push per batch) except under OnGarbageBound::wait. try_reclaim is
 * non-blocking (it gives up if another thread is advancing). synchronize and
 * barrier block until readers leave.
 *
 * Threads: an EpochThread is registered for its lifetime (not movable); use
 * it (guards, retire) from one thread at a time. Domain-level retire() works
 * from any thread without a record (one reservation and one push per object).
 * Destroy every EpochThread before its domain.
 */
#pragma once

// One concept per header; this one gives them all (as it always has).
#include <arenakit/epoch/types.hpp>  // policies, hook, config, report
#include <arenakit/epoch/domain.hpp> // EpochDomain
#include <arenakit/epoch/thread.hpp> // EpochThread
#include <arenakit/epoch/guard.hpp>  // EpochGuard
