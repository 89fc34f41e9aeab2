# The arena against its peers: the seed-000 linear scan, glibc malloc,
# std::pmr pools, Boost.Pool and DPDK rte_mempool (DPDK code in its own TU).
arenakit_add_benchmark(NAME bench_arena
  SOURCES bench_arena.cpp
  PEERS dpdk boost_pool
  PEER_SOURCES peer_dpdk_arena.cpp)
if(ARENAKIT_BUILD_TESTS)
  # A smoke run: every benchmark executes once, so a broken one fails CI.
  add_test(NAME bench_arena_smoke COMMAND bench_arena --benchmark_min_time=0.001 --benchmark_repetitions=1)
  set_tests_properties(bench_arena_smoke PROPERTIES LABELS "bench-smoke" TIMEOUT 300)
endif()

# Counted slots (issue 12): a reference count per slot against a flat array of counts.
arenakit_add_benchmark(NAME bench_counted SOURCES bench_counted.cpp)

# Instruction and locked-instruction counts per operation (callgrind), for
# the report's instructions column: scripts/main.sh runs it under valgrind.
add_executable(count_arena count_arena.cpp)
target_link_libraries(count_arena PRIVATE arenakit::arenakit)
target_include_directories(count_arena PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
arenakit_strict(count_arena)
if(TARGET arenakit_peer_boost_pool)
  target_compile_definitions(count_arena PRIVATE ARENAKIT_HAVE_BOOST_POOL=1)
  target_link_libraries(count_arena PRIVATE arenakit_peer_boost_pool)
endif()
