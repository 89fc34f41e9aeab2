# Token tracker (issue 4): a devmem-style receive path.
arenakit_add_example(NAME example_devmem_rx SOURCES devmem_rx.cpp)
# The application returns through a per-consumer ring (issue 15, part 3).
arenakit_add_example(NAME example_devmem_return_ring SOURCES devmem_return_ring.cpp)
