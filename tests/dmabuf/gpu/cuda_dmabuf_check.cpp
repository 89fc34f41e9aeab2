// SPDX-License-Identifier: MIT
// cuda_dmabuf_check: the real check of the dma-buf import on a machine with an
// NVIDIA GPU. GPU memory from cuMemAlloc is exported as a dma-buf with
// cuMemGetHandleForAddressRange(CU_MEM_RANGE_HANDLE_TYPE_DMA_BUF_FD), imported
// with DmabufImport (which checks the fd IS a dma-buf), and reported: size
// from the fd, whether the exporter allows a CPU mmap, the results of
// DMA_BUF_IOCTL_SYNC start/end, and an arena carved over it whose device
// addresses are dma-buf offsets (what ibv_reg_dmabuf_mr would be given).
// When the CPU view exists, a pattern copied in with cuMemcpyHtoD is read back
// through it between sync start and end.
//
// Not built by default: configure with -DARENAKIT_BUILD_GPU_CHECKS=ON on a
// machine with the CUDA toolkit (tests/dmabuf/gpu/README.md). Exit codes: 0 all
// checks passed, 1 a check failed, 77 no CUDA device or no dma-buf support
// (printed with the reason).
#include <arenakit/arena/arena.hpp>
#include <arenakit/dmabuf/import.hpp>
#include <arenakit/dmabuf/mapper.hpp>
#include <arenakit/dmabuf/source.hpp>
#include <arenakit/dmabuf/sync.hpp>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#include <cuda.h>
#include <unistd.h>

#include "hardware_check.hpp"

using namespace arenakit;
using arenakit_test::check;

namespace {

const char* cu_name(CUresult rc) {
  const char* s = nullptr;
  cuGetErrorName(rc, &s);
  return s != nullptr ? s : "?";
}
} // namespace

int main() {
  CUresult rc = cuInit(0);
  int count = 0;
  if (rc == CUDA_SUCCESS) rc = cuDeviceGetCount(&count);
  if (rc != CUDA_SUCCESS || count == 0) {
    std::printf("skipped: no CUDA device (%s, %d devices)\n", cu_name(rc), count);
    return 77;
  }
  CUdevice dev = 0;
  if (cuDeviceGet(&dev, 0) != CUDA_SUCCESS) return 1;
  char name[256] = {};
  cuDeviceGetName(name, sizeof name, dev);
  int driver = 0;
  cuDriverGetVersion(&driver);
  int dmabuf_ok = 0;
  cuDeviceGetAttribute(&dmabuf_ok, CU_DEVICE_ATTRIBUTE_DMA_BUF_SUPPORTED, dev);
  std::printf("device: %s, driver API %d, CU_DEVICE_ATTRIBUTE_DMA_BUF_SUPPORTED=%d\n", name, driver, dmabuf_ok);
  if (!dmabuf_ok) {
    std::printf("skipped: this device/driver does not export dma-bufs\n");
    return 77;
  }
  CUcontext ctx = nullptr;
  if ((rc = cuDevicePrimaryCtxRetain(&ctx, dev)) != CUDA_SUCCESS || (rc = cuCtxSetCurrent(ctx)) != CUDA_SUCCESS) {
    std::printf("FAIL: context: %s\n", cu_name(rc));
    return 1;
  }

  constexpr std::size_t size = std::size_t{4} << 20; // a multiple of the host page and of GPU pages
  CUdeviceptr dptr = 0;
  if ((rc = cuMemAlloc(&dptr, size)) != CUDA_SUCCESS) {
    std::printf("FAIL: cuMemAlloc: %s\n", cu_name(rc));
    return 1;
  }
  std::vector<unsigned char> pattern(size);
  for (std::size_t i = 0; i < size; ++i) pattern[i] = static_cast<unsigned char>(i * 131u + 7u);
  check(cuMemcpyHtoD(dptr, pattern.data(), size) == CUDA_SUCCESS, "cuMemcpyHtoD pattern");

  int fd = -1;
  rc = cuMemGetHandleForAddressRange(&fd, dptr, size, CU_MEM_RANGE_HANDLE_TYPE_DMA_BUF_FD, 0);
  std::printf("cuMemGetHandleForAddressRange(DMA_BUF_FD): %s, fd=%d\n", cu_name(rc), fd);
  if (rc != CUDA_SUCCESS || fd < 0) {
    cuMemFree(dptr);
    std::printf("skipped: the driver did not export a dma-buf (needs the open kernel module or a recent driver)\n");
    return 77;
  }

  {
    auto r = DmabufImport::open(fd, {.ownership = FdOwnership::adopt});
    check(static_cast<bool>(r), "CUDA's fd imported (fstatfs says DMA_BUF_MAGIC)");
    if (!r) {
      std::printf("  error: %s\n", r.error().message().c_str());
      close(fd);
      cuMemFree(dptr);
      return 1;
    }
    DmabufImport& imp = *r;
    std::printf("import: size=%zu (asked %zu) cpu_mapped=%d cpu_map_error=\"%s\" cpu_alignment=%zu\n", imp.size(),
                size, imp.cpu_mapped() ? 1 : 0, imp.cpu_map_error().message().c_str(), imp.cpu_alignment());
    check(imp.size() == size, "size from lseek(SEEK_END) equals the exported range");

    // The sync ioctl works on the fd whether or not the CPU can map it; with
    // no CPU view we sync through a DmabufSync on the bare fd.
    DmabufSync sync = imp.cpu_mapped() ? DmabufSync(imp) : DmabufSync(imp.fd());
    static std::byte probe{}; // a non-null pointer for the device-only case (no range check there)
    std::byte* p = imp.cpu_mapped() ? imp.data() : &probe;
    const std::size_t n = imp.cpu_mapped() ? size : 1;
    std::error_code ec = sync.begin_cpu_access(p, n, SyncAccess::read);
    std::printf("DMA_BUF_SYNC_START|READ: %s\n", ec ? ec.message().c_str() : "ok");
    check(!ec, "sync start (read)");
    if (imp.cpu_mapped())
      check(std::memcmp(imp.data(), pattern.data(), size) == 0, "CPU view reads the bytes cuMemcpyHtoD wrote");
    ec = sync.end_cpu_access(p, n, SyncAccess::read);
    std::printf("DMA_BUF_SYNC_END|READ: %s\n", ec ? ec.message().c_str() : "ok");
    check(!ec, "sync end (read)");

    Arena<DmabufMapper, BitmapSlots, ImmediateReclaimer, DmabufSource> arena(
        ArenaConfig{.slot_size = 64 * 1024, .shard_size = 1 << 20}, DmabufSource(imp));
    check(static_cast<bool>(arena), "arena over the GPU dma-buf");
    std::vector<SlotId> ids(64);
    check(arena.acquire_bulk(ids.data(), 64) == 64, "64 slots of 64 KB fill the 4 MB buffer (4 shards)");
    check(!arena.acquire(), "the 65th is refused");
    bool ok = true;
    for (SlotId id : ids) {
      const std::uint64_t a = arena.device_address(id);
      ok = ok && a < size && arena.from_device_address(a) == id;
    }
    check(ok, "device address = dma-buf offset (the iova ibv_reg_dmabuf_mr would get), round trip");
    for (SlotId id : ids) arena.release(id);
    const auto c = sync.counters();
    std::printf("counters: begins=%llu ends=%llu failures=%llu retries=%llu shards=%llu mappings=%llu\n",
                static_cast<unsigned long long>(c.begins), static_cast<unsigned long long>(c.ends),
                static_cast<unsigned long long>(c.failures), static_cast<unsigned long long>(c.retries),
                static_cast<unsigned long long>(arena.counters().shards),
                static_cast<unsigned long long>(arena.counters().mappings));
  }
  cuMemFree(dptr);
  cuDevicePrimaryCtxRelease(dev);
  return arenakit_test::hardware_check_result();
}
