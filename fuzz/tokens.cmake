# Token tracker (issue 4): bounded libFuzzer run in CI (label "fuzz").
arenakit_add_fuzzer(NAME fuzz_token_tracker SOURCE token_tracker_fuzz.cpp SECONDS 60)
