# Token tracker (issue 4): a devmem-style receive path.
arenakit_add_example(NAME example_devmem_rx SOURCES devmem_rx.cpp)
