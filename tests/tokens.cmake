# Token tracker (issue 4): tests/tokens/*.cpp
arenakit_add_test(NAME tokens_api SOURCES tokens/tokens_api.cpp)
arenakit_add_test(NAME tokens_bad_input SOURCES tokens/tokens_bad_input.cpp)
arenakit_add_test(NAME tokens_close SOURCES tokens/tokens_close.cpp)
arenakit_add_test(NAME tokens_memory SOURCES tokens/tokens_memory.cpp TIMEOUT 600)
arenakit_add_test(NAME tokens_stress SOURCES tokens/tokens_stress.cpp LABELS stress TIMEOUT 300)
target_compile_definitions(tokens_stress PRIVATE ARENAKIT_TEST_HOOKS) # YieldPoint widens race windows
# Races forced at pause points: the whole executable is built with the hooks.
arenakit_add_test(NAME tokens_races SOURCES tokens/tokens_races.cpp LABELS stress)
target_compile_definitions(tokens_races PRIVATE ARENAKIT_TEST_HOOKS)
# A devmem binding that is an arena of counted slots (issue 12).
arenakit_add_test(NAME tokens_arena_binding SOURCES tokens/tokens_arena_binding.cpp)
arenakit_add_test(NAME tokens_arena_binding_stress SOURCES tokens/tokens_arena_binding_stress.cpp LABELS stress TIMEOUT 600)
# One consumer across several bindings: 64-bit tokens carry the binding id (issue 12).
arenakit_add_test(NAME tokens_binding_group SOURCES tokens/tokens_binding_group.cpp)
arenakit_add_test(NAME tokens_binding_group_stress SOURCES tokens/tokens_binding_group_stress.cpp LABELS stress TIMEOUT 600)
# The page-reference policies and the consumer registry on their own (issue 12).
arenakit_add_test(NAME tokens_page_refs SOURCES tokens/tokens_page_refs.cpp)
arenakit_add_compile_fail_test(NAME cf_page_refs_without_give_back
  SOURCE concepts/compile_fail/page_refs_without_give_back.cpp
  REGEX "arenakit: PageRefs is missing `give_back")
# A token return ring per consumer (issue 15, part 3): the application writes, the receive thread drains.
arenakit_add_test(NAME tokens_return_ring SOURCES tokens/tokens_return_ring.cpp)
arenakit_add_test(NAME tokens_return_ring_races SOURCES tokens/tokens_return_ring_races.cpp LABELS stress)
target_compile_definitions(tokens_return_ring_races PRIVATE ARENAKIT_TEST_HOOKS) # pause points
arenakit_add_test(NAME tokens_return_ring_stress SOURCES tokens/tokens_return_ring_stress.cpp LABELS stress TIMEOUT 300)
target_compile_definitions(tokens_return_ring_stress PRIVATE ARENAKIT_TEST_HOOKS) # YieldPoint widens the drain's window
arenakit_add_compile_fail_test(NAME cf_return_ring_single_writer
  SOURCE tokens/compile_fail/return_ring_single_writer.cpp
  REGEX "TokenReturnRing::drain\\(\\): the target needs return_tokens\\(handle, ranges\\)")
# The returns' prefetch-ahead survives optimisation (both policy families):
# compiled to assembly at -O2, no sanitizer flags, checked for a prefetch.
foreach(variant IN ITEMS "any;" "single_writer;-DARENAKIT_TEST_SINGLE_WRITER")
  list(GET variant 0 name)
  list(GET variant 1 defs)
  add_test(NAME tokens_return_prefetch_${name}
           COMMAND ${CMAKE_COMMAND} -DCXX=${CMAKE_CXX_COMPILER} -DINCLUDE=${PROJECT_SOURCE_DIR}/include
                   -DSRC=${CMAKE_CURRENT_SOURCE_DIR}/tokens/counts/return_prefetch.cpp "-DDEFS=${defs}"
                   -DOUT=${CMAKE_CURRENT_BINARY_DIR}/tokens_return_prefetch_${name}.s
                   -P ${CMAKE_CURRENT_SOURCE_DIR}/tokens/counts/return_prefetch.cmake)
  set_tests_properties(tokens_return_prefetch_${name} PROPERTIES LABELS "counts" TIMEOUT 120)
endforeach()
# Locked instructions per deliver+return window (bench_tokens' window: 64
# tokens out, the 64 oldest of 1,024 back), counted by callgrind: they do not
# depend on the machine. any: 128 per-token CASes + 5 per-call RMWs; one
# producer: 64 + 6 (seq only: rand's few repeated pages take a CAS);
# single writer: the 5 per-call RMWs only. Instructions per window, loop
# included, at -O2: g++ 12 any 4,792 / 7,501 (seq / rand), one 4,864,
# single writer 5,684 / 7,932; clang 14 6,042 / 8,234, 5,548, 6,718 / 8,670.
# Bounds a few percent above both. Not under the sanitizers.
arenakit_add_count_tests(PROGRAM tokens_locked_per_window SOURCE tokens/counts/tokens_locked_per_window.cpp
  PREFIX tokens_locked_per_window
  MODES "any_seq:133:6300" "any_rand:133:8600" "one_seq:70:5800" "sw_seq:5:7000" "sw_rand:5:9000")
