# io_uring examples (arenakit::uring).
if(TARGET arenakit_uring)
  # Echo server on 127.0.0.1 through a RecvPool's provided-buffer ring.
  arenakit_add_example(NAME example_uring_echo SOURCES uring_echo.cpp LIBS arenakit::uring)
endif()
if(TARGET arenakit_uring)
  # liburing's io_uring-udp example on a RecvPool: multishot recvmsg, sendmsg from the pool buffer.
  arenakit_add_example(NAME example_udp_echo SOURCES udp_echo.cpp LIBS arenakit::uring)
endif()
