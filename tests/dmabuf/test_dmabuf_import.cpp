// DmabufImport and DmabufSync: what is refused (every fd kind that is not a
// dma-buf, with the message, and nothing created or leaked), and — through
// the DmabufOps seam, with a memfd made to look like a dma-buf — size, CPU
// mapping allowed/refused, ownership, and the sync ioctl's flags, counts,
// retries and failures.
#include <arenakit/dmabuf/import.hpp>
#include <arenakit/dmabuf/sync.hpp>
#include <arenakit/sync/host_memory.hpp>

#include <doctest/doctest.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <dirent.h>
#include <fcntl.h>
#include <linux/dma-buf.h>
#include <linux/magic.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace arenakit;

namespace {

int open_fds() {
  DIR* d = opendir("/proc/self/fd");
  REQUIRE(d != nullptr);
  int n = 0;
  while (readdir(d) != nullptr) ++n;
  closedir(d);
  return n;
}

bool fd_open(int fd) { return fcntl(fd, F_GETFD) != -1; }

int make_memfd(std::size_t bytes) {
  const int fd = memfd_create("arenakit-fake-dmabuf", MFD_CLOEXEC);
  REQUIRE(fd >= 0);
  REQUIRE(ftruncate(fd, static_cast<off_t>(bytes)) == 0);
  return fd;
}

// The fake: real calls underneath, with fstatfs claiming DMA_BUF_MAGIC, mmap
// optionally refused, and ioctl recorded (and optionally failed).
struct Fake {
  bool claim_dmabuf = true;
  int mmap_errno = 0;         ///< non-zero: mmap of the buffer fails with it
  int mmaps = 0;
  int munmaps = 0;
  int lseeks = 0;
  int ioctl_fail_times = 0;   ///< fail this many ioctls...
  int ioctl_errno = 0;        ///< ...with this errno (-1 times: forever)
  std::vector<std::uint64_t> sync_flags; ///< flags of every DMA_BUF_IOCTL_SYNC seen
  int ioctls = 0;
};
Fake fake;

int fake_fstatfs(int fd, struct statfs* out) noexcept {
  const int rc = ::fstatfs(fd, out);
  if (rc == 0 && fake.claim_dmabuf) out->f_type = DMA_BUF_MAGIC;
  return rc;
}
off_t fake_lseek(int fd, off_t off, int whence) noexcept {
  ++fake.lseeks;
  return ::lseek(fd, off, whence);
}
void* fake_mmap(void* addr, std::size_t len, int prot, int flags, int fd, off_t off) noexcept {
  ++fake.mmaps;
  if (fake.mmap_errno != 0) {
    errno = fake.mmap_errno;
    return MAP_FAILED;
  }
  return ::mmap(addr, len, prot, flags, fd, off);
}
int fake_munmap(void* addr, std::size_t len) noexcept {
  ++fake.munmaps;
  return ::munmap(addr, len);
}
int fake_ioctl(int, unsigned long request, void* arg) noexcept {
  ++fake.ioctls;
  if (request == DMA_BUF_IOCTL_SYNC) fake.sync_flags.push_back(static_cast<dma_buf_sync*>(arg)->flags);
  if (fake.ioctl_fail_times != 0) {
    if (fake.ioctl_fail_times > 0) --fake.ioctl_fail_times;
    errno = fake.ioctl_errno;
    return -1;
  }
  return 0;
}
constexpr DmabufOps fake_ops{&fake_fstatfs, &fake_lseek, &fake_mmap, &fake_munmap, &fake_ioctl};

struct FakeReset {
  FakeReset() { fake = Fake{}; }
};

} // namespace

TEST_CASE("every fd that is not a dma-buf is refused with 'not a dma-buf fd', and nothing is created") {
  int p[2];
  REQUIRE(pipe2(p, O_CLOEXEC) == 0);
  int s[2];
  REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s) == 0);
  char path[] = "/tmp/arenakit-dmabuf-XXXXXX";
  const int file = mkostemp(path, O_CLOEXEC);
  REQUIRE(file >= 0);
  unlink(path);
  REQUIRE(write(file, "not a dma-buf", 13) == 13);
  const int memfd = make_memfd(64 * 1024);
  const int efd = eventfd(0, EFD_CLOEXEC);
  REQUIRE(efd >= 0);
  const int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
  REQUIRE(devnull >= 0);
  const int closed = 1000; // a number that names nothing here (checked)
  REQUIRE_FALSE(fd_open(closed));

  struct Case {
    const char* kind;
    int fd;
    dmabuf_errc want;
  };
  const Case cases[] = {
      {"regular file", file, dmabuf_errc::not_a_dmabuf},  {"memfd", memfd, dmabuf_errc::not_a_dmabuf},
      {"pipe (read end)", p[0], dmabuf_errc::not_a_dmabuf}, {"pipe (write end)", p[1], dmabuf_errc::not_a_dmabuf},
      {"unix socket", s[0], dmabuf_errc::not_a_dmabuf},   {"eventfd", efd, dmabuf_errc::not_a_dmabuf},
      {"/dev/null", devnull, dmabuf_errc::not_a_dmabuf},  {"-1", -1, dmabuf_errc::bad_fd},
      {"closed fd", closed, dmabuf_errc::bad_fd},
  };
  for (const Case& c : cases) {
    for (FdOwnership own : {FdOwnership::duplicate, FdOwnership::adopt}) {
      const std::string kind = c.kind;
      const char* policy = own == FdOwnership::duplicate ? "duplicate" : "adopt";
      CAPTURE(kind);
      CAPTURE(policy);
      const int before = open_fds();
      auto r = DmabufImport::open(c.fd, {.ownership = own});
      REQUIRE_FALSE(r);
      CHECK(r.error() == std::error_code(c.want));
      CHECK(r.error().category().name() == std::string("arenakit.dmabuf"));
      CHECK(r.error().message().find("not a dma-buf fd") != std::string::npos);
      CHECK(open_fds() == before);                 // no dup left behind
      if (c.fd >= 0 && c.fd != closed) CHECK(fd_open(c.fd)); // the caller's fd is still the caller's
    }
  }
  for (int fd : {p[0], p[1], s[0], s[1], file, memfd, efd, devnull}) close(fd);
}

TEST_CASE("the real fstatfs check accepts nothing but DMA_BUF_MAGIC (the fake proves it is the one that decides)") {
  FakeReset reset;
  const int memfd = make_memfd(64 * 1024);
  fake.claim_dmabuf = false;
  auto refused = DmabufImport::open(memfd, {.ops = &fake_ops});
  CHECK(refused.error() == std::error_code(dmabuf_errc::not_a_dmabuf));
  CHECK(fake.mmaps == 0);
  CHECK(fake.lseeks == 0);
  fake.claim_dmabuf = true;
  auto taken = DmabufImport::open(memfd, {.ops = &fake_ops});
  CHECK(taken);
  close(memfd);
}

TEST_CASE("size comes from lseek(SEEK_END); a CPU view is mapped when allowed and shares the buffer") {
  FakeReset reset;
  constexpr std::size_t size = 3 * 64 * 1024;
  const int memfd = make_memfd(size);
  const int before = open_fds();
  {
    auto r = DmabufImport::open(memfd, {.ops = &fake_ops});
    REQUIRE(r);
    DmabufImport imp = std::move(*r);
    CHECK(imp.size() == size);
    CHECK(imp.fd() != memfd);           // FdOwnership::duplicate: a dup of its own
    CHECK(open_fds() == before + 1);
    CHECK(lseek(memfd, 0, SEEK_CUR) == 0); // the shared offset was put back
    REQUIRE(imp.cpu_mapped());
    CHECK_FALSE(imp.cpu_map_error());
    // Placed on a boundary as large as the buffer allows (bit_floor(192K) = 128K).
    CHECK(imp.cpu_alignment() == 128 * 1024);
    CHECK(reinterpret_cast<std::uintptr_t>(imp.data()) % (128 * 1024) == 0);
    std::memcpy(imp.data() + 70000, "through the CPU view", 20);
    char back[20] = {};
    REQUIRE(pread(memfd, back, sizeof back, 70000) == 20);
    CHECK(std::memcmp(back, "through the CPU view", 20) == 0);
  }
  CHECK(open_fds() == before);         // the dup is closed with the import
  CHECK(fake.munmaps >= 1);            // and the view unmapped through the table
  CHECK(fd_open(memfd));               // the caller's fd is untouched
  close(memfd);
}

TEST_CASE("an exporter that refuses mmap gives a device-only import, or an error under CpuMapping::required") {
  FakeReset reset;
  const int memfd = make_memfd(64 * 1024);
  fake.mmap_errno = ENODEV;
  const int before = open_fds();
  {
    auto r = DmabufImport::open(memfd, {.ops = &fake_ops});
    REQUIRE(r);
    CHECK(r->size() == 64 * 1024);
    CHECK_FALSE(r->cpu_mapped());
    CHECK(r->data() == nullptr);
    CHECK(r->cpu_map_error() == std::error_code(ENODEV, std::system_category()));
    CHECK(r->cpu_alignment() == 0);
  }
  CHECK(open_fds() == before);
  for (FdOwnership own : {FdOwnership::duplicate, FdOwnership::adopt}) {
    auto req = DmabufImport::open(memfd, {.ownership = own, .cpu_mapping = CpuMapping::required, .ops = &fake_ops});
    REQUIRE_FALSE(req);
    CHECK(req.error() == std::error_code(dmabuf_errc::cpu_map_refused));
    CHECK(open_fds() == before);
    CHECK(fd_open(memfd)); // adopt takes the fd on success only
  }
  fake.mmap_errno = 0;
  const int mmaps = fake.mmaps;
  auto never = DmabufImport::open(memfd, {.cpu_mapping = CpuMapping::never, .ops = &fake_ops});
  REQUIRE(never);
  CHECK(fake.mmaps == mmaps);
  CHECK(never->data() == nullptr);
  CHECK(never->cpu_map_error() == std::error_code(dmabuf_errc::no_cpu_mapping));
  close(memfd);
}

TEST_CASE("FdOwnership::adopt keeps the caller's fd and closes it with the import") {
  FakeReset reset;
  const int memfd = make_memfd(64 * 1024);
  const int before = open_fds();
  {
    auto r = DmabufImport::open(memfd, {.ownership = FdOwnership::adopt, .ops = &fake_ops});
    REQUIRE(r);
    CHECK(r->fd() == memfd);
    CHECK(open_fds() == before);
    DmabufImport moved = std::move(*r);
    CHECK(r->fd() == -1); // the moved-from import owns nothing
    CHECK(moved.fd() == memfd);
  }
  CHECK_FALSE(fd_open(memfd));
  CHECK(open_fds() == before - 1);
}

TEST_CASE("an empty buffer has no size to carve and is refused") {
  FakeReset reset;
  const int memfd = make_memfd(0);
  const int before = open_fds();
  auto r = DmabufImport::open(memfd, {.ops = &fake_ops});
  CHECK(r.error() == std::error_code(dmabuf_errc::size_unknown));
  CHECK(open_fds() == before);
  close(memfd);
}

TEST_CASE("DmabufSync: DMA_BUF_IOCTL_SYNC start/end with the access flags, one per call") {
  FakeReset reset;
  const int memfd = make_memfd(64 * 1024);
  auto r = DmabufImport::open(memfd, {.ops = &fake_ops});
  REQUIRE(r);
  DmabufSync sync(*r);
  std::byte* p = r->data() + 4096;
  const int ioctls = fake.ioctls;
  CHECK_FALSE(sync.begin_cpu_access(p, 1500, SyncAccess::read));
  CHECK_FALSE(sync.end_cpu_access(p, 1500, SyncAccess::read));
  CHECK_FALSE(sync.begin_cpu_access(p, 4096, SyncAccess::write));
  CHECK_FALSE(sync.end_cpu_access(p, 4096, SyncAccess::write));
  CHECK_FALSE(sync.begin_cpu_access(p, 1, SyncAccess::read_write));
  CHECK_FALSE(sync.end_cpu_access(p, 1, SyncAccess::read_write));
  CHECK(fake.ioctls - ioctls == 6);
  const std::vector<std::uint64_t> want{
      DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ,  DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ,
      DMA_BUF_SYNC_START | DMA_BUF_SYNC_WRITE, DMA_BUF_SYNC_END | DMA_BUF_SYNC_WRITE,
      DMA_BUF_SYNC_START | DMA_BUF_SYNC_RW,    DMA_BUF_SYNC_END | DMA_BUF_SYNC_RW};
  CHECK(fake.sync_flags == want);
  const DmabufSyncCounters c = sync.counters();
  CHECK(c.begins == 3);
  CHECK(c.ends == 3);
  CHECK(c.failures == 0);
  close(memfd);
}

TEST_CASE("DmabufSync: zero bytes make no call; no CPU pointer and ranges outside the buffer are refused without one") {
  FakeReset reset;
  const int memfd = make_memfd(64 * 1024);
  auto r = DmabufImport::open(memfd, {.ops = &fake_ops});
  REQUIRE(r);
  DmabufSync sync(*r);
  std::byte* base = r->data();
  CHECK_FALSE(sync.begin_cpu_access(base, 0, SyncAccess::read)); // nothing received: nothing to sync
  CHECK(sync.begin_cpu_access(nullptr, 64, SyncAccess::read) == std::error_code(dmabuf_errc::no_cpu_mapping));
  CHECK(sync.begin_cpu_access(base + 60 * 1024, 8192, SyncAccess::read) ==
        std::error_code(dmabuf_errc::range_outside_buffer));
  CHECK(sync.begin_cpu_access(base - 4096, 64, SyncAccess::read) ==
        std::error_code(dmabuf_errc::range_outside_buffer));
  CHECK_FALSE(sync.begin_cpu_access(base + 60 * 1024, 4096, SyncAccess::read)); // the last byte is inside
  CHECK(fake.ioctls == 1);
  const DmabufSyncCounters c = sync.counters();
  CHECK(c.empty == 1);
  CHECK(c.failures == 3);
  CHECK(c.begins == 1);
  close(memfd);
}

TEST_CASE("DmabufSync: EINTR and EAGAIN are retried, other errors and a spent retry budget are returned") {
  FakeReset reset;
  const int memfd = make_memfd(64 * 1024);
  auto r = DmabufImport::open(memfd, {.ops = &fake_ops});
  REQUIRE(r);
  DmabufSync sync(*r);
  std::byte* p = r->data();

  for (int err : {EINTR, EAGAIN}) {
    CAPTURE(err);
    fake.ioctls = 0;
    fake.ioctl_fail_times = 2;
    fake.ioctl_errno = err;
    CHECK_FALSE(sync.begin_cpu_access(p, 100, SyncAccess::read));
    CHECK(fake.ioctls == 3);
  }
  CHECK(sync.counters().retries == 4);

  fake.ioctls = 0;
  fake.ioctl_fail_times = 1;
  fake.ioctl_errno = EIO;
  CHECK(sync.end_cpu_access(p, 100, SyncAccess::read) == std::error_code(EIO, std::system_category()));
  CHECK(fake.ioctls == 1);

  fake.ioctls = 0;
  fake.ioctl_fail_times = -1; // interrupted forever: the call still returns
  fake.ioctl_errno = EINTR;
  CHECK(sync.begin_cpu_access(p, 100, SyncAccess::read) == std::error_code(EINTR, std::system_category()));
  CHECK(fake.ioctls == static_cast<int>(DmabufSync::max_retries) + 1);
  CHECK(sync.counters().failures == 2);
  close(memfd);
}

TEST_CASE("DmabufSync over the real ioctl: a memfd is no dma-buf, and the kernel's refusal comes back") {
  const int memfd = make_memfd(4096);
  DmabufSync sync(memfd); // real system calls, no range check
  std::byte b{};
  const std::error_code ec = sync.begin_cpu_access(&b, 1, SyncAccess::read);
  CHECK(ec);
  CHECK(ec.category() == std::system_category());
  CHECK(sync.counters().failures == 1);
  MESSAGE("DMA_BUF_IOCTL_SYNC on a memfd: ", ec.message());
  close(memfd);
}

static_assert(CpuSync<DmabufSync>);
static_assert(!DmabufSync::is_noop && HostMemorySync::is_noop);
