#include <arenakit/slots/bitmap.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <set>
#include <vector>

using namespace arenakit;

TEST_CASE("BitmapSlots hands out every slot exactly once, then reports full") {
  for (std::uint32_t slots : {1u, 16u, 63u, 64u, 65u, 256u, 257u, 1024u}) {
    CAPTURE(slots);
    BitmapSlots b(slots);
    REQUIRE(b.ready());
    CHECK(b.capacity() == slots);
    std::set<std::uint32_t> seen;
    std::uint32_t out[64];
    for (;;) {
      const std::uint32_t k = b.claim(out, 7);
      if (k == 0) break;
      for (std::uint32_t i = 0; i < k; ++i) {
        CHECK(out[i] < slots);
        CHECK(seen.insert(out[i]).second);
        CHECK_FALSE(b.is_free(out[i]));
      }
    }
    CHECK(seen.size() == slots);
    CHECK(b.free_count() == 0);
  }
}

TEST_CASE("BitmapSlots release: was_full on the first, refused on a double release") {
  // Several words: the free count's RMW says whether the shard was full.
  BitmapSlots m(100);
  std::uint32_t many[100];
  REQUIRE(m.claim(many, 100) == 100);
  CHECK(m.release(70) == SlotRelease::was_full);
  CHECK(m.release(71) == SlotRelease::released);
  CHECK(m.release(70) == SlotRelease::refused);
  CHECK(m.free_count() == 2);

  // One word: the release is one bit-test-and-reset, which sees only the
  // slot's bit, so every release that returns a slot may have ended "full".
  BitmapSlots b(16);
  std::uint32_t out[16];
  REQUIRE(b.claim(out, 16) == 16);
  CHECK(b.release(3) == SlotRelease::maybe_was_full);
  CHECK(b.release(4) == SlotRelease::maybe_was_full);
  CHECK(b.free_count() == 2);
  CHECK(b.release(3) == SlotRelease::refused);
  CHECK(b.free_count() == 2); // a refused release changes nothing
  CHECK(b.release(16) == SlotRelease::refused);
  CHECK(b.release(0xFFFFFFFFu) == SlotRelease::refused);
  CHECK(b.is_free(3));
  CHECK_FALSE(b.is_free(5));
  CHECK_FALSE(b.is_free(16));
}

TEST_CASE("BitmapSlots claim takes no more than asked and no more than free") {
  BitmapSlots b(100);
  std::uint32_t out[64];
  CHECK(b.claim(out, 0) == 0);
  CHECK(b.claim(out, 64) == 64);
  CHECK(b.claim(out, 64) == 36);
  CHECK(b.claim(out, 64) == 0);
  b.release(99);
  CHECK(b.claim(out, 64) == 1);
  CHECK(out[0] == 99);
}
