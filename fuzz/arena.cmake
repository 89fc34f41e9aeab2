# Random operations and garbage ids against an arena, checked against a model.
arenakit_add_fuzzer(NAME fuzz_arena SOURCE arena_fuzz.cpp SECONDS 60)
