arenakit_add_example(NAME example_recv_pool SOURCES recv_pool.cpp)
arenakit_add_example(NAME example_first SOURCES first.cpp)
