# Token tracker (issue 4): deliver/return and close against the kernel's designs.
arenakit_add_benchmark(NAME bench_tokens SOURCES bench_tokens.cpp PEERS judy PEER_SOURCES peer_judy_tokens.cpp)
