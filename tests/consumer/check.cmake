# Runs one consumer scenario in a scratch directory; fails loudly.
#   -DMODE=subdir|installed|wrong_major|older_minor|pkgconfig
#   -DSOURCE_DIR=<arenakit source> -DWORK_DIR=<scratch> -DCXX=<compiler>
cmake_minimum_required(VERSION 3.25)
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")
set(here "${SOURCE_DIR}/tests/consumer")

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "command failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
endfunction()

function(install_arenakit prefix)
  run(${CMAKE_COMMAND} -S "${SOURCE_DIR}" -B "${WORK_DIR}/arenakit-build" -DCMAKE_CXX_COMPILER=${CXX}
      -DARENAKIT_BUILD_TESTS=OFF -DARENAKIT_BUILD_BENCHMARKS=OFF -DARENAKIT_BUILD_EXAMPLES=OFF
      -DARENAKIT_INSTALL=ON -DCMAKE_INSTALL_PREFIX=${prefix})
  run(${CMAKE_COMMAND} --install "${WORK_DIR}/arenakit-build")
endfunction()

if(MODE STREQUAL "subdir")
  run(${CMAKE_COMMAND} -S "${here}/subdir" -B "${WORK_DIR}/b" -DCMAKE_CXX_COMPILER=${CXX}
      -DARENAKIT_SOURCE_DIR=${SOURCE_DIR})
  run(${CMAKE_COMMAND} --build "${WORK_DIR}/b")
  run("${WORK_DIR}/b/consumer")
elseif(MODE STREQUAL "installed")
  install_arenakit("${WORK_DIR}/prefix")
  foreach(f share/arenakit/arenakitConfig.cmake share/arenakit/arenakitConfigVersion.cmake
            share/pkgconfig/arenakit.pc include/arenakit/arena/arena.hpp)
    if(NOT EXISTS "${WORK_DIR}/prefix/${f}")
      message(FATAL_ERROR "install is missing ${f}")
    endif()
  endforeach()
  run(${CMAKE_COMMAND} -S "${here}/installed" -B "${WORK_DIR}/b" -DCMAKE_CXX_COMPILER=${CXX}
      -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix)
  run(${CMAKE_COMMAND} --build "${WORK_DIR}/b")
  run("${WORK_DIR}/b/consumer")
elseif(MODE STREQUAL "wrong_major")
  install_arenakit("${WORK_DIR}/prefix")
  execute_process(COMMAND ${CMAKE_COMMAND} -S "${here}/wrong_major" -B "${WORK_DIR}/b"
                  -DCMAKE_CXX_COMPILER=${CXX} -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(rc EQUAL 0)
    message(FATAL_ERROR "find_package(arenakit 1.0) was accepted by a 0.x install")
  endif()
  if(NOT err MATCHES "version")
    message(FATAL_ERROR "refused, but not for its version:\n${err}")
  endif()
  message(STATUS "refused as expected: major version 1 requested, 0.x installed")
elseif(MODE STREQUAL "older_minor")
  # SameMinorVersion while the major is 0: 0.<minor> refuses 0.<minor-1>.
  file(READ "${SOURCE_DIR}/CMakeLists.txt" top)
  string(REGEX MATCH "project\\(arenakit[ \t\r\n]+VERSION[ \t\r\n]+([0-9]+)\\.([0-9]+)" _ "${top}")
  set(major "${CMAKE_MATCH_1}")
  set(minor "${CMAKE_MATCH_2}")
  if(NOT major EQUAL 0)
    message(STATUS "arenakit ${major}.x: SameMajorVersion, covered by wrong_major")
    return()
  endif()
  if(minor EQUAL 0)
    message(STATUS "arenakit 0.0: no older minor to refuse")
    return()
  endif()
  math(EXPR older "${minor} - 1")
  install_arenakit("${WORK_DIR}/prefix")
  execute_process(COMMAND ${CMAKE_COMMAND} -S "${here}/older_minor" -B "${WORK_DIR}/b"
                  -DCMAKE_CXX_COMPILER=${CXX} -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix
                  -DREQUEST_VERSION=0.${older}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(rc EQUAL 0)
    message(FATAL_ERROR "find_package(arenakit 0.${older}) was accepted by a 0.${minor} install: "
                        "0.x minors may break the API (SameMinorVersion)")
  endif()
  if(NOT err MATCHES "version")
    message(FATAL_ERROR "refused, but not for its version:\n${err}")
  endif()
  message(STATUS "refused as expected: 0.${older} requested, 0.${minor} installed")
elseif(MODE STREQUAL "pkgconfig")
  install_arenakit("${WORK_DIR}/prefix")
  set(ENV{PKG_CONFIG_PATH} "${WORK_DIR}/prefix/share/pkgconfig")
  execute_process(COMMAND pkg-config --cflags --libs arenakit RESULT_VARIABLE rc OUTPUT_VARIABLE flags
                  OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "pkg-config does not know arenakit")
  endif()
  separate_arguments(flags UNIX_COMMAND "${flags}")
  run(${CXX} ${flags} "${here}/main.cpp" -o "${WORK_DIR}/consumer")
  run("${WORK_DIR}/consumer")
else()
  message(FATAL_ERROR "unknown MODE ${MODE}")
endif()
