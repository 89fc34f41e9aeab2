# Receive pool (recv_pool.hpp) and the io_uring provided buffer ring
# (uring_buf_ring.hpp) with a real loopback receive path.
arenakit_add_test(NAME test_recv_pool SOURCES recv/test_recv_pool.cpp)
arenakit_add_test(NAME test_recv_pool_sizing SOURCES recv/test_recv_pool_sizing.cpp)
arenakit_add_test(NAME test_recv_pool_stress SOURCES recv/test_recv_pool_stress.cpp LABELS stress)
if(TARGET arenakit_uring)
  # A real loopback receive path; exits 77 where io_uring or buffer rings are missing.
  arenakit_add_test(NAME test_recv_pool_uring SOURCES recv/test_recv_pool_uring.cpp LIBS arenakit::uring)
  set_tests_properties(test_recv_pool_uring PROPERTIES SKIP_RETURN_CODE 77)
endif()
if(TARGET arenakit_uring)
  # The ring as a server uses it: destruction orders, re-provide policy,
  # complete(), recvmsg/sendmsg, kernel-mapped rings (loopback UDP).
  arenakit_add_test(NAME test_recv_pool_ring SOURCES recv/test_recv_pool_ring.cpp LIBS arenakit::uring)
  set_tests_properties(test_recv_pool_ring PROPERTIES SKIP_RETURN_CODE 77)
endif()
if(TARGET arenakit_uring)
  # Incremental consumption (IOU_PBUF_RING_INC): pieces of one buffer; exits 77
  # where io_uring, buffer rings or the flag are missing.
  arenakit_add_test(NAME test_recv_pool_incremental SOURCES recv/test_recv_pool_incremental.cpp LIBS arenakit::uring)
  set_tests_properties(test_recv_pool_incremental PROPERTIES SKIP_RETURN_CODE 77)
endif()
