#include <arenakit/reclaimers/immediate.hpp>
#include <arenakit/region.hpp>
#include <arenakit/slot_id.hpp>

#include <doctest/doctest.h>

#include <vector>

using namespace arenakit;

TEST_CASE("SlotId: the empty id is false, tag and position split the 32 bits") {
  CHECK_FALSE(SlotId{});
  SlotId id{0x2A00'1234u};
  CHECK(id);
  CHECK(id.tag() == 0x2A);
  CHECK(id.position() == 0x1234u);
  CHECK(id == SlotId{0x2A00'1234u});
  CHECK(id != SlotId{0x2B00'1234u});
  static_assert(slot_id_tag_bits + slot_id_position_bits == 32);
}

TEST_CASE("ImmediateReclaimer hands every retired slot to the sink at once") {
  struct Sink {
    std::vector<SlotId>* got;
    void operator()(SlotId id) const noexcept { got->push_back(id); }
  };
  std::vector<SlotId> got;
  Sink sink{&got};
  ImmediateReclaimer r;
  r.retire(SlotId{0x0100'0001u}, nullptr, sink);
  r.retire(SlotId{0x0100'0002u}, nullptr, sink);
  CHECK(got.size() == 2);
  CHECK(r.pending() == 0);
  CHECK(r.reclaim(sink) == 0);
  CHECK(got.size() == 2);
}

TEST_CASE("Region: empty by default, true once it has a size") {
  Region r;
  CHECK_FALSE(r);
  CHECK(r.numa_node == -1);
  r.size = 4096;
  CHECK(r);
}
