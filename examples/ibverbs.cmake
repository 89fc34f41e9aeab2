# The receive pool on a real RDMA device (arenakit::ibverbs). Builds wherever
# rdma-core is installed; without a device it says so and exits 0.
if(TARGET arenakit_ibverbs)
  arenakit_add_example(NAME example_ibverbs_recv_pool SOURCES ibverbs_recv_pool.cpp LIBS arenakit::ibverbs)
endif()
