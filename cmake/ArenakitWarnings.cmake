# Warnings are errors on our own targets (tests, benchmarks, examples) only;
# the exported arenakit::arenakit carries no warning flags to consumers.
function(arenakit_strict target)
  target_compile_options(${target} PRIVATE
    -Wall -Wextra -Wpedantic -Wconversion -Wshadow -Werror)
endfunction()
