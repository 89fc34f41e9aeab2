// DmabufSource, DmabufMapper and an Arena over them, on a memfd that the
// DmabufOps seam makes look like a dma-buf: shard offsets, device addresses
// = offsets, the from_device_address round trip, the CPU view and the buffer
// naming the same bytes, exhaustion refused with nothing lost, and offsets
// given back and carved again.
#include <arenakit/arena/arena.hpp>
#include <arenakit/dmabuf/import.hpp>
#include <arenakit/dmabuf/mapper.hpp>
#include <arenakit/dmabuf/source.hpp>
#include <arenakit/dmabuf/sync.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <linux/magic.h>
#include <sys/mman.h>
#include <unistd.h>

using namespace arenakit;

namespace {

int mmap_errno = 0; ///< non-zero: the fake exporter refuses CPU mappings

int fake_fstatfs(int fd, struct statfs* out) noexcept {
  const int rc = ::fstatfs(fd, out);
  if (rc == 0) out->f_type = DMA_BUF_MAGIC;
  return rc;
}
off_t real_lseek(int fd, off_t off, int whence) noexcept { return ::lseek(fd, off, whence); }
void* fake_mmap(void* addr, std::size_t len, int prot, int flags, int fd, off_t off) noexcept {
  if (mmap_errno != 0) {
    errno = mmap_errno;
    return MAP_FAILED;
  }
  return ::mmap(addr, len, prot, flags, fd, off);
}
int real_munmap(void* addr, std::size_t len) noexcept { return ::munmap(addr, len); }
int ok_ioctl(int, unsigned long, void*) noexcept { return 0; }
constexpr DmabufOps fake_ops{&fake_fstatfs, &real_lseek, &fake_mmap, &real_munmap, &ok_ioctl};

constexpr std::size_t KiB = 1024;

struct FakeDmabuf {
  int memfd = -1;
  DmabufImport imp;
  explicit FakeDmabuf(std::size_t bytes, bool cpu = true, std::size_t cpu_alignment = std::size_t{2} << 20) {
    memfd = memfd_create("arenakit-fake-dmabuf", MFD_CLOEXEC);
    REQUIRE(memfd >= 0);
    REQUIRE(ftruncate(memfd, static_cast<off_t>(bytes)) == 0);
    mmap_errno = cpu ? 0 : ENODEV;
    auto r = DmabufImport::open(memfd, {.cpu_alignment = cpu_alignment, .ops = &fake_ops});
    mmap_errno = 0;
    REQUIRE(r);
    imp = std::move(*r);
  }
  ~FakeDmabuf() { close(memfd); }
};

using DmabufArena = Arena<DmabufMapper, BitmapSlots, ImmediateReclaimer, DmabufSource>;

} // namespace

TEST_CASE("DmabufSource carves aligned offsets, refuses when exhausted, and carves freed offsets again") {
  FakeDmabuf buf(1024 * KiB);
  DmabufSource src(buf.imp);
  std::vector<Region> regions;
  for (int i = 0; i < 16; ++i) {
    auto r = src.allocate(64 * KiB, 64 * KiB);
    REQUIRE(r);
    CHECK(r->dmabuf_fd == buf.imp.fd());
    CHECK(r->dmabuf_offset == std::uint64_t(i) * 64 * KiB);
    CHECK(r->data == buf.imp.data() + r->dmabuf_offset);
    CHECK(reinterpret_cast<std::uintptr_t>(r->data) % (64 * KiB) == 0);
    regions.push_back(*r);
  }
  auto full = src.allocate(64 * KiB, 64 * KiB);
  CHECK(full.error() == make_error_code(errc::out_of_memory));
  CHECK(src.allocate(4 * KiB, 4 * KiB).error() == make_error_code(errc::out_of_memory));
  DmabufSourceCounters c = src.counters();
  CHECK(c.regions == 16);
  CHECK(c.bytes_in_use == 1024 * KiB);
  CHECK(c.exhausted == 2);

  src.deallocate(regions[5]);
  src.deallocate(regions[5]); // twice: refused, free space not counted twice
  CHECK(src.counters().refused_deallocations == 1);
  auto again = src.allocate(64 * KiB, 64 * KiB);
  REQUIRE(again);
  CHECK(again->dmabuf_offset == 5 * 64 * KiB);
  CHECK(src.allocate(4 * KiB, 4 * KiB).error() == make_error_code(errc::out_of_memory));

  Region foreign = regions[3];
  foreign.dmabuf_fd = buf.imp.fd() + 100;
  src.deallocate(foreign);
  Region past_end = regions[3];
  past_end.dmabuf_offset = 1024 * KiB;
  src.deallocate(past_end);
  CHECK(src.counters().refused_deallocations == 3);
  CHECK(src.counters().regions == 16);

  for (const Region& r : regions) src.deallocate(r);
  c = src.counters();
  CHECK(c.regions == 0);
  CHECK(c.bytes_in_use == 0);
  CHECK(c.free_extents == 1); // every neighbour merged back into one run
  CHECK(c.refused_deallocations == 3);
}

TEST_CASE("DmabufSource: only a live region exactly as handed out is taken back; a sub-range or a straddle changes nothing") {
  // Before: a range across two live regions, or inside one, was merged into
  // the free list, and the next allocate handed out bytes of a live region.
  FakeDmabuf buf(1024 * KiB);
  DmabufSource src(buf.imp);
  auto a = src.allocate(64 * KiB, 4 * KiB);
  auto b = src.allocate(64 * KiB, 4 * KiB);
  REQUIRE(a);
  REQUIRE(b);
  const DmabufSourceCounters before = src.counters();
  Region straddle = *a;
  straddle.dmabuf_offset = 32 * KiB; // the second half of a, the first half of b
  src.deallocate(straddle);
  Region inside = *a;
  inside.dmabuf_offset = 8 * KiB;
  inside.size = 4 * KiB;
  src.deallocate(inside);
  Region shorter = *a;
  shorter.size = 32 * KiB; // a's start, not its size
  src.deallocate(shorter);
  DmabufSourceCounters c = src.counters();
  CHECK(c.refused_deallocations == 3);
  CHECK(c.regions == before.regions);
  CHECK(c.bytes_in_use == before.bytes_in_use);
  CHECK(c.free_extents == before.free_extents);
  auto next = src.allocate(4 * KiB, 4 * KiB);
  REQUIRE(next);
  CHECK(next->dmabuf_offset == 128 * KiB); // after b, not inside a
  src.deallocate(*a);
  src.deallocate(*b);
  src.deallocate(*next);
  c = src.counters();
  CHECK(c.refused_deallocations == 3);
  CHECK(c.regions == 0);
  CHECK(c.bytes_in_use == 0);
  CHECK(c.free_extents == 1);
}

TEST_CASE("DmabufSource: alignment leaves a head gap that is reused; bad arguments are refused") {
  FakeDmabuf buf(256 * KiB, true, 64 * KiB);
  DmabufSource src(buf.imp);
  auto small = src.allocate(4 * KiB, 4 * KiB);
  REQUIRE(small);
  CHECK(small->dmabuf_offset == 0);
  auto big = src.allocate(64 * KiB, 64 * KiB);
  REQUIRE(big);
  CHECK(big->dmabuf_offset == 64 * KiB);
  CHECK(src.counters().free_extents == 2); // [4K, 64K) and [128K, 256K)
  auto gap = src.allocate(8 * KiB, 8 * KiB);
  REQUIRE(gap);
  CHECK(gap->dmabuf_offset == 8 * KiB);
  CHECK(src.allocate(4096, 3).error() == make_error_code(errc::invalid_config));
  CHECK(src.allocate(0, 4096).error() == make_error_code(errc::invalid_config));
  // The CPU view is on a 64 KB boundary: a 128 KB-aligned shard could not be
  // aligned on both sides, so it is refused rather than quietly misaligned.
  CHECK(buf.imp.cpu_alignment() == 64 * KiB);
  CHECK(src.allocate(128 * KiB, 128 * KiB).error() == make_error_code(errc::invalid_config));
  src.deallocate(*gap);
  src.deallocate(*big);
  src.deallocate(*small);
  CHECK(src.counters().free_extents == 1);
  CHECK(src.counters().regions == 0);
}

TEST_CASE("DmabufSource over a device-only buffer: offsets and fd, no CPU address; a moved-from import is refused") {
  FakeDmabuf buf(128 * KiB, /*cpu=*/false);
  REQUIRE_FALSE(buf.imp.cpu_mapped());
  DmabufSource src(buf.imp);
  auto r = src.allocate(64 * KiB, 64 * KiB);
  REQUIRE(r);
  CHECK(r->data == nullptr);
  CHECK(r->dmabuf_offset == 0);
  CHECK(r->dmabuf_fd == buf.imp.fd());
  src.deallocate(*r);

  DmabufImport gone = std::move(buf.imp);
  CHECK(src.allocate(64 * KiB, 64 * KiB).error() == std::error_code(dmabuf_errc::bad_fd));
}

TEST_CASE("DmabufMapper: (fd, offset) mappings whose device address is the offset; plain memory is refused") {
  DmabufMapper m;
  Region plain;
  std::byte bytes[64];
  plain.data = bytes;
  plain.size = sizeof bytes;
  auto refused = m.map(plain);
  REQUIRE_FALSE(refused);
  CHECK(refused.error() == std::error_code(dmabuf_errc::not_a_dmabuf));
  CHECK(refused.error().message().find("not a dma-buf fd") != std::string::npos);

  Region shard;
  shard.size = 64 * KiB;
  shard.dmabuf_fd = 7;
  shard.dmabuf_offset = 192 * KiB;
  auto mapped = m.map(shard);
  REQUIRE(mapped);
  CHECK(mapped->fd == 7);
  CHECK(m.device_address(*mapped) == 192 * KiB);
  m.unmap(*mapped);
  CHECK(mapped->fd == -1);
}

TEST_CASE("Arena<DmabufMapper, BitmapSlots, ImmediateReclaimer, DmabufSource>: device addresses are offsets") {
  FakeDmabuf buf(256 * KiB);
  DmabufArena arena(ArenaConfig{.slot_size = 4 * KiB, .shard_size = 64 * KiB}, DmabufSource(buf.imp));
  REQUIRE(arena);

  std::vector<SlotId> ids;
  for (int i = 0; i < 64; ++i) {
    const SlotId id = arena.acquire();
    REQUIRE(id);
    ids.push_back(id);
  }
  CHECK(arena.counters().shards == 4);
  CHECK(arena.counters().mappings == 4);
  // The buffer holds four shards: the fifth is refused, and nothing held is lost.
  CHECK_FALSE(arena.acquire());
  CHECK(arena.counters().growth_failures >= 1);
  CHECK(arena.counters().slots_in_use == 64);

  std::vector<bool> seen(64, false);
  for (const SlotId id : ids) {
    const auto b = arena.buffer(id);
    CHECK(b.device_address == arena.device_address(id));
    CHECK(b.device_address % (4 * KiB) == 0);
    REQUIRE(b.device_address < 256 * KiB);
    CHECK(b.mapping->fd == buf.imp.fd());
    CHECK(b.device_address - b.mapping->offset < 64 * KiB); // inside its shard
    CHECK(b.data == buf.imp.data() + b.device_address); // CPU view and device name the same byte
    CHECK(arena.from_device_address(b.device_address) == id);
    CHECK(arena.from_device_address(b.device_address + 100) == id); // interior addresses too
    CHECK(arena.from_pointer(b.data) == id);
    seen[b.device_address / (4 * KiB)] = true;
  }
  for (bool s : seen) CHECK(s); // every 4 KB of the buffer is one slot, each once
  CHECK_FALSE(arena.from_device_address(256 * KiB));

  // Bytes written through a slot's CPU pointer are the bytes at its offset in the buffer.
  DmabufSync sync(buf.imp);
  const auto b = arena.buffer(ids[37]);
  REQUIRE_FALSE(sync.begin_cpu_access(b.data, 32, SyncAccess::write));
  std::memcpy(b.data, "slot 37, written by the CPU", 28);
  REQUIRE_FALSE(sync.end_cpu_access(b.data, 32, SyncAccess::write));
  char back[28] = {};
  REQUIRE(pread(buf.memfd, back, sizeof back, static_cast<off_t>(b.device_address)) == 28);
  CHECK(std::memcmp(back, "slot 37, written by the CPU", 28) == 0);

  // Shards are given back to the source, and the arena can carve them again.
  CHECK(arena.release_memory() == make_error_code(errc::slots_outstanding));
  for (const SlotId id : ids) CHECK(arena.release(id));
  CHECK_FALSE(arena.release_memory());
  const SlotId fresh = arena.acquire();
  REQUIRE(fresh);
  CHECK(arena.device_address(fresh) < 256 * KiB);
  CHECK(arena.release(fresh));
}

TEST_CASE("An arena over a device-only dma-buf hands out device addresses (offsets) without CPU addresses") {
  FakeDmabuf buf(128 * KiB, /*cpu=*/false);
  DmabufArena arena(ArenaConfig{.slot_size = 16 * KiB, .shard_size = 64 * KiB}, DmabufSource(buf.imp));
  REQUIRE(arena);
  std::vector<std::uint64_t> addrs;
  std::vector<SlotId> ids;
  for (int i = 0; i < 8; ++i) {
    const SlotId id = arena.acquire();
    REQUIRE(id);
    ids.push_back(id);
    const std::uint64_t a = arena.device_address(id);
    CHECK(a % (16 * KiB) == 0);
    CHECK(a < 128 * KiB);
    CHECK(arena.from_device_address(a) == id);
    addrs.push_back(a);
  }
  CHECK_FALSE(arena.acquire());
  std::sort(addrs.begin(), addrs.end());
  for (std::size_t i = 0; i < addrs.size(); ++i) CHECK(addrs[i] == i * 16 * KiB);
  // A CPU access has no pointer to work on here, and is told so.
  DmabufSync sync(buf.imp);
  CHECK(sync.begin_cpu_access(nullptr, 100, SyncAccess::read) == std::error_code(dmabuf_errc::no_cpu_mapping));
  for (const SlotId id : ids) CHECK(arena.release(id));
}

TEST_CASE("one DmabufSync shared by threads: every sync counted (run under TSan)") {
  FakeDmabuf buf(64 * KiB);
  DmabufSync sync(buf.imp);
  constexpr int threads = 4;
  constexpr int rounds = 5000;
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&sync, &buf, t] {
      std::byte* p = buf.imp.data() + std::size_t(t) * 4 * KiB;
      for (int i = 0; i < rounds; ++i) {
        if (sync.begin_cpu_access(p, 4 * KiB, SyncAccess::read)) return;
        p[0] = std::byte{1};
        if (sync.end_cpu_access(p, 4 * KiB, SyncAccess::read)) return;
      }
    });
  }
  for (auto& th : pool) th.join();
  const DmabufSyncCounters c = sync.counters();
  CHECK(c.begins == threads * rounds);
  CHECK(c.ends == threads * rounds);
  CHECK(c.failures == 0);
}
