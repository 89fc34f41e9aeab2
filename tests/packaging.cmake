# Packaging (issue 6): a CI imitation of the vcpkg port and the Conan recipe,
# whose tools cannot be installed on these machines. Each test is one scenario
# of tests/packaging/check_packaging.cmake in a scratch directory of its own.
#   packaging_port_none              the port without features: staged install, layout, test_package
#   packaging_port_all               the port with every feature (ibverbs, liburing)
#   packaging_port_missing_component find_package(... COMPONENTS uring) refused by a featureless package
#   packaging_vcpkg_manifest         vcpkg.json: valid JSON, version == CMake's, license, features, portfile calls
#   packaging_conan_recipe           py_compile both conanfiles; set_version / package_info against our install
#   packaging_changelog              CHANGELOG.md has the current version; LICENSE is MIT
find_package(Python3 COMPONENTS Interpreter)
set(_arenakit_packaging_modes port_none port_missing_component vcpkg_manifest changelog)
# The full feature set needs both libraries, as the real port would.
if(TARGET arenakit_uring AND TARGET arenakit_ibverbs)
  list(APPEND _arenakit_packaging_modes port_all)
endif()
if(Python3_Interpreter_FOUND)
  list(APPEND _arenakit_packaging_modes conan_recipe)
endif()
foreach(mode IN LISTS _arenakit_packaging_modes)
  add_test(NAME packaging_${mode}
           COMMAND ${CMAKE_COMMAND} -DMODE=${mode} -DSOURCE_DIR=${PROJECT_SOURCE_DIR}
                   -DWORK_DIR=${CMAKE_BINARY_DIR}/packaging-${mode} -DCXX=${CMAKE_CXX_COMPILER}
                   -DPYTHON=${Python3_EXECUTABLE}
                   "-DCXX_FLAGS=${CMAKE_CXX_FLAGS}" "-DLD_FLAGS=${CMAKE_EXE_LINKER_FLAGS}"
                   -P ${CMAKE_CURRENT_SOURCE_DIR}/packaging/check_packaging.cmake)
  set_tests_properties(packaging_${mode} PROPERTIES LABELS "packaging" TIMEOUT 300)
endforeach()
