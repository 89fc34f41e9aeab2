// SPDX-License-Identifier: MIT
// llist: the kernel contract (push says was-empty, take_all is one exchange,
// reversal gives FIFO) and the single-consumer rule carried by the type.
#include <arenakit/lists/llist.hpp>

#include <doctest/doctest.h>

#include <vector>

using namespace arenakit;

namespace {
struct Item : LlistNode {
  int value = 0;
};

std::vector<int> values(LlistNode* chain) {
  std::vector<int> out;
  llist_for_each(chain, [&](LlistNode* n) noexcept { out.push_back(llist_entry<Item>(n)->value); });
  return out;
}

// The rule is in the type: Llist has no pop_first at all, ScLlist has it only
// on its Consumer handle.
template <class L>
concept HasPopFirst = requires(L& l) { l.pop_first(); };
static_assert(!HasPopFirst<Llist>, "Llist must not offer pop_first (ABA with concurrent take_all)");
static_assert(!HasPopFirst<ScLlist>, "ScLlist offers pop_first only through its Consumer");
static_assert(HasPopFirst<ScLlist::Consumer>);
static_assert(!std::is_copy_constructible_v<ScLlist::Consumer>, "the consumer handle is unique");
} // namespace

TEST_CASE("push reports the empty-to-non-empty edge, and only that one") {
  Llist list;
  Item a, b, c;
  CHECK(list.empty());
  CHECK(list.push(a));
  CHECK_FALSE(list.push(b));
  CHECK_FALSE(list.push(c));
  LlistNode* chain = list.take_all();
  CHECK(list.empty());
  CHECK(llist_length(chain) == 3);
  CHECK(list.push(a)); // empty again after take_all: the next push is an edge
}

TEST_CASE("take_all returns newest first; llist_reverse gives push order") {
  Llist list;
  Item items[5];
  for (int i = 0; i < 5; ++i) {
    items[i].value = i;
    (void)list.push(items[i]);
  }
  LlistNode* chain = list.take_all();
  CHECK(values(chain) == std::vector<int>{4, 3, 2, 1, 0});
  CHECK(values(llist_reverse(chain)) == std::vector<int>{0, 1, 2, 3, 4});
  CHECK(list.take_all() == nullptr);
  CHECK(llist_reverse(nullptr) == nullptr);
}

TEST_CASE("push_bulk links a caller-built chain with one operation") {
  Llist list;
  Item a, b, c, d;
  a.value = 1, b.value = 2, c.value = 3, d.value = 4;
  CHECK(list.push(a));
  // chain d -> c -> b (first = d, last = b)
  d.next = &c;
  c.next = &b;
  CHECK_FALSE(list.push_bulk(d, b));
  CHECK(values(list.take_all()) == std::vector<int>{4, 3, 2, 1});

  Item e;
  e.value = 9;
  CHECK(list.push_bulk(e, e)); // a one-node batch on an empty list is an edge
}

TEST_CASE("llist_for_each lets the callback re-push the node it is given") {
  Llist from, to;
  Item items[4];
  for (auto& i : items) (void)from.push(i);
  std::size_t n = llist_for_each(from.take_all(), [&](LlistNode* node) noexcept { (void)to.push(*node); });
  CHECK(n == 4);
  CHECK(llist_length(to.take_all()) == 4);
}

TEST_CASE("ScLlist: one consumer at a time; pop_first is LIFO and sees concurrent-style pushes") {
  ScLlist list;
  auto consumer = list.claim_consumer();
  REQUIRE(consumer.has_value());
  CHECK_FALSE(list.claim_consumer().has_value()); // a second consumer is refused

  Item items[3];
  for (int i = 0; i < 3; ++i) {
    items[i].value = i;
    CHECK(list.push(items[i]) == (i == 0));
  }
  CHECK(llist_entry<Item>(consumer->pop_first())->value == 2);
  Item late;
  late.value = 7;
  CHECK_FALSE(list.push(late));
  CHECK(llist_entry<Item>(consumer->pop_first())->value == 7);
  CHECK(values(consumer->take_all()) == std::vector<int>{1, 0});
  CHECK(consumer->pop_first() == nullptr);

  // Giving the handle back (destroying it) lets the next consumer claim.
  consumer.reset();
  auto next = list.claim_consumer();
  CHECK(next.has_value());
  // Moving the handle moves the claim: still only one.
  auto moved = std::move(*next);
  next.reset();
  CHECK_FALSE(list.claim_consumer().has_value());
}

TEST_CASE("layout: each list head owns a cache line") {
  CHECK(sizeof(Llist) == cache_line_size);
  CHECK(alignof(Llist) == cache_line_size);
  CHECK(sizeof(ScLlist) == cache_line_size);
}
