# io_uring fixed buffers (arenakit::uring).
if(TARGET arenakit_uring)
  arenakit_add_test(NAME test_uring_mapper SOURCES test_uring_mapper.cpp LIBS arenakit::uring)
endif()
