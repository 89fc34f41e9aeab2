# Compiles SRC to assembly with CXX at -O2 (DEFS: extra definitions) and
# fails unless the assembly holds a prefetch instruction (x86 prefetch*,
# arm64 prfm). See return_prefetch.cpp.
# cmake -DCXX=... -DINCLUDE=... -DSRC=... -DOUT=... [-DDEFS=...] -P return_prefetch.cmake
execute_process(
  COMMAND ${CXX} -std=c++20 -O2 -DNDEBUG ${DEFS} -I${INCLUDE} -S -o ${OUT} ${SRC}
  RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "compiling ${SRC} to assembly failed (${rc}):\n${err}")
endif()
file(READ ${OUT} asm)
string(REGEX MATCHALL "\n[ \t]+(prefetch[a-z0-9]*|prfm)[ \t]" hits "${asm}")
list(LENGTH hits n)
message(STATUS "${DEFS}: ${n} prefetch instructions in the return path")
if(n EQUAL 0)
  message(FATAL_ERROR "no prefetch in the optimised return path (${OUT}): the compiler dropped it")
endif()
