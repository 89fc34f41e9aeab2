# Foundation: sources, mapper, bitmap slots, the arena and its cache.
arenakit_add_test(NAME test_error SOURCES test_error.cpp)
arenakit_add_test(NAME test_memory_sources SOURCES sources/test_memory_sources.cpp)
arenakit_add_test(NAME test_noop_mapper SOURCES mappers/test_noop_mapper.cpp)
arenakit_add_test(NAME test_bitmap_slots SOURCES slots/test_bitmap_slots.cpp)
arenakit_add_test(NAME test_concepts SOURCES concepts/test_concepts.cpp)
arenakit_add_test(NAME test_slot_id SOURCES test_slot_id.cpp)
arenakit_add_test(NAME test_arena SOURCES arena/test_arena.cpp)
arenakit_add_test(NAME test_arena_bad_input SOURCES arena/test_arena_bad_input.cpp)
arenakit_add_test(NAME test_arena_stress SOURCES arena/test_arena_stress.cpp LABELS stress TIMEOUT 600)
# The word-wise held check of the bulk paths (issue 13).
arenakit_add_test(NAME test_arena_bulk_held SOURCES arena/test_arena_bulk_held.cpp)
arenakit_add_test(NAME test_arena_direct_held SOURCES arena/test_arena_direct_held.cpp)
arenakit_add_test(NAME arena_bulk_held_stress SOURCES arena/arena_bulk_held_stress.cpp LABELS stress TIMEOUT 600)

# A policy that does not fit is refused with a message naming what is missing.
arenakit_add_compile_fail_test(NAME cf_mapper_without_unmap
  SOURCE concepts/compile_fail/mapper_without_unmap.cpp
  REGEX "arenakit: Mapper is missing `unmap")
arenakit_add_compile_fail_test(NAME cf_mapper_without_mapping_type
  SOURCE concepts/compile_fail/mapper_without_mapping_type.cpp
  REGEX "arenakit: Mapper is missing the nested type `mapping_type`")
arenakit_add_compile_fail_test(NAME cf_slots_without_claim
  SOURCE concepts/compile_fail/slots_without_claim.cpp
  REGEX "arenakit: SlotAllocator is missing `claim")
arenakit_add_compile_fail_test(NAME cf_reclaimer_without_retire
  SOURCE concepts/compile_fail/reclaimer_without_retire.cpp
  REGEX "arenakit: Reclaimer is missing `retire")
arenakit_add_compile_fail_test(NAME cf_source_without_deallocate
  SOURCE concepts/compile_fail/source_without_deallocate.cpp
  REGEX "arenakit: MemorySource is missing `deallocate")
# RangeOnlyCheck over a deferred reclaimer: a double release would link the slot twice.
arenakit_add_compile_fail_test(NAME cf_range_only_deferred
  SOURCE concepts/compile_fail/range_only_deferred.cpp
  REGEX "arenakit: RangeOnlyCheck needs an immediate reclaimer")

# Every public header compiles on its own (CMake builds one TU per header).
add_test(NAME headers_self_contained
         COMMAND ${CMAKE_COMMAND} --build ${CMAKE_BINARY_DIR} --target all_verify_interface_header_sets)
set_tests_properties(headers_self_contained PROPERTIES LABELS "compile-fail" TIMEOUT 600)

# The umbrella header includes every core header (the README says it does).
add_test(NAME umbrella_includes_core
         COMMAND ${CMAKE_COMMAND} -DCXX=${CMAKE_CXX_COMPILER} -DINCLUDE=${PROJECT_SOURCE_DIR}/include
                 -DOUT=${CMAKE_CURRENT_BINARY_DIR}/umbrella_includes_core
                 -P ${CMAKE_CURRENT_SOURCE_DIR}/umbrella/check.cmake)
set_tests_properties(umbrella_includes_core PROPERTIES LABELS "consumer" TIMEOUT 120)

# Consumers: add_subdirectory, an installed find_package, a refused wrong
# major version, and pkg-config. Each builds a tiny program against us.
foreach(mode subdir installed wrong_major pkgconfig)
  add_test(NAME consumer_${mode}
           COMMAND ${CMAKE_COMMAND} -DMODE=${mode} -DSOURCE_DIR=${PROJECT_SOURCE_DIR}
                   -DWORK_DIR=${CMAKE_BINARY_DIR}/consumer-${mode} -DCXX=${CMAKE_CXX_COMPILER}
                   -P ${CMAKE_CURRENT_SOURCE_DIR}/consumer/check.cmake)
  set_tests_properties(consumer_${mode} PROPERTIES LABELS "consumer" TIMEOUT 300)
endforeach()

# Races forced at pause points (issue 10): the whole executable is built with the hooks.
arenakit_add_test(NAME arena_races SOURCES arena/arena_races.cpp LABELS stress)
target_compile_definitions(arena_races PRIVATE ARENAKIT_TEST_HOOKS)
arenakit_add_test(NAME arena_release_race_stress SOURCES arena/arena_release_race_stress.cpp LABELS stress TIMEOUT 600)
target_compile_definitions(arena_release_race_stress PRIVATE ARENAKIT_TEST_HOOKS)

# Locked instructions per owner-cache pair, counted by callgrind (they do not
# depend on the machine): one exchange with held flags, none with range_only.
# Not under the sanitizers (valgrind does not run their binaries).
# mode; locked per pair; most instructions per pair, loop included (issue
# 13: the cache keeps its own copy of the geometry, count and hits share one
# word, the check is a policy; g++ 12: held 29, plain 30, range 25 (clang 14:
# 29, 29, 25), from 30 / 31 / 25 (clang 14: 30, 30, 25) before release found
# the flag from the raw id as acquire does (flag_of_raw(), the position kept
# for the known() compare only), 32 / 33 / 25 (clang 14: 33, 34, 25) before the held flag
# was four bytes found at base + raw id * 4 (no stride, no multiply), and
# 66 / - / 42 before that; 37 / 38 / 26 before the held flag
# was found by a multiply by its stride from memory instead of a shift by a
# count loaded into CL, acquire found it from the raw id (flag_of_raw())
# and took the cached id at a 64-bit index). direct: Arena::acquire + release
# with held flags, 2 locked (the claim's CAS and the bitmap release, which
# is also the held check of a held_direct slot) and 68 instructions (clang
# 14: 72; 70 / 75 with two-byte flags at a stride), from 104 (clang 14: 114) before the release checked the id with
# one compare against a published position limit, the single-word bitmap
# release became a bit-test-and-reset (the arena asks its listing whether
# the shard was full), claim_one() returned its index in a register and
# clang inlined the pair; 111 / 124 before the claimed bit's index was a
# bit scan of a word known not to be full and the flag was marked where the
# claim succeeded, from 3 / 101 and 5 / 203 before. bulk: Cache::acquire_bulk +
# release_bulk of 32 in 16-slot shards, held flags checked word-wise: 4
# locked per batch (one RMW per held-bitmap word each way) and 682
# instructions (clang 14: 732), from 880 (clang 14: 870) before
# word_batch() skipped the high half of words of up to 32 bits and was a
# test and a call at its caller (inlined, its generic body had made the
# caller realign its stack); 987 / 883 before id_lanes.hpp, and 32 locked
# per batch before. bulk_range: the same with RangeOnlyCheck, 0
# locked and 263 instructions (clang 14: 226), from 684 (clang 14: 266)
# while GCC left the copy and the range check scalar at -O2, and 300 / 270
# before the check became one add and one signed compare per four ids.
# bulk_plain: the same with PlainHeldFlagsCheck, 0 locked and 597
# instructions (clang 14: 531), from 1,023 (clang 14: 1,213) before the batch
# back was one range check and a loop of flag loads and stores of its own
# (take_plain()) and the flags out were stored from a local base. counted:
# a counted arena's cache, acquire + retain + release + release, 3 locked
# (the two "if non-zero" drops and the retain's CAS) and 123 instructions
# (clang 14: 128; 126 / 130 with two-byte flags, 131 / 137 before the held flag's stride); through Arena::acquire / release it is 8 locked, 224
# instructions (9 and 227 before its last release cleared the flag with a
# store instead of an exchange).
arenakit_add_count_tests(PROGRAM arena_locked_per_pair SOURCE arena/counts/arena_locked_per_pair.cpp
  PREFIX arena_locked_per_pair
  MODES "held:1:30" "plain:0:30" "range:0:25" "direct:2:75" "bulk:4:760" "bulk_range:0:275" "bulk_plain:0:620"
        "counted:3:131")

# Named policy selection and presets (issue 11).
arenakit_add_test(NAME arena_policy SOURCES arena/arena_policy.cpp)
arenakit_add_compile_fail_test(NAME cf_arena_with_unknown_policy
  SOURCE concepts/compile_fail/arena_with_unknown_policy.cpp
  REGEX "arenakit: Arena<>::with<...> takes arenakit::policy::mapper<M>")
arenakit_add_compile_fail_test(NAME cf_arena_unknown_release_check
  SOURCE concepts/compile_fail/arena_unknown_release_check.cpp
  REGEX "arenakit: an Arena.s release check is HeldFlagsCheck, PlainHeldFlagsCheck or RangeOnlyCheck")

# Counted slots and the counted arena (issue 12): retain / refs / release as
# "drop one reference"; a refinement of SlotAllocator with its own check.
arenakit_add_test(NAME test_counted_slots SOURCES slots/test_counted_slots.cpp)
arenakit_add_test(NAME test_arena_counted SOURCES arena/test_arena_counted.cpp)
arenakit_add_test(NAME counted_races SOURCES slots/counted_races.cpp LABELS stress)
target_compile_definitions(counted_races PRIVATE ARENAKIT_TEST_HOOKS)
arenakit_add_test(NAME counted_stress SOURCES slots/counted_stress.cpp LABELS stress TIMEOUT 600)
arenakit_add_compile_fail_test(NAME cf_counted_slots_without_drop
  SOURCE concepts/compile_fail/counted_slots_without_drop.cpp
  REGEX "arenakit: CountedSlotAllocator is missing `drop")
arenakit_add_compile_fail_test(NAME cf_counted_slots_without_first_ref
  SOURCE concepts/compile_fail/counted_slots_without_first_ref.cpp
  REGEX "arenakit: CountedSlotAllocator is missing `first_ref")
# Mappings counted in extents, under a budget (issue 15.2).
arenakit_add_test(NAME test_arena_extents SOURCES arena/test_arena_extents.cpp)
# Idle shards given back (issue 15.1).
arenakit_add_test(NAME test_arena_shrink SOURCES arena/test_arena_shrink.cpp)
arenakit_add_test(NAME arena_shrink_stress SOURCES arena/arena_shrink_stress.cpp LABELS stress TIMEOUT 600)
arenakit_add_test(NAME arena_shrink_races SOURCES arena/arena_shrink_races.cpp LABELS stress)
target_compile_definitions(arena_shrink_races PRIVATE ARENAKIT_TEST_HOOKS)
