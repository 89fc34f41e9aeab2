// SPDX-License-Identifier: MIT
// The page-reference policies (tokens/refs/) on their own, through the
// PageRefs concept's operations, and the consumer registry
// (tokens/impl/consumer_registry.hpp): what the tracker builds on.
#include <arenakit/concepts/page_refs.hpp>
#include <arenakit/tokens/impl/consumer_registry.hpp>
#include <arenakit/tokens/refs/single_writer.hpp>
#include <arenakit/tokens/refs/sole_or_shared.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <cstdint>
#include <vector>

using namespace arenakit;
using detail::page_done;
using detail::page_refused;

static_assert(check_page_refs<AnyThreadRefs>() && check_page_refs<OneProducerRefs>() &&
              check_page_refs<SingleWriterRefs>());
static_assert(PageRefs<AnyThreadRefs> && PageRefs<SingleWriterRefs>);
static_assert(!AnyThreadRefs::one_returner && SingleWriterRefs::one_returner);
static_assert(AnyThreadRefs::calls_hook && !SingleWriterRefs::calls_hook);
static_assert(AnyThreadRefs::bytes_per_page == 8 && SingleWriterRefs::bytes_per_page == 24,
              "the memory per page docs/tokens.md promises");

namespace {

struct FreedPages {
  std::vector<std::uint32_t>* out;
  void operator()(std::uint32_t p) const noexcept { out->push_back(p); }
};

/// Two consumers (slots 0 and 1) of one policy over 64 pages.
template <class Refs>
struct Bench {
  std::atomic<std::size_t> bytes{0};
  detail::ConsumerRegistry consumers;
  Refs refs;
  std::vector<std::uint32_t> freed;
  FreedPages hook{&freed};
  std::uint32_t a = 0, b = 0;
  Bench() {
    REQUIRE(consumers.init(8, bytes));
    REQUIRE(refs.allocate(64));
    REQUIRE(!consumers.take(a, bytes));
    REQUIRE(!consumers.take(b, bytes));
  }
  detail::PageCtx<FreedPages> ctx(std::uint32_t i) { return {consumers, *consumers.slot(i), i, bytes, hook}; }
};

} // namespace

TEST_CASE_TEMPLATE("a page-reference policy: sole, shared, back to free; refusals by reason", Refs, AnyThreadRefs,
                   OneProducerRefs, SingleWriterRefs) {
  Bench<Refs> t;
  auto a = t.ctx(t.a);
  auto b = t.ctx(t.b);
  REQUIRE(t.refs.begin_batch());
  CHECK(t.refs.deliver(a, 5) == page_done);
  CHECK(t.refs.deliver(a, 5) == page_done); // sole: a second reference, same owner
  CHECK(t.refs.deliver(b, 5) == page_done); // a second consumer: shared
  t.refs.end_batch();
  CHECK(t.refs.page_refs(5) == 3);
  CHECK(t.refs.refs_of(a, 5) == 2);
  CHECK(t.refs.refs_of(b, 5) == 1);
  CHECK(t.refs.give_back(b, 5) == page_done);
  CHECK(t.refs.give_back(b, 5) == page_refused(TokenRefusal::not_held)); // a still holds it
  CHECK(t.refs.give_back(b, 6) == page_refused(TokenRefusal::underflow)); // nobody does
  CHECK(t.refs.page_refs(5) == 2);
  CHECK(t.refs.give_back(a, 5) == page_done);
  CHECK(t.refs.give_back(a, 5) == page_done);
  CHECK(t.refs.page_refs(5) == 0);
  CHECK(t.refs.give_back(a, 5) == page_refused(TokenRefusal::underflow));
  // calls_hook: once, on the last drop. SingleWriterRefs promises no hook
  // (a tracker over it takes only IgnorePageFree): its shared part may call
  // one when the word's count falls to zero, which is not the page's last.
  if constexpr (Refs::calls_hook) CHECK(t.freed == std::vector<std::uint32_t>{5});
}

TEST_CASE_TEMPLATE("a page-reference policy: drain gives back sole and shared pages, visiting what was held",
                   Refs, AnyThreadRefs, OneProducerRefs, SingleWriterRefs) {
  Bench<Refs> t;
  auto a = t.ctx(t.a);
  auto b = t.ctx(t.b);
  REQUIRE(t.refs.begin_batch());
  for (std::uint32_t p = 0; p < 10; ++p) CHECK(t.refs.deliver(a, p) == page_done);
  CHECK(t.refs.deliver(b, 3) == page_done); // page 3 shared
  CHECK(t.refs.deliver(b, 20) == page_done);
  t.refs.end_batch();
  std::uint64_t visits = 0;
  CHECK(t.refs.drain(a, visits) == 10);
  CHECK(visits >= 10);
  CHECK(visits <= 11); // its log, and its shared table (page 3): never the binding
  for (std::uint32_t p = 0; p < 10; ++p) CHECK(t.refs.page_refs(p) == (p == 3 ? 1u : 0u));
  CHECK(t.refs.refs_of(b, 3) == 1); // the other consumer keeps its reference
  CHECK(t.refs.page_refs(20) == 1);
  visits = 0;
  CHECK(t.refs.drain(b, visits) == 2);
  CHECK(t.refs.page_refs(3) == 0);
  CHECK(t.refs.page_refs(20) == 0);
}

TEST_CASE("one producer: a second concurrent batch is refused; many producers: always admitted") {
  OneProducerRefs one;
  REQUIRE(one.begin_batch());
  CHECK_FALSE(one.begin_batch());
  one.end_batch();
  CHECK(one.begin_batch());
  one.end_batch();
  SingleWriterRefs sw;
  REQUIRE(sw.begin_batch());
  CHECK_FALSE(sw.begin_batch());
  sw.end_batch();
  AnyThreadRefs many;
  CHECK(many.begin_batch());
  CHECK(many.begin_batch());
}

TEST_CASE("consumer registry: slots in chunks of 64, LIFO reuse, the limit, memory counted") {
  std::atomic<std::size_t> bytes{0};
  detail::ConsumerRegistry r;
  REQUIRE(r.init(70, bytes));
  const std::size_t table = bytes.load();
  CHECK(table == 2 * sizeof(void*)); // two chunk pointers, no slot yet
  CHECK(r.slot(0) == nullptr);
  std::vector<std::uint32_t> got;
  for (int i = 0; i < 70; ++i) {
    std::uint32_t idx = 99;
    REQUIRE(!r.take(idx, bytes));
    got.push_back(idx);
  }
  for (std::uint32_t i = 0; i < 70; ++i) CHECK(got[i] == i); // low indexes first
  CHECK(bytes.load() == table + 2 * 64 * sizeof(detail::TokenConsumerSlot));
  std::uint32_t idx = 0;
  CHECK(r.take(idx, bytes) == make_error_code(errc::limit_reached));
  CHECK(r.slot(70) == nullptr); // past max_consumers
  CHECK(r.slot(69) != nullptr);
  r.put(17);
  r.put(3);
  REQUIRE(!r.take(idx, bytes));
  CHECK(idx == 3); // LIFO: the slot freed last, most likely in cache
  REQUIRE(!r.take(idx, bytes));
  CHECK(idx == 17);
  std::size_t seen = 0;
  r.for_each_slot([&](const detail::TokenConsumerSlot&) noexcept { ++seen; });
  CHECK(seen == 128);
}
