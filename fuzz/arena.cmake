# Random operations and garbage ids against an arena, checked against a model.
arenakit_add_fuzzer(NAME fuzz_arena SOURCE arena_fuzz.cpp SECONDS 60)
# The same for a counted arena (issue 12): references through its owner cache
# and its any-thread paths, against a model of each slot's count.
arenakit_add_fuzzer(NAME fuzz_counted_arena SOURCE counted_arena_fuzz.cpp SECONDS 30)
