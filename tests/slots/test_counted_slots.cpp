// SPDX-License-Identifier: MIT
// CountedSlots (issue 12): a reference count per slot, "increment if
// non-zero" and "decrement if non-zero", a free list that finds a slot in
// O(1) at any fullness, and refusals counted without changing anything.
#include <arenakit/slots/counted.hpp>

#include <doctest/doctest.h>

#include <cstdint>
#include <set>
#include <vector>

using namespace arenakit;

static_assert(check_counted_slot_allocator<CountedSlots>());

TEST_CASE("CountedSlots hands out every slot exactly once with one reference, then reports full") {
  for (std::uint32_t slots : {1u, 16u, 63u, 64u, 65u, 512u}) {
    CAPTURE(slots);
    CountedSlots c(slots);
    REQUIRE(c.ready());
    CHECK(c.capacity() == slots);
    CHECK(c.free_count() == slots);
    std::set<std::uint32_t> seen;
    std::uint32_t out[64] = {};
    for (;;) {
      const std::uint32_t k = c.claim(out, 7);
      if (k == 0) break;
      for (std::uint32_t i = 0; i < k; ++i) {
        CHECK(out[i] < slots);
        CHECK(seen.insert(out[i]).second);
        CHECK_FALSE(c.is_free(out[i]));
        CHECK(c.refs(out[i]) == 1);
      }
    }
    CHECK(seen.size() == slots);
    CHECK(c.free_count() == 0);
  }
}

TEST_CASE("CountedSlots: a fresh allocator hands out 0, 1, 2, ... and reuses the slot released last") {
  CountedSlots c(8);
  std::uint32_t out[8] = {};
  REQUIRE(c.claim(out, 3) == 3);
  CHECK(out[0] == 0);
  CHECK(out[1] == 1);
  CHECK(out[2] == 2);
  CHECK(c.release(1) == SlotRelease::released);
  REQUIRE(c.claim(out, 1) == 1);
  CHECK(out[0] == 1); // LIFO: the slot most likely still in cache
}

TEST_CASE("CountedSlots retain and release: the slot is freed by the last reference only") {
  CountedSlots c(4);
  std::uint32_t s = 0;
  REQUIRE(c.claim(&s, 1) == 1);
  CHECK(c.retain(s));
  CHECK(c.retain(s));
  CHECK(c.refs(s) == 3);
  CHECK(c.release(s) == SlotRelease::kept);
  CHECK(c.release(s) == SlotRelease::kept);
  CHECK_FALSE(c.is_free(s));
  CHECK(c.free_count() == 3);
  CHECK(c.release(s) == SlotRelease::released);
  CHECK(c.is_free(s));
  CHECK(c.refs(s) == 0);
  CHECK(c.free_count() == 4);
  CHECK(c.counters().refused_drops == 0);
  CHECK(c.counters().refused_retains == 0);
}

TEST_CASE("CountedSlots release reports was_full when the allocator had no free slot") {
  CountedSlots c(2);
  std::uint32_t out[2] = {};
  REQUIRE(c.claim(out, 2) == 2);
  CHECK(c.claim(out, 1) == 0);
  CHECK(c.release(out[0]) == SlotRelease::was_full);
  CHECK(c.release(out[1]) == SlotRelease::released);
}

TEST_CASE("CountedSlots: a drop at zero is refused, counted, and never underflows") {
  CountedSlots c(4);
  std::uint32_t s = 0;
  REQUIRE(c.claim(&s, 1) == 1);
  CHECK(c.drop(s) == SlotDrop::last); // draining: zero references, not free
  CHECK(c.refs(s) == 0);
  CHECK_FALSE(c.is_free(s));
  CHECK(c.free_count() == 3);
  CHECK(c.drop(s) == SlotDrop::refused); // "decrement if non-zero"
  CHECK(c.refs(s) == 0);
  CHECK_FALSE(c.retain(s)); // "increment if non-zero": a draining slot is not brought back
  CHECK(c.refs(s) == 0);
  CHECK(c.release(s) == SlotRelease::released); // completes the free drop() began
  CHECK(c.is_free(s));
  CHECK(c.free_count() == 4);
  // On a free slot every reference operation is refused and changes nothing.
  CHECK(c.release(s) == SlotRelease::refused);
  CHECK(c.drop(s) == SlotDrop::refused);
  CHECK_FALSE(c.retain(s));
  CHECK(c.free_count() == 4);
  CHECK(c.is_free(s));
  const CountedSlotsCounters k = c.counters();
  CHECK(k.refused_drops == 3);
  CHECK(k.refused_retains == 2);
}

TEST_CASE("CountedSlots refuses indexes out of range, counted") {
  CountedSlots c(4);
  CHECK_FALSE(c.retain(4));
  CHECK(c.drop(4) == SlotDrop::refused);
  CHECK(c.release(0xFFFF'FFFFu) == SlotRelease::refused);
  CHECK(c.refs(4) == 0);
  CHECK_FALSE(c.is_free(4));
  CHECK(c.counters().refused_retains == 1);
  CHECK(c.counters().refused_drops == 2);
  CHECK(c.free_count() == 4);
}

TEST_CASE("CountedSlots claim takes no more than asked and no more than free") {
  CountedSlots c(100);
  std::vector<std::uint32_t> out(100);
  CHECK(c.claim(out.data(), 0) == 0);
  CHECK(c.claim(out.data(), 64) == 64);
  CHECK(c.claim(out.data(), 64) == 36);
  CHECK(c.claim(out.data(), 64) == 0);
  CHECK(c.release(99) == SlotRelease::was_full);
  CHECK(c.claim(out.data(), 64) == 1);
  CHECK(out[0] == 99);
}

TEST_CASE("CountedSlots: an empty allocator is not ready and hands out nothing") {
  CountedSlots c(0);
  CHECK_FALSE(c.ready());
  std::uint32_t s = 0;
  CHECK(c.claim(&s, 1) == 0);
  CHECK_FALSE(c.retain(0));
}
