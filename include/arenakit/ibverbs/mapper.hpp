// SPDX-License-Identifier: MIT
/**
 * @file ibverbs/mapper.hpp
 * @brief IbvMapper: each shard becomes one RDMA memory region (MR), with the
 *        verbs calls behind a small table (IbvOps) that tests can replace.
 *        Optional: needs rdma-core's libibverbs (target arenakit::ibverbs).
 *
 * Contract
 * - One registration per shard: ibv_reg_mr() for CPU memory, or
 *   ibv_reg_dmabuf_mr() for a region that carries a dma-buf
 *   (Region::dmabuf_fd >= 0, e.g. GPU memory exported by its driver). 72
 *   receive buffers of 4 KB cost 5 registrations in 64 KB shards, 1 in one
 *   2 MB shard, 72 only if the shard is the buffer. The MR lives exactly as
 *   long as its shard: the arena calls unmap() (ibv_dereg_mr) when the shard
 *   goes, in release_memory() or at destruction.
 * - Per slot, in O(1): `arena.device_address(id)` (the iova to post),
 *   `arena.buffer(id).mapping->lkey` / `->rkey` (one MR per shard, so every
 *   slot of a shard shares its keys).
 * - Access is a named policy (IbvAccess) plus optional named extras
 *   (IbvAccessExtra: relaxed ordering, on-demand paging...), never a raw int.
 *
 * Errors
 * A failed registration comes back to the arena as a std::error_code in the
 * "arenakit.ibverbs" category (ibverbs_category()); its value names the verbs
 * call and the errno, message() says both in words and, for ENOMEM/EAGAIN,
 * tells the reader to check RLIMIT_MEMLOCK (`ulimit -l`): pinning more than
 * the locked-memory limit is by far the most common cause. The code compares
 * equal to the plain errno condition (`ec == std::errc::not_enough_memory`).
 * Because Arena::acquire() only returns an empty id, the mapper also keeps
 * the most recent failure: `arena.mapper().last_error()`. A null protection
 * domain is refused without calling into libibverbs.
 * The arena frees the region of a shard whose registration failed and keeps
 * every earlier shard (and its MR) usable; nothing is registered twice and
 * nothing leaks. A later growth simply tries again.
 *
 * The seam: IbvOps
 * Every verbs call (reg_mr, reg_dmabuf_mr, dereg_mr, post_recv,
 * post_srq_recv) goes through a `const IbvOps*`, by default
 * `&ibv_default_ops`, the real libibverbs functions. It is a constant table,
 * not a global hook: tests pass a table of their own to count registrations
 * and inject failures. Calls happen on growth and teardown only, so the one
 * indirect call costs nothing that matters next to a kernel pin.
 *
 * Threads
 * map()/unmap() run under the arena's growth mutex (and at teardown);
 * last_error() may be read from any thread (an atomic). libibverbs' own
 * calls are thread-safe.
 */
#pragma once

#include <arenakit/detail/error_category.hpp>
#include <arenakit/error.hpp>
#include <arenakit/concepts/mapper.hpp>
#include <arenakit/region.hpp>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <string>
#include <system_error>

#include <infiniband/verbs.h>

namespace arenakit {

// --- the seam: a table of the verbs calls we make ------------------------------

/// The libibverbs calls arenakit makes, as plain function pointers with the
/// libibverbs signatures. `ibv_default_ops` holds the real ones.
struct IbvOps {
  ibv_mr* (*reg_mr)(ibv_pd* pd, void* addr, std::size_t length, int access) = nullptr;
  ibv_mr* (*reg_dmabuf_mr)(ibv_pd* pd, std::uint64_t offset, std::size_t length,
                           std::uint64_t iova, int fd, int access) = nullptr;
  int (*dereg_mr)(ibv_mr* mr) = nullptr;
  int (*post_recv)(ibv_qp* qp, ibv_recv_wr* wr, ibv_recv_wr** bad_wr) = nullptr;
  int (*post_srq_recv)(ibv_srq* srq, ibv_recv_wr* wr, ibv_recv_wr** bad_wr) = nullptr;
};

namespace detail {
// Wrappers, because in rdma-core 44 ibv_reg_mr is a macro (it picks
// ibv_reg_mr_iova2 when optional access flags such as relaxed ordering may be
// set, which a run-time access value always may) and ibv_post_recv /
// ibv_post_srq_recv are static inline: none of them has an address to take.
inline ibv_mr* ibv_real_reg_mr(ibv_pd* pd, void* addr, std::size_t length, int access) {
  return ibv_reg_mr(pd, addr, length, access);
}
inline ibv_mr* ibv_real_reg_dmabuf_mr(ibv_pd* pd, std::uint64_t offset, std::size_t length,
                                      std::uint64_t iova, int fd, int access) {
  return ibv_reg_dmabuf_mr(pd, offset, length, iova, fd, access);
}
inline int ibv_real_dereg_mr(ibv_mr* mr) { return ibv_dereg_mr(mr); }
inline int ibv_real_post_recv(ibv_qp* qp, ibv_recv_wr* wr, ibv_recv_wr** bad_wr) {
  return ibv_post_recv(qp, wr, bad_wr);
}
inline int ibv_real_post_srq_recv(ibv_srq* srq, ibv_recv_wr* wr, ibv_recv_wr** bad_wr) {
  return ibv_post_srq_recv(srq, wr, bad_wr);
}
} // namespace detail

/// The real libibverbs calls: what every IbvMapper and receive batch uses
/// unless told otherwise.
inline constexpr IbvOps ibv_default_ops{
    &detail::ibv_real_reg_mr,   &detail::ibv_real_reg_dmabuf_mr, &detail::ibv_real_dereg_mr,
    &detail::ibv_real_post_recv, &detail::ibv_real_post_srq_recv,
};

// --- errors: "arenakit.ibverbs" --------------------------------------------------

/// Which verbs call failed (bits 16..23 of an ibverbs error value; the errno
/// is bits 0..15).
enum class IbvCall : std::uint8_t {
  reg_mr = 1,
  reg_dmabuf_mr,
  dereg_mr,
  post_recv,
  post_srq_recv,
  missing_pd, ///< refused before any call: IbvMapper::pd is null
};

namespace detail {
inline const char* ibv_call_name(IbvCall call) noexcept {
  switch (call) {
  case IbvCall::reg_mr: return "ibv_reg_mr";
  case IbvCall::reg_dmabuf_mr: return "ibv_reg_dmabuf_mr";
  case IbvCall::dereg_mr: return "ibv_dereg_mr";
  case IbvCall::post_recv: return "ibv_post_recv";
  case IbvCall::post_srq_recv: return "ibv_post_srq_recv";
  case IbvCall::missing_pd: return "IbvMapper";
  }
  return "ibverbs";
}

struct IbverbsErrors {
  static constexpr const char* name = "arenakit.ibverbs";

  static std::string message(int value) {
    const auto call = static_cast<IbvCall>((value >> 16) & 0xFF);
    const int err = value & 0xFFFF;
    if (call == IbvCall::missing_pd)
      return "IbvMapper has no protection domain (pd is null): nothing was registered";
    std::string m = ibv_call_name(call);
    m += " failed: ";
    m += err != 0 ? std::generic_category().message(err) : std::string("no errno was set");
    m += " (errno ";
    m += std::to_string(err);
    m += ")";
    const bool registering = call == IbvCall::reg_mr || call == IbvCall::reg_dmabuf_mr;
    if (registering && (err == ENOMEM || err == EAGAIN))
      m += "; the memory could not be pinned: check RLIMIT_MEMLOCK (`ulimit -l`, "
           "memlock in /etc/security/limits.conf) against the shard size";
    else if (!registering && call != IbvCall::dereg_mr && err == ENOMEM)
      m += "; the receive queue is full (more posted than max_wr)";
    return m;
  }

  // Comparable with the plain errno: `ec == std::errc::not_enough_memory`.
  static std::error_condition condition(int value) noexcept {
    return {value & 0xFFFF, std::generic_category()};
  }
};
} // namespace detail

/// The "arenakit.ibverbs" category (one instance: categories compare by address).
inline const std::error_category& ibverbs_category() noexcept {
  return detail::category_of<detail::IbverbsErrors>();
}

/// An error naming @call and the errno it set. Never an empty code: a call
/// that failed without setting errno still reads as a failure of that call.
inline std::error_code make_ibverbs_error(IbvCall call, int err) noexcept {
  return {static_cast<int>(static_cast<unsigned>(call) << 16) | (err & 0xFFFF), ibverbs_category()};
}

/// The call an "arenakit.ibverbs" error names (0 for another category).
inline IbvCall ibverbs_call_of(std::error_code ec) noexcept {
  if (ec.category() != ibverbs_category()) return IbvCall{};
  return static_cast<IbvCall>((ec.value() >> 16) & 0xFF);
}

// --- access, by name ------------------------------------------------------------

/// What the device may do with a shard, by name rather than by bit mask.
enum class IbvAccess : int {
  local_write = IBV_ACCESS_LOCAL_WRITE,                                       ///< receive buffers
  remote_read = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_READ,              ///< RDMA Read targets
  remote_write = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE,            ///< RDMA Write targets
  remote_rw = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_WRITE,
};

/// Extra access flags, by name; combine with `|`. Optional ones (relaxed
/// ordering) are dropped by libibverbs where the kernel lacks them.
enum class IbvAccessExtra : int {
  none = 0,
  relaxed_ordering = IBV_ACCESS_RELAXED_ORDERING, ///< PCIe relaxed ordering for the MR's DMA
  remote_atomic = IBV_ACCESS_REMOTE_ATOMIC,
  on_demand = IBV_ACCESS_ON_DEMAND,               ///< ODP: no pinning, pages faulted by the NIC
  hugetlb = IBV_ACCESS_HUGETLB,                   ///< the region is backed by huge pages
};

constexpr IbvAccessExtra operator|(IbvAccessExtra a, IbvAccessExtra b) noexcept {
  return static_cast<IbvAccessExtra>(static_cast<int>(a) | static_cast<int>(b));
}

// --- the mapper -------------------------------------------------------------------

class IbvMapper {
public:
  struct mapping_type {
    ibv_mr* mr = nullptr;
    std::uint64_t addr = 0; ///< device address (iova) of the region's first byte
    std::uint32_t lkey = 0;
    std::uint32_t rkey = 0;
  };

  /// No protection domain: every map() is refused (an arena built with it
  /// reports growth failures). Exists so `Arena<IbvMapper>` can be declared.
  IbvMapper() noexcept = default;

  /// Registers in @pd with @access (+ @extra), making the calls through @ops
  /// (the real libibverbs by default; must outlive the mapper).
  explicit IbvMapper(ibv_pd* pd, IbvAccess access = IbvAccess::local_write,
                     IbvAccessExtra extra = IbvAccessExtra::none,
                     const IbvOps* ops = &ibv_default_ops) noexcept
      : pd_(pd), access_(access), extra_(extra), ops_(ops != nullptr ? ops : &ibv_default_ops) {}

  // Copies read last_error_ relaxed, as last_error() does: a lone value.
  IbvMapper(const IbvMapper& o) noexcept
      : pd_(o.pd_), access_(o.access_), extra_(o.extra_), ops_(o.ops_),
        last_error_(o.last_error_.load(std::memory_order_relaxed)) {}
  IbvMapper& operator=(const IbvMapper& o) noexcept {
    pd_ = o.pd_;
    access_ = o.access_;
    extra_ = o.extra_;
    ops_ = o.ops_;
    last_error_.store(o.last_error_.load(std::memory_order_relaxed), std::memory_order_relaxed);
    return *this;
  }

  Result<mapping_type> map(const Region& r) noexcept {
    const bool dmabuf = r.dmabuf_fd >= 0;
    if (pd_ == nullptr) return fail(IbvCall::missing_pd, EINVAL);
    errno = 0; // libibverbs returns NULL and sets errno
    ibv_mr* mr = nullptr;
    std::uint64_t addr = 0;
    if (dmabuf) {
      // iova = the offset in the dma-buf: device addresses stay unique within
      // one dma-buf, and the NIC sees the same layout as the exporter.
      addr = r.dmabuf_offset;
      mr = ops_->reg_dmabuf_mr(pd_, r.dmabuf_offset, r.size, addr, r.dmabuf_fd, access_flags());
    } else {
      addr = reinterpret_cast<std::uint64_t>(r.data);
      mr = ops_->reg_mr(pd_, r.data, r.size, access_flags());
    }
    if (mr == nullptr) return fail(dmabuf ? IbvCall::reg_dmabuf_mr : IbvCall::reg_mr, errno);
    return mapping_type{mr, addr, mr->lkey, mr->rkey};
  }

  void unmap(mapping_type& m) noexcept {
    if (m.mr == nullptr) return;
    // EBUSY (memory windows still bound) leaves the MR behind: nothing more
    // can be done at teardown, but the failure is kept for the caller.
    if (const int rc = ops_->dereg_mr(m.mr); rc != 0) (void)fail(IbvCall::dereg_mr, rc > 0 ? rc : errno);
    m = mapping_type{};
  }

  std::uint64_t device_address(const mapping_type& m) const noexcept { return m.addr; }

  /// The most recent failure of map()/unmap() (empty if none yet).
  std::error_code last_error() const noexcept {
    // Relaxed: one self-contained value; nothing else is published with it.
    const int v = last_error_.load(std::memory_order_relaxed);
    return v == 0 ? std::error_code{} : std::error_code{v, ibverbs_category()};
  }

  ibv_pd* pd() const noexcept { return pd_; }
  IbvAccess access() const noexcept { return access_; }
  IbvAccessExtra extra() const noexcept { return extra_; }
  /// The flags passed to the registration calls.
  int access_flags() const noexcept { return static_cast<int>(access_) | static_cast<int>(extra_); }
  const IbvOps& ops() const noexcept { return *ops_; }

private:
  std::error_code fail(IbvCall call, int err) noexcept {
    const std::error_code ec = make_ibverbs_error(call, err);
    last_error_.store(ec.value(), std::memory_order_relaxed); // see last_error()
    return ec;
  }

  ibv_pd* pd_ = nullptr;
  IbvAccess access_ = IbvAccess::local_write;
  IbvAccessExtra extra_ = IbvAccessExtra::none;
  const IbvOps* ops_ = &ibv_default_ops;
  std::atomic<int> last_error_{0};
};

static_assert(Mapper<IbvMapper>);

} // namespace arenakit
