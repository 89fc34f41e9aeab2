# Packaging (issues 6, 14): CI imitations of vcpkg and Conan, whose tools
# cannot be installed on these machines, and checks of what the README tells a
# new user to run. Each test is one scenario of
# tests/packaging/check_packaging.cmake in a scratch directory of its own.
#   packaging_port_none              the overlay port without features: portfile run with vcpkg's
#                                    helpers imitated, vcpkg's post-build checks, layout, test_package
#   packaging_port_all               the port with every feature (needs liburing and libibverbs)
#   packaging_port_missing_component find_package(... COMPONENTS uring/ibverbs) refused by name
#   packaging_vcpkg_manifest         vcpkg.json; the overlay port installs its checkout, downloads nothing
#   packaging_vcpkg_pkgconfig_lint   our plain install: layout, LICENSE, no Libs: in share/pkgconfig
#   packaging_release_script         scripts/release.py on a local archive: registry port (REF, SHA512)
#                                    installs; ConanCenter conandata.yml has the archive's sha256
#   packaging_conan_rules            the ConanCenter recipe: recipes tree, source() from conandata.yml,
#                                    empty build(), exact requirements, nothing read from ../
#   packaging_conan_outside          that recipe copied out of the repo with a local archive URL:
#                                    source/build/package/package_info, test_package on CMakeDeps' files
#   packaging_conan_checkout         `conan create packaging/conan`: the checkout recipe; gnu17 refused
#   packaging_readme_commands        the README's consuming commands, run as written
#   packaging_cmake_auto             AUTO/ON/OFF optional targets and their summary lines
#   packaging_gitignore              .gitignore covers what Conan leaves behind
#   packaging_changelog              CHANGELOG.md has the current version; LICENSE is MIT
#   consumer_older_minor             find_package(arenakit 0.<minor-1>) refused by 0.<minor> (SameMinorVersion)
find_package(Python3 COMPONENTS Interpreter)
find_package(Git QUIET)
# The ports' test_package runs with the build tree's flags, so a sanitizer
# build checks it too; the other scenarios check packaging files and tool
# logic that no sanitizer changes, so they run in the plain builds only.
set(_arenakit_packaging_modes port_none port_missing_component)
# The full feature set needs both libraries, as the real port would.
if(TARGET arenakit_uring AND TARGET arenakit_ibverbs)
  list(APPEND _arenakit_packaging_modes port_all)
endif()
if(NOT CMAKE_CXX_FLAGS MATCHES "-fsanitize")
  list(APPEND _arenakit_packaging_modes vcpkg_pkgconfig_lint cmake_auto changelog)
  if(Python3_Interpreter_FOUND)
    list(APPEND _arenakit_packaging_modes vcpkg_manifest release_script conan_rules conan_outside
         conan_checkout readme_commands)
  endif()
  if(Git_FOUND AND EXISTS "${PROJECT_SOURCE_DIR}/.git")
    list(APPEND _arenakit_packaging_modes gitignore)
  endif()
endif()
foreach(mode IN LISTS _arenakit_packaging_modes)
  add_test(NAME packaging_${mode}
           COMMAND ${CMAKE_COMMAND} -DMODE=${mode} -DSOURCE_DIR=${PROJECT_SOURCE_DIR}
                   -DWORK_DIR=${CMAKE_BINARY_DIR}/packaging-${mode} -DCXX=${CMAKE_CXX_COMPILER}
                   -DPYTHON=${Python3_EXECUTABLE}
                   "-DCXX_FLAGS=${CMAKE_CXX_FLAGS}" "-DLD_FLAGS=${CMAKE_EXE_LINKER_FLAGS}"
                   -P ${CMAKE_CURRENT_SOURCE_DIR}/packaging/check_packaging.cmake)
  set_tests_properties(packaging_${mode} PROPERTIES LABELS "packaging" TIMEOUT 600)
endforeach()

# The consumer scenarios of tests/consumer/check.cmake that packaging owns
# (the others are registered with the arena's tests).
foreach(mode older_minor)
  add_test(NAME consumer_${mode}
           COMMAND ${CMAKE_COMMAND} -DMODE=${mode} -DSOURCE_DIR=${PROJECT_SOURCE_DIR}
                   -DWORK_DIR=${CMAKE_BINARY_DIR}/consumer-${mode} -DCXX=${CMAKE_CXX_COMPILER}
                   -P ${CMAKE_CURRENT_SOURCE_DIR}/consumer/check.cmake)
  set_tests_properties(consumer_${mode} PROPERTIES LABELS "consumer;packaging" TIMEOUT 300)
endforeach()
