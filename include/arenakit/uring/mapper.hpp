// SPDX-License-Identifier: MIT
/**
 * @file uring/mapper.hpp
 * @brief UringFixedBufferMapper: each shard becomes one io_uring registered
 *        ("fixed") buffer. Optional: needs liburing (target arenakit::uring).
 *
 * Registering a buffer pins its pages and maps them once, so fixed-buffer
 * I/O (IORING_OP_READ_FIXED / WRITE_FIXED, SEND_ZC with
 * IORING_RECVSEND_FIXED_BUF) skips the per-I/O page pinning. One
 * registration per shard, not per slot: 72 receive buffers of 4 KB in 64 KB
 * shards are 5 table entries, in one 2 MB shard 1. A slot is addressed by
 * (the shard's buffer index, the slot's CPU address inside that buffer):
 * uring_fixed_slot() gives both in O(1), and uring_prep_read_fixed(),
 * uring_prep_write_fixed(), uring_prep_send_zc_fixed() fill an SQE from it.
 *
 * Contract:
 * - The ring's buffer table is sparse and sized once:
 *   UringBufferTable::prepare(ring, n) (io_uring_register_buffers_sparse;
 *   1 <= n <= 16384, the kernel's IORING_MAX_REG_BUFFERS). Shards come and
 *   go: map() fills a free entry with io_uring_register_buffers_update_tag(),
 *   unmap() empties it again, and the entry is reused by the next shard.
 * - A mapper owns a range [first, first + count) of the table, so several
 *   arenas can share one ring. A range that does not fit in its table is
 *   refused (uring_errc::mapper_larger_than_table) when the mapper is built:
 *   error() says so and every map() returns it, so the arena's construction
 *   (initial_shards) or its first growth fails with that reason.
 * - Free entries sit on a stack: map() and unmap() are O(1) plus the
 *   system call, whatever the table size. A full range refuses the next shard
 *   with uring_errc::table_full; the arena counts a growth failure, frees the
 *   region and stays usable.
 * - Errors are std::error_code: the kernel's errno in uring_kernel_category()
 *   (equivalent to the std::errc of that errno; ENOMEM's message points at
 *   RLIMIT_MEMLOCK), the mapper's own refusals as uring_errc.
 * - The io_uring calls go through UringRegisterOps, a table of plain function
 *   pointers defaulting to liburing, so a test can count them or fail the
 *   k-th. It is called on set-up paths only; nothing here is on a hot path
 *   but the O(1) slot helpers, which make no call through it.
 *
 * Thread roles: not thread-safe by itself; the arena calls map/unmap under
 * its growth mutex. uring_fixed_slot() and the prep helpers only read the
 * arena's shard table and may run on any thread that may use the slot.
 * The ring must outlive every arena mapped through it. Unmapping an entry
 * while I/O on it is in flight is safe for the kernel (it keeps the pages
 * pinned until that I/O completes), but the slot's memory is the arena's:
 * release slots only after their completions, as with any buffer.
 */
#pragma once

#include <arenakit/detail/error_category.hpp>
#include <arenakit/error.hpp>
#include <arenakit/concepts/mapper.hpp>
#include <arenakit/region.hpp>
#include <arenakit/slot_id.hpp>

#include <algorithm>
#include <cerrno>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>

#include <liburing.h>
#include <sys/uio.h>

namespace arenakit {

/// The kernel's limit on a ring's buffer table (IORING_MAX_REG_BUFFERS).
inline constexpr unsigned uring_max_table_entries = 16384;
/// The kernel's limit on one registered buffer (1 GiB).
inline constexpr std::size_t uring_max_buffer_bytes = std::size_t{1} << 30;

/// Why the mapper itself refused (the kernel's refusals keep their errno).
enum class uring_errc : int {
  bad_table_size = 1,       ///< a table of 0 or more than 16384 entries
  mapper_larger_than_table, ///< the mapper's range does not fit in its table
  table_full,               ///< every entry of the mapper's range holds a shard
  no_cpu_address,           ///< region without a CPU address (device memory)
  buffer_too_large,         ///< shard larger than 1 GiB, io_uring's per-buffer limit
  no_table,                 ///< default-constructed or moved-from mapper
};

namespace detail {

struct UringErrors {
  static constexpr const char* name = "arenakit.uring";
  static constexpr const char* unknown = "unknown arenakit.uring error";
  static constexpr ErrorMessage<uring_errc> messages[] = {
      {uring_errc::bad_table_size,
       "io_uring fixed-buffer table must have 1 to 16384 entries (IORING_MAX_REG_BUFFERS)"},
      {uring_errc::mapper_larger_than_table,
       "io_uring mapper's entry range does not fit in the prepared buffer table"},
      {uring_errc::table_full, "io_uring fixed-buffer table full: every entry of this mapper holds a shard "
                               "(prepare a table of at least max_shards entries)"},
      {uring_errc::no_cpu_address, "io_uring fixed buffers need a CPU address; this region has none"},
      {uring_errc::buffer_too_large, "shard larger than io_uring's 1 GiB limit per fixed buffer"},
      {uring_errc::no_table, "io_uring mapper has no buffer table (default-constructed or moved-from)"},
  };
};

/// The kernel's errno from an io_uring register call, with a message that
/// says what to do about it. Equivalent to the generic errno condition, so
/// `ec == std::errc::not_enough_memory` holds for ENOMEM.
struct UringKernelErrors {
  static constexpr const char* name = "io_uring";
  static std::string message(int value) {
    const std::string what = std::generic_category().message(value);
    switch (value) {
    case ENOMEM:
      return "io_uring could not pin the buffer's pages (" + what +
             "): RLIMIT_MEMLOCK is too small for the registered shards; raise it "
             "(ulimit -l, systemd LimitMEMLOCK=) or use fewer or smaller shards";
    case EBUSY:
      return "io_uring buffer table already registered on this ring (" + what +
             "): prepare it once per ring";
    case EFAULT:
      return "io_uring could not pin the buffer (" + what +
             "): the memory is not pinnable (bad address or unsuitable file mapping)";
    case EOVERFLOW:
      return "io_uring buffer table index or size overflow (" + what + ")";
    default: return "io_uring buffer registration failed: " + what;
    }
  }
  static std::error_condition condition(int value) noexcept { return {value, std::generic_category()}; }
};

} // namespace detail

inline const std::error_category& uring_category() noexcept {
  return detail::category_of<detail::UringErrors>();
}
inline const std::error_category& uring_kernel_category() noexcept {
  return detail::category_of<detail::UringKernelErrors>();
}
inline std::error_code make_error_code(uring_errc e) noexcept {
  return {static_cast<int>(e), uring_category()};
}
/// @rc: a liburing return value (negative errno).
inline std::error_code uring_kernel_error(int rc) noexcept {
  return {rc < 0 ? -rc : EIO, uring_kernel_category()};
}

} // namespace arenakit

template <>
struct std::is_error_code_enum<arenakit::uring_errc> : std::true_type {};

namespace arenakit {

/**
 * struct UringRegisterOps - the io_uring calls the mapper makes.
 *
 * Plain function pointers with a context, defaulting to liburing. Each
 * returns what liburing returns (>= 0 done, negative errno). Set-up path
 * only: an indirect call next to a system call costs nothing measurable.
 */
struct UringRegisterOps {
  static int liburing_sparse(void*, io_uring* ring, unsigned entries) noexcept {
    return io_uring_register_buffers_sparse(ring, entries);
  }
  /// Set entry @index to @iov ({nullptr, 0} empties it).
  static int liburing_update(void*, io_uring* ring, unsigned index, const iovec* iov) noexcept {
    const __u64 tag = 0; // untagged: the arena knows when a shard goes, no CQE needed
    return io_uring_register_buffers_update_tag(ring, index, iov, &tag, 1);
  }

  void* context = nullptr;
  int (*register_sparse)(void* context, io_uring* ring, unsigned entries) noexcept = liburing_sparse;
  int (*update)(void* context, io_uring* ring, unsigned index, const iovec* iov) noexcept = liburing_update;
};

/// A ring whose sparse buffer table has been registered, and its size.
struct UringBufferTable {
  io_uring* ring = nullptr;
  unsigned entries = 0;
  UringRegisterOps ops{};

  /**
   * prepare - give @ring a sparse buffer table of @entries.
   * Once per ring (the kernel refuses a second table with EBUSY).
   * Return: the table, or uring_errc::bad_table_size (0 or > 16384 entries,
   * nothing registered), or the kernel's error.
   */
  static Result<UringBufferTable> prepare(io_uring& ring, unsigned entries,
                                          UringRegisterOps ops = {}) noexcept {
    if (entries == 0 || entries > uring_max_table_entries) return make_error_code(uring_errc::bad_table_size);
    const int rc = ops.register_sparse(ops.context, &ring, entries);
    if (rc < 0) return uring_kernel_error(rc);
    return UringBufferTable{&ring, entries, ops};
  }
};

class UringFixedBufferMapper {
public:
  struct mapping_type {
    std::uint64_t base = 0;      ///< the registered buffer's first byte (CPU address)
    std::uint64_t length = 0;    ///< bytes registered
    std::uint16_t buf_index = 0; ///< sqe->buf_index for fixed-buffer I/O
    bool registered = false;
  };

  /// An unbound mapper: map() refuses with uring_errc::no_table.
  UringFixedBufferMapper() noexcept : error_(make_error_code(uring_errc::no_table)) {}

  /**
   * UringFixedBufferMapper - own entries [@first, @first + @count) of @table.
   * @count 0 means "to the end of the table". A range outside the table, or a
   * table that was not prepared, leaves the mapper refusing every map() with
   * the reason (see error()).
   */
  explicit UringFixedBufferMapper(const UringBufferTable& table, unsigned first = 0,
                                  unsigned count = 0) noexcept
      : ring_(table.ring), ops_(table.ops) {
    if (table.ring == nullptr) {
      error_ = make_error_code(uring_errc::no_table);
      return;
    }
    if (table.entries == 0 || table.entries > uring_max_table_entries) {
      error_ = make_error_code(uring_errc::bad_table_size);
      return;
    }
    if (count == 0 && first < table.entries) count = table.entries - first;
    if (count == 0 || first >= table.entries || count > table.entries - first) {
      error_ = make_error_code(uring_errc::mapper_larger_than_table);
      return;
    }
    free_.reset(new (std::nothrow) std::uint16_t[count]);
    if (!free_) {
      error_ = make_error_code(errc::out_of_memory);
      return;
    }
    // Lowest index on top: a fresh arena fills the table from its first entry.
    for (unsigned i = 0; i < count; ++i) free_[i] = static_cast<std::uint16_t>(first + count - 1 - i);
    first_ = first;
    count_ = count;
    top_ = count;
  }

  /// create - the mapper, or why it would refuse every map() (the
  /// constructor's error(): no_table, bad_table_size, mapper_larger_than_table,
  /// out_of_memory). The library's fallible-construction idiom.
  static Result<UringFixedBufferMapper> create(const UringBufferTable& table, unsigned first = 0,
                                               unsigned count = 0) noexcept {
    UringFixedBufferMapper mapper(table, first, count);
    if (mapper.error_) return mapper.error_;
    return mapper;
  }

  UringFixedBufferMapper(UringFixedBufferMapper&& o) noexcept
      : ring_(std::exchange(o.ring_, nullptr)), ops_(o.ops_), free_(std::move(o.free_)),
        first_(o.first_), count_(std::exchange(o.count_, 0u)), top_(std::exchange(o.top_, 0u)),
        error_(std::exchange(o.error_, make_error_code(uring_errc::no_table))),
        registrations_(o.registrations_), unregistrations_(o.unregistrations_),
        unmap_failures_(o.unmap_failures_) {}
  UringFixedBufferMapper& operator=(UringFixedBufferMapper&&) = delete;
  UringFixedBufferMapper(const UringFixedBufferMapper&) = delete;
  UringFixedBufferMapper& operator=(const UringFixedBufferMapper&) = delete;

  /// Why this mapper refuses every map(), or empty when it is usable.
  std::error_code error() const noexcept { return error_; }

  Result<mapping_type> map(const Region& r) noexcept {
    if (error_) return error_;
    if (r.data == nullptr) return make_error_code(uring_errc::no_cpu_address);
    if (r.size == 0) return make_error_code(errc::invalid_config); // nothing to register
    if (r.size > uring_max_buffer_bytes) return make_error_code(uring_errc::buffer_too_large);
    if (top_ == 0) return make_error_code(uring_errc::table_full);
    const std::uint16_t index = free_[top_ - 1];
    const iovec iov{r.data, r.size};
    const int rc = ops_.update(ops_.context, ring_, index, &iov);
    if (rc < 0) return uring_kernel_error(rc); // the entry stays free: nothing to undo
    --top_;
    ++registrations_;
    return mapping_type{reinterpret_cast<std::uint64_t>(r.data), r.size, index, true};
  }

  void unmap(mapping_type& m) noexcept {
    if (!m.registered) return;
    const iovec empty{nullptr, 0};
    if (ops_.update(ops_.context, ring_, m.buf_index, &empty) < 0) {
      // The entry still pins the old pages. It goes back on the free stack
      // all the same: the next map() of it replaces the buffer (an update
      // is a replace), which unpins them. Counted so it can be seen.
      ++unmap_failures_;
    } else {
      ++unregistrations_;
    }
    if (top_ < count_) free_[top_++] = m.buf_index; // a mapping of ours: always true
    m.registered = false;
  }

  std::uint64_t device_address(const mapping_type& m) const noexcept { return m.base; }

  // --- introspection (set-up and tests) -----------------------------------
  unsigned first_index() const noexcept { return first_; }
  unsigned capacity() const noexcept { return count_; }
  unsigned in_use() const noexcept { return count_ - top_; }
  std::uint64_t registrations() const noexcept { return registrations_; }
  std::uint64_t unregistrations() const noexcept { return unregistrations_; }
  std::uint64_t unmap_failures() const noexcept { return unmap_failures_; }

private:
  io_uring* ring_ = nullptr;
  UringRegisterOps ops_{};
  std::unique_ptr<std::uint16_t[]> free_; ///< free entry indices; [0, top_) are free
  unsigned first_ = 0;
  unsigned count_ = 0;
  unsigned top_ = 0;
  std::error_code error_;
  std::uint64_t registrations_ = 0;
  std::uint64_t unregistrations_ = 0;
  std::uint64_t unmap_failures_ = 0;
};

static_assert(Mapper<UringFixedBufferMapper>);

/// What a fixed-buffer SQE needs for one slot.
struct UringFixedSlot {
  void* addr = nullptr;             ///< the slot's CPU address (sqe->addr)
  unsigned len = 0;                 ///< the slot's length
  std::uint16_t buf_index = 0;      ///< sqe->buf_index: the shard's table entry
  std::size_t offset_in_buffer = 0; ///< where the slot starts in that registered buffer
};

/**
 * uring_fixed_slot - the fixed-buffer view of slot @id, in O(1).
 * Precondition: @id names a slot of @arena (see uring_fixed_slot_checked()).
 */
template <class ArenaT>
  requires std::same_as<typename ArenaT::mapping_type, UringFixedBufferMapper::mapping_type>
UringFixedSlot uring_fixed_slot(const ArenaT& arena, SlotId id) noexcept {
  const auto b = arena.buffer(id);
  const auto addr = reinterpret_cast<std::uint64_t>(b.data);
  return {b.data, b.length, b.mapping->buf_index, static_cast<std::size_t>(addr - b.mapping->base)};
}

/// As uring_fixed_slot(), false (and @out untouched) if @id is not a slot of @arena.
template <class ArenaT>
  requires std::same_as<typename ArenaT::mapping_type, UringFixedBufferMapper::mapping_type>
bool uring_fixed_slot_checked(const ArenaT& arena, SlotId id, UringFixedSlot& out) noexcept {
  if (!arena.owns(id)) return false;
  out = uring_fixed_slot(arena, id);
  return true;
}

// --- thin SQE helpers: @len 0 means the whole slot; longer is clamped to it ---

inline unsigned uring_slot_len(const UringFixedSlot& s, unsigned len) noexcept {
  return len == 0 ? s.len : std::min(len, s.len);
}

/// READ_FIXED of up to @len bytes at @file_offset of @fd into the slot.
inline void uring_prep_read_fixed(io_uring_sqe* sqe, int fd, const UringFixedSlot& s,
                                  std::uint64_t file_offset, unsigned len = 0) noexcept {
  io_uring_prep_read_fixed(sqe, fd, s.addr, uring_slot_len(s, len), file_offset, s.buf_index);
}

/// WRITE_FIXED of @len bytes of the slot to @fd at @file_offset.
inline void uring_prep_write_fixed(io_uring_sqe* sqe, int fd, const UringFixedSlot& s,
                                   std::uint64_t file_offset, unsigned len = 0) noexcept {
  io_uring_prep_write_fixed(sqe, fd, s.addr, uring_slot_len(s, len), file_offset, s.buf_index);
}

/**
 * uring_prep_send_zc_fixed - zero-copy send of @len bytes of the slot on
 * @sockfd from the registered buffer. Two CQEs come back: the result (with
 * IORING_CQE_F_MORE) and later the notification (IORING_CQE_F_NOTIF); the
 * slot may be reused or released only after the notification.
 */
inline void uring_prep_send_zc_fixed(io_uring_sqe* sqe, int sockfd, const UringFixedSlot& s,
                                     unsigned len = 0, int msg_flags = 0,
                                     unsigned zc_flags = 0) noexcept {
  io_uring_prep_send_zc_fixed(sqe, sockfd, s.addr, uring_slot_len(s, len), msg_flags, zc_flags,
                              s.buf_index);
}

} // namespace arenakit
