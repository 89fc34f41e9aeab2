# Receive pool (recv_pool.hpp) and the io_uring provided buffer ring
# (uring_buf_ring.hpp) with a real loopback receive path.
arenakit_add_test(NAME test_recv_pool SOURCES test_recv_pool.cpp)
arenakit_add_test(NAME test_recv_pool_stress SOURCES test_recv_pool_stress.cpp LABELS stress)
