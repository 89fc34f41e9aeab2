# arenakit.hpp includes every core header (README: "arenakit.hpp includes
# every core header"): every header under include/arenakit/ except the
# optional integrations (uring/, ibverbs/, dmabuf/: targets of their own) and
# what users never name (detail/, */impl/) must be among the headers the
# compiler reads for `#include <arenakit/arenakit.hpp>`.
# cmake -DCXX=... -DINCLUDE=<include dir> -DOUT=<deps file> -P check.cmake
file(WRITE ${OUT}.cpp "#include <arenakit/arenakit.hpp>\n")
execute_process(COMMAND ${CXX} -std=c++20 -I${INCLUDE} -M ${OUT}.cpp
                RESULT_VARIABLE rc OUTPUT_VARIABLE deps ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "arenakit.hpp does not preprocess:\n${err}")
endif()
file(GLOB_RECURSE headers RELATIVE ${INCLUDE} ${INCLUDE}/arenakit/*.hpp)
set(missing "")
set(core 0)
foreach(h IN LISTS headers)
  if(h MATCHES "^arenakit/(uring|ibverbs|dmabuf|detail)/" OR h MATCHES "/impl/")
    continue()
  endif()
  math(EXPR core "${core} + 1")
  string(FIND "${deps}" "${INCLUDE}/${h}" at)
  if(at EQUAL -1)
    list(APPEND missing ${h})
  endif()
endforeach()
if(missing)
  list(JOIN missing "\n  " text)
  message(FATAL_ERROR "arenakit.hpp does not include these core headers:\n  ${text}")
endif()
message(STATUS "arenakit.hpp includes all ${core} core headers")
