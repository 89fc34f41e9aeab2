// SPDX-License-Identifier: MIT
// A fake libibverbs behind the IbvOps seam: counts registrations and
// deregistrations, records what each call was given, records posted work
// requests, and fails a chosen registration or a chosen request on demand.
//
// No device and no global state: the protection domain handed to IbvMapper
// is `&fake.pd`, the first member of a standard-layout FakeVerbs, so every
// fake call finds its FakeVerbs from the pd it is given (an MR, QP and SRQ
// carry their pd too).
#pragma once

#include <arenakit/ibverbs/mapper.hpp>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include <infiniband/verbs.h>

namespace fake {

inline constexpr int max_mrs = 256;
inline constexpr int max_posts = 512;

struct Mr {
  ibv_mr mr{}; // first member: dereg_mr's ibv_mr* is a Mr*
  bool live = false;
  bool dmabuf = false;
  int access = 0;
  int fd = -1;
  std::uint64_t offset = 0;
  std::uint64_t iova = 0;
};

struct Posted {
  std::uint64_t wr_id = 0;
  ibv_sge sge{};
  int num_sge = 0;
  bool to_srq = false;
};

struct FakeVerbs {
  ibv_pd pd{}; // first member: the pd IbvMapper is given is this FakeVerbs

  // Registrations.
  int reg_attempts = 0;     ///< every reg_mr / reg_dmabuf_mr call, failed ones too
  int regs = 0;             ///< successful registrations (both kinds)
  int dmabuf_regs = 0;
  int deregs = 0;
  int fail_reg_at = -1;     ///< this reg_attempts index and every later one fail (-1: none)
  int fail_reg_errno = ENOMEM;
  int fail_dereg_errno = 0; ///< non-zero: dereg_mr fails with this (MR stays live)
  ibv_pd* last_pd = nullptr;
  int last_access = 0;
  std::size_t last_length = 0;
  Mr mrs[max_mrs];

  // Posts.
  int post_recv_calls = 0;
  int post_srq_calls = 0;
  int fail_post_at = -1;    ///< index in the posted list that is refused (-1: none)
  int fail_post_errno = ENOMEM;
  bool foreign_bad_wr = false; ///< report a bad_wr that is not one of the caller's
  ibv_recv_wr foreign{};
  int posted_count = 0;
  Posted posted[max_posts];

  int live_mrs() const { return regs - deregs; }
};
static_assert(std::is_standard_layout_v<FakeVerbs>, "pd must be pointer-interconvertible");

inline FakeVerbs* of(ibv_pd* pd) { return reinterpret_cast<FakeVerbs*>(pd); }

inline ibv_mr* record(FakeVerbs* f, ibv_pd* pd, void* addr, std::size_t length, int access,
                      bool dmabuf, int fd, std::uint64_t offset, std::uint64_t iova) {
  const int attempt = f->reg_attempts++;
  f->last_pd = pd;
  f->last_access = access;
  f->last_length = length;
  if ((f->fail_reg_at >= 0 && attempt >= f->fail_reg_at) || f->regs >= max_mrs) {
    errno = f->fail_reg_errno;
    return nullptr;
  }
  Mr& m = f->mrs[f->regs];
  const auto n = static_cast<std::uint32_t>(f->regs);
  ++f->regs;
  if (dmabuf) ++f->dmabuf_regs;
  m.mr.pd = pd;
  m.mr.addr = addr;
  m.mr.length = length;
  m.mr.lkey = 0x1000u + n;
  m.mr.rkey = 0x2000u + n;
  m.live = true;
  m.dmabuf = dmabuf;
  m.access = access;
  m.fd = fd;
  m.offset = offset;
  m.iova = iova;
  return &m.mr;
}

inline ibv_mr* reg_mr(ibv_pd* pd, void* addr, std::size_t length, int access) {
  return record(of(pd), pd, addr, length, access, false, -1, 0, reinterpret_cast<std::uint64_t>(addr));
}

inline ibv_mr* reg_dmabuf_mr(ibv_pd* pd, std::uint64_t offset, std::size_t length,
                             std::uint64_t iova, int fd, int access) {
  return record(of(pd), pd, nullptr, length, access, true, fd, offset, iova);
}

inline int dereg_mr(ibv_mr* mr) {
  FakeVerbs* f = of(mr->pd);
  if (f->fail_dereg_errno != 0) return f->fail_dereg_errno;
  auto* m = reinterpret_cast<Mr*>(mr);
  if (!m->live) return EINVAL; // a double dereg would show up as a missing count
  m->live = false;
  ++f->deregs;
  return 0;
}

inline int post(FakeVerbs* f, ibv_recv_wr* wr, ibv_recv_wr** bad, bool srq) {
  if (f->foreign_bad_wr) {
    *bad = &f->foreign;
    return EINVAL;
  }
  for (int i = 0; wr != nullptr; wr = wr->next, ++i) {
    if (i == f->fail_post_at || f->posted_count == max_posts) {
      *bad = wr;
      return f->fail_post_errno;
    }
    Posted& p = f->posted[f->posted_count++];
    p.wr_id = wr->wr_id;
    p.num_sge = wr->num_sge;
    p.sge = wr->sg_list[0];
    p.to_srq = srq;
  }
  return 0;
}

inline int post_recv(ibv_qp* qp, ibv_recv_wr* wr, ibv_recv_wr** bad) {
  FakeVerbs* f = of(qp->pd);
  ++f->post_recv_calls;
  return post(f, wr, bad, false);
}

inline int post_srq_recv(ibv_srq* srq, ibv_recv_wr* wr, ibv_recv_wr** bad) {
  FakeVerbs* f = of(srq->pd);
  ++f->post_srq_calls;
  return post(f, wr, bad, true);
}

inline constexpr arenakit::IbvOps ops{&reg_mr, &reg_dmabuf_mr, &dereg_mr, &post_recv, &post_srq_recv};

} // namespace fake
