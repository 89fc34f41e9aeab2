# Token tracker (issue 4): tests/tokens_*.cpp
arenakit_add_test(NAME tokens_api SOURCES tokens_api.cpp)
arenakit_add_test(NAME tokens_bad_input SOURCES tokens_bad_input.cpp)
arenakit_add_test(NAME tokens_close SOURCES tokens_close.cpp)
arenakit_add_test(NAME tokens_memory SOURCES tokens_memory.cpp TIMEOUT 600)
arenakit_add_test(NAME tokens_stress SOURCES tokens_stress.cpp LABELS stress TIMEOUT 300)
