# Receiving over TCP loopback, as the receiving thread's CPU time per message
# (the sender is a pinned process of its own): a RecvPool's provided-buffer
# ring (multishot) against recv() into a reused per-connection buffer (epoll
# and io_uring) and a malloc'd buffer per receive; 512 B / 4 KB, 1 / 64 / 1,024
# connections; and the buffer memory 1,024 idle connections pin.
if(TARGET arenakit_uring)
  arenakit_add_benchmark(NAME bench_recv SOURCES bench_recv.cpp)
  target_link_libraries(bench_recv PRIVATE arenakit::uring)
  if(ARENAKIT_BUILD_TESTS)
    # A smoke run: every row once, briefly (each still receives 2,048 messages
    # untimed first); a few seconds on 2 cores.
    add_test(NAME bench_recv_smoke COMMAND bench_recv --benchmark_min_time=0.001 --benchmark_repetitions=1)
    set_tests_properties(bench_recv_smoke PROPERTIES LABELS "bench-smoke" TIMEOUT 300)
  endif()
endif()
