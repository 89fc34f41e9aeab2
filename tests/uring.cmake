# io_uring fixed buffers (arenakit::uring). Real kernel registrations and
# real fixed-buffer I/O; each test exits 77 (Skipped) when the machine has no
# io_uring at all (e.g. a seccomp sandbox), and fails on anything else.
if(TARGET arenakit_uring)
  arenakit_add_test(NAME test_uring_mapper SOURCES uring/test_uring_mapper.cpp LIBS arenakit::uring)
  arenakit_add_test(NAME test_uring_fixed_io SOURCES uring/test_uring_fixed_io.cpp LIBS arenakit::uring)
  arenakit_add_test(NAME test_server_ring SOURCES uring/test_server_ring.cpp LIBS arenakit::uring)
  set_tests_properties(test_uring_mapper test_uring_fixed_io test_server_ring PROPERTIES SKIP_RETURN_CODE 77)
endif()
