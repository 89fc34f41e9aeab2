# Receive throughput over TCP loopback: a RecvPool's provided-buffer ring
# (multishot and single-shot) against a malloc'd buffer per receive.
if(TARGET arenakit_uring)
  arenakit_add_benchmark(NAME bench_recv SOURCES bench_recv.cpp)
  target_link_libraries(bench_recv PRIVATE arenakit::uring)
  if(ARENAKIT_BUILD_TESTS)
    add_test(NAME bench_recv_smoke COMMAND bench_recv --benchmark_min_time=0.001 --benchmark_repetitions=1)
    set_tests_properties(bench_recv_smoke PROPERTIES LABELS "bench-smoke" TIMEOUT 300)
  endif()
endif()
