# io_uring fixed buffers: the set-up cost of a pool of 72 ready 4 KB buffers
# with real kernel registration (per-buffer vs 64 KB shards vs one 2 MB
# region). Needs the arenakit::uring target (liburing).
if(TARGET arenakit_uring)
  arenakit_add_benchmark(NAME bench_uring_setup SOURCES bench_uring_setup.cpp)
  target_link_libraries(bench_uring_setup PRIVATE arenakit::uring)
  if(ARENAKIT_BUILD_TESTS)
    # A smoke run: every benchmark executes once, so a broken one fails CI.
    add_test(NAME bench_uring_setup_smoke
             COMMAND bench_uring_setup --benchmark_min_time=0.001 --benchmark_repetitions=1)
    set_tests_properties(bench_uring_setup_smoke PROPERTIES LABELS "bench-smoke" TIMEOUT 300)
  endif()
endif()
