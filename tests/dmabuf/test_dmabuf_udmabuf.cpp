// A real dma-buf from the kernel's udmabuf driver (a memfd exported as a
// dma-buf): import it, map it for the CPU, write and read through
// DMA_BUF_IOCTL_SYNC, and carve it with an arena. Where /dev/udmabuf does not
// exist the test prints why and exits 77 (ctest: Skipped).
//
// Not a doctest binary: the skip must be an exit code, decided before any
// test case runs.
#include <arenakit/arena/arena.hpp>
#include <arenakit/dmabuf/import.hpp>
#include <arenakit/dmabuf/mapper.hpp>
#include <arenakit/dmabuf/source.hpp>
#include <arenakit/dmabuf/sync.hpp>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <fcntl.h>
#include <linux/udmabuf.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hardware_check.hpp"

using namespace arenakit;
using arenakit_test::check;


int main() {
  const int dev = ::open("/dev/udmabuf", O_RDWR | O_CLOEXEC);
  if (dev < 0) {
    if (errno == ENOENT) {
      std::printf("skipped: /dev/udmabuf not present (CONFIG_UDMABUF off)\n");
    } else {
      std::printf("skipped: /dev/udmabuf cannot be opened: %s\n", std::strerror(errno));
    }
    return 77;
  }
  constexpr std::size_t size = 256 * 1024;
  const int memfd = memfd_create("arenakit-udmabuf", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (memfd < 0 || ftruncate(memfd, size) != 0 || fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK) != 0) {
    std::printf("FAIL: memfd set-up: %s\n", std::strerror(errno));
    return 1;
  }
  udmabuf_create create{};
  create.memfd = static_cast<__u32>(memfd);
  create.flags = UDMABUF_FLAGS_CLOEXEC;
  create.offset = 0;
  create.size = size;
  const int buf_fd = ::ioctl(dev, UDMABUF_CREATE, &create);
  if (buf_fd < 0) {
    std::printf("skipped: UDMABUF_CREATE refused: %s\n", std::strerror(errno));
    return 77;
  }

  {
    auto r = DmabufImport::open(buf_fd, {.ownership = FdOwnership::adopt});
    check(static_cast<bool>(r), "udmabuf fd imported (fstatfs says DMA_BUF_MAGIC)");
    if (!r) {
      std::printf("  error: %s\n", r.error().message().c_str());
      return 1;
    }
    DmabufImport& imp = *r;
    check(imp.size() == size, "size from lseek(SEEK_END) is the memfd range");
    check(imp.cpu_mapped(), "udmabuf allows a CPU mapping");
    std::printf("  size=%zu cpu_mapped=%d cpu_alignment=%zu\n", imp.size(), imp.cpu_mapped() ? 1 : 0,
                imp.cpu_alignment());
    if (!imp.cpu_mapped()) return 1;

    DmabufSync sync(imp);
    std::error_code ec = sync.begin_cpu_access(imp.data() + 8192, 64, SyncAccess::write);
    check(!ec, "DMA_BUF_SYNC_START|WRITE");
    std::memcpy(imp.data() + 8192, "written through the dma-buf", 28);
    ec = sync.end_cpu_access(imp.data() + 8192, 64, SyncAccess::write);
    check(!ec, "DMA_BUF_SYNC_END|WRITE");
    char back[28] = {};
    check(pread(memfd, back, sizeof back, 8192) == 28 && std::memcmp(back, "written through the dma-buf", 28) == 0,
          "the memfd holds the bytes written through the dma-buf view");
    std::memcpy(back, "written through the memfd!!", 28);
    check(pwrite(memfd, back, sizeof back, 4096) == 28, "pwrite to the memfd");
    ec = sync.begin_cpu_access(imp.data() + 4096, 28, SyncAccess::read);
    check(!ec, "DMA_BUF_SYNC_START|READ");
    check(std::memcmp(imp.data() + 4096, back, 28) == 0, "the dma-buf view sees the memfd's bytes");
    ec = sync.end_cpu_access(imp.data() + 4096, 28, SyncAccess::read);
    check(!ec, "DMA_BUF_SYNC_END|READ");

    Arena<DmabufMapper, BitmapSlots, ImmediateReclaimer, DmabufSource> arena(
        ArenaConfig{.slot_size = 4096, .shard_size = 64 * 1024}, DmabufSource(imp));
    check(static_cast<bool>(arena), "arena over the udmabuf");
    SlotId ids[64];
    check(arena.acquire_bulk(ids, 64) == 64, "64 slots of 4 KB fill the 256 KB buffer");
    check(!arena.acquire(), "the 65th is refused");
    bool round_trip = true;
    for (SlotId id : ids) {
      const std::uint64_t a = arena.device_address(id);
      round_trip = round_trip && a < size && arena.from_device_address(a) == id &&
                   arena.pointer(id) == imp.data() + a;
    }
    check(round_trip, "device address = dma-buf offset, from_device_address round trip, CPU pointer agrees");
    for (SlotId id : ids) arena.release(id);
    const DmabufSyncCounters c = sync.counters();
    std::printf("counters: begins=%llu ends=%llu failures=%llu retries=%llu shards=%llu mappings=%llu\n",
                static_cast<unsigned long long>(c.begins), static_cast<unsigned long long>(c.ends),
                static_cast<unsigned long long>(c.failures), static_cast<unsigned long long>(c.retries),
                static_cast<unsigned long long>(arena.counters().shards),
                static_cast<unsigned long long>(arena.counters().mappings));
  }
  close(memfd);
  close(dev);
  return arenakit_test::hardware_check_result();
}
