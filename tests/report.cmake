# The main job's report (issue 6): scripts/report.py on the checked-in fixture
# rows in tests/report/ (expected summary rows, ratios, "not measured" peers,
# targets, the chart or its absence) and refusal of every malformed fixture.
# Where benchmarks are built, the same test also feeds it rows written by a
# real bench binary through table.hpp's --arenakit_report.
find_package(Python3 COMPONENTS Interpreter)
if(Python3_Interpreter_FOUND)
  set(ARENAKIT_REPORT_CHECK
    ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/report/check_report.py
    --generator ${PROJECT_SOURCE_DIR}/scripts/report.py
    --fixtures ${CMAKE_CURRENT_SOURCE_DIR}/report
    --work ${CMAKE_CURRENT_BINARY_DIR}/report_work)
  if(ARENAKIT_BUILD_BENCHMARKS)
    # bench_tokens is defined later (benchmarks/ comes after tests/): the
    # generator expression is resolved once every target exists.
    list(APPEND ARENAKIT_REPORT_CHECK --bench $<TARGET_FILE:bench_tokens>)
  endif()
  add_test(NAME report_generator COMMAND ${ARENAKIT_REPORT_CHECK})
else()
  add_test(NAME report_generator
           COMMAND sh -c "echo 'report_generator: python3 not found (scripts/deps.sh test installs it)'; exit 77")
endif()
set_tests_properties(report_generator PROPERTIES LABELS "report" TIMEOUT 300 SKIP_RETURN_CODE 77)
