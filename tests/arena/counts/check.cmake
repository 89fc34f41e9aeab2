# Runs PROGRAM (with ARG) under callgrind, counting only inside run_pairs,
# and checks the locked instructions (callgrind's Ge, "global bus events")
# per pair: LOCKED exactly, over PAIRS pairs, and at most MAX_IR instructions
# per pair (instruction counts depend on the compiler, not on the machine: the
# bound is set for g++ 12 and clang 14 at -O2, a few percent above both).
# cmake -DVALGRIND=... -DPROGRAM=... -DARG=... -DPAIRS=... -DLOCKED=... -DMAX_IR=... -DOUT=... -P check.cmake
execute_process(
  COMMAND ${VALGRIND} --tool=callgrind --collect-bus=yes --toggle-collect=*run_pairs*
          --callgrind-out-file=${OUT} ${PROGRAM} ${ARG}
  RESULT_VARIABLE rc OUTPUT_QUIET ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "callgrind run failed (${rc}):\n${err}")
endif()
file(STRINGS ${OUT} events REGEX "^events:")
file(STRINGS ${OUT} summary REGEX "^summary:")
# callgrind leaves trailing zero counts out: "summary: 420016" means Ge = 0.
if(NOT events MATCHES "Ir Ge" OR NOT summary MATCHES "^summary: ([0-9]+)( ([0-9]+))?$")
  message(FATAL_ERROR "no Ir/Ge summary in ${OUT}: '${events}' '${summary}'")
endif()
set(ir ${CMAKE_MATCH_1})
set(ge 0)
if(CMAKE_MATCH_3)
  set(ge ${CMAKE_MATCH_3})
endif()
math(EXPR want "${PAIRS} * ${LOCKED}")
math(EXPR ir_per_pair "${ir} / ${PAIRS}")
message(STATUS "${ARG}: ${ir_per_pair} instructions and ${ge}/${PAIRS} locked instructions per pair")
if(NOT ge EQUAL want)
  message(FATAL_ERROR "${ARG}: ${ge} locked instructions over ${PAIRS} pairs, expected ${want} (${LOCKED} per pair)")
endif()
if(DEFINED MAX_IR AND ir_per_pair GREATER MAX_IR)
  message(FATAL_ERROR "${ARG}: ${ir_per_pair} instructions per pair, above the bound of ${MAX_IR}")
endif()
